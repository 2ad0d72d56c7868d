"""Plain-text rendering of an assessment: triage first and prominent, hypothesis labels shown."""

from __future__ import annotations

from hostcap.clinical_decisions.assessment_result import AssessmentResult, CriterionResult

__all__ = ["render_text"]

_BANNER = {
    "emergency": "!!! EMERGENCY !!!",
    "urgent_referral": "!! URGENT REFERRAL !!",
    "referral": "! REFERRAL !",
    "routine": "ROUTINE",
}


def _shown(value: object) -> str:
    # Questionnaire means arrive as long fractions; four significant digits are plenty to read.
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _criterion_line(key: str, c: CriterionResult) -> str:
    extra = ""
    score = getattr(c, "score", None)
    if key in {"rema", "nicas"}:
        rng = getattr(c, "score_range", None)
        extra = f" score {score}" if score is not None else f" score range {rng}"
    if key == "hat":
        extra = (
            f" corrected baseline {_shown(getattr(c, 'corrected_baseline_tryptase_ng_ml', None))}"
            " ng/mL;"
            f" genotyping suggested: {_shown(getattr(c, 'genotyping_suggested', None))}"
        )
    flag = " [CONTESTED]" if c.contested else ""
    missing = f"  (missing: {', '.join(c.missing)})" if c.missing else ""
    return f"  {key:<12} {c.status:<14}{extra}{flag}  — {c.title} [{c.citation}]{missing}"


def render_text(result: AssessmentResult) -> str:
    """The assessment as text for a terminal or a printout; the triage block comes first.

    Examples
    --------
    >>> from hostcap.clinical_decisions import assess
    >>> render_text(assess({"sex": "male", "age_years": 50})).splitlines()[0]
    '=== TRIAGE: ROUTINE ==='
    """
    t = result.triage
    lines = [f"=== TRIAGE: {_BANNER[t.level]} ===", t.headline]
    for r in t.reasons:
        lines.append(f"  - [{r.level}] {r.message} ({r.rule_id}; {r.citation})")
    if t.level == "emergency":
        lines.append("")
        lines.append(
            "Everything else is suppressed until the person has been seen in emergency care."
        )
        lines.append(f"rulebook {result.rulebook.version} sha256 {result.rulebook.sha256[:12]}")
        return "\n".join(lines) + "\n"
    lines += ["", "=== CRITERIA (appear met / not met / indeterminate; never a diagnosis) ==="]
    for key, value in result.criteria:
        lines.append(_criterion_line(key, value))
    p = result.phenotype
    lines += ["", "=== PHENOTYPE — HYPOTHESIS LABEL (unvalidated) ==="]
    lines.append(f"  label: {p.label} (confidence {p.confidence})")
    lines.append("  scores: " + ", ".join(f"{k} {v:.2f}" for k, v in p.scores.items()))
    for c in p.contributions:
        if c.contribution > 0:
            lines.append(
                f"    {c.phenotype} +{c.contribution:.2f} of {c.weight:g}: {c.feature}"
                f" = {_shown(c.value)}"
            )
    if p.missing_features:
        lines.append(f"  missing features: {', '.join(p.missing_features)}")
    lines.append(f"  {p.statement}")
    plan = result.plan
    if plan is not None:
        lines += ["", f"=== PLAN — HYPOTHESIS-BASED: {plan.title} ({plan.status}) ==="]
        if plan.status == "on_hold_until_specialist_review":
            lines.append(
                "  !! ON HOLD until the specialist has reviewed the person: do not start. "
                f"Held by: {', '.join(plan.hold_reasons)}"
            )
        if plan.doses_withheld:
            lines.append("  !! No doses: hostcap doses no plan for a person under 18.")
        for ref in plan.referrals:
            why = (
                f" (may run alongside: {ref.alongside_reason})"
                if ref.plan_effect == "alongside"
                else ""
            )
            lines.append(f"  * {ref.item}{why}")
        lines.append(f"  {plan.conventional_therapy}")
        for ph in plan.phases:
            lines.append(f"  weeks {ph.start_week}-{ph.end_week}: {ph.name}")
            for d in ph.interventions:
                lines.append(
                    f"    - {d.name}: {d.low:g}-{d.high:g} {d.unit}"
                    + (f" ({d.note})" if d.note else "")
                )
            lines.append(f"    entry: {'; '.join(ph.entry_criteria)}")
            lines.append(f"    exit: {'; '.join(ph.exit_criteria)}")
        m = plan.monitoring
        lines.append(f"  labs at weeks {m.lab_weeks}: {', '.join(m.labs)}")
        lines.append(
            f"  questionnaires at weeks {m.questionnaire_weeks}: {', '.join(m.questionnaires)}"
        )
        lines.append(f"  trajectory band: {plan.trajectory_band.note}")
        for note in plan.essay_notes:
            lines.append(f"  essay note: {note}")
        lines.append(f"  {plan.statement}")
        lines += ["", "References"]
        for i, cite in enumerate(plan.citations, 1):
            lines.append(f"  [{i}] {cite.text}" + ("" if cite.verified else " [UNVERIFIED]"))
    lines.append(f"rulebook {result.rulebook.version} sha256 {result.rulebook.sha256[:12]}")
    return "\n".join(lines) + "\n"
