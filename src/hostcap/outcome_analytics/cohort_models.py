"""Cohort models: a linear mixed model per measure, with convergence problems reported.

Per measure, statsmodels ``MixedLM`` (REML) with a random intercept and a random slope on
``week`` per client::

    y ~ week * C(phenotype, Treatment(reference)) [+ C(phase)],   re_formula = ~week_re

``week_re`` is ``week / 10``: the same random slope, expressed per ten weeks. Slopes vary between
people by hundredths per week while intercepts vary by tenths, and on the per-week scale the
optimiser works on a badly conditioned covariance (L-BFGS failed to converge on 1,000 simulated
clients where the per-ten-weeks form converged in half the time). The model and the fixed
effects are unchanged; only the reported random-slope variance is per ten weeks.

``y`` is ``ln(value)`` for log-scale measures (tryptase, hs-CRP: the ``week`` coefficient is then
the change in log value per week, ``exp(β) − 1`` the relative change per week) and ``value``
otherwise. The phenotype term appears when the data hold at least two phenotype labels (reference
``A`` when present, else the first label in sorted order); the ``phase`` term when the
measurements carry a ``phase`` column with at least two levels (reference: the first in sorted
order, so name the pre-protocol phase ``0_baseline`` or similar to make it the reference). When
the phase term makes the fixed-effects design rank deficient (phases that coincide with a
phenotype, e.g. one protocol per phenotype with its own phase names), it is dropped and the
result says so: MixedLM would otherwise return arbitrary estimates without an error.
Clients labelled ``insufficient_data`` are kept, as their own level — dropping them would select
the sample on a label.

Every warning raised while fitting (``ConvergenceWarning``, singular or boundary fits) is captured
and returned with the estimates, and ``converged`` is False when no optimiser (L-BFGS, then
then Powell) reached a converged fit with a finite log-likelihood. When the
random-slope model cannot be fitted at all (a singular matrix), a random-intercept model is
fitted instead and the result says so; nothing is dropped silently.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from hostcap.errors import ValidationError
from hostcap.outcome_analytics.blas_threads import single_blas_thread
from hostcap.outcome_analytics.input_frames import validate_clients, validate_measurements
from hostcap.outcome_analytics.measure_specs import MEASURES, MeasureSpec, get_measure

__all__ = [
    "MIXED_MODEL_COLUMNS",
    "MixedModelFit",
    "fit_mixed_models",
    "mixed_model_frame",
]

#: Weeks per unit of the random-slope covariate ``week_re`` (module docstring).
RE_WEEK_SCALE = 10.0

MIXED_MODEL_COLUMNS: tuple[str, ...] = (
    "measure",
    "term",
    "estimate",
    "ci_low",
    "ci_high",
    "p",
    "converged",
    "warnings",
)


@dataclass(frozen=True)
class MixedModelFit:
    """One measure's fitted mixed model.

    Attributes
    ----------
    measure, formula, re_formula
        What was fitted (``re_formula`` ``~week_re`` or, after a failed random-slope fit,
        ``~1``).
    table
        :data:`MIXED_MODEL_COLUMNS` rows, one per fixed-effect term.
    converged
        The optimiser's own verdict.
    warnings
        Every warning message raised while fitting, in order.
    n_clients, n_obs
        Data that entered the fit.
    params
        Fixed-effect estimates by term (full precision, for reproduction tests).
    """

    measure: str
    formula: str
    re_formula: str
    table: pd.DataFrame
    converged: bool
    warnings: tuple[str, ...]
    n_clients: int
    n_obs: int
    params: Mapping[str, float] = field(default_factory=dict)


def mixed_model_frame(
    measurements: pd.DataFrame,
    clients: pd.DataFrame,
    measure: str,
    specs: Mapping[str, MeasureSpec] | None = None,
) -> tuple[pd.DataFrame, str]:
    """The model frame and fixed-effects formula :func:`fit_mixed_models` uses for ``measure``.

    Returns
    -------
    (pandas.DataFrame, str)
        Columns ``client, week, phenotype`` (+ ``phase``), ``y`` and ``week_re``, and the
        formula.
    """
    spec = get_measure(measure, specs)
    data = measurements.loc[measurements["measure"] == measure]
    data = data.merge(clients[["client", "phenotype"]], on="client", how="inner")
    if spec.log_scale:
        nonpositive = data["value"] <= 0
        if nonpositive.any():
            first = data.loc[nonpositive].iloc[0]
            raise ValidationError.single(
                f"measurements.value ({measure})",
                float(first["value"]),
                f"a positive value (measure {measure!r} is analysed on the log scale; client "
                f"{first['client']!r}, week {first['week']})",
            )
        y = np.log(data["value"].to_numpy(dtype=float))
    else:
        y = data["value"].to_numpy(dtype=float)
    columns = ["client", "week", "phenotype"] + (["phase"] if "phase" in data.columns else [])
    frame = data.loc[:, columns].assign(y=y).reset_index(drop=True)
    frame["week_re"] = frame["week"] / RE_WEEK_SCALE
    terms = ["week"]
    labels = sorted(frame["phenotype"].unique())
    if len(labels) >= 2:
        reference = "A" if "A" in labels else labels[0]
        terms = [f"week * C(phenotype, Treatment({reference!r}))"]
    if "phase" in frame.columns and frame["phase"].nunique() >= 2:
        terms.append("C(phase)")
    return frame, "y ~ " + " + ".join(terms)


def _fit_one(frame: pd.DataFrame, formula: str, re_formula: str) -> tuple[Any, list[str]]:
    """Fit with L-BFGS; when that does not converge, try Powell.

    Random-slope variances near zero put the optimum on the boundary, where gradient methods
    often stall and the derivative-free Powell may succeed (Nelder–Mead was tried and found
    to stop at degenerate points on simulated cohorts, so it is not used). An attempt whose
    log-likelihood is not finite is never used (Powell can "converge" to a degenerate point
    with an infinite REML criterion). The first converged attempt with a finite
    log-likelihood is returned; otherwise the attempt with the highest finite
    log-likelihood, flagged not converged.
    Every warning of every attempt is returned.
    """
    messages: list[str] = []
    attempts: list[Any] = []
    for method in ("lbfgs", "powell"):
        with warnings.catch_warnings(record=True) as caught, single_blas_thread():
            warnings.simplefilter("always")
            model = smf.mixedlm(formula, frame, groups=frame["client"], re_formula=re_formula)
            attempt = model.fit(reml=True, method=[method])
        messages += [f"{w.category.__name__}: {w.message}" for w in caught]
        finite = bool(np.isfinite(attempt.llf))
        if bool(attempt.converged) and finite:
            if attempts:
                messages.append(f"converged with {method}")
            return attempt, list(dict.fromkeys(messages))
        reason = "a non-finite log-likelihood" if not finite else "no convergence"
        messages.append(f"{method}: {reason}; trying another optimiser")
        attempts.append(attempt)
    usable = [a for a in attempts if np.isfinite(a.llf)]
    best = max(usable, key=lambda a: float(a.llf)) if usable else attempts[0]
    messages.append(
        "no optimiser converged; reporting the attempt with the highest log-likelihood "
        "(converged = False)"
    )
    return best, list(dict.fromkeys(messages))


def _design_rank(frame: pd.DataFrame, formula: str) -> tuple[int, int]:
    """Rank and number of columns of the fixed-effects design of ``formula`` on ``frame``."""
    exog = smf.mixedlm(formula, frame, groups=frame["client"]).exog
    return int(np.linalg.matrix_rank(exog)), int(exog.shape[1])


def _identifiable(frame: pd.DataFrame, formula: str) -> tuple[str | None, list[str]]:
    """The formula, or one without the phase term when phase makes the fixed effects
    unidentifiable (a rank-deficient design gives arbitrary estimates, not an error, in
    MixedLM); ``None`` when even that is rank deficient. The notes say what was done."""
    rank, columns = _design_rank(frame, formula)
    if rank == columns:
        return formula, []
    if "+ C(phase)" in formula:
        reduced = formula.replace(" + C(phase)", "")
        rank2, columns2 = _design_rank(frame, reduced)
        if rank2 == columns2:
            return reduced, [
                f"phase term dropped: with it the fixed-effects design has rank {rank} < "
                f"{columns} columns (phases confounded with phenotype or week)"
            ]
    return None, [
        f"not fitted: the fixed-effects design has rank {rank} < {columns} columns, so the "
        "effects are not identifiable from these data"
    ]


def fit_mixed_models(
    measurements: pd.DataFrame,
    clients: pd.DataFrame,
    *,
    measures: Sequence[str] | None = None,
    specs: Mapping[str, MeasureSpec] | None = None,
    min_clients: int = 5,
) -> list[MixedModelFit]:
    """Fit the mixed model of the module docstring for each measure with enough data.

    Parameters
    ----------
    measurements, clients
        The tidy frames (``hostcap.outcome_analytics.input_frames``).
    measures
        Measures to fit (default: every measure present).
    specs
        Measure specs that replace the defaults.
    min_clients
        Measures with fewer clients having ≥ 2 observations are not fitted; the result says so
        (one row with term ``(not fitted)`` and the reason in ``warnings``).

    Returns
    -------
    list of MixedModelFit
        One per measure, in the order fitted.
    """
    known = sorted(set(MEASURES) | set(specs or {}))
    data = validate_measurements(measurements, known_measures=known)
    people = validate_clients(clients)
    chosen = list(measures) if measures is not None else sorted(data["measure"].unique())
    fits = []
    for measure in chosen:
        frame, formula = mixed_model_frame(data, people, measure, specs)
        repeated = int((frame.groupby("client").size() >= 2).sum())
        if repeated < min_clients:
            reason = (
                f"not fitted: {repeated} client(s) with ≥ 2 observations of {measure}; "
                f"need {min_clients}"
            )
            fits.append(_not_fitted(measure, formula, frame, reason))
            continue
        usable, design_notes = _identifiable(frame, formula)
        if usable is None:
            fits.append(_not_fitted(measure, formula, frame, "; ".join(design_notes)))
            continue
        formula = usable
        notes: list[str] = []
        re_formula = "~week_re"
        try:
            result, notes = _fit_one(frame, formula, re_formula)
            notes = [*design_notes, *notes]
        except (np.linalg.LinAlgError, ValueError) as exc:
            notes = [
                *design_notes,
                f"random slope model failed ({type(exc).__name__}: {exc}); "
                "fitted a random-intercept model instead",
            ]
            re_formula = "~1"
            try:
                result, more = _fit_one(frame, formula, re_formula)
            except (np.linalg.LinAlgError, ValueError) as exc2:
                reason = f"fit failed: {type(exc2).__name__}: {exc2}"
                fits.append(_not_fitted(measure, formula, frame, "; ".join([*notes, reason])))
                continue
            notes += more
        fits.append(_summarise(measure, formula, re_formula, frame, result, notes))
    return fits


def _not_fitted(measure: str, formula: str, frame: pd.DataFrame, reason: str) -> MixedModelFit:
    table = pd.DataFrame(
        [
            {
                "measure": measure,
                "term": "(not fitted)",
                "estimate": math.nan,
                "ci_low": math.nan,
                "ci_high": math.nan,
                "p": math.nan,
                "converged": False,
                "warnings": reason,
            }
        ],
        columns=list(MIXED_MODEL_COLUMNS),
    )
    return MixedModelFit(
        measure=measure,
        formula=formula,
        re_formula="",
        table=table,
        converged=False,
        warnings=(reason,),
        n_clients=int(frame["client"].nunique()),
        n_obs=len(frame),
    )


def _summarise(
    measure: str,
    formula: str,
    re_formula: str,
    frame: pd.DataFrame,
    result: Any,
    notes: list[str],
) -> MixedModelFit:
    fe_names = list(result.model.exog_names)
    params = result.fe_params
    ci = result.conf_int().loc[fe_names]
    pvalues = result.pvalues.loc[fe_names]
    converged = bool(getattr(result, "converged", False)) and bool(np.isfinite(result.llf))
    ci_values = ci.to_numpy(dtype=float)
    if not np.isfinite(ci_values).all():
        # statsmodels can report convergence and still have a singular covariance of the
        # estimates; say so rather than leave empty intervals unexplained.
        notes = [
            *notes,
            "standard errors not finite (singular covariance of the estimates): "
            "estimates without confidence intervals",
        ]
    joined = " | ".join(notes)
    table = pd.DataFrame(
        {
            "measure": measure,
            "term": fe_names,
            "estimate": params.loc[fe_names].to_numpy(dtype=float),
            "ci_low": ci.iloc[:, 0].to_numpy(dtype=float),
            "ci_high": ci.iloc[:, 1].to_numpy(dtype=float),
            "p": pvalues.to_numpy(dtype=float),
            "converged": converged,
            "warnings": joined,
        },
        columns=list(MIXED_MODEL_COLUMNS),
    )
    return MixedModelFit(
        measure=measure,
        formula=formula,
        re_formula=re_formula,
        table=table,
        converged=converged,
        warnings=tuple(notes),
        n_clients=int(frame["client"].nunique()),
        n_obs=len(frame),
        params={k: float(v) for k, v in params.items()},
    )
