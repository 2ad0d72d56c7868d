"""Calibration of the shared model parameters to the calibration results only (PEtab-style).

HYPOTHESIS TESTING: the Host Capacity Model is a hypothesis. Its parameters marked
``estimation: calibrated`` in the model data (``mechanistic_model/data/base.yaml``) are fitted here
to the published results whose ``split`` is ``calibration``; results declared ``held_out`` are
never read by the fit (:func:`calibration_targets` drops them before anything is simulated), so
held-out performance stays an honest test.

The problem, as PEtab would state it:

- **Parameters**: every ``calibrated`` parameter, bounded by its documented plausible range
  (a parameter never leaves its range; a range is changed only in the model data, with a
  citation); every other parameter is fixed at its packaged value.
- **Measurements**: one per calibration result, on the result's own scale (a percent change, a
  half-life, a concentration) as :func:`~hostcap.model_validation.model_value` reads it.
- **Noise** (declared here, not fitted): Gaussian with ``σ = max(half-width of the published
  range, CALIBRATION_NOISE_FRACTION × |target|)``, or :data:`ZERO_CHANGE_NOISE` for a published
  "no change" without a spread. The target is the published value, or the middle of the reported
  range when the published value is one end of it (a range of onsets, of patients).
- **Objective**: ``χ² = Σ ((model − target) / σ)²`` (−2 log-likelihood up to a constant).

The fit is separable: each calibrated parameter moves only some results (found by a sensitivity
pass), and parameters that share results are fitted together (a *block*) by bounded least squares
(:func:`scipy.optimize.least_squares`, trust-region reflective). Each parameter's 95 % interval is
its profile likelihood: the parameter is stepped across its range, the rest of its block is
refitted at each step, and the interval is where ``χ² − χ²_min ≤`` :data:`DELTA_CHI2_95`
(interpolated). A profile that stays below the threshold up to a range limit reports that limit and
``identifiable = False`` on that side: the data do not pin the parameter down.

The variants share these parameters and give the same values on every calibration readout (see
``docs/validation.md``), so the fit is run on one variant (``essay`` by default) and applies to all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import least_squares
from scipy.stats import chi2

from hostcap.errors import ComputationError, HostcapError, UnknownIdError
from hostcap.mechanistic_model import load_definition
from hostcap.model_validation.literature_evaluation import model_value
from hostcap.model_validation.literature_results import (
    LiteratureResult,
    Split,
    literature_results,
)

__all__ = [
    "CALIBRATION_NOISE_FRACTION",
    "DELTA_CHI2_95",
    "ZERO_CHANGE_NOISE",
    "CalibratedParameter",
    "CalibrationTarget",
    "LiteratureCalibration",
    "calibrate_literature",
    "calibrated_parameter_ids",
    "calibration_petab_tables",
    "calibration_targets",
]

#: σ of a calibration measurement is at least this fraction of its target value.
CALIBRATION_NOISE_FRACTION = 0.1
#: σ of a published "no change" (0, on a percent scale) that came without a spread.
ZERO_CHANGE_NOISE = 5.0
#: 95 % profile-likelihood threshold for one parameter (χ² with one degree of freedom).
DELTA_CHI2_95 = float(chi2.ppf(0.95, 1))
#: Relative change of a parameter used to find which results it moves.
_SENSITIVITY_STEP = 0.1
#: A result is moved by a parameter when its value changes by more than this fraction of σ.
_SENSITIVITY_LIMIT = 1e-3

Array = NDArray[np.float64]


@dataclass(frozen=True)
class CalibrationTarget:
    """One calibration measurement: the result, its target value and its noise σ."""

    result: LiteratureResult
    target: float
    sigma: float


@dataclass(frozen=True)
class CalibratedParameter:
    """A fitted parameter: start and fitted value, its range and its 95 % profile interval."""

    id: str
    unit: str
    lower: float
    upper: float
    start: float
    value: float
    ci_low: float
    ci_high: float
    identifiable_low: bool
    identifiable_high: bool
    results: tuple[str, ...]


@dataclass(frozen=True)
class LiteratureCalibration:
    """The outcome of :func:`calibrate_literature`.

    Attributes
    ----------
    residuals
        One row per calibration result: ``result_id, target, sigma, model_start, model_fitted``.
    profiles
        One row per profile point: ``parameter, value, chi2``.
    held_out_ignored
        Held-out results that were passed in and left out of the fit.
    """

    variant: str
    parameters: tuple[CalibratedParameter, ...]
    residuals: pd.DataFrame
    profiles: pd.DataFrame
    chi2_start: float
    chi2_fitted: float
    held_out_ignored: int

    @property
    def values(self) -> dict[str, float]:
        """Fitted value by parameter id."""
        return {p.id: p.value for p in self.parameters}


def calibrated_parameter_ids(variant: str = "essay") -> tuple[str, ...]:
    """The parameters the model data mark ``estimation: calibrated``, in file order."""
    return tuple(p.id for p in load_definition(variant).parameters if p.estimation == "calibrated")


def _target(result: LiteratureResult) -> CalibrationTarget:
    assert result.published is not None
    low = result.published if result.published_low is None else result.published_low
    high = result.published if result.published_high is None else result.published_high
    target = result.published
    if low < high and target in (low, high):
        target = (low + high) / 2.0
    sigma = max((high - low) / 2.0, CALIBRATION_NOISE_FRACTION * abs(target))
    return CalibrationTarget(result, target, sigma if sigma > 0 else ZERO_CHANGE_NOISE)


def calibration_targets(
    results: Iterable[LiteratureResult] | None = None,
) -> tuple[CalibrationTarget, ...]:
    """The calibration measurements: available results of the ``calibration`` split only.

    Held-out results are dropped here, before anything is simulated, whatever is passed in.
    """
    chosen = literature_results() if results is None else tuple(results)
    return tuple(
        _target(r)
        for r in chosen
        if r.split == Split.CALIBRATION and r.expressible and r.published is not None
    )


class _Problem:
    """Model values of the calibration targets as a function of the calibrated parameters."""

    def __init__(
        self,
        variant: str,
        targets: Sequence[CalibrationTarget],
        ids: Sequence[str],
        fixed: Mapping[str, float],
    ) -> None:
        self.variant = variant
        self.targets = tuple(targets)
        self.ids = tuple(ids)
        self.fixed = dict(fixed)

    def values(self, theta: Mapping[str, float], rows: Sequence[int]) -> Array:
        params = {**self.fixed, **theta}
        out = np.empty(len(rows))
        for k, i in enumerate(rows):
            try:
                value = model_value(self.targets[i].result, self.variant, params)
            except HostcapError:
                value = None
            out[k] = math.nan if value is None else value
        return out

    def residuals(self, theta: Mapping[str, float], rows: Sequence[int]) -> Array:
        model = self.values(theta, rows)
        target = np.array([self.targets[i].target for i in rows])
        sigma = np.array([self.targets[i].sigma for i in rows])
        res = (model - target) / sigma
        # A run that fails or gives no value is a large, finite penalty, so the search moves away.
        return np.where(np.isfinite(res), res, 1e3)


def _blocks(
    problem: _Problem, start: Mapping[str, float], ranges: Mapping[str, tuple[float, float]]
) -> list[tuple[list[str], list[int]]]:
    """Groups of parameters that move the same results, with those results."""
    every = list(range(len(problem.targets)))
    base = problem.values(start, every)
    sigma = np.array([t.sigma for t in problem.targets])
    moved: dict[str, set[int]] = {}
    for pid in problem.ids:
        lo, hi = ranges[pid]
        step = start[pid] * (1 + _SENSITIVITY_STEP) if start[pid] > 0 else lo + 0.1 * (hi - lo)
        if step > hi:
            step = start[pid] * (1 - _SENSITIVITY_STEP)
        shifted = problem.values({**start, pid: step}, every)
        change = np.abs(np.nan_to_num(shifted - base, nan=np.inf)) / sigma
        moved[pid] = {i for i in every if change[i] > _SENSITIVITY_LIMIT}
    blocks: list[tuple[list[str], list[int]]] = []
    for pid in problem.ids:
        rows = set(moved[pid])
        members = [pid]
        for block in list(blocks):
            if rows & set(block[1]):
                blocks.remove(block)
                members = block[0] + members
                rows |= set(block[1])
        blocks.append((members, sorted(rows)))
    return blocks


def _fit_block(
    problem: _Problem,
    ids: Sequence[str],
    rows: Sequence[int],
    start: Mapping[str, float],
    ranges: Mapping[str, tuple[float, float]],
) -> tuple[dict[str, float], float]:
    """Bounded least squares of one block on the unit scale of each parameter's range."""
    if not ids or not rows:
        return {}, 0.0
    lo = np.array([ranges[i][0] for i in ids])
    width = np.array([ranges[i][1] - ranges[i][0] for i in ids])

    def theta(x: Array) -> dict[str, float]:
        return {**start, **{pid: float(v) for pid, v in zip(ids, lo + x * width, strict=True)}}

    x0 = np.clip((np.array([start[i] for i in ids]) - lo) / width, 0.0, 1.0)
    fit = least_squares(
        lambda x: problem.residuals(theta(x), rows),
        x0,
        bounds=(0.0, 1.0),
        diff_step=1e-3,
        x_scale=1.0,
        xtol=1e-6,
        max_nfev=200,
    )
    best = theta(fit.x)
    return {i: best[i] for i in ids}, float(np.sum(problem.residuals(best, rows) ** 2))


def _profile(
    problem: _Problem,
    pid: str,
    ids: Sequence[str],
    rows: Sequence[int],
    best: Mapping[str, float],
    chi2_min: float,
    ranges: Mapping[str, tuple[float, float]],
    points: int,
) -> tuple[list[tuple[float, float]], float, float, bool, bool]:
    lo, hi = ranges[pid]
    others = [i for i in ids if i != pid]
    grid = sorted({*np.linspace(lo, hi, points).tolist(), best[pid]})
    curve: list[tuple[float, float]] = []
    for value in grid:
        fixed = {**best, pid: value}
        if others:
            fitted, c2 = _fit_block(problem, others, rows, fixed, ranges)
            fixed.update(fitted)
        else:
            c2 = float(np.sum(problem.residuals(fixed, rows) ** 2))
        curve.append((value, c2))
    limit = chi2_min + DELTA_CHI2_95
    xs = np.array([c[0] for c in curve])
    ys = np.array([c[1] for c in curve])
    k = int(np.searchsorted(xs, best[pid]))
    ci_low, ok_low = lo, False
    for j in range(k, 0, -1):
        if ys[j - 1] > limit >= ys[j]:
            ci_low = float(xs[j] + (limit - ys[j]) * (xs[j - 1] - xs[j]) / (ys[j - 1] - ys[j]))
            ok_low = True
            break
    ci_high, ok_high = hi, False
    for j in range(k, len(xs) - 1):
        if ys[j + 1] > limit >= ys[j]:
            ci_high = float(xs[j] + (limit - ys[j]) * (xs[j + 1] - xs[j]) / (ys[j + 1] - ys[j]))
            ok_high = True
            break
    return curve, min(ci_low, best[pid]), max(ci_high, best[pid]), ok_low, ok_high


def calibrate_literature(
    variant: str = "essay",
    results: Iterable[LiteratureResult] | None = None,
    *,
    parameters: Sequence[str] | None = None,
    start: Mapping[str, float] | None = None,
    profile_points: int = 9,
) -> LiteratureCalibration:
    """Fit the calibrated parameters to the calibration results, with profile intervals.

    Parameters
    ----------
    variant
        The variant simulated (the parameters are shared by all variants).
    results
        Published results (default: the packaged ones); held-out ones are ignored.
    parameters
        Parameter ids to fit (default: :func:`calibrated_parameter_ids`).
    start
        Start values (default: the packaged values).
    profile_points
        Points of each profile across the parameter's range (plus the optimum).

    Returns
    -------
    LiteratureCalibration

    Raises
    ------
    UnknownIdError
        A parameter id is not a parameter of the variant.
    ComputationError
        No calibration result is moved by any fitted parameter.
    """
    definition = load_definition(variant)
    specs = {p.id: p for p in definition.parameters}
    ids = tuple(parameters) if parameters is not None else calibrated_parameter_ids(variant)
    for pid in ids:
        if pid not in specs:
            raise UnknownIdError("model parameter", pid, tuple(specs))
    ranges = {pid: (float(specs[pid].range[0]), float(specs[pid].range[1])) for pid in ids}
    first = {pid: float(specs[pid].value) for pid in ids}
    if start:
        first.update({k: float(v) for k, v in start.items() if k in first})
    chosen = tuple(results) if results is not None else literature_results()
    targets = calibration_targets(chosen)
    held_out = sum(1 for r in chosen if r.split == Split.HELD_OUT)
    problem = _Problem(variant, targets, ids, {})
    every = list(range(len(targets)))
    model_start = problem.values(first, every)
    blocks = _blocks(problem, first, ranges)
    if not any(rows for _, rows in blocks):
        raise ComputationError(
            "no calibration result depends on the fitted parameters; "
            "expected at least one calibration result per fitted parameter"
        )
    best = dict(first)
    block_chi2: dict[str, tuple[list[str], list[int], float]] = {}
    for members, rows in blocks:
        fitted, c2 = _fit_block(problem, members, rows, best, ranges)
        best.update(fitted)
        for pid in members:
            block_chi2[pid] = (members, rows, c2)
    fitted_params: list[CalibratedParameter] = []
    profile_rows: list[dict[str, float | str]] = []
    for pid in ids:
        members, rows, c2 = block_chi2[pid]
        if rows:
            curve, ci_low, ci_high, ok_low, ok_high = _profile(
                problem, pid, members, rows, best, c2, ranges, profile_points
            )
        else:
            curve, ci_low, ci_high, ok_low, ok_high = [], *ranges[pid], False, False
        profile_rows += [{"parameter": pid, "value": x, "chi2": y} for x, y in curve]
        fitted_params.append(
            CalibratedParameter(
                id=pid,
                unit=specs[pid].unit,
                lower=ranges[pid][0],
                upper=ranges[pid][1],
                start=first[pid],
                value=best[pid],
                ci_low=ci_low,
                ci_high=ci_high,
                identifiable_low=ok_low,
                identifiable_high=ok_high,
                results=tuple(targets[i].result.id for i in rows),
            )
        )
    model_fitted = problem.values(best, every)
    residuals = pd.DataFrame(
        {
            "result_id": [t.result.id for t in targets],
            "target": [t.target for t in targets],
            "sigma": [t.sigma for t in targets],
            "model_start": model_start,
            "model_fitted": model_fitted,
        }
    )

    def total(model: Array) -> float:
        res = (model - residuals["target"].to_numpy()) / residuals["sigma"].to_numpy()
        return float(np.sum(np.where(np.isfinite(res), res, 0.0) ** 2))

    return LiteratureCalibration(
        variant=variant,
        parameters=tuple(fitted_params),
        residuals=residuals,
        profiles=pd.DataFrame(profile_rows, columns=["parameter", "value", "chi2"]),
        chi2_start=total(model_start),
        chi2_fitted=total(model_fitted),
        held_out_ignored=held_out,
    )


def calibration_petab_tables(calibration: LiteratureCalibration) -> dict[str, pd.DataFrame]:
    """The calibration problem as PEtab-style tables (``parameters``, ``measurements``).

    ``parameters`` follows the PEtab v1 parameter table (``parameterId``, ``parameterScale``,
    ``lowerBound``, ``upperBound``, ``nominalValue``, ``estimate``) with the profile interval
    added; ``measurements`` lists each calibration result as a measurement with its noise σ
    (``noiseParameters``) and the hostcap mapping that reads it from a simulation (a derived
    measure such as a half-life is not a PEtab observable, so it is named, not encoded).
    """
    params = pd.DataFrame(
        [
            {
                "parameterId": p.id,
                "parameterName": p.id,
                "parameterScale": "lin",
                "lowerBound": p.lower,
                "upperBound": p.upper,
                "nominalValue": p.value,
                "estimate": 1,
                "unit": p.unit,
                "profileLower95": p.ci_low,
                "profileUpper95": p.ci_high,
            }
            for p in calibration.parameters
        ]
    )
    targets = {t.result.id: t for t in calibration_targets()}
    rows = []
    for _, row in calibration.residuals.iterrows():
        target = targets.get(str(row["result_id"]))
        result = target.result if target else None
        rows.append(
            {
                "observableId": result.observable if result else "",
                "simulationConditionId": str(row["result_id"]),
                "measurement": row["target"],
                "time": (result.at_day or 0.0) * 24.0 if result else 0.0,
                "noiseParameters": row["sigma"],
                "hostcapMapping": result.mapping.value if result else "",
                "split": Split.CALIBRATION.value,
            }
        )
    return {"parameters": params, "measurements": pd.DataFrame(rows)}
