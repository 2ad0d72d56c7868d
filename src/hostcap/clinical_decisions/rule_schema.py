"""The rulebook's schema: pydantic models for every kind of rule, and the JSON Schema export.

A rulebook is data (``rulebook/*.yaml`` in this package, plus an optional practice file). Every
rule carries an ``id``, a ``version``, a ``kind`` (``safety`` / ``criterion`` / ``phenotype`` /
``protocol``), an ``evidence_grade`` (E established, A animal/cell, P plausible, S speculative;
see docs/evidence.md#evidence-grades) and a ``citation`` key. Safety rules carry
``overridable: false``.

Thresholds live in each rule's ``params``; the logic that reads them is a named evaluator
(``evaluator``) registered in Python, so that a changed threshold is a reviewed data change and a
renamed evaluator breaks at load time, not in a clinic.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

__all__ = [
    "CRITERION_KEYS",
    "CriterionRule",
    "DoseRange",
    "EvidenceGrade",
    "MonitoringSchedule",
    "PhenotypeRule",
    "PhenotypeSettings",
    "ProtocolPhase",
    "ProtocolRule",
    "Rule",
    "RulebookExtraFile",
    "RulebookFile",
    "SafetyRule",
    "rulebook_json_schema",
]

EvidenceGrade = Literal["E", "A", "P", "S"]
TriageLevel = Literal["emergency", "urgent_referral", "referral"]
PhenotypeKey = Literal["A", "B", "C"]
ParamValue = float | int | str | bool | list[float] | dict[str, float]

#: The criteria the output reports, in output order.
CriterionKey = Literal[
    "consensus_1",
    "consensus_2",
    "who_2022_sm",
    "icc_2022_sm",
    "b_findings",
    "c_findings",
    "rema",
    "nicas",
    "hat",
]
CRITERION_KEYS: tuple[str, ...] = get_args(CriterionKey)

_ID = r"^[a-z0-9_]+(\.[a-z0-9_]+)+$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RuleBase(_Strict):
    id: str = Field(pattern=_ID, description="dotted lower-case id, e.g. safety.anaphylaxis.x")
    version: int = Field(ge=1, description="bumped whenever the rule's meaning changes")
    title: str = Field(min_length=3)
    evidence_grade: EvidenceGrade
    citation: str = Field(min_length=1, description="a key in hostcap's citation registry")
    refs: list[str] = Field(
        default_factory=list, description="ids of other rules this rule builds on"
    )


class SafetyRule(_RuleBase):
    """A triage rule: when it fires, the client is routed to emergency care or a specialist."""

    kind: Literal["safety"]
    level: TriageLevel
    evaluator: str
    params: dict[str, ParamValue] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list, description="input field paths it reads")
    message: str = Field(min_length=10)
    overridable: bool = Field(False, description="must be false for every safety rule")
    plan_effect: Literal["hold", "hold_without_doses", "alongside"] = Field(
        "hold",
        description="what the rule does to a protocol plan: `hold` it until the specialist has "
        "reviewed the person (clonal and organ red flags), hold it and leave every dose out "
        "(`hold_without_doses`: children), or let it run `alongside` the referral (non-clonal "
        "reasons only, which must say why in `alongside_reason`)",
    )
    alongside_reason: str | None = Field(
        None, description="why a plan may run alongside this referral (required for alongside)"
    )

    @model_validator(mode="after")
    def _plan_effect_is_explained(self) -> SafetyRule:
        if self.plan_effect == "alongside":
            if self.level != "referral":
                raise ValueError(
                    f"plan_effect 'alongside' is only for level 'referral'; got level "
                    f"{self.level!r} (emergency and urgent referrals always hold the plan)"
                )
            if not (self.alongside_reason and len(self.alongside_reason) >= 10):
                raise ValueError(
                    "plan_effect 'alongside' needs alongside_reason: why the protocol may run "
                    "alongside this referral"
                )
        elif self.alongside_reason is not None:
            raise ValueError(
                f"alongside_reason is only for plan_effect 'alongside'; got {self.plan_effect!r}"
            )
        return self


class CriterionRule(_RuleBase):
    """A published criterion set (consensus-1, WHO 2022 SM, ...), evaluated to met/not/unknown."""

    kind: Literal["criterion"]
    criterion: CriterionKey
    evaluator: str
    params: dict[str, ParamValue] = Field(default_factory=dict)
    inputs: list[str] = Field(default_factory=list)
    contested: bool = False
    note: str | None = None
    overridable: bool = Field(
        False, description="true only where the source itself leaves the threshold to the user"
    )


class PhenotypeRule(_RuleBase):
    """One weighted feature of a hypothesis phenotype (A gut, B systemic, C CNS/autonomic).

    ``transform`` says how the field becomes a contribution between 0 and ``weight``:
    ``flag`` (true → weight), ``at_least`` (value >= ``threshold`` → weight) or ``ramp``
    (linear from ``ramp_from`` → 0 to ``ramp_to`` → weight).
    """

    kind: Literal["phenotype"]
    phenotype: PhenotypeKey
    field: str
    transform: Literal["flag", "at_least", "ramp"]
    threshold: float | None = None
    ramp_from: float | None = None
    ramp_to: float | None = None
    weight: float = Field(ge=0, le=10)
    description: str = ""
    overridable: bool = True


class DoseRange(_Strict):
    """An intervention from ``hostcap.catalog`` with the dose range the phase uses."""

    intervention: str
    low: float = Field(ge=0)
    high: float = Field(ge=0)
    unit: str
    note: str = ""


class ProtocolPhase(_Strict):
    """One phase: weeks [start_week, end_week), interventions, and criteria to enter and leave."""

    name: str
    start_week: int = Field(ge=0, le=104)
    end_week: int = Field(ge=1, le=104)
    interventions: list[DoseRange]
    entry_criteria: list[str] = Field(min_length=1)
    exit_criteria: list[str] = Field(min_length=1)


class MonitoringSchedule(_Strict):
    """Labs at fixed weeks, questionnaires at a fixed interval."""

    lab_weeks: list[int] = Field(min_length=1)
    labs: list[str] = Field(min_length=1)
    questionnaire_every_weeks: int = Field(ge=1, le=12)
    questionnaires: list[str] = Field(min_length=1)
    diary: str = ""


class ProtocolRule(_RuleBase):
    """A sequenced protocol template for one or more phenotype labels (hypothesis-based)."""

    kind: Literal["protocol"]
    applies_to: list[Literal["A", "B", "C", "mixed", "insufficient_data"]] = Field(min_length=1)
    phases: list[ProtocolPhase] = Field(min_length=1)
    monitoring: MonitoringSchedule | None = None
    rationale: str = ""
    overridable: bool = True


Rule = Annotated[
    SafetyRule | CriterionRule | PhenotypeRule | ProtocolRule, Field(discriminator="kind")
]


class PhenotypeSettings(_Strict):
    """How phenotype scores become a label (all fractions of the phenotype's total weight)."""

    min_score: float = Field(0.35, ge=0, le=1)
    mixed_margin: float = Field(0.15, ge=0, le=1)
    min_coverage: float = Field(0.5, ge=0, le=1)


class RulebookFile(_Strict):
    """One YAML file of the packaged rulebook."""

    rulebook_version: str | None = None
    notes: list[dict[str, str]] = Field(default_factory=list)
    phenotype_settings: PhenotypeSettings | None = None
    monitoring: MonitoringSchedule | None = None
    rules: list[Rule] = Field(default_factory=list)


class RulebookExtraFile(_Strict):
    """A practice's own file (``--rulebook-extra``): protocols, phenotype weights, settings.

    It may add or replace phenotype and protocol rules and replace criterion rules marked
    ``overridable: true``; it may never add, remove, replace or weaken a safety rule.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    phenotype_settings: PhenotypeSettings | None = None
    monitoring: MonitoringSchedule | None = None
    remove_rules: list[str] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


def rulebook_json_schema() -> str:
    """The JSON Schema of a rulebook file (editors validate YAML against it), as text."""
    schema: dict[str, Any] = TypeAdapter(RulebookFile | RulebookExtraFile).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hostcap rulebook file (packaged or --rulebook-extra)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
