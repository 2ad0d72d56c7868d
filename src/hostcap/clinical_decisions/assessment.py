"""``assess()``: one client's assessment, decided in order — safety triage first.

1. Emergency rules on the current episode: current shock, collapse, hypotension for age or
   airway compromise whatever its cause, and the anaphylaxis criteria (WAO 2020, NIAID/FAAN
   2006). If any fires, the result is the emergency message and nothing else: criteria
   ``suppressed``, phenotype ``suppressed``, plan ``null``.
2. The criteria (each its own cited rule set).
3. The remaining safety rules (urgent referral, referral), some of which read the criteria.
4. The hypothesis phenotype scores.
5. The sequenced plan, carrying every referral reason; held until the specialist has reviewed
   the person when any referral holds it (clonal and organ red flags, children).

Nothing here reads files or databases; the caller passes the rulebook (or the packaged one is
used) and, optionally, a trajectory provider from the mechanistic model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from hostcap.clinical_decisions.assessment_input import AssessmentInput, parse_assessment_input
from hostcap.clinical_decisions.assessment_result import (
    AssessmentResult,
    CriteriaResults,
    CriterionItem,
    CriterionResult,
    HatResult,
    PhenotypeResult,
    Reason,
    RulebookStamp,
    ScoreResult,
    Triage,
)
from hostcap.clinical_decisions.criteria_evaluation import (
    CRITERION_EVALUATORS,
    CriterionOutcome,
    ItemOutcome,
)
from hostcap.clinical_decisions.phenotype_scoring import HYPOTHESIS_STATEMENT, score_phenotypes
from hostcap.clinical_decisions.protocol_planning import TrajectoryProvider, plan_protocol
from hostcap.clinical_decisions.rule_schema import CRITERION_KEYS, CriterionRule, SafetyRule
from hostcap.clinical_decisions.rulebook_loading import Rulebook, load_rulebook
from hostcap.clinical_decisions.safety_triage import (
    EMERGENCY_MESSAGE,
    SAFETY_EVALUATORS,
    TriageContext,
    level_rank,
)
from hostcap.clinical_decisions.three_valued_logic import status_of

__all__ = ["HEADLINES", "assess"]

HEADLINES = {
    "emergency": EMERGENCY_MESSAGE,
    "urgent_referral": (
        "URGENT REFERRAL: possible advanced mast cell disease — urgent haematology referral. "
        "Any protocol is on hold until the specialist has reviewed the person."
    ),
    "referral": (
        "REFER FOR SPECIALIST WORK-UP for the reasons below. The protocol plan is on hold until "
        "the specialist has reviewed the person."
    ),
    "referral_alongside": (
        "REFER FOR SPECIALIST WORK-UP for the reasons below. None of them suggests clonal mast "
        "cell disease or organ involvement: a protocol may run alongside the referral, never "
        "instead of it."
    ),
    "routine": (
        "Routine: no emergency or referral rule fired on the data given. Missing data cannot "
        "rule a red flag out."
    ),
}

SUPPRESSED_NOTE = (
    "Suppressed: an emergency rule fired (current compromise or anaphylaxis); only the "
    "emergency message applies."
)


def _fires(rule: SafetyRule, inp: AssessmentInput, ctx: TriageContext) -> bool:
    evaluator = SAFETY_EVALUATORS[rule.evaluator][0]
    return evaluator(inp, ctx, rule.params) is True


def _reason(rule: SafetyRule) -> Reason:
    return Reason(
        rule_id=rule.id,
        message=rule.message,
        citation=rule.citation,
        level=rule.level,
        plan_effect=rule.plan_effect,
        alongside_reason=rule.alongside_reason,
    )


def _headline(level: str, fired: list[SafetyRule]) -> str:
    if level == "referral" and all(r.plan_effect == "alongside" for r in fired):
        return HEADLINES["referral_alongside"]
    return HEADLINES[level]


def _plain(value: Any) -> Any:
    if isinstance(value, ItemOutcome):
        return _item(value).model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _item(item: ItemOutcome) -> CriterionItem:
    return CriterionItem(
        id=item.id,
        description=item.description,
        status=status_of(item.value),
        observed=_plain(item.observed),
        points=item.points,
        missing=list(item.missing) if item.value is None else [],
    )


def _criterion_result(key: str, rule: CriterionRule, outcome: CriterionOutcome | None) -> Any:
    common: dict[str, Any] = {
        "title": rule.title,
        "rule_id": rule.id,
        "rule_version": rule.version,
        "citation": rule.citation,
        "contested": rule.contested,
    }
    if outcome is None:
        common.update(status="suppressed", notes=[SUPPRESSED_NOTE])
    else:
        details = dict(outcome.details)
        notes = ([rule.note] if rule.note else []) + outcome.notes
        common.update(
            status=status_of(outcome.value),
            missing=outcome.missing,
            items=[_item(i) for i in outcome.items],
            notes=notes,
        )
        if key in {"rema", "nicas"}:
            common.update(
                score=details.pop("score"),
                score_range=details.pop("score_range"),
                cut_off=details.pop("cut_off"),
            )
        if key == "hat":
            common.update(
                corrected_baseline_tryptase_ng_ml=details.pop("corrected_baseline_tryptase_ng_ml"),
                genotyping_suggested=details.pop("genotyping_suggested"),
            )
        common["details"] = _plain(details)
    if key in {"rema", "nicas"}:
        return ScoreResult(**common)
    if key == "hat":
        return HatResult(**common)
    return CriterionResult(**common)


def _criteria(book: Rulebook, outcomes: Mapping[str, CriterionOutcome] | None) -> CriteriaResults:
    values = {
        key: _criterion_result(
            key, book.criterion(key), None if outcomes is None else outcomes[key]
        )
        for key in CRITERION_KEYS
    }
    return CriteriaResults(**values)


def assess(
    inp: AssessmentInput | Mapping[str, Any],
    rulebook: Rulebook | None = None,
    *,
    trajectory_provider: TrajectoryProvider | None = None,
) -> AssessmentResult:
    """Assess one client: triage, criteria, phenotype, plan.

    Parameters
    ----------
    inp
        An :class:`AssessmentInput`, or plain data in its shape (validated here).
    rulebook
        The rulebook to use; the packaged one when None.
    trajectory_provider
        ``f(phenotype_preset, plan_phases) -> DataFrame(week, name, low, median, high)`` (or a
        ``(frame, note)`` pair, or None) from the mechanistic model; without it the plan says
        "trajectory band unavailable".

    Returns
    -------
    AssessmentResult

    Raises
    ------
    hostcap.errors.ValidationError
        When ``inp`` is plain data that does not fit the input contract.

    Examples
    --------
    >>> r = assess({"sex": "female", "age_years": 40})
    >>> r.triage.level, r.criteria.consensus_1.status
    ('routine', 'indeterminate')
    """
    data = parse_assessment_input(inp)
    book = rulebook or load_rulebook()
    stamp = RulebookStamp(version=book.version, sha256=book.sha256)

    # 1. Anaphylaxis first: nothing else is computed when it fires.
    empty = TriageContext(criteria={})
    emergency = [r for r in book.safety_rules if r.level == "emergency" and _fires(r, data, empty)]
    if emergency:
        return AssessmentResult(
            triage=Triage(
                level="emergency",
                reasons=[_reason(r) for r in emergency],
                headline=HEADLINES["emergency"],
            ),
            criteria=_criteria(book, None),
            phenotype=PhenotypeResult(
                scores={},
                label="suppressed",
                contributions=[],
                statement=f"{SUPPRESSED_NOTE} {HYPOTHESIS_STATEMENT}",
                confidence=None,
            ),
            plan=None,
            rulebook=stamp,
        )

    # 2. Criteria.
    outcomes: dict[str, CriterionOutcome] = {}
    for key in CRITERION_KEYS:
        rule = book.criterion(key)
        outcomes[key] = CRITERION_EVALUATORS[rule.evaluator][0](data, rule.params)

    # 3. The other safety rules, every one of them, always.
    ctx = TriageContext(criteria=outcomes)
    fired = [r for r in book.safety_rules if r.level != "emergency" and _fires(r, data, ctx)]
    fired.sort(key=lambda r: -level_rank(r.level))
    level = fired[0].level if fired else "routine"
    reasons = [_reason(r) for r in fired]

    # 4. Phenotype (hypothesis).
    phenotype = score_phenotypes(data, book.phenotype_rules, book.phenotype_settings)

    # 5. Plan, carrying every referral reason.
    used: list[tuple[str, str]] = [(r.id, r.citation) for r in fired]
    used += [(book.criterion(k).id, book.criterion(k).citation) for k in CRITERION_KEYS]
    contributing = {c.rule_id for c in phenotype.contributions if c.contribution > 0}
    used += [(r.id, r.citation) for r in book.phenotype_rules if r.id in contributing]
    plan = plan_protocol(
        phenotype=phenotype,
        protocols=book.protocol_rules,
        default_monitoring=book.monitoring,
        triage_level=level,
        reasons=reasons,
        essay_notes=[n["text"] for n in book.notes if n.get("citation") == "essay"],
        rules_used=used,
        trajectory_provider=trajectory_provider,
    )
    return AssessmentResult(
        triage=Triage(level=level, reasons=reasons, headline=_headline(level, fired)),
        criteria=_criteria(book, outcomes),
        phenotype=phenotype,
        plan=plan,
        rulebook=stamp,
    )
