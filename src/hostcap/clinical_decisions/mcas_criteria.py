"""Consensus-1 (Valent 2012/2019; AAAAI 2019) and consensus-2 (Afrin 2020) MCAS criteria.

Each is a separate, labelled rule set; consensus-2 is permissive and contested and is never
merged with consensus-1. Thresholds come from the rule's ``params``.
"""

from __future__ import annotations

from hostcap.clinical_decisions.assessment_input import AssessmentInput, TryptaseEvent
from hostcap.clinical_decisions.criteria_readings import (
    CriterionOutcome,
    ItemOutcome,
    Params,
    kit_positive,
    marrow_value,
    missing_if_none,
    optional_values,
    param_float,
    register_criterion,
    serial_baselines,
)
from hostcap.clinical_decisions.three_valued_logic import (
    Tri,
    at_least,
    k_and,
    k_count,
    k_or,
    strictly_above,
    strictly_below,
)

__all__ = ["consensus_1", "consensus_2", "meets_tryptase_criterion"]

# Consensus-1 counts "respiratory/naso-ocular" as one system and does not list neurological.
_CONSENSUS_SYSTEM = {
    "skin": "skin",
    "gastrointestinal": "gastrointestinal",
    "cardiovascular": "cardiovascular",
    "respiratory": "respiratory/naso-ocular",
    "naso_ocular": "respiratory/naso-ocular",
}


# -- consensus-1 --------------------------------------------------------------------------------


def meets_tryptase_criterion(
    acute_ng_ml: float,
    baseline_ng_ml: float,
    hours_after_onset: float,
    baseline_hours_after_resolution: float,
    *,
    rise_factor: float = 1.2,
    rise_addend_ng_ml: float = 2.0,
    window_hours: tuple[float, float] = (0.0, 4.0),
    baseline_min_hours_after_resolution: float = 24.0,
) -> bool:
    """Consensus-1 criterion B for one event (Valent 2012/2019, "20 % + 2").

    True only when the acute value *exceeds* ``1.2 × baseline + 2`` ng/mL, the acute sample was
    drawn within 4 h of onset (earlier samples count: both bounds of ``window_hours`` included)
    and the baseline was drawn before the event (``baseline_hours_after_resolution`` negative)
    or at least 24 h after all symptoms resolved (Valent 2012, 2019; Weiler 2019).

    Examples
    --------
    >>> meets_tryptase_criterion(14.1, 10.0, 2.0, 48.0)
    True
    >>> meets_tryptase_criterion(14.0, 10.0, 2.0, 48.0)   # equal to the threshold: not a rise
    False
    >>> meets_tryptase_criterion(20.0, 4.0, 0.5, -72.0)   # 30 min after onset, pre-event baseline
    True
    """
    low, high = window_hours
    return bool(
        acute_ng_ml > rise_factor * baseline_ng_ml + rise_addend_ng_ml
        and low <= hours_after_onset <= high
        and _baseline_timing_valid(
            baseline_hours_after_resolution, baseline_min_hours_after_resolution
        )
    )


def _baseline_timing_valid(hours_after_resolution: float | None, min_hours: float) -> Tri:
    """A baseline drawn before the event (negative hours) or ≥ ``min_hours`` after resolution."""
    return k_or(
        strictly_below(hours_after_resolution, 0.0), at_least(hours_after_resolution, min_hours)
    )


def _event_outcome(i: int, event: TryptaseEvent, params: Params) -> ItemOutcome:
    where = f"tryptase.events[{i}]"
    low, high = (float(x) for x in params["acute_window_hours"])
    threshold = (
        None
        if event.baseline_ng_ml is None
        else param_float(params, "rise_factor") * event.baseline_ng_ml
        + param_float(params, "rise_addend_ng_ml")
    )
    rise = None if event.acute_ng_ml is None or threshold is None else event.acute_ng_ml > threshold
    h = event.hours_after_onset
    in_window = None if h is None else low <= h <= high
    baseline_ok = _baseline_timing_valid(
        event.baseline_hours_after_resolution,
        param_float(params, "baseline_min_hours_after_resolution"),
    )
    value = k_and(rise, in_window, baseline_ok)
    missing = (
        missing_if_none(event.acute_ng_ml, f"{where}.acute_ng_ml")
        + missing_if_none(event.baseline_ng_ml, f"{where}.baseline_ng_ml")
        + missing_if_none(h, f"{where}.hours_after_onset")
        + missing_if_none(
            event.baseline_hours_after_resolution, f"{where}.baseline_hours_after_resolution"
        )
    )
    observed = {
        "acute_ng_ml": event.acute_ng_ml,
        "threshold_ng_ml": None if threshold is None else round(threshold, 3),
        "rise_exceeds_threshold": rise,
        "acute_sample_in_window": in_window,
        "baseline_timing_valid": baseline_ok,
    }
    return ItemOutcome(
        id=f"B.event_{i}",
        description=f"event {i}: acute > {params['rise_factor']} × baseline + "
        f"{params['rise_addend_ng_ml']} ng/mL, drawn {low:g}–{high:g} h after onset, baseline "
        f"before the event or ≥ {params['baseline_min_hours_after_resolution']} h after "
        "resolution",
        value=value,
        observed=observed,
        missing=missing,
    )


@register_criterion(
    "consensus_1",
    (
        "min_organ_systems",
        "min_episodes",
        "rise_factor",
        "rise_addend_ng_ml",
        "acute_window_hours",
        "baseline_min_hours_after_resolution",
    ),
)
def consensus_1(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """Consensus-1 MCAS: A (recurrent episodes, ≥2 systems) and B (20 % + 2) and C (response)."""
    needed_systems = int(params["min_organ_systems"])
    episodes = inp.episodes
    a_items: list[Tri] = []
    for e in episodes or []:
        systems = (
            None
            if e.organ_systems is None
            else {_CONSENSUS_SYSTEM.get(s.value) for s in e.organ_systems}
        )
        a_items.append(None if systems is None else len(systems - {None}) >= needed_systems)
    a: Tri = None if episodes is None else k_count(a_items, int(params["min_episodes"]))
    a_missing: tuple[str, ...] = (
        ("episodes",)
        if episodes is None
        else tuple(f"episodes[{i}].organ_systems" for i, v in enumerate(a_items) if v is None)
    )
    items = [
        ItemOutcome(
            id="A",
            description=f"≥{params['min_episodes']} episodes each involving ≥{needed_systems} "
            "organ systems (skin, cardiovascular, respiratory/naso-ocular, gastrointestinal)",
            value=a,
            observed={"qualifying_episodes": sum(1 for v in a_items if v is True)},
            missing=a_missing,
        )
    ]
    events = inp.tryptase.events if inp.tryptase else None
    event_items = [_event_outcome(i, ev, params) for i, ev in enumerate(events or [])]
    b: Tri = k_or(*(it.value for it in event_items)) if event_items else None
    items.append(
        ItemOutcome(
            id="B",
            description="event-related tryptase rise > 1.2 × baseline + 2 ng/mL with valid timing",
            value=b,
            observed={"events": [it.observed for it in event_items]},
            missing=tuple(m for it in event_items if it.value is None for m in it.missing)
            or (() if event_items else ("tryptase.events",)),
        )
    )
    c = inp.response_to_mediator_therapy
    items.append(
        ItemOutcome(
            id="C",
            description="symptoms respond to mast-cell-directed therapy",
            value=c,
            missing=missing_if_none(c, "response_to_mediator_therapy"),
        )
    )
    notes = []
    if any(it.observed["rise_exceeds_threshold"] and it.value is False for it in event_items):
        notes.append(
            "A tryptase rise exceeded the threshold but the acute sample was drawn more than "
            "4 h after onset, or the baseline was drawn during the event or < 24 h after "
            "resolution; it does not count. Repeat with correct timing."
        )
    if inp.symptom_pattern == "chronic_daily":
        notes.append(
            "Chronic daily symptoms without discrete episodes argue against MCAS (AAAAI 2019)."
        )
    notes.append("A rise without a clinical event is not an MCAS criterion.")
    return CriterionOutcome(value=k_and(a, b, c), items=items, notes=notes)


# -- consensus-2 --------------------------------------------------------------------------------


@register_criterion("consensus_2", ("spindle_pct_above", "mediator_upper_ng_ml", "min_minor"))
def consensus_2(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """Consensus-2 (Afrin/Molderings): major + ≥1 minor. Permissive and contested."""
    has_episode = None if not inp.episodes else True
    has_pattern = None if inp.symptom_pattern is None else True
    major = k_or(has_episode, has_pattern)
    spindle = strictly_above(
        marrow_value(inp, "spindle_or_atypical_pct"), param_float(params, "spindle_pct_above")
    )
    upper = param_float(params, "mediator_upper_ng_ml")
    acute_values = (
        [
            e.acute_ng_ml
            for e in (inp.tryptase.events or [])
            if inp.tryptase and e.acute_ng_ml is not None
        ]
        if inp.tryptase
        else []
    )
    mediators = k_or(
        *(strictly_above(v, upper) for v in optional_values(serial_baselines(inp))),
        *(strictly_above(v, upper) for v in acute_values),
    )
    minors = [
        ItemOutcome(
            "minor_1",
            "multifocal/disseminated MC infiltrates (proxy: dense aggregates of ≥15 MCs)",
            marrow_value(inp, "dense_aggregates_15_plus"),
            missing=missing_if_none(
                marrow_value(inp, "dense_aggregates_15_plus"),
                "bone_marrow.dense_aggregates_15_plus",
            ),
        ),
        ItemOutcome(
            "minor_2",
            f"spindle-shaped morphology in >{params['spindle_pct_above']} % of MCs",
            spindle,
            missing=missing_if_none(spindle, "bone_marrow.spindle_or_atypical_pct"),
        ),
        ItemOutcome(
            "minor_3",
            "aberrant CD2 and/or CD25 expression",
            marrow_value(inp, "cd25_cd2_cd30_expression"),
            missing=missing_if_none(
                marrow_value(inp, "cd25_cd2_cd30_expression"),
                "bone_marrow.cd25_cd2_cd30_expression",
            ),
        ),
        ItemOutcome(
            "minor_4",
            "MC genetic change increasing MC activity (KIT D816V recorded here)",
            kit_positive(inp),
            missing=("kit_d816v",) if kit_positive(inp) is None else (),
        ),
        ItemOutcome(
            "minor_5",
            f"mediator above normal (tryptase > {upper:g} ng/mL recorded here)",
            mediators,
            missing=("tryptase.baseline_ng_ml",) if mediators is None else (),
        ),
        ItemOutcome(
            "minor_6",
            "symptomatic response to MC-activation or mediator inhibitors",
            inp.response_to_mediator_therapy,
            missing=missing_if_none(
                inp.response_to_mediator_therapy, "response_to_mediator_therapy"
            ),
        ),
    ]
    items = [
        ItemOutcome(
            "major",
            "constellation of complaints attributable to MC activation "
            "(episodes or a symptom pattern recorded)",
            major,
            missing=() if major else ("episodes", "symptom_pattern"),
        ),
        *minors,
    ]
    value = k_and(major, k_count((m.value for m in minors), int(params["min_minor"])))
    alt = k_and(major, k_count((m.value for m in minors), 3))
    return CriterionOutcome(
        value=value,
        items=items,
        details={"contested": True, "variant_2014_three_minors": alt},
        notes=[
            "Consensus-2 is permissive and contested (Gülen 2021); it is reported separately "
            "and never merged with consensus-1.",
            "Requires that no other disease better accounts for the findings.",
        ],
    )
