"""Phenotype A/B/C scores: transparent weighted features, every contribution listed.

These are **unvalidated hypothesis labels** after the essay's patterns (A gut-dominant, B
systemic NAD⁺ collapse, C CNS/autonomic); no validated MCAS subtypes exist
(docs/evidence.md#hostcap_phenotype_hypothesis).
Each phenotype rule turns one input (or one derived quantity) into a contribution between 0 and
its weight; a phenotype's score is the sum of its contributions divided by the sum of its
weights, so that scores are comparable between phenotypes with different feature counts.
A missing input contributes nothing and lowers the phenotype's ``coverage``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hostcap.clinical_decisions.assessment_input import AssessmentInput
from hostcap.clinical_decisions.assessment_result import Contribution, PhenotypeResult
from hostcap.clinical_decisions.rule_schema import PhenotypeRule, PhenotypeSettings

__all__ = ["DERIVED_FEATURES", "HYPOTHESIS_STATEMENT", "read_feature", "score_phenotypes"]

HYPOTHESIS_STATEMENT = (
    "Hypothesis label: phenotypes A (gut-dominant), B (systemic NAD⁺ collapse) and C "
    "(CNS/autonomic) come from the Host Capacity essay and are unvalidated; the weights are "
    "assumptions, not findings. Use the scores and their reasons, not the label alone."
)


def _gi_episode_fraction(inp: AssessmentInput) -> float | None:
    known = [e for e in inp.episodes or [] if e.organ_systems is not None]
    if not known:
        return None
    return sum(1 for e in known if "gastrointestinal" in (e.organ_systems or [])) / len(known)


def _organ_system_count(inp: AssessmentInput) -> int | None:
    known = [e for e in inp.episodes or [] if e.organ_systems is not None]
    if not known:
        return None
    return len({s for e in known for s in e.organ_systems or []})


def _orthostatic_tachycardia(inp: AssessmentInput) -> bool | None:
    rise = inp.history.orthostatic_hr_rise_bpm if inp.history else None
    if rise is None:
        return None
    # POTS: sustained rise ≥30 bpm, ≥40 bpm at 12–19 years (Vernino 2021); undefined under 12.
    return rise >= (40 if 12 <= inp.age_years < 20 else 30)


def _hypermobility_or_heds(inp: AssessmentInput) -> bool | None:
    history = inp.history
    if history is None:
        return None
    if history.heds:
        return True
    if history.beighton_score is None:
        return None if history.heds is None else False
    # Malfait 2017 cut-offs: ≥6 before puberty, ≥5 from puberty to 50, ≥4 over 50.
    cut = 6 if inp.age_years < 12 else (5 if inp.age_years <= 50 else 4)
    return history.beighton_score >= cut


#: derived feature name (``derived.<name>`` in a phenotype rule) → function of the input
DERIVED_FEATURES: dict[str, Callable[[AssessmentInput], Any]] = {
    "derived.gi_episode_fraction": _gi_episode_fraction,
    "derived.organ_system_count": _organ_system_count,
    "derived.orthostatic_tachycardia": _orthostatic_tachycardia,
    "derived.hypermobility_or_heds": _hypermobility_or_heds,
}


def read_feature(inp: AssessmentInput, path: str) -> Any:
    """The value at a dotted input path (aliases as in the JSON), or a derived feature."""
    if path in DERIVED_FEATURES:
        return DERIVED_FEATURES[path](inp)
    node: Any = inp
    for part in path.split("."):
        if node is None:
            return None
        fields = type(node).model_fields
        name = next((n for n, f in fields.items() if (f.alias or n) == part), part)
        node = getattr(node, name, None)
    return node


def _contribution(rule: PhenotypeRule, value: Any) -> float:
    if rule.transform == "flag":
        return rule.weight if bool(value) else 0.0
    number = float(value)
    if rule.transform == "at_least":
        return rule.weight if number >= float(rule.threshold or 0.0) else 0.0
    low, high = float(rule.ramp_from or 0.0), float(rule.ramp_to or 1.0)
    fraction = min(1.0, max(0.0, (number - low) / (high - low)))
    return rule.weight * fraction


def score_phenotypes(
    inp: AssessmentInput, rules: Sequence[PhenotypeRule], settings: PhenotypeSettings
) -> PhenotypeResult:
    """Scores, contributions, label and confidence for the hypothesis phenotypes.

    The label is ``insufficient_data`` when no phenotype has enough of its inputs
    (``min_coverage``) or none reaches ``min_score``; ``mixed`` when the runner-up also reaches
    ``min_score`` within ``mixed_margin`` of the top; otherwise the top phenotype.
    """
    keys = ("A", "B", "C")
    total = dict.fromkeys(keys, 0.0)
    seen = dict.fromkeys(keys, 0.0)
    got = dict.fromkeys(keys, 0.0)
    contributions: list[Contribution] = []
    missing: list[str] = []
    for rule in rules:
        total[rule.phenotype] += rule.weight
        value = read_feature(inp, rule.field)
        if value is None:
            missing.append(rule.field)
            continue
        seen[rule.phenotype] += rule.weight
        amount = _contribution(rule, value)
        got[rule.phenotype] += amount
        contributions.append(
            Contribution(
                rule_id=rule.id,
                phenotype=rule.phenotype,
                feature=rule.title,
                field=rule.field,
                value=value,
                weight=rule.weight,
                contribution=round(amount, 4),
            )
        )
    scores = {k: round(got[k] / total[k], 4) if total[k] else 0.0 for k in keys}
    coverage = {k: round(seen[k] / total[k], 4) if total[k] else 0.0 for k in keys}
    ranked = sorted(keys, key=lambda k: (-scores[k], k))
    top, second = ranked[0], ranked[1]
    margin = scores[top] - scores[second]
    label: Any
    if max(coverage.values()) < settings.min_coverage or scores[top] < settings.min_score:
        label = "insufficient_data"
    elif scores[second] >= settings.min_score and margin < settings.mixed_margin:
        label = "mixed"
    else:
        label = top
    confidence: Any
    if label == "insufficient_data":
        confidence = "low"
    elif coverage[top] >= 0.9 and margin >= 0.3:
        confidence = "high"
    elif coverage[top] >= 0.6 and margin >= 0.15:
        confidence = "moderate"
    else:
        confidence = "low"
    contributions.sort(key=lambda c: (c.phenotype, -c.contribution, c.rule_id))
    return PhenotypeResult(
        scores=scores,
        label=label,
        contributions=contributions,
        statement=HYPOTHESIS_STATEMENT,
        confidence=confidence,
        coverage=coverage,
        missing_features=sorted(set(missing)),
    )
