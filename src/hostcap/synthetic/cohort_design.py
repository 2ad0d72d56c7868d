"""The synthetic cohort's design as data: proportions, rates and schedules, each with its reason.

Every number here is a documented design choice for *synthetic* data, not an estimate about real
people with MCAS; where a number comes from the literature, ``DESIGN_CITATIONS`` names its
citation key (rendered in ``docs/evidence.md``).
:func:`check_options` validates the user-facing options and names the option, the value and what
was expected in every message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hostcap.errors import Issue, ValidationError, describe_value
from hostcap.mechanistic_model import VARIANTS

__all__ = [
    "DEFAULT_DESIGN",
    "DESIGN_CITATIONS",
    "MAX_CLIENTS",
    "MAX_WEEKS",
    "MIN_WEEKS",
    "CohortDesign",
    "check_options",
]

#: Largest cohort one call generates (memory of the stacked daily trajectories stays < 1 GB).
MAX_CLIENTS = 20_000
#: Shortest and longest protocol the generator runs (the templates span 16 weeks; the fixed
#: calendar below keeps every date in the past for up to a year of follow-up).
MIN_WEEKS = 4
MAX_WEEKS = 52

#: Citation key of each design default taken from the literature; every other default is a
#: design choice for synthetic data (``docs/evidence.md`` lists these under the key).
DESIGN_CITATIONS: dict[str, str] = {"hat_prevalence": "lyons2021_hat_review"}


@dataclass(frozen=True)
class CohortDesign:
    """Proportions, rates and schedules of a synthetic cohort.

    Attributes
    ----------
    phenotype_mix
        True phenotype proportions. The A/B/C labels are hypothesis labels (grade S); "mixed"
        clients carry half of each of two presets' parameter changes. Chosen so every group has
        enough clients for subgroup analyses at n = 500 (no prevalence data exist).
    female_fraction
        Share of women; MCAS and HαT clinic cohorts are predominantly female (assumed 0.75).
    age_range
        Uniform age at enrolment, years.
    hat_prevalence
        Hereditary α-tryptasemia carriers: 5.7 % (Lyons 2021 review;
        ``docs/evidence.md#lyons2021_hat_review``).
    hat_two_copy_fraction
        Share of carriers with two extra α copies (most carriers have one; assumed 0.1).
    parameter_cv
        Between-client coefficient of variation of the log-normal parameter variation, clipped to
        each parameter's documented plausible range.
    varied_parameters
        The parameters that vary between clients (individual diet, barrier, inflammation, NAD⁺
        handling, triggers and baselines); the others are shared physiology.
    lab_every_weeks, questionnaire_every_weeks
        Visit schedule: labs every 4 weeks and questionnaires every 2 weeks (denser than the
        rulebook's minimum of labs at 0/8/16 so marker order can be analysed).
    jitter_days
        Visits fall uniformly within ± this many days of the planned day (the baseline visit
        is day 0).
    missed_visit_rate
        Probability that a follow-up visit does not happen (labs and questionnaires missing).
    dropout_per_week
        Constant weekly hazard of leaving the study (0.012/week ≈ 18 % by week 16).
    genotyped_fraction
        Share of clients with a recorded TPSAB1 genotype (α-tryptase extra copies).
    food_trial_every_weeks
        A food reintroduction trial from the client's panel every this many weeks.
    baseline_food_trials
        Foods trialled on the days just before enrolment (one a day), so food tolerance has a
        baseline of more than one food.
    food_panel
        The 20-food panel the model's ``food_tolerance`` observable refers to.
    episode_rate_per_load
        Episodes per week per point of the true symptom load (0-10).
    history_weeks
        Weeks of episode diary before enrolment (the enrolment-day state held constant), so the
        baseline assessment has an episode history.
    calendar_start, calendar_days
        Enrolment dates are drawn over ``calendar_days`` from this fixed date (a fixed calendar
        keeps the same seed giving the same cohort on any day, and every date in the past).
    """

    phenotype_mix: dict[str, float] = field(
        default_factory=lambda: {"A": 0.3, "B": 0.25, "C": 0.25, "mixed": 0.2}
    )
    female_fraction: float = 0.75
    age_range: tuple[int, int] = (18, 70)
    hat_prevalence: float = 0.057
    hat_two_copy_fraction: float = 0.1
    parameter_cv: float = 0.2
    varied_parameters: tuple[str, ...] = (
        "fibre_diet",
        "d_prod",
        "barrier_insult",
        "infl_basal",
        "infl_extra",
        "crp_ref",
        "v_nad_salvage",
        "a_cd38_infl",
        "trigger_load",
        "trigger_cns",
        "bbb_insult",
        "tryp_basal",
        "thr_max",
        "k_thr",
        "w_infl",
        "symptom_half",
        "thr_personal",
    )
    lab_every_weeks: int = 4
    questionnaire_every_weeks: int = 2
    jitter_days: int = 3
    missed_visit_rate: float = 0.1
    dropout_per_week: float = 0.012
    genotyped_fraction: float = 0.6
    food_trial_every_weeks: int = 2
    baseline_food_trials: int = 3
    food_panel: tuple[str, ...] = (
        "egg",
        "wheat",
        "milk",
        "tomato",
        "aged cheese",
        "spinach",
        "avocado",
        "banana",
        "strawberry",
        "citrus",
        "chocolate",
        "fermented foods",
        "cured meat",
        "shellfish",
        "peanut",
        "soy",
        "rice",
        "oats",
        "chicken",
        "apple",
    )
    episode_rate_per_load: float = 0.08
    history_weeks: int = 8
    calendar_start: str = "2024-01-08"
    calendar_days: int = 364


DEFAULT_DESIGN = CohortDesign()


def _bad(option: str, value: object, expected: str) -> Issue:
    return Issue(
        location=option,
        message=f"got {describe_value(value)}; expected {expected}",
        value=value,
        expected=expected,
    )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_options(n: int, seed: int, variant: str, effect_scale: float, weeks: int) -> None:
    """Raise one ``ValidationError`` listing every bad option (option, value, expected)."""
    issues: list[Issue] = []
    if not _whole(n) or not 1 <= n <= MAX_CLIENTS:
        issues.append(_bad("--n", n, f"a whole number of clients from 1 to {MAX_CLIENTS}"))
    if not _whole(seed) or seed < 0:
        issues.append(_bad("--seed", seed, "a whole number >= 0"))
    if variant not in VARIANTS:
        issues.append(_bad("--variant", variant, "a model variant, one of " + ", ".join(VARIANTS)))
    finite = isinstance(effect_scale, int | float) and math.isfinite(effect_scale)
    if not finite or not 0 <= effect_scale <= 10:
        issues.append(
            _bad("--effect-scale", effect_scale, "a number from 0 (interventions do nothing) to 10")
        )
    if not _whole(weeks) or not MIN_WEEKS <= weeks <= MAX_WEEKS:
        issues.append(
            _bad("--weeks", weeks, f"a whole number of weeks from {MIN_WEEKS} to {MAX_WEEKS}")
        )
    if issues:
        raise ValidationError(issues, context="synthetic cohort options")
