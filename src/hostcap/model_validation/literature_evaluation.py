"""Run every published result through ``simulate()`` for each variant and judge the agreement.

This is HYPOTHESIS TESTING: the Host Capacity Model is a hypothesis, and these published human
results are the data it is tested against. A result's ``split`` was declared in the data before
any fitting; held-out results are reported separately from calibration results.

How the published range is built (``published_low``, ``published_high``), declared per result by
its ``spread_kind``:

- ``mean_sd`` — mean ± 1 SD of the reported values (between-subject spread);
- ``derived_sd`` — a change computed from reported group means; the range is the treated group's
  mean ± 1 SD on the same scale (the result's ``spread_note`` gives the arithmetic);
- ``reported_range`` — the range the source reports (minimum-maximum or a reported interval);
- ``reported_precision`` — no spread was retrieved, so the range is the precision the value is
  reported to: ± half its last digit (``22 %`` → 21.5-22.5 %, ``two hours`` → 1.5-2.5 h);
- ``point_only`` — no spread and no rounding to read (a value derived from group medians, or a
  published "no difference" without an interval): ``low == high == published``, so only
  ``within_2x`` or ``off`` is possible unless the model hits the value exactly, and a published
  "no change" (0 %) is met only by no change;
- ``null_difference`` — a published "no (significant) difference" between two arms whose means
  and intervals were retrieved: the value is the observed difference of the arm means and the
  range is the 95 % interval of that difference the study could not exclude — the reported
  interval of the difference, or, when only each arm's 95 % interval is reported,
  ``d ± √(h₁² + h₂²)`` (``h`` the arms' half-widths; independent arms, wider than a paired
  interval) — on the result's scale; the range contains 0 by construction.

How the model value is read (``mapping``; ``y`` is the result's observable):

- ``percent_change`` — ``100 × (y(at_day) / y(0) − 1)`` under the design's protocol, from the
  phenotype's pre-treatment steady state;
- ``percent_difference`` — ``100 × (y_protocol(at_day) / y_comparator(at_day) − 1)``;
- ``value`` — ``y(at_day)`` (with the design's population parameters, e.g. HαT copies);
- ``half_life_h`` — the state in ``perturb`` starts at ``factor`` × its steady state; the
  half-life is the first time its excess over an unperturbed run falls to half (linear
  interpolation on a 2001-point grid);
- ``onset_h`` — the first time the protocol's effect on ``y`` (comparator minus protocol) reaches
  half its value at ``at_day`` (grid of 0.05 h);
- ``peak_time_h`` — the time of the highest ``y`` under the protocol up to ``at_day`` (grid of
  0.05 h), e.g. serum tryptase after an acute mast cell event;
- ``doubling_time_h`` — the mean exponential doubling time of the rise of ``y`` under the
  protocol: ``ln 2 × (t_b − t_a) / ln(y(t_b) / y(t_a))`` from the first time ``y`` reaches twice
  its start (``t_a``) to the first time it reaches half its peak (``t_b``), peak taken up to
  ``at_day`` (grid of 0.25 h); the central, exponential-looking part of an acute-phase rise that
  a serial-sampling study fits (Kushner 1978).

Verdicts are :func:`hostcap.model_validation.verdicts.verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hostcap.errors import HostcapError, UnknownIdError
from hostcap.mechanistic_model import VARIANTS, Trajectory, compile_model, initial_state, simulate
from hostcap.mechanistic_model.protocols import HOURS_PER_WEEK
from hostcap.model_validation.literature_results import (
    LiteratureResult,
    ResultMapping,
    Split,
    literature_results,
    result_protocols,
)
from hostcap.model_validation.verdicts import Verdict, verdict

__all__ = [
    "VALIDATION_COLUMNS",
    "model_value",
    "resolve_variants",
    "summarise_validation",
    "validate_literature",
    "with_parameters",
]

#: The columns of ``validation.csv``, exactly and in this order.
VALIDATION_COLUMNS: tuple[str, ...] = (
    "result_id",
    "source",
    "measure",
    "split",
    "published",
    "published_low",
    "published_high",
    "variant",
    "model",
    "verdict",
)

_HALF_LIFE_POINTS = 2001
_ONSET_STEP_H = 0.05
_PEAK_STEP_H = 0.05
_DOUBLING_STEP_H = 0.25


def resolve_variants(variants: str | Iterable[str] | None) -> tuple[str, ...]:
    """``None`` or ``"all"`` → every variant; otherwise the named ones, checked."""
    if variants is None or variants == "all":
        return VARIANTS
    names = (variants,) if isinstance(variants, str) else tuple(variants)
    for name in names:
        if name not in VARIANTS:
            raise UnknownIdError("model variant", name, ("all", *VARIANTS))
    return names


def _run(
    result: LiteratureResult,
    variant: str,
    comparator: bool,
    save_at: Sequence[float] | NDArray[np.float64],
) -> Trajectory:
    d = result.design
    assert d is not None
    treat, comp = result_protocols(result)
    return simulate(
        variant,
        comp if comparator else treat,
        phenotype=d.phenotype,
        weeks=d.weeks,
        save_at=save_at,
        parameters=d.parameters or None,
    )


def _half_life(result: LiteratureResult, variant: str) -> float | None:
    d = result.design
    assert d is not None and d.perturb is not None
    params = d.parameters or None
    start = initial_state(variant, d.phenotype, params)
    index = compile_model(variant).state_ids.index(d.perturb.state)
    raised = start.copy()
    raised[index] *= d.perturb.factor
    grid = np.linspace(0.0, d.weeks * HOURS_PER_WEEK, _HALF_LIFE_POINTS)
    kwargs: dict[str, Any] = {"phenotype": d.phenotype, "weeks": d.weeks, "save_at": grid}
    ref = simulate(variant, None, parameters=params, y0=start, **kwargs)[d.perturb.state]
    pert = simulate(variant, None, parameters=params, y0=raised, **kwargs)[d.perturb.state]
    excess = pert - ref
    half = excess[0] / 2.0
    below = np.nonzero(excess <= half)[0]
    if excess[0] <= 0 or below.size == 0:
        return None
    i = int(below[0])
    t0, t1, e0, e1 = grid[i - 1], grid[i], excess[i - 1], excess[i]
    return float(t0 + (e0 - half) * (t1 - t0) / (e0 - e1))


def _onset(result: LiteratureResult, variant: str) -> float | None:
    assert result.at_day is not None
    end = result.at_day * 24.0
    grid = np.arange(0.0, end + 1e-9, _ONSET_STEP_H)
    name = result.observable
    effect = _run(result, variant, True, grid)[name] - _run(result, variant, False, grid)[name]
    if not math.isfinite(effect[-1]) or effect[-1] == 0:
        return None
    return _crossing(grid, effect / effect[-1], 0.5)


def _crossing(grid: NDArray[np.float64], y: NDArray[np.float64], level: float) -> float | None:
    """The first time ``y`` reaches ``level``, interpolated linearly between grid points (so a
    calibration sees a smooth function of the parameters, not grid steps)."""
    reached = np.nonzero(y >= level)[0]
    if reached.size == 0:
        return None
    i = int(reached[0])
    if i == 0 or y[i] == y[i - 1]:
        return float(grid[i])
    return float(grid[i - 1] + (level - y[i - 1]) * (grid[i] - grid[i - 1]) / (y[i] - y[i - 1]))


def _peak_time(result: LiteratureResult, variant: str) -> float | None:
    assert result.at_day is not None
    grid = np.arange(0.0, result.at_day * 24.0 + 1e-9, _PEAK_STEP_H)
    y = _run(result, variant, False, grid)[result.observable]
    return float(grid[int(np.argmax(y))]) if np.all(np.isfinite(y)) else None


def _doubling_time(result: LiteratureResult, variant: str) -> float | None:
    assert result.at_day is not None
    grid = np.arange(0.0, result.at_day * 24.0 + 1e-9, _DOUBLING_STEP_H)
    y = _run(result, variant, False, grid)[result.observable]
    if not np.all(np.isfinite(y)) or y[0] <= 0 or y.max() < 4.0 * y[0]:
        return None
    t_a = _crossing(grid, y, 2.0 * y[0])
    t_b = _crossing(grid, y, float(y.max()) / 2.0)
    if t_a is None or t_b is None or t_b <= t_a:
        return None
    return float(math.log(2.0) * (t_b - t_a) / math.log(float(y.max()) / (4.0 * y[0])))


def with_parameters(result: LiteratureResult, parameters: Mapping[str, float]) -> LiteratureResult:
    """The result with ``parameters`` set in its design (the design's own values win: they
    describe the study population, e.g. HαT copies)."""
    d = result.design
    if d is None or not parameters:
        return result
    merged = {**dict(parameters), **d.parameters}
    return result.model_copy(update={"design": d.model_copy(update={"parameters": merged})})


def model_value(
    result: LiteratureResult,
    variant: str,
    parameters: Mapping[str, float] | None = None,
) -> float | None:
    """The model's value of one published measure for one variant (``None``: not comparable).

    ``parameters`` overrides model parameters for this evaluation (a calibration's trial values).

    Raises
    ------
    ComputationError
        When a simulation fails (the evaluation records that as undecidable).
    """
    if not result.expressible or result.design is None:
        return None
    if parameters:
        result = with_parameters(result, parameters)
    name = result.observable
    if result.mapping == ResultMapping.HALF_LIFE_H:
        return _half_life(result, variant)
    if result.mapping == ResultMapping.ONSET_H:
        return _onset(result, variant)
    if result.mapping == ResultMapping.PEAK_TIME_H:
        return _peak_time(result, variant)
    if result.mapping == ResultMapping.DOUBLING_TIME_H:
        return _doubling_time(result, variant)
    assert result.at_day is not None
    t = result.at_day * 24.0
    if result.mapping == ResultMapping.VALUE:
        return float(_run(result, variant, False, [t])[name][-1])
    if result.mapping == ResultMapping.PERCENT_CHANGE:
        y = _run(result, variant, False, sorted({0.0, t}))[name]
        return float(100.0 * (y[-1] / y[0] - 1.0))
    treated = _run(result, variant, False, [t])[name][-1]
    control = _run(result, variant, True, [t])[name][-1]
    return float(100.0 * (treated / control - 1.0))


def validate_literature(
    variants: str | Iterable[str] | None = "all",
    results: Sequence[LiteratureResult] | None = None,
    parameters: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Every published result against every variant: one row per result and variant.

    Parameters
    ----------
    variants
        ``"all"`` (default) or variant names (``essay``, ``biochemical``, ``butyrate_direct``,
        ``null``).
    results
        Results to evaluate (default: the packaged ones).
    parameters
        Parameter values overriding the packaged ones (e.g. the model before calibration).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`VALIDATION_COLUMNS` in that order; ``model`` is NaN and ``verdict``
        ``undecidable`` where a result is not expressible, not found or a run failed.

    Examples
    --------
    >>> from hostcap.model_validation import literature_results, validate_literature
    >>> conze = [r for r in literature_results() if r.id == "conze2019_nr300_day14"]
    >>> frame = validate_literature("essay", conze)
    >>> frame.loc[0, "verdict"]
    'within_2x'
    """
    names = resolve_variants(variants)
    chosen = literature_results() if results is None else tuple(results)
    rows: list[dict[str, Any]] = []
    for result in chosen:
        for variant in names:
            try:
                value = model_value(result, variant, parameters)
            except HostcapError:
                value = None
            rows.append(
                {
                    "result_id": result.id,
                    "source": result.source,
                    "measure": result.measure,
                    "split": result.split.value,
                    "published": result.published,
                    "published_low": result.published_low,
                    "published_high": result.published_high,
                    "variant": variant,
                    "model": value,
                    "verdict": verdict(
                        result.published, result.published_low, result.published_high, value
                    ).value,
                }
            )
    frame = pd.DataFrame(rows, columns=list(VALIDATION_COLUMNS))
    for column in ("published", "published_low", "published_high", "model"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def summarise_validation(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts per verdict, split and variant, and held-out performance per variant.

    ``counts.verdict`` counts rows (result × variant), ``counts.split`` counts results,
    ``counts.variant`` counts each variant's rows per verdict.

    ``within_pct`` is the share of decidable results inside the published range;
    ``within_2x_pct`` the share inside the range *or* within 2× of the published value.
    Percentages are over decidable rows (verdict not ``undecidable``); the totals are given too.
    """
    verdicts = [v.value for v in Verdict]
    summary: dict[str, Any] = {
        "note": "Hypothesis testing: the Host Capacity Model is a hypothesis; splits were "
        "declared before any fitting.",
        "rows": len(frame),
        "results": int(frame["result_id"].nunique()),
        "counts": {
            "verdict": {v: int((frame["verdict"] == v).sum()) for v in verdicts},
            "split": {
                s.value: int(frame.loc[frame["split"] == s.value, "result_id"].nunique())
                for s in Split
            },
            "variant": {
                str(name): {v: int((group["verdict"] == v).sum()) for v in verdicts}
                for name, group in frame.groupby("variant", sort=False)
            },
        },
        "performance": {},
    }
    for split in Split:
        per_variant: dict[str, Any] = {}
        for name, group in frame[frame["split"] == split.value].groupby("variant", sort=False):
            decidable = group[group["verdict"] != Verdict.UNDECIDABLE.value]
            within = int((decidable["verdict"] == Verdict.WITHIN.value).sum())
            within_2x = within + int((decidable["verdict"] == Verdict.WITHIN_2X.value).sum())
            per_variant[str(name)] = {
                "results": len(group),
                "decidable": len(decidable),
                "within": within,
                "within_or_2x": within_2x,
                "within_pct": _pct(within, len(decidable)),
                "within_2x_pct": _pct(within_2x, len(decidable)),
            }
        summary["performance"][split.value] = per_variant
    return summary
