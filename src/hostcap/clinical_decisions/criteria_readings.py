"""What the criteria evaluators share: their outcome types, their registry and the readings of
the input they have in common (serial baselines, the HαT correction, KIT status, marrow, findings
and blood counts), each in three-valued logic.

The evaluators themselves live in :mod:`mcas_criteria` (consensus-1 and -2),
:mod:`mastocytosis_criteria` (WHO 2022 and ICC 2022 SM, B- and C-findings) and
:mod:`clonality_scores` (REMA, NICAS, HαT); :mod:`criteria_evaluation` loads them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hostcap.clinical_decisions.assessment_input import AssessmentInput, Episode
from hostcap.clinical_decisions.three_valued_logic import Tri, at_least, k_or, strictly_above

__all__ = [
    "CRITERION_EVALUATORS",
    "CriterionOutcome",
    "Evaluator",
    "ItemOutcome",
    "Params",
    "ScoreRange",
    "any_episode",
    "count_value",
    "finding_value",
    "hat_adjusted_above",
    "hat_corrected_tryptase",
    "highest_baseline",
    "kit_positive",
    "latest_baseline",
    "marrow_value",
    "missing_if_none",
    "optional_values",
    "param_float",
    "register_criterion",
    "serial_baselines",
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


def register_criterion(name: str, params: Sequence[str]) -> Callable[[Evaluator], Evaluator]:
    def wrap(fn: Evaluator) -> Evaluator:
        CRITERION_EVALUATORS[name] = (fn, frozenset(params))
        return fn

    return wrap


def param_float(params: Params, key: str) -> float:
    return float(params[key])


# -- shared readings ----------------------------------------------------------------------------


def serial_baselines(inp: AssessmentInput) -> list[float] | None:
    if inp.tryptase is None or not inp.tryptase.baseline_ng_ml:
        return None
    return list(inp.tryptase.baseline_ng_ml)


def latest_baseline(inp: AssessmentInput) -> float | None:
    """The newest serial baseline tryptase (ng/mL), or None."""
    values = serial_baselines(inp)
    return None if values is None else values[-1]


def highest_baseline(inp: AssessmentInput) -> float | None:
    """The highest serial baseline tryptase (ng/mL); safety rules use it, to err towards care."""
    values = serial_baselines(inp)
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


def optional_values(values: list[float] | None) -> list[float | None]:
    return [None] if values is None else list(values)


def any_episode(episodes: list[Episode] | None, attr: str) -> Tri:
    if episodes is None:
        return None
    return k_or(*(getattr(e, attr) for e in episodes)) if episodes else False


def kit_positive(inp: AssessmentInput) -> Tri:
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


def marrow_value(inp: AssessmentInput, name: str) -> Any:
    return None if inp.bone_marrow is None else getattr(inp.bone_marrow, name)


def finding_value(inp: AssessmentInput, name: str) -> Any:
    return None if inp.findings is None else getattr(inp.findings, name)


def count_value(inp: AssessmentInput, name: str) -> float | None:
    return None if inp.blood_counts is None else getattr(inp.blood_counts, name)


def missing_if_none(value: Any, path: str) -> tuple[str, ...]:
    return (path,) if value is None else ()
