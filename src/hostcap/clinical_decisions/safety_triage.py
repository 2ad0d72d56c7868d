"""Safety triage: current compromise or anaphylaxis → emergency; red flags → referral. First.

The levels, from least to most urgent: ``routine`` < ``referral`` < ``urgent_referral`` <
``emergency``. A safety rule fires only on data that show the danger (missing data cannot raise
an alarm, and cannot silence one either: every rule is evaluated on every assessment).

The emergency rules run before anything else; when one fires the assessment returns the
emergency message and nothing else. Diagnostic criteria are not triage thresholds: any *current*
shock, collapse, hypotension for age or airway compromise is an emergency whatever its cause and
whatever else is known (``current_compromise``); the anaphylaxis criteria (WAO 2020, NIAID/FAAN
2006) are evaluated beside it and name the pattern when they are met.

Referral rules say what they do to the protocol plan (``plan_effect`` in the rulebook): clonal
and organ red flags, and children, *hold* the plan until the specialist has reviewed the person;
the few non-clonal referrals may run *alongside* it and say why.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hostcap.clinical_decisions import three_valued_logic as logic
from hostcap.clinical_decisions.assessment_input import AssessmentInput, CurrentEpisode
from hostcap.clinical_decisions.criteria_readings import (
    CriterionOutcome,
    any_episode,
    highest_baseline,
    kit_positive,
)
from hostcap.clinical_decisions.three_valued_logic import Tri, at_least, k_and, k_count, k_or

__all__ = [
    "ALONGSIDE_EVALUATORS",
    "EMERGENCY_MESSAGE",
    "LEVELS",
    "SAFETY_EVALUATORS",
    "TriageContext",
    "level_rank",
]

TriageLevelName = Literal["routine", "referral", "urgent_referral", "emergency"]
LEVELS: tuple[TriageLevelName, ...] = ("routine", "referral", "urgent_referral", "emergency")

EMERGENCY_MESSAGE = (
    "EMERGENCY: the signs recorded now (shock, collapse, low blood pressure for age, airway or "
    "breathing compromise, or anaphylaxis) need emergency care whatever their cause. Call "
    "emergency services now and use the adrenaline auto-injector if one is prescribed. Nothing "
    "else in this assessment applies until the person has been seen in emergency care. "
    "Afterwards: serum tryptase as soon as possible and at 1–2 h (no later than 4 h), and a "
    "baseline ≥24 h after all symptoms resolve."
)


def level_rank(level: str) -> int:
    """Position of a triage level (higher is more urgent)."""
    return list(LEVELS).index(level)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TriageContext:
    """What safety rules may read besides the input: the criteria already evaluated."""

    criteria: Mapping[str, CriterionOutcome]


Params = Mapping[str, Any]
SafetyEvaluator = Callable[[AssessmentInput, TriageContext, Params], Tri]

#: The only evaluators whose referral may let a plan run alongside (non-clonal reasons: other
#: diagnoses to exclude, acute inflammation); every other referral holds the plan.
ALONGSIDE_EVALUATORS = frozenset({"symptom_pattern_is", "hs_crp_above"})

#: name → (evaluator, the parameter names its rule must define)
SAFETY_EVALUATORS: dict[str, tuple[SafetyEvaluator, frozenset[str]]] = {}


def _register(
    name: str, params: Sequence[str] = ()
) -> Callable[[SafetyEvaluator], SafetyEvaluator]:
    def wrap(fn: SafetyEvaluator) -> SafetyEvaluator:
        SAFETY_EVALUATORS[name] = (fn, frozenset(params))
        return fn

    return wrap


EpisodeEvaluator = Callable[[CurrentEpisode, AssessmentInput, Params], Tri]


def _register_episode(
    name: str, params: Sequence[str] = ()
) -> Callable[[EpisodeEvaluator], EpisodeEvaluator]:
    """Register a rule about the episode in progress: it has no value without one (None)."""

    def wrap(fn: EpisodeEvaluator) -> EpisodeEvaluator:
        def evaluate(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
            episode = inp.current_episode
            return None if episode is None else fn(episode, inp, params)

        evaluate.__doc__ = fn.__doc__
        evaluate.__name__ = fn.__name__
        SAFETY_EVALUATORS[name] = (evaluate, frozenset(params))
        return fn

    return wrap


# -- anaphylaxis -----------------------------------------------------------------------------------

_BP_PARAMS = (
    "adult_systolic_below_mmhg",
    "infant_systolic_below_mmhg",
    "child_systolic_base_mmhg",
    "child_systolic_per_year_mmhg",
    "adolescent_systolic_below_mmhg",
    "fall_fraction_above",
)


def _low_systolic_limit(age_years: float, params: Params) -> float:
    # NIAID/FAAN 2006: <70 mmHg from 1 month to 1 year, <70 + 2 × age from 1 to 10 years,
    # <90 mmHg from 11 to 17 years and in adults.
    if age_years < 1:
        return float(params["infant_systolic_below_mmhg"])
    if age_years <= 10:
        return float(params["child_systolic_base_mmhg"]) + float(
            params["child_systolic_per_year_mmhg"]
        ) * int(age_years)
    if age_years < 18:
        return float(params["adolescent_systolic_below_mmhg"])
    return float(params["adult_systolic_below_mmhg"])


def reduced_blood_pressure(inp: AssessmentInput, ce: CurrentEpisode, params: Params) -> Tri:
    """Hypotension or collapse, a low systolic pressure for age, or a >30 % fall from baseline."""
    sbp = ce.systolic_bp_mmhg
    low: Tri = None if sbp is None else sbp < _low_systolic_limit(inp.age_years, params)
    fall: Tri = None
    if sbp is not None and ce.baseline_systolic_bp_mmhg is not None:
        fall = (ce.baseline_systolic_bp_mmhg - sbp) / ce.baseline_systolic_bp_mmhg > float(
            params["fall_fraction_above"]
        )
    return k_or(ce.hypotension_or_collapse, low, fall)


@_register_episode("current_compromise", _BP_PARAMS)
def current_compromise(ce: CurrentEpisode, inp: AssessmentInput, params: Params) -> Tri:
    """Shock, collapse, hypotension for age, or airway/breathing compromise now — any cause.

    Fires on any one of: collapse or hypotension recorded, syncope now, a systolic pressure
    below the NIAID/FAAN limit for age or > 30 % below the person's baseline, laryngeal
    involvement (oedema, stridor), respiratory compromise. Skin signs, allergen exposure and
    every other field are irrelevant to it: their absence or "false" never silences it.
    """
    return _airway_or_circulation(ce, inp, params)


def _airway_or_circulation(ce: CurrentEpisode, inp: AssessmentInput, params: Params) -> Tri:
    """Reduced blood pressure, syncope, laryngeal involvement or respiratory compromise."""
    return k_or(
        reduced_blood_pressure(inp, ce, params),
        ce.syncope,
        ce.laryngeal,
        ce.respiratory_compromise,
    )


@_register_episode("wao2020_criterion_1", _BP_PARAMS)
def wao2020_criterion_1(ce: CurrentEpisode, inp: AssessmentInput, params: Params) -> Tri:
    """Skin/mucosa plus respiratory compromise, reduced BP/end-organ dysfunction or severe GI."""
    # Laryngeal involvement (stridor) is respiratory compromise in WAO 2020 criterion 1 (a).
    return k_and(ce.skin_mucosal, k_or(_airway_or_circulation(ce, inp, params), ce.severe_gi))


@_register_episode("wao2020_criterion_2", _BP_PARAMS)
def wao2020_criterion_2(ce: CurrentEpisode, inp: AssessmentInput, params: Params) -> Tri:
    """Hypotension, bronchospasm or laryngeal involvement after a known or probable allergen."""
    return k_and(
        ce.known_allergen_exposure,
        k_or(reduced_blood_pressure(inp, ce, params), ce.respiratory_compromise, ce.laryngeal),
    )


@_register_episode("niaid2006_criterion_1", _BP_PARAMS)
def niaid2006_criterion_1(ce: CurrentEpisode, inp: AssessmentInput, params: Params) -> Tri:
    """Skin/mucosal involvement plus respiratory compromise or reduced BP/end-organ dysfunction."""
    # NIAID/FAAN lists stridor under respiratory compromise: laryngeal involvement counts.
    return k_and(
        ce.skin_mucosal,
        k_or(
            ce.respiratory_compromise,
            ce.laryngeal,
            reduced_blood_pressure(inp, ce, params),
            ce.syncope,
        ),
    )


@_register_episode("niaid2006_criterion_2", (*_BP_PARAMS, "min_systems"))
def niaid2006_criterion_2(ce: CurrentEpisode, inp: AssessmentInput, params: Params) -> Tri:
    """≥2 of skin/mucosa, respiratory, reduced BP, persistent GI after a likely allergen."""
    systems = [
        ce.skin_mucosal,
        k_or(ce.respiratory_compromise, ce.laryngeal),
        k_or(reduced_blood_pressure(inp, ce, params), ce.syncope),
        ce.severe_gi,
    ]
    return k_and(ce.known_allergen_exposure, k_count(systems, int(params["min_systems"])))


@_register_episode("niaid2006_criterion_3", _BP_PARAMS)
def niaid2006_criterion_3(ce: CurrentEpisode, inp: AssessmentInput, params: Params) -> Tri:
    """Reduced BP after a known allergen (SBP below age norm or a >30 % fall)."""
    return k_and(ce.known_allergen_exposure, reduced_blood_pressure(inp, ce, params))


# -- urgent referral ------------------------------------------------------------------------------


@_register("baseline_tryptase_at_least", ("tryptase_at_least_ng_ml",))
def baseline_tryptase_at_least(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """The highest recorded baseline tryptase is at or above the threshold (raw, never adjusted)."""
    return at_least(highest_baseline(inp), float(params["tryptase_at_least_ng_ml"]))


@_register("baseline_tryptase_above", ("tryptase_above_ng_ml",))
def baseline_tryptase_above(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """The highest recorded baseline tryptase exceeds the threshold.

    The raw value is used: an HαT correction may explain a raised value, but the decision that
    it does belongs to the specialist, so the correction never removes this flag.
    """
    return logic.strictly_above(highest_baseline(inp), float(params["tryptase_above_ng_ml"]))


def _criterion_item(ctx: TriageContext, criterion: str, item_id: str) -> Tri:
    outcome = ctx.criteria.get(criterion)
    if outcome is None:
        return None
    for item in outcome.items:
        if item.id == item_id:
            return item.value
    return None


@_register("c_finding_item", ("item",))
def c_finding_item(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """One C-finding item, as evaluated by the C-findings criterion."""
    return _criterion_item(ctx, "c_findings", str(params["item"]))


@_register("b_finding_item", ("item",))
def b_finding_item(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """One B-finding item (WHO 2022), as evaluated by the B-findings criterion."""
    return _criterion_item(ctx, "b_findings", str(params["item"]))


# -- referral -------------------------------------------------------------------------------------


@_register("age_below", ("age_below_years",))
def age_below(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """The person is younger than ``age_below_years`` (children: no adult-dose plan)."""
    return inp.age_years < float(params["age_below_years"])


@_register("rising_serial_baselines", ("min_values", "min_total_rise_fraction"))
def rising_serial_baselines(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """Serial baselines never fall and the newest exceeds the oldest by more than the RCV."""
    values = inp.tryptase.baseline_ng_ml if inp.tryptase else None
    if not values or len(values) < int(params["min_values"]):
        return None
    never_falls = all(b >= a for a, b in itertools.pairwise(values))
    first = values[0]
    rise = (values[-1] - first) / first if first > 0 else (1.0 if values[-1] > 0 else 0.0)
    return never_falls and rise > float(params["min_total_rise_fraction"])


@_register("finding_true", ("field",))
def finding_true(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """A yes/no examination finding is recorded as present."""
    if inp.findings is None:
        return None
    value = getattr(inp.findings, str(params["field"]))
    return None if value is None else bool(value)


@_register("organomegaly")
def organomegaly(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """Hepatomegaly or splenomegaly."""
    if inp.findings is None:
        return None
    return k_or(inp.findings.hepatomegaly, inp.findings.splenomegaly)


@_register("lymphadenopathy_above", ("lymph_node_above_cm",))
def lymphadenopathy_above(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """Lymph nodes larger than the threshold."""
    size = inp.findings.lymphadenopathy_cm if inp.findings else None
    return logic.strictly_above(size, float(params["lymph_node_above_cm"]))


@_register("bone_lesion_or_fracture")
def bone_lesion_or_fracture(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """Any lytic bone lesion or a pathological (fragility) fracture."""
    if inp.findings is None:
        return None
    return k_or(
        logic.strictly_above(inp.findings.osteolysis_cm, 0.0), inp.findings.pathological_fracture
    )


@_register("score_at_least", ("criterion", "cut_off"))
def score_at_least(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """A clonality score (REMA or NICAS) applies and is certainly at or above its cut-off."""
    outcome = ctx.criteria.get(str(params["criterion"]))
    cut_off = int(params["cut_off"])
    if outcome is None:
        return None
    # A score outside the population it was derived in is indeterminate and never fires.
    score_range = outcome.details.get("score_range")
    if outcome.value is not True or not score_range:
        return None
    return bool(score_range[0] >= cut_off)


@_register("criteria_met", ("criteria",))
def criteria_met(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """Any of the named criterion sets appears met."""
    names = str(params["criteria"]).split(",")
    return k_or(*(ctx.criteria[n].value if n in ctx.criteria else None for n in names)) or None


@_register("episode_flags", ("all_of",))
def episode_flags(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """Some recorded episode has every listed flag set (e.g. anaphylaxis and hymenoptera_sting)."""
    if not inp.episodes:
        return None
    names = str(params["all_of"]).split(",")
    return k_or(*(k_and(*(getattr(e, n) for n in names)) for e in inp.episodes)) or None


@_register("syncope_without_urticaria")
def syncope_without_urticaria(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """An episode with presyncope or syncope and no urticaria (the REMA-positive pattern)."""
    if not inp.episodes:
        return None
    return (
        k_or(
            *(
                k_and(e.presyncope_or_syncope, None if e.urticaria is None else not e.urticaria)
                for e in inp.episodes
            )
        )
        or None
    )


@_register("kit_d816v_positive")
def kit_d816v_positive(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """KIT D816V found in blood or marrow."""
    return kit_positive(inp)


@_register("symptom_pattern_is", ("pattern",))
def symptom_pattern_is(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """The recorded symptom pattern is the named one."""
    return None if inp.symptom_pattern is None else inp.symptom_pattern == params["pattern"]


@_register("hs_crp_above", ("hs_crp_above_mg_l",))
def hs_crp_above(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """hs-CRP above the threshold."""
    return logic.strictly_above(inp.hs_crp_mg_l, float(params["hs_crp_above_mg_l"]))


@_register("any_episode_flag", ("flag",))
def any_episode_flag(inp: AssessmentInput, ctx: TriageContext, params: Params) -> Tri:
    """Some recorded episode has the flag set."""
    return any_episode(inp.episodes, str(params["flag"]))
