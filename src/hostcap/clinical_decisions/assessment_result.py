"""The assessment output contract: ``AssessmentResult.model_dump(mode="json")`` is the JSON that
``hostcap assess --format json`` prints and the store saves.

Top-level keys, always all present: ``triage``, ``criteria``, ``phenotype``, ``plan`` (null on
emergency) and ``rulebook`` (version and sha256 of the rulebook that produced it).

On ``emergency`` the criteria carry ``status: "suppressed"`` and the phenotype
``label: "suppressed"``: nothing but the emergency message applies until the person has been
seen in emergency care.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AssessmentResult",
    "CitationRef",
    "Contribution",
    "CriteriaResults",
    "CriterionItem",
    "CriterionResult",
    "HatResult",
    "InterventionDose",
    "MonitoringPlan",
    "PhasePlan",
    "PhenotypeResult",
    "PlanResult",
    "Reason",
    "ReferralItem",
    "RulebookStamp",
    "ScoreResult",
    "TrajectoryBand",
    "Triage",
]

CriterionStatus = Literal["met", "not_met", "indeterminate", "suppressed"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reason(_Out):
    """Why triage chose its level: one fired safety rule, and what it does to a plan."""

    rule_id: str
    message: str
    citation: str
    level: Literal["emergency", "urgent_referral", "referral"]
    plan_effect: Literal["hold", "hold_without_doses", "alongside"] = "hold"
    alongside_reason: str | None = None


class Triage(_Out):
    """The safety decision, made before anything else."""

    level: Literal["routine", "referral", "urgent_referral", "emergency"]
    reasons: list[Reason]
    headline: str


class CriterionItem(_Out):
    """One sub-criterion or score item."""

    id: str
    description: str
    status: Literal["met", "not_met", "indeterminate"]
    observed: Any = None
    points: int | None = None
    missing: list[str] = []


class CriterionResult(_Out):
    """One criterion set: its status, the inputs whose absence kept it open, and its items."""

    status: CriterionStatus
    title: str
    rule_id: str
    rule_version: int
    citation: str
    contested: bool = False
    missing: list[str] = []
    items: list[CriterionItem] = []
    details: dict[str, Any] = {}
    notes: list[str] = []


class ScoreResult(CriterionResult):
    """A points score (REMA, NICAS): exact ``score`` when every item is known, else its range."""

    score: int | None = None
    score_range: list[int] | None = None
    cut_off: int | None = None


class HatResult(CriterionResult):
    """HαT handling: the corrected baseline and whether genotyping is suggested."""

    corrected_baseline_tryptase_ng_ml: float | None = None
    genotyping_suggested: bool | None = None


class CriteriaResults(_Out):
    """Every criterion set, each separate and labelled."""

    consensus_1: CriterionResult
    consensus_2: CriterionResult
    who_2022_sm: CriterionResult
    icc_2022_sm: CriterionResult
    b_findings: CriterionResult
    c_findings: CriterionResult
    rema: ScoreResult
    nicas: ScoreResult
    hat: HatResult


class Contribution(_Out):
    """How much one feature added to one phenotype score."""

    rule_id: str
    phenotype: Literal["A", "B", "C"]
    feature: str
    field: str
    value: Any
    weight: float
    contribution: float


class PhenotypeResult(_Out):
    """Hypothesis phenotype scores with the features that produced them."""

    scores: dict[str, float]
    label: Literal["A", "B", "C", "mixed", "insufficient_data", "suppressed"]
    contributions: list[Contribution]
    hypothesis: Literal[True] = True
    statement: str
    confidence: Literal["low", "moderate", "high"] | None = None
    coverage: dict[str, float] = {}
    missing_features: list[str] = []


class InterventionDose(_Out):
    """One intervention of a phase, with its dose range."""

    intervention: str
    name: str
    low: float
    high: float
    unit: str
    note: str = ""


class PhasePlan(_Out):
    """One phase of the sequenced protocol."""

    name: str
    start_week: int
    end_week: int
    interventions: list[InterventionDose]
    entry_criteria: list[str]
    exit_criteria: list[str]


class MonitoringPlan(_Out):
    """What to measure and when."""

    lab_weeks: list[int]
    labs: list[str]
    questionnaire_weeks: list[int]
    questionnaires: list[str]
    diary: str


class ReferralItem(_Out):
    """A referral reason carried on the plan, with what it does to the plan."""

    rule_id: str
    level: Literal["urgent_referral", "referral"]
    item: str
    citation: str
    plan_effect: Literal["hold", "hold_without_doses", "alongside"] = "hold"
    alongside_reason: str | None = None


class TrajectoryBand(_Out):
    """The mechanistic model's expected band for the phenotype preset (hypothesis-based)."""

    available: bool
    hypothesis: Literal[True] = True
    phenotype: str | None = None
    note: str
    rows: list[dict[str, Any]] = []


class CitationRef(_Out):
    """A reference that took part in this plan."""

    key: str
    text: str
    verified: bool


class PlanResult(_Out):
    """A phenotype-specific, sequenced protocol proposal (hypothesis-based)."""

    protocol_id: str
    protocol_version: int
    title: str
    status: Literal["proposed", "proposed_alongside_referral", "on_hold_until_specialist_review"]
    hypothesis: Literal[True] = True
    statement: str
    referrals: list[ReferralItem]
    hold_reasons: list[str] = []
    doses_withheld: bool = False
    conventional_therapy: str
    phases: list[PhasePlan]
    monitoring: MonitoringPlan
    trajectory_band: TrajectoryBand
    essay_notes: list[str]
    rules_used: list[str]
    citations: list[CitationRef]


class RulebookStamp(_Out):
    """Which rulebook produced the result."""

    version: str
    sha256: str


class AssessmentResult(_Out):
    """The whole assessment, in the order it is decided: triage first."""

    triage: Triage
    criteria: CriteriaResults
    phenotype: PhenotypeResult
    plan: PlanResult | None
    rulebook: RulebookStamp
