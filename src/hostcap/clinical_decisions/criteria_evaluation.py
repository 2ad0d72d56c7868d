"""Evaluators of the published criteria: consensus-1 and -2 MCAS, WHO 2022 and ICC 2022 SM,
B- and C-findings, REMA, NICAS and HαT handling.

Each evaluator reads an :class:`AssessmentInput` and the thresholds of its rule (``params`` in
``rulebook/criteria.yaml``) and returns a :class:`CriterionOutcome` in three-valued logic: a
criterion is ``met``, ``not_met`` or ``indeterminate`` — the last with the input fields whose
absence kept it open. Missing data is never "not met". The tool reports which criteria *appear*
met; it never diagnoses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hostcap.clinical_decisions.assessment_input import AssessmentInput, Episode, TryptaseEvent
from hostcap.clinical_decisions.three_valued_logic import (
    Tri,
    at_least,
    decided,
    k_and,
    k_count,
    k_or,
    strictly_above,
    strictly_below,
)

__all__ = [
    "CRITERION_EVALUATORS",
    "CriterionOutcome",
    "ItemOutcome",
    "ScoreRange",
    "hat_adjusted_above",
    "hat_corrected_tryptase",
    "meets_tryptase_criterion",
]

Params = Mapping[str, Any]


@dataclass(frozen=True)
class ItemOutcome:
    """One sub-criterion or score item: its three-valued result and what it read."""

    id: str
    description: str
    value: Tri
    observed: Any = None
    missing: tuple[str, ...] = ()
    points: int | None = None
    points_range: tuple[int, int] | None = None


@dataclass
class CriterionOutcome:
    """The result of one criterion set before it is labelled with its rule."""

    value: Tri
    items: list[ItemOutcome] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    missing_extra: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        """Input field paths whose absence left an item unknown (only when the result is)."""
        if self.value is not None:
            return []
        found = {m for i in self.items if i.value is None for m in i.missing}
        found.update(self.missing_extra)
        return sorted(found)


@dataclass(frozen=True)
class ScoreRange:
    """A points score over items some of which may be unknown: the lowest and highest totals."""

    low: int
    high: int

    @property
    def exact(self) -> int | None:
        return self.low if self.low == self.high else None


Evaluator = Callable[[AssessmentInput, Params], CriterionOutcome]

#: name → (evaluator, the parameter names its rule must define)
CRITERION_EVALUATORS: dict[str, tuple[Evaluator, frozenset[str]]] = {}


def _register(name: str, params: Sequence[str]) -> Callable[[Evaluator], Evaluator]:
    def wrap(fn: Evaluator) -> Evaluator:
        CRITERION_EVALUATORS[name] = (fn, frozenset(params))
        return fn

    return wrap


def _f(params: Params, key: str) -> float:
    return float(params[key])


# -- shared readings ----------------------------------------------------------------------------

# Consensus-1 counts "respiratory/naso-ocular" as one system and does not list neurological.
_CONSENSUS_SYSTEM = {
    "skin": "skin",
    "gastrointestinal": "gastrointestinal",
    "cardiovascular": "cardiovascular",
    "respiratory": "respiratory/naso-ocular",
    "naso_ocular": "respiratory/naso-ocular",
}


def _baselines(inp: AssessmentInput) -> list[float] | None:
    if inp.tryptase is None or not inp.tryptase.baseline_ng_ml:
        return None
    return list(inp.tryptase.baseline_ng_ml)


def latest_baseline(inp: AssessmentInput) -> float | None:
    """The newest serial baseline tryptase (ng/mL), or None."""
    values = _baselines(inp)
    return None if values is None else values[-1]


def highest_baseline(inp: AssessmentInput) -> float | None:
    """The highest serial baseline tryptase (ng/mL); safety rules use it, to err towards care."""
    values = _baselines(inp)
    return None if values is None else max(values)


def hat_corrected_tryptase(baseline_ng_ml: float | None, extra_copies: int | None) -> float | None:
    """HαT-corrected baseline tryptase = baseline ÷ (1 + extra α-tryptase copies).

    Examples
    --------
    >>> hat_corrected_tryptase(30.0, 2)
    10.0
    >>> hat_corrected_tryptase(30.0, None) is None
    True
    """
    if baseline_ng_ml is None or extra_copies is None:
        return None
    return baseline_ng_ml / (1 + extra_copies)


def hat_adjusted_above(
    baseline_ng_ml: float | None, extra_copies: int | None, threshold: float, *, inclusive: bool
) -> Tri:
    """Whether the baseline, HαT-adjusted when the genotype is known, exceeds ``threshold``.

    WHO 2022 adjusts tryptase for HαT only when HαT is *known*: with a recorded TPSAB1 genotype
    the corrected value (baseline ÷ (1 + extra α copies)) is compared; without one the raw value
    counts (and genotyping is suggested by the HαT rule).

    Examples
    --------
    >>> hat_adjusted_above(30.0, None, 20.0, inclusive=False)   # no genotype: raw value
    True
    >>> hat_adjusted_above(30.0, 1, 20.0, inclusive=False)      # 30 / 2 = 15
    False
    """
    compare = at_least if inclusive else strictly_above
    if extra_copies is None:
        return compare(baseline_ng_ml, threshold)
    return compare(hat_corrected_tryptase(baseline_ng_ml, extra_copies), threshold)


def _optional_values(values: list[float] | None) -> list[float | None]:
    return [None] if values is None else list(values)


def _any_episode(episodes: list[Episode] | None, attr: str) -> Tri:
    if episodes is None:
        return None
    return k_or(*(getattr(e, attr) for e in episodes)) if episodes else False


def _kit_positive(inp: AssessmentInput) -> Tri:
    """KIT D816V found: a positive test or a VAF above 0 is positive (either wins, to err
    towards care); a recorded negative test, or a VAF of 0, is negative without the other."""
    kit: Tri = {"positive": True, "negative": False}.get(inp.kit_d816v or "")
    vaf = inp.bone_marrow.kit_d816v_vaf_pct if inp.bone_marrow else None
    vaf_found = strictly_above(vaf, 0.0)
    if kit is True or vaf_found is True:
        return True
    if kit is False or vaf_found is False:
        return False
    return None


def _marrow(inp: AssessmentInput, name: str) -> Any:
    return None if inp.bone_marrow is None else getattr(inp.bone_marrow, name)


def _finding(inp: AssessmentInput, name: str) -> Any:
    return None if inp.findings is None else getattr(inp.findings, name)


def _count(inp: AssessmentInput, name: str) -> float | None:
    return None if inp.blood_counts is None else getattr(inp.blood_counts, name)


def _miss(value: Any, path: str) -> tuple[str, ...]:
    return (path,) if value is None else ()


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
        else _f(params, "rise_factor") * event.baseline_ng_ml + _f(params, "rise_addend_ng_ml")
    )
    rise = None if event.acute_ng_ml is None or threshold is None else event.acute_ng_ml > threshold
    h = event.hours_after_onset
    in_window = None if h is None else low <= h <= high
    baseline_ok = _baseline_timing_valid(
        event.baseline_hours_after_resolution, _f(params, "baseline_min_hours_after_resolution")
    )
    value = k_and(rise, in_window, baseline_ok)
    missing = (
        _miss(event.acute_ng_ml, f"{where}.acute_ng_ml")
        + _miss(event.baseline_ng_ml, f"{where}.baseline_ng_ml")
        + _miss(h, f"{where}.hours_after_onset")
        + _miss(event.baseline_hours_after_resolution, f"{where}.baseline_hours_after_resolution")
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


@_register(
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
            missing=_miss(c, "response_to_mediator_therapy"),
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


@_register("consensus_2", ("spindle_pct_above", "mediator_upper_ng_ml", "min_minor"))
def consensus_2(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """Consensus-2 (Afrin/Molderings): major + ≥1 minor. Permissive and contested."""
    has_episode = None if not inp.episodes else True
    has_pattern = None if inp.symptom_pattern is None else True
    major = k_or(has_episode, has_pattern)
    spindle = strictly_above(
        _marrow(inp, "spindle_or_atypical_pct"), _f(params, "spindle_pct_above")
    )
    upper = _f(params, "mediator_upper_ng_ml")
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
        *(strictly_above(v, upper) for v in _optional_values(_baselines(inp))),
        *(strictly_above(v, upper) for v in acute_values),
    )
    minors = [
        ItemOutcome(
            "minor_1",
            "multifocal/disseminated MC infiltrates (proxy: dense aggregates of ≥15 MCs)",
            _marrow(inp, "dense_aggregates_15_plus"),
            missing=_miss(
                _marrow(inp, "dense_aggregates_15_plus"), "bone_marrow.dense_aggregates_15_plus"
            ),
        ),
        ItemOutcome(
            "minor_2",
            f"spindle-shaped morphology in >{params['spindle_pct_above']} % of MCs",
            spindle,
            missing=_miss(spindle, "bone_marrow.spindle_or_atypical_pct"),
        ),
        ItemOutcome(
            "minor_3",
            "aberrant CD2 and/or CD25 expression",
            _marrow(inp, "cd25_cd2_cd30_expression"),
            missing=_miss(
                _marrow(inp, "cd25_cd2_cd30_expression"), "bone_marrow.cd25_cd2_cd30_expression"
            ),
        ),
        ItemOutcome(
            "minor_4",
            "MC genetic change increasing MC activity (KIT D816V recorded here)",
            _kit_positive(inp),
            missing=("kit_d816v",) if _kit_positive(inp) is None else (),
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
            missing=_miss(inp.response_to_mediator_therapy, "response_to_mediator_therapy"),
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


# -- systemic mastocytosis ----------------------------------------------------------------------


def _sm_minors(inp: AssessmentInput, params: Params, *, persistent: bool) -> list[ItemOutcome]:
    copies = inp.alpha_tryptase_extra_copies
    spindle_value = _marrow(inp, "spindle_or_atypical_pct")
    threshold = _f(params, "tryptase_above_ng_ml")
    baselines = _baselines(inp)
    tryptase: Tri
    t_missing: tuple[str, ...]
    if baselines is None:
        tryptase, t_missing = None, ("tryptase.baseline_ng_ml",)
    elif persistent:
        each = [hat_adjusted_above(v, copies, threshold, inclusive=False) for v in baselines]
        tryptase = k_and(*each)
        if tryptase is True and len(baselines) < 2:
            tryptase = None  # persistence needs a second baseline
        t_missing = ("tryptase.baseline_ng_ml (a second baseline: persistence)",)
    else:
        tryptase = hat_adjusted_above(baselines[-1], copies, threshold, inclusive=False)
        t_missing = ()
    kit = _kit_positive(inp)
    return [
        ItemOutcome(
            "minor_atypical",
            f">{params['spindle_pct_above']} % of MCs spindle-shaped or atypical",
            strictly_above(spindle_value, _f(params, "spindle_pct_above")),
            observed=spindle_value,
            missing=_miss(spindle_value, "bone_marrow.spindle_or_atypical_pct"),
        ),
        ItemOutcome(
            "minor_kit",
            "KIT D816V (or another activating KIT mutation)",
            kit,
            observed=inp.kit_d816v,
            missing=("kit_d816v", "bone_marrow.kit_d816v_vaf_pct") if kit is None else (),
        ),
        ItemOutcome(
            "minor_cd",
            "MCs express CD2 and/or CD25 and/or CD30",
            _marrow(inp, "cd25_cd2_cd30_expression"),
            missing=_miss(
                _marrow(inp, "cd25_cd2_cd30_expression"), "bone_marrow.cd25_cd2_cd30_expression"
            ),
        ),
        ItemOutcome(
            "minor_tryptase",
            ("persistent " if persistent else "")
            + f"baseline tryptase > {threshold:g} ng/mL (HαT-adjusted when the TPSAB1 genotype "
            "is recorded, the raw value otherwise)",
            tryptase,
            observed={
                "baselines_ng_ml": baselines,
                "hat_corrected_latest_ng_ml": hat_corrected_tryptase(
                    None if baselines is None else baselines[-1], copies
                ),
            },
            missing=t_missing,
        ),
    ]


def _major(inp: AssessmentInput) -> ItemOutcome:
    value = _marrow(inp, "dense_aggregates_15_plus")
    return ItemOutcome(
        "major",
        "multifocal dense MC infiltrates (≥15 MCs in aggregates) in marrow or another "
        "extracutaneous organ",
        value,
        missing=_miss(value, "bone_marrow.dense_aggregates_15_plus"),
    )


@_register(
    "who_2022_sm",
    ("spindle_pct_above", "tryptase_above_ng_ml", "min_minor_with_major", "min_minor_alone"),
)
def who_2022_sm(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """WHO 5th edition (2022) SM: major + ≥1 minor, or ≥3 minor."""
    major = _major(inp)
    minors = _sm_minors(inp, params, persistent=False)
    with_major, alone = int(params["min_minor_with_major"]), int(params["min_minor_alone"])

    def rule(v: Sequence[bool]) -> bool:
        return (v[0] and sum(v[1:]) >= with_major) or sum(v[1:]) >= alone

    return CriterionOutcome(
        value=decided(rule, [major.value, *(m.value for m in minors)]),
        items=[major, *minors],
        notes=[
            "Tryptase minor criterion not valid with an associated myeloid neoplasm.",
            "WHO 2022: tryptase is adjusted for HαT only when HαT is known (a recorded TPSAB1 "
            "genotype); without a genotype the raw value counts and genotyping is suggested.",
            *_genotype_note(inp, params),
        ],
    )


def _genotype_note(inp: AssessmentInput, params: Params) -> list[str]:
    baselines = _baselines(inp)
    threshold = _f(params, "tryptase_above_ng_ml")
    if inp.alpha_tryptase_extra_copies is None and baselines and max(baselines) > threshold:
        return [
            f"Baseline tryptase > {threshold:g} ng/mL without a TPSAB1 genotype: the raw value "
            "was used; ddPCR genotyping for HαT is suggested."
        ]
    return []


@_register("icc_2022_sm", ("spindle_pct_above", "tryptase_above_ng_ml", "min_minor_alone"))
def icc_2022_sm(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """ICC 2022 SM: the major criterion alone, or ≥3 of 4 minor criteria."""
    major = _major(inp)
    minors = _sm_minors(inp, params, persistent=True)
    alone = int(params["min_minor_alone"])

    def rule(v: Sequence[bool]) -> bool:
        return v[0] or sum(v[1:]) >= alone

    return CriterionOutcome(
        value=decided(rule, [major.value, *(m.value for m in minors)]),
        items=[major, *minors],
        notes=[
            "ICC: the major criterion alone suffices; MC identity must be confirmed by tryptase "
            "and/or CD117 immunohistochemistry (assumed when aggregates are recorded).",
            "Tryptase minor criterion needs persistence (≥2 baselines) and is not valid in SM-AMN.",
            "Tryptase is adjusted for HαT only when the TPSAB1 genotype is recorded; otherwise "
            "the raw value counts.",
            *_genotype_note(inp, params),
        ],
    )


# -- B- and C-findings --------------------------------------------------------------------------


@_register(
    "b_findings",
    (
        "who_infiltration_pct_at_least",
        "who_tryptase_at_least_ng_ml",
        "who_vaf_pct_at_least",
        "who_lymph_node_cm_above",
        "icc_infiltration_pct_above",
        "icc_tryptase_above_ng_ml",
        "icc_lymph_node_cm_above",
    ),
)
def b_findings(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """B-findings (burden of disease), WHO 2022 for the status, ICC 2022 shown beside it."""
    copies = inp.alpha_tryptase_extra_copies
    latest = latest_baseline(inp)
    infiltration = _marrow(inp, "infiltration_pct")
    vaf = _marrow(inp, "kit_d816v_vaf_pct")
    hep, spl, lymph = (
        _finding(inp, n) for n in ("hepatomegaly", "splenomegaly", "lymphadenopathy_cm")
    )
    organ_missing = (
        _miss(hep, "findings.hepatomegaly")
        + _miss(spl, "findings.splenomegaly")
        + _miss(lymph, "findings.lymphadenopathy_cm")
    )
    b1_missing = (
        _miss(infiltration, "bone_marrow.infiltration_pct")
        + _miss(vaf, "bone_marrow.kit_d816v_vaf_pct")
        + _miss(latest, "tryptase.baseline_ng_ml")
    )
    who_b1 = k_or(
        at_least(infiltration, _f(params, "who_infiltration_pct_at_least")),
        hat_adjusted_above(
            latest, copies, _f(params, "who_tryptase_at_least_ng_ml"), inclusive=True
        ),
        at_least(vaf, _f(params, "who_vaf_pct_at_least")),
    )
    who_b3 = k_or(hep, spl, strictly_above(lymph, _f(params, "who_lymph_node_cm_above")))
    icc_b1 = k_and(
        strictly_above(infiltration, _f(params, "icc_infiltration_pct_above")),
        hat_adjusted_above(latest, copies, _f(params, "icc_tryptase_above_ng_ml"), inclusive=False),
    )
    icc_b3 = k_or(hep, spl, strictly_above(lymph, _f(params, "icc_lymph_node_cm_above")))
    items = [
        ItemOutcome(
            "who_b1",
            "WHO B1: MC infiltration ≥30 % and/or tryptase ≥200 ng/mL (HαT-adjusted when the "
            "genotype is recorded, raw otherwise) and/or KIT D816V VAF ≥10 %",
            who_b1,
            missing=b1_missing,
        ),
        ItemOutcome(
            "who_b3",
            "WHO B3: hepatomegaly, splenomegaly or lymphadenopathy >2 cm without dysfunction",
            who_b3,
            missing=organ_missing,
        ),
    ]
    icc_items = [
        ItemOutcome(
            "icc_b1",
            "ICC B1: >30 % marrow cellularity by MC aggregates and tryptase >200 ng/mL",
            icc_b1,
            missing=b1_missing,
        ),
        ItemOutcome(
            "icc_b3",
            "ICC B3: hepatomegaly, splenomegaly or lymphadenopathy >1 cm",
            icc_b3,
            missing=organ_missing,
        ),
    ]

    def _summary(values: list[Tri]) -> dict[str, Any]:
        return {
            "count_present": sum(1 for v in values if v is True),
            "count_unknown": sum(1 for v in values if v is None),
        }

    return CriterionOutcome(
        value=k_or(who_b1, who_b3),
        items=items,
        details={
            "who": _summary([who_b1, who_b3]),
            "icc": {**_summary([icc_b1, icc_b3]), "items": icc_items},
        },
        notes=[
            "B2 (myeloproliferation/dysplasia or cytopenia not meeting C) needs haematopathology "
            "and is not assessed from these inputs.",
        ],
    )


@_register(
    "c_findings",
    (
        "haemoglobin_below_g_dl",
        "platelets_below_10e9_l",
        "neutrophils_below_10e9_l",
        "osteolysis_cm_at_least",
    ),
)
def c_findings(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """C-findings (organ damage from MC infiltration; the same in WHO 2022 and ICC 2022)."""
    hb, plt, anc = (
        _count(inp, n) for n in ("haemoglobin_g_dl", "platelets_10e9_l", "neutrophils_10e9_l")
    )

    def below(value: float | None, limit: float) -> Tri:
        return None if value is None else value < limit

    c1 = k_or(
        below(hb, _f(params, "haemoglobin_below_g_dl")),
        below(plt, _f(params, "platelets_below_10e9_l")),
        below(anc, _f(params, "neutrophils_below_10e9_l")),
    )
    ascites = _finding(inp, "ascites")
    spl = _finding(inp, "splenomegaly")
    # Hypersplenism is not an input: splenomegaly leaves the item open rather than settled.
    c3: Tri = False if spl is False else None
    osteo = _finding(inp, "osteolysis_cm")
    fracture = _finding(inp, "pathological_fracture")
    c4 = k_and(at_least(osteo, _f(params, "osteolysis_cm_at_least")), fracture)
    c5 = _finding(inp, "malabsorption_weight_loss")
    items = [
        ItemOutcome(
            "c1_cytopenia",
            f"marrow dysfunction: Hb <{params['haemoglobin_below_g_dl']} g/dL and/or platelets "
            f"<{params['platelets_below_10e9_l']} ×10⁹/L and/or neutrophils "
            f"<{params['neutrophils_below_10e9_l']} ×10⁹/L",
            c1,
            observed={"haemoglobin_g_dl": hb, "platelets_10e9_l": plt, "neutrophils_10e9_l": anc},
            missing=_miss(hb, "blood_counts.haemoglobin_g_dl")
            + _miss(plt, "blood_counts.platelets_10e9_l")
            + _miss(anc, "blood_counts.neutrophils_10e9_l"),
        ),
        ItemOutcome(
            "c2_liver",
            "hepatomegaly with impaired liver function, ascites or portal hypertension "
            "(ascites recorded here)",
            ascites,
            missing=_miss(ascites, "findings.ascites"),
        ),
        ItemOutcome(
            "c3_spleen",
            "splenomegaly with hypersplenism (hypersplenism is not an input field)",
            c3,
            missing=_miss(spl, "findings.splenomegaly")
            if spl is None
            else ("findings.splenomegaly",),
        ),
        ItemOutcome(
            "c4_bone",
            f"large osteolysis (≥{params['osteolysis_cm_at_least']} cm) with pathological fracture",
            c4,
            missing=_miss(osteo, "findings.osteolysis_cm")
            + _miss(fracture, "findings.pathological_fracture"),
        ),
        ItemOutcome(
            "c5_gi",
            "malabsorption with hypoalbuminaemia and weight loss",
            c5,
            missing=_miss(c5, "findings.malabsorption_weight_loss"),
        ),
    ]
    return CriterionOutcome(
        value=k_or(*(i.value for i in items)),
        items=items,
        notes=["Any C-finding → urgent haematology referral; not for protocol management."],
    )


# -- scores ---------------------------------------------------------------------------------------


def _points(value: Tri, if_true: int, if_false: int) -> tuple[int, int]:
    if value is None:
        return min(if_true, if_false), max(if_true, if_false)
    return (if_true, if_true) if value else (if_false, if_false)


def _score_item(
    item_id: str,
    description: str,
    value: Tri,
    if_true: int,
    if_false: int,
    missing: tuple[str, ...],
) -> ItemOutcome:
    low, high = _points(value, if_true, if_false)
    return ItemOutcome(
        item_id,
        description,
        value,
        points=low if low == high else None,
        points_range=(low, high),
        missing=missing if value is None else (),
    )


def _sex_item(inp: AssessmentInput, params: Params) -> ItemOutcome:
    male: Tri = {"male": True, "female": False}.get(inp.sex)
    return _score_item(
        "sex",
        f"male {int(params['male']):+d} / female {int(params['female']):+d}",
        male,
        int(params["male"]),
        int(params["female"]),
        ("sex (male or female)",),
    )


def _score_outcome(items: list[ItemOutcome], cut_off: int, notes: list[str]) -> CriterionOutcome:
    low = sum(i.points_range[0] for i in items if i.points_range)
    high = sum(i.points_range[1] for i in items if i.points_range)
    rng = ScoreRange(low, high)
    value: Tri = True if low >= cut_off else (False if high < cut_off else None)
    return CriterionOutcome(
        value=value,
        items=items,
        details={"score": rng.exact, "score_range": [low, high], "cut_off": cut_off},
        notes=notes,
    )


def _outside_population(
    outcome: CriterionOutcome, applies: Tri, reason: str, missing: Sequence[str] = ()
) -> CriterionOutcome:
    """A score outside (or not known to be inside) the population it was derived in.

    Its status is ``indeterminate`` with the reason; when the person is certainly outside the
    population no score is reported at all (``score`` and ``score_range`` null), so that no
    rule can read it.
    """
    if applies is True:
        return outcome
    details = dict(outcome.details)
    details["applicable"] = applies
    if applies is False:
        details.update(score=None, score_range=None)
    return CriterionOutcome(
        value=None,
        items=outcome.items if applies is None else [],
        details=details,
        notes=[reason, *outcome.notes],
        missing_extra=list(missing),
    )


def _adult(inp: AssessmentInput, params: Params) -> bool:
    return inp.age_years >= _f(params, "adult_from_years")


_ADULTS_ONLY = (
    "{name} was derived and validated in adults; for a person under {years:g} it does not "
    "apply (indeterminate), whatever the items say."
)


def _episodes_for_score(inp: AssessmentInput) -> list[Episode] | None:
    # The scores apply to people with episodes of systemic MC activation; none recorded = unknown.
    return inp.episodes or None


@_register(
    "rema",
    (
        "male",
        "female",
        "skin_all_absent",
        "skin_any_present",
        "presyncope_or_syncope",
        "tryptase_below_ng_ml",
        "tryptase_below_points",
        "tryptase_above_ng_ml",
        "tryptase_above_points",
        "cut_off",
        "adult_from_years",
    ),
)
def rema(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """REMA score (Alvarez-Twose 2010): ≥2 → high probability of clonal MC disease.

    Item points as listed in docs/evidence.md#alvarez_twose2010_rema, UNVERIFIED against the
    primary table.
    """
    episodes = _episodes_for_score(inp)
    skin_any = k_or(*(_any_episode(episodes, a) for a in ("pruritus", "urticaria", "angioedema")))
    syncope = _any_episode(episodes, "presyncope_or_syncope")
    latest = latest_baseline(inp)
    low_t, high_t = _f(params, "tryptase_below_ng_ml"), _f(params, "tryptase_above_ng_ml")
    if latest is None:
        t_range = (int(params["tryptase_below_points"]), int(params["tryptase_above_points"]))
    elif latest < low_t:
        t_range = (int(params["tryptase_below_points"]),) * 2
    elif latest > high_t:
        t_range = (int(params["tryptase_above_points"]),) * 2
    else:
        t_range = (0, 0)
    tryptase_item = ItemOutcome(
        "baseline_tryptase",
        f"baseline tryptase <{low_t:g} ng/mL {int(params['tryptase_below_points']):+d}; "
        f">{high_t:g} ng/mL {int(params['tryptase_above_points']):+d}",
        None if latest is None else True,
        observed=latest,
        points=t_range[0] if t_range[0] == t_range[1] else None,
        points_range=(min(t_range), max(t_range)),
        missing=_miss(latest, "tryptase.baseline_ng_ml"),
    )
    ep_missing = ("episodes",) if episodes is None else ()
    items = [
        _sex_item(inp, params),
        _score_item(
            "skin_signs",
            "pruritus, urticaria and angioedema all absent "
            f"{int(params['skin_all_absent']):+d}; "
            f"any present {int(params['skin_any_present']):+d}",
            None if skin_any is None else not skin_any,
            int(params["skin_all_absent"]),
            int(params["skin_any_present"]),
            ep_missing or ("episodes[].urticaria", "episodes[].angioedema", "episodes[].pruritus"),
        ),
        _score_item(
            "presyncope_or_syncope",
            f"presyncope and/or syncope {int(params['presyncope_or_syncope']):+d}",
            syncope,
            int(params["presyncope_or_syncope"]),
            0,
            ep_missing or ("episodes[].presyncope_or_syncope",),
        ),
        tryptase_item,
    ]
    notes = [
        "Item points UNVERIFIED against Alvarez-Twose 2010 "
        "(docs/evidence.md#alvarez_twose2010_rema); cut-off ≥2 confirmed by secondary sources. "
        "For adults without typical skin lesions."
    ]
    if _finding(inp, "monomorphic_skin_lesions") is True:
        notes.append(
            "Monomorphic skin lesions are recorded: REMA was derived in patients without typical "
            "skin lesions, and the lesions are a referral reason by themselves."
        )
    outcome = _score_outcome(items, int(params["cut_off"]), notes)
    return _outside_population(
        outcome,
        _adult(inp, params),
        _ADULTS_ONLY.format(name="REMA", years=_f(params, "adult_from_years")),
    )


@_register(
    "nicas",
    (
        "male",
        "female",
        "angioedema_absent",
        "flushing_present",
        "urticaria_present",
        "syncope",
        "tryptase_threshold_ng_ml",
        "tryptase_below_points",
        "tryptase_at_least_points",
        "kit_negative",
        "kit_positive",
        "cut_off",
        "adult_from_years",
    ),
)
def nicas(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """NICAS (NIH idiopathic clonal anaphylaxis score, Carter 2018): ≥2 → bone marrow indicated.

    Carter 2018 derived it in adults with idiopathic anaphylaxis; it applies only where some
    recorded episode was anaphylaxis with no sting and no identified trigger. Elsewhere it is
    ``indeterminate`` with the reason. Its +3 item is syncope (loss of consciousness), not
    presyncope.
    """
    episodes = _episodes_for_score(inp)
    ep_missing = ("episodes",) if episodes is None else ()
    angio = _any_episode(episodes, "angioedema")
    latest = latest_baseline(inp)
    threshold = _f(params, "tryptase_threshold_ng_ml")
    kit: Tri = {"positive": True, "negative": False}.get(inp.kit_d816v or "")
    items = [
        _sex_item(inp, params),
        _score_item(
            "angioedema_absent",
            f"angioedema absent {int(params['angioedema_absent']):+d}",
            None if angio is None else not angio,
            int(params["angioedema_absent"]),
            0,
            ep_missing or ("episodes[].angioedema",),
        ),
        _score_item(
            "flushing",
            f"flushing {int(params['flushing_present']):+d}",
            _any_episode(episodes, "flushing"),
            int(params["flushing_present"]),
            0,
            ep_missing or ("episodes[].flushing",),
        ),
        _score_item(
            "urticaria",
            f"urticaria {int(params['urticaria_present']):+d}",
            _any_episode(episodes, "urticaria"),
            int(params["urticaria_present"]),
            0,
            ep_missing or ("episodes[].urticaria",),
        ),
        _score_item(
            "syncope",
            f"syncope (loss of consciousness; presyncope does not count) "
            f"{int(params['syncope']):+d}",
            None if episodes is None else k_or(*(_syncope(e) for e in episodes)),
            int(params["syncope"]),
            0,
            ep_missing or ("episodes[].syncope",),
        ),
        _score_item(
            "baseline_tryptase",
            f"tryptase ≥{threshold:g} ng/mL {int(params['tryptase_at_least_points']):+d}; "
            f"below {int(params['tryptase_below_points']):+d}",
            at_least(latest, threshold),
            int(params["tryptase_at_least_points"]),
            int(params["tryptase_below_points"]),
            ("tryptase.baseline_ng_ml",),
        ),
        _score_item(
            "kit_d816v_blood",
            f"blood KIT D816V (ASO-PCR) positive {int(params['kit_positive']):+d}; negative "
            f"{int(params['kit_negative']):+d}",
            kit,
            int(params["kit_positive"]),
            int(params["kit_negative"]),
            ("kit_d816v",),
        ),
    ]
    outcome = _score_outcome(
        items,
        int(params["cut_off"]),
        [
            "Item points from the medicalalgorithms.com implementation "
            "(docs/evidence.md#carter2018_nicas)."
        ],
    )
    if not _adult(inp, params):
        return _outside_population(
            outcome, False, _ADULTS_ONLY.format(name="NICAS", years=_f(params, "adult_from_years"))
        )
    idiopathic = (
        None
        if episodes is None
        else k_or(
            *(
                k_and(
                    e.anaphylaxis,
                    None if e.hymenoptera_sting is None else not e.hymenoptera_sting,
                    None if e.trigger_identified is None else not e.trigger_identified,
                )
                for e in episodes
            )
        )
    )
    return _outside_population(
        outcome,
        idiopathic,
        "NICAS was derived in idiopathic anaphylaxis (Carter 2018): it applies only where a "
        "recorded episode was anaphylaxis with no sting and no identified trigger"
        + (
            "; none is recorded, so it does not apply."
            if idiopathic is False
            else "; whether one is, is not recorded (indeterminate)."
        ),
        ()
        if idiopathic is False
        else (
            "episodes[].anaphylaxis",
            "episodes[].hymenoptera_sting",
            "episodes[].trigger_identified",
        ),
    )


def _syncope(e: Episode) -> Tri:
    """Loss of consciousness in an episode: recorded directly, or ruled out by 'no presyncope or
    syncope'; 'presyncope or syncope' alone leaves it open."""
    if e.syncope is not None:
        return e.syncope
    return False if e.presyncope_or_syncope is False else None


# -- HαT ------------------------------------------------------------------------------------------


def _symptomatic(inp: AssessmentInput) -> Tri:
    if inp.episodes or inp.current_episode is not None or inp.symptom_pattern is not None:
        return True
    return None


@_register(
    "hat",
    (
        "genotyping_above_ng_ml",
        "genotyping_requires_symptoms",
        "uninterpretable_above_ng_ml",
        "upper_limit_per_copy_ng_ml",
    ),
)
def hat(inp: AssessmentInput, params: Params) -> CriterionOutcome:
    """HαT: corrected baseline tryptase and whether TPSAB1 genotyping (ddPCR) is suggested.

    ``met`` means a genotype with ≥1 extra α-tryptase copy is recorded (HαT present),
    ``not_met`` none, ``indeterminate`` no genotype.
    """
    copies = inp.alpha_tryptase_extra_copies
    latest = latest_baseline(inp)
    corrected = hat_corrected_tryptase(latest, copies)
    suggested: Tri
    if copies is not None:
        suggested = False
    else:
        above = strictly_above(latest, _f(params, "genotyping_above_ng_ml"))
        needs = bool(params["genotyping_requires_symptoms"])
        suggested = k_and(above, _symptomatic(inp)) if needs else above
        if suggested is None and above is True:
            suggested = None
    notes = []
    if copies is None and latest is not None and latest > _f(params, "uninterpretable_above_ng_ml"):
        notes.append(
            f"Baseline tryptase above {params['uninterpretable_above_ng_ml']} ng/mL without a "
            "TPSAB1 genotype: HαT may explain part of it, but until a genotype is recorded the "
            "raw value counts for the WHO/ICC criteria and for every referral threshold."
        )
    notes.append(
        "HαT is associated with, not proven to cause, symptoms; about 2/3 of carriers have few "
        "or none."
    )
    upper = None if copies is None else _f(params, "upper_limit_per_copy_ng_ml") * (1 + copies)
    return CriterionOutcome(
        value=None if copies is None else copies >= 1,
        items=[
            ItemOutcome(
                "genotype",
                "TPSAB1 extra α-tryptase copies (ddPCR)",
                None if copies is None else copies >= 1,
                observed=copies,
                missing=_miss(copies, "alpha_tryptase_extra_copies"),
            )
        ],
        details={
            "corrected_baseline_tryptase_ng_ml": None if corrected is None else round(corrected, 3),
            "genotyping_suggested": suggested,
            "baseline_tryptase_ng_ml": latest,
            "extra_alpha_copies": copies,
            "genotype_upper_limit_ng_ml": upper,
            "genotyping_threshold_ng_ml": _f(params, "genotyping_above_ng_ml"),
        },
        notes=notes,
    )
