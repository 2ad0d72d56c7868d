"""Sequenced protocol plans: phases, monitoring, referrals, continuity of conventional care.

A plan exists only when triage is not ``emergency``. It is hypothesis-based content (the
templates follow the essay's patterns), carries every referral reason as a "refer for
specialist work-up" item, never proposes starting or stopping a prescription drug, and lists
the citations of exactly the rules that produced it.

Its status follows the referral rules' ``plan_effect``: any clonal or organ red flag (and any
urgent referral) puts it ``on_hold_until_specialist_review``; a child's plan is held and carries
no phases and no doses at all (the catalog's doses are adult doses); only when every referral
may run alongside (each saying why) is it ``proposed_alongside_referral``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hostcap.citations import all_citations
from hostcap.clinical_decisions.assessment_result import (
    CitationRef,
    InterventionDose,
    MonitoringPlan,
    PhasePlan,
    PhenotypeResult,
    PlanResult,
    Reason,
    ReferralItem,
    TrajectoryBand,
)
from hostcap.clinical_decisions.intervention_lookup import lookup_intervention
from hostcap.clinical_decisions.rule_schema import MonitoringSchedule, ProtocolRule
from hostcap.errors import UnknownIdError

__all__ = [
    "CONVENTIONAL_THERAPY",
    "HOLD_STATEMENT",
    "PAEDIATRIC_HOLD_STATEMENT",
    "PLAN_STATEMENT",
    "TrajectoryProvider",
    "choose_protocol",
    "plan_protocol",
]

CONVENTIONAL_THERAPY = (
    "Continue prescribed medication; discuss any change with the prescriber. This plan never "
    "starts or stops a prescription drug."
)
HOLD_STATEMENT = (
    "ON HOLD: do not start this protocol until the specialist has reviewed the person for the "
    "referral reasons listed; the phases show what would follow after that review, if the "
    "specialist agrees."
)
PAEDIATRIC_HOLD_STATEMENT = (
    "ON HOLD, NO DOSES: hostcap's protocol templates and the catalog's doses are for adults. "
    "Refer to a paediatric allergist/immunologist; any protocol for a child is theirs to set."
)
PLAN_STATEMENT = (
    "Hypothesis-based plan: the sequence follows the Host Capacity essay's pattern for this "
    "phenotype and is untested. It adds non-prescription interventions one phase at a time and "
    "is reviewed at every monitoring visit."
)
#: ``provider(phenotype_preset, phases)`` returns the band (a DataFrame of week, name, low,
#: median, high), a ``(band, note)`` pair when it says itself what was simulated, or None.
TrajectoryProvider = Callable[[str, Sequence[PhasePlan]], Any]


def choose_protocol(label: str, protocols: Sequence[ProtocolRule]) -> ProtocolRule:
    """The first protocol template that applies to ``label`` (practice templates come first)."""
    for rule in protocols:
        if label in rule.applies_to:
            return rule
    raise UnknownIdError(
        "phenotype label with a protocol", label, [a for r in protocols for a in r.applies_to]
    )


def _band(
    phenotype: PhenotypeResult,
    provider: TrajectoryProvider | None,
    phases: Sequence[PhasePlan],
) -> TrajectoryBand:
    label = phenotype.label
    preset: str | None = label if label in {"A", "B", "C"} else None
    if preset is None and label == "mixed":
        preset = max(("A", "B", "C"), key=lambda k: (phenotype.scores.get(k, 0.0), k))
    if provider is None or preset is None:
        return TrajectoryBand(
            available=False,
            phenotype=preset,
            note="trajectory band unavailable"
            + ("" if preset else " (no phenotype preset for this label)"),
        )
    answer = provider(preset, phases)
    note = (
        f"Expected band from the mechanistic model's phenotype {preset} preset "
        "(hypothesis-based; the model is the essay's, not a validated one)."
    )
    frame = answer
    if isinstance(answer, tuple):
        frame, told = answer
        note = f"{note} {told}"
    if frame is None:
        return TrajectoryBand(available=False, phenotype=preset, note="trajectory band unavailable")
    rows = frame.to_dict(orient="records") if hasattr(frame, "to_dict") else list(frame)
    clean = [
        {str(k): (v.item() if hasattr(v, "item") else v) for k, v in dict(row).items()}
        for row in rows
    ]
    return TrajectoryBand(
        available=True,
        phenotype=preset,
        note=note,
        rows=clean,
    )


def plan_protocol(
    *,
    phenotype: PhenotypeResult,
    protocols: Sequence[ProtocolRule],
    default_monitoring: MonitoringSchedule,
    triage_level: str,
    reasons: Sequence[Reason],
    essay_notes: Sequence[str],
    rules_used: Sequence[tuple[str, str]],
    trajectory_provider: TrajectoryProvider | None = None,
) -> PlanResult:
    """Build the plan for a non-emergency assessment.

    Parameters
    ----------
    rules_used
        ``(rule_id, citation_key)`` of every rule that took part so far; the protocol's own is
        added here.
    """
    protocol = choose_protocol(phenotype.label, protocols)
    monitoring = protocol.monitoring or default_monitoring
    end = max(p.end_week for p in protocol.phases)
    q_weeks = list(range(0, end + 1, monitoring.questionnaire_every_weeks))
    if q_weeks[-1] != end:
        q_weeks.append(end)
    phases = []
    for phase in protocol.phases:
        doses = []
        for dose in phase.interventions:
            info = lookup_intervention(dose.intervention)
            doses.append(
                InterventionDose(
                    intervention=dose.intervention,
                    name=info.name,
                    low=dose.low,
                    high=dose.high,
                    unit=dose.unit,
                    note=dose.note,
                )
            )
        phases.append(
            PhasePlan(
                name=phase.name,
                start_week=phase.start_week,
                end_week=phase.end_week,
                interventions=doses,
                entry_criteria=list(phase.entry_criteria),
                exit_criteria=list(phase.exit_criteria),
            )
        )
    referrals = [
        ReferralItem(
            rule_id=r.rule_id,
            level="urgent_referral" if r.level == "urgent_referral" else "referral",
            item=f"refer for specialist work-up: {r.message}",
            citation=r.citation,
            plan_effect=r.plan_effect,
            alongside_reason=r.alongside_reason,
        )
        for r in reasons
    ]
    holding = [r for r in reasons if r.level == "urgent_referral" or r.plan_effect != "alongside"]
    withhold_doses = any(r.plan_effect == "hold_without_doses" for r in reasons)
    status: Any = (
        "on_hold_until_specialist_review"
        if holding or triage_level == "urgent_referral"
        else ("proposed_alongside_referral" if reasons else "proposed")
    )
    statement = PLAN_STATEMENT
    if withhold_doses:
        phases = []
        statement = f"{PAEDIATRIC_HOLD_STATEMENT} {PLAN_STATEMENT}"
    elif holding:
        statement = f"{HOLD_STATEMENT} {PLAN_STATEMENT}"
    used = [*rules_used, (protocol.id, protocol.citation)]
    table = all_citations()
    keys: list[str] = []
    for _, key in used:
        if key not in keys:
            keys.append(key)
    citations = [
        CitationRef(key=k, text=table[k].text, verified=table[k].verified)
        for k in keys
        if k in table
    ]
    return PlanResult(
        protocol_id=protocol.id,
        protocol_version=protocol.version,
        title=protocol.title,
        status=status,
        statement=statement,
        referrals=referrals,
        hold_reasons=[r.rule_id for r in holding],
        doses_withheld=withhold_doses,
        conventional_therapy=CONVENTIONAL_THERAPY,
        phases=phases,
        monitoring=MonitoringPlan(
            lab_weeks=list(monitoring.lab_weeks),
            labs=list(monitoring.labs),
            questionnaire_weeks=q_weeks,
            questionnaires=list(monitoring.questionnaires),
            diary=monitoring.diary,
        ),
        trajectory_band=(
            TrajectoryBand(
                available=False,
                phenotype=None,
                note="trajectory band unavailable: no dosed plan for a child",
            )
            if withhold_doses
            else _band(phenotype, trajectory_provider, phases)
        ),
        essay_notes=list(essay_notes),
        rules_used=[rule_id for rule_id, _ in used],
        citations=citations,
    )
