"""Fit one client: :class:`ClientFit` (scikit-learn contract) and variant comparison.

The likelihood is the observables' own measurement-error models: log-normal observables
(tryptase, hs-CRP, …) contribute ``(ln y − ln ŷ)/σ`` with ``σ = sqrt(ln(1 + cv²))``; normal ones
``(y − ŷ)/sd`` (the truncation at the scale ends is ignored); the binomial food panel uses its
normal approximation ``sd = sqrt(p(1 − p)/n)``. Chosen parameters are fitted on the log scale within
their documented plausible ranges by a bounded Levenberg–Marquardt iteration that runs every
start at once: each iteration simulates all starts and their finite-difference perturbations as
one batch (:func:`~hostcap.mechanistic_model.batch_simulation.simulate_batch`), so a multi-start
costs little more than a single start.

Uncertainty, ``intervals="wald"`` (the default): 95 % Wald intervals on the log scale from the
Gauss–Newton information ``JᵀJ`` at the optimum (the likelihood is Gaussian in the residuals and
the noise is known, so this is the quadratic approximation of the profile likelihood; it is
exact for a locally linear model and is checked for coverage on synthetic clients in the tests
and the benchmark). Parameters at a bound get a one-sided interval clipped to the range.
``intervals="profile"``: the profile likelihood itself. For each fitted parameter and direction
a search finds where the log-likelihood, the other parameters refitted, has fallen by
``χ²₁(level)/2`` (1.92 for 95 %): it looks first at the Wald end, then interpolates (between
looks on both sides) or extrapolates in the signed root of the likelihood-ratio statistic, which
is linear in the parameter for a quadratic likelihood, until a look is within 0.1 of the target
root; the end is interpolated there. Each refit starts from the nearest look inside the interval
moved along the Gauss–Newton prediction of how the other parameters follow. A profile that
reaches the parameter's range first ends there (the interval is open on that side, typical of
a weakly identified parameter). All searches' refits run as one batch per Levenberg–Marquardt
iteration; a profile costs a few times a fit.
THE MODEL IS A HYPOTHESIS; a fit describes how well a variant can reproduce the data, not truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import norm

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model.batch_simulation import (
    _initial_overrides,
    _resolve,
    batch_steady_state,
    iter_batches,
)
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.definition import HYPOTHESIS_NOTE, VARIANTS
from hostcap.mechanistic_model.fit_predictions import ObservationPredictor
from hostcap.mechanistic_model.likelihood_search import levenberg_marquardt, profile_intervals
from hostcap.mechanistic_model.protocols import Protocol
from hostcap.mechanistic_model.simulation import initial_state

__all__ = [
    "DEFAULT_FIT_PARAMETERS",
    "INTERVAL_METHODS",
    "MEASURE_ALIASES",
    "ClientFit",
    "compare_variants",
    "normalise_observations",
]

Array = NDArray[np.float64]

#: Parameters fitted by default: the client's baseline levels and how strongly and how fast the
#: mast cell side responds. The null variant replaces the mechanism by a personal mean threshold.
DEFAULT_FIT_PARAMETERS: dict[str, tuple[str, ...]] = {
    "essay": ("trigger_load", "tryp_basal", "crp_ref", "k_thr"),
    "biochemical": ("trigger_load", "tryp_basal", "crp_ref", "k_thr"),
    "butyrate_direct": ("trigger_load", "tryp_basal", "crp_ref", "k_thr"),
    "null": ("thr_personal", "tryp_basal", "crp_ref", "k_rtm"),
}

#: Measure names accepted in observations, mapped to observable ids.
MEASURE_ALIASES: dict[str, str] = {
    "tryptase": "tryptase_serum",
    "serum_tryptase": "tryptase_serum",
    "crp": "hs_crp",
    "hscrp": "hs_crp",
    "symptoms": "symptom_load",
    "symptom_diary": "symptom_load",
}


def normalise_observations(
    observations: pd.DataFrame, observable_ids: Sequence[str]
) -> pd.DataFrame:
    """Observations as ``measure, time_h, value`` with measures mapped to observable ids.

    Accepts ``measure`` or ``name`` for the measure and ``time_h`` or ``time`` (hours) for the time;
    rows with a missing value are dropped.

    Raises
    ------
    ValidationError
        Missing columns, an unknown measure, negative times, or non-positive values of a
        log-normal observable.
    """
    frame = observations.rename(columns={"name": "measure", "time": "time_h"})
    missing = [c for c in ("measure", "time_h", "value") if c not in frame.columns]
    if missing:
        raise ValidationError.single(
            "observations.columns", list(observations.columns), "measure, time_h and value"
        )
    frame = frame.dropna(subset=["value"]).copy()
    frame["measure"] = [MEASURE_ALIASES.get(str(v), str(v)) for v in frame["measure"]]
    for value in frame["measure"].unique():
        if value not in observable_ids:
            raise UnknownIdError("observable (measure)", str(value), observable_ids)
    frame["time_h"] = frame["time_h"].astype(float)
    frame["value"] = frame["value"].astype(float)
    if (frame["time_h"] < 0).any():
        raise ValidationError.single("observations.time_h", float(frame["time_h"].min()), ">= 0")
    if frame.empty:
        raise ValidationError.single("observations", 0, "at least one measurement")
    return (
        frame[["measure", "time_h", "value"]]
        .sort_values(["time_h", "measure"])
        .reset_index(drop=True)
    )


@dataclass(frozen=True)
class _Noise:
    kind: np.ndarray  # 0 lognormal, 1 normal, 2 binomial
    scale: Array  # sigma (log scale), sd, or n


def _noise(model: Any, measures: Sequence[str]) -> _Noise:
    spec = {o.id: o.noise for o in model.definition.observables}
    kind, scale = [], []
    for name in measures:
        nz = spec[name]
        if nz.distribution == "lognormal":
            kind.append(0)
            scale.append(float(np.sqrt(np.log1p((nz.cv or 0.1) ** 2))))
        elif nz.distribution == "normal":
            kind.append(1)
            scale.append(float(nz.sd or 1.0))
        else:
            kind.append(2)
            scale.append(float(nz.n or 20))
    return _Noise(np.asarray(kind), np.asarray(scale))


def _residuals(pred: Array, y: Array, noise: _Noise) -> tuple[Array, Array]:
    """Standardised residuals and the log-likelihood terms (per observation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logn = (np.log(np.maximum(y, 1e-300)) - np.log(np.maximum(pred, 1e-300))) / noise.scale
        p = np.clip(pred, 0.5 / noise.scale, 1 - 0.5 / noise.scale)
        sd_b = np.sqrt(p * (1 - p) / noise.scale)
        r = np.where(
            noise.kind == 0,
            logn,
            np.where(noise.kind == 1, (y - pred) / noise.scale, (y - pred) / sd_b),
        )
        log_sd = np.where(
            noise.kind == 0,
            np.log(noise.scale) + np.log(np.maximum(y, 1e-300)),
            np.where(noise.kind == 1, np.log(noise.scale), np.log(sd_b)),
        )
    ll = -0.5 * r**2 - log_sd - 0.5 * np.log(2 * np.pi)
    return r, ll


class ClientFit:
    """Fit chosen parameters of one variant to one client's observations.

    Parameters
    ----------
    variant
        Model variant.
    phenotype
        Preset for every parameter not fitted (and the steady state starts are settled from).
    parameters
        Parameter ids to fit (default :data:`DEFAULT_FIT_PARAMETERS` for the variant).
    protocol
        What the client took, as a protocol; ``None``: no interventions.
    n_starts
        Starts of the bounded multi-start (the preset value plus seeded draws in the range).
    seed
        Seed of the starts and of :meth:`predict`'s parameter draws.
    max_iter
        Levenberg–Marquardt iterations.
    level
        Confidence level of the intervals.
    rtol, atol
        Solver tolerances. 1e-5 moves the log-likelihood of a typical client by ~1e-4 relative
        to 1e-6 (measurement CVs are 10–50 %) and saves a third of the time.
    start
        First start's parameter values (default the phenotype preset), e.g. a previous fit.
    fixed
        Values of parameters that are not fitted (default the phenotype preset), e.g. a
        known baseline.
    intervals
        ``"wald"`` or ``"profile"`` (see the module's notes on uncertainty).

    Attributes
    ----------
    params_ : dict
        Fitted values of every parameter of the variant.
    estimates_ : pandas.DataFrame
        ``parameter, estimate, low, high, at_bound, interval_reliable`` for the fitted
        parameters; with ``intervals="profile"`` also ``wald_low, wald_high`` for comparison.
    interval_warnings_ : list of str
        Why intervals are unreliable (``interval_reliable`` false): too few observations for
        the fitted parameters, or directions the data do not determine (zero width).
    log_likelihood_, aic_, bic_ : float
    n_observations_, n_parameters_ : int
    residuals_ : pandas.DataFrame
        Observations with ``predicted`` and standardised ``residual``.
    cov_log_ : ndarray
        Covariance of the log-parameters (Wald; :meth:`predict` draws from it).
    profile_ : pandas.DataFrame
        With ``intervals="profile"``: ``parameter, value, log_likelihood, direction`` of every
        profile step (the optimum included), for plotting; empty otherwise.
    converged_ : bool
    """

    def __init__(
        self,
        variant: str = "essay",
        phenotype: str = "A",
        parameters: Sequence[str] | None = None,
        protocol: Protocol | None = None,
        *,
        n_starts: int = 4,
        seed: int = 0,
        max_iter: int = 15,
        level: float = 0.95,
        rtol: float = 1e-5,
        atol: float = 1e-8,
        start: Mapping[str, float] | None = None,
        fixed: Mapping[str, float] | None = None,
        intervals: str = "wald",
    ) -> None:
        self.variant = variant
        self.start = start
        self.phenotype = phenotype
        self.parameters = parameters
        self.protocol = protocol
        self.n_starts = n_starts
        self.seed = seed
        self.max_iter = max_iter
        self.level = level
        self.rtol = rtol
        self.atol = atol
        self.fixed = fixed
        self.intervals = intervals

    # -- simulation of many candidate parameter vectors -------------------------------------
    def _predict_matrix(
        self,
        theta: Array,
        predictor: ObservationPredictor,
        measures_idx: NDArray[np.int64],
        time_idx: NDArray[np.int64],
    ) -> Array:
        """Predictions at the observations for log-parameter rows ``theta`` (K, F) → (K, M)."""
        p = self._parameter_matrix(predictor.m, theta)
        return np.asarray(predictor.observables(p)[:, time_idx, measures_idx])

    def _predictor(self, times: Array) -> ObservationPredictor:
        m = _resolve(self.variant)
        return ObservationPredictor(
            m, self.protocol, self.phenotype, times, rtol=self.rtol, atol=self.atol
        )

    def _parameter_matrix(self, m: CompiledModel, theta: Array) -> Array:
        """Parameter columns for log-parameter rows ``theta``: preset, ``fixed``, then fitted."""
        values = m.parameter_values(self.phenotype)
        values.update(self.fixed or {})
        base = np.array([values[pid] for pid in m.parameter_ids])
        p = np.repeat(base.reshape(-1, 1), theta.shape[0], axis=1)
        for j, pid in enumerate(self._fit_ids):
            p[m.parameter_ids.index(pid)] = np.exp(theta[:, j])
        return p

    def fit(self, observations: pd.DataFrame) -> Self:
        """Fit to ``observations``: ``measure, time_h, value`` (:func:`normalise_observations`)."""
        m = _resolve(self.variant)
        self._fit_ids = tuple(self.parameters or DEFAULT_FIT_PARAMETERS.get(m.variant, ()))
        if not self._fit_ids:
            raise ValidationError.single("parameters", [], "at least one parameter to fit")
        for pid in self._fit_ids:
            if pid not in m.parameter_ids:
                raise UnknownIdError(f"parameter of variant {m.variant}", pid, m.parameter_ids)
        if self.intervals not in INTERVAL_METHODS:
            raise ValidationError.single("intervals", self.intervals, " or ".join(INTERVAL_METHODS))
        for pid, value in (self.fixed or {}).items():
            if pid not in m.parameter_ids:
                raise UnknownIdError(f"parameter of variant {m.variant}", pid, m.parameter_ids)
            if pid in self._fit_ids:
                raise ValidationError.single(f"fixed.{pid}", value, "a parameter not fitted")
            if not (np.isfinite(value) and value > 0):
                raise ValidationError.single(f"fixed.{pid}", value, "a positive number")
        obs = normalise_observations(observations, m.observable_ids)
        times = np.unique(obs["time_h"].to_numpy())
        time_idx = np.searchsorted(times, obs["time_h"].to_numpy())
        measures_idx = np.array([m.observable_ids.index(x) for x in obs["measure"]])
        y = obs["value"].to_numpy()
        noise = _noise(m, list(obs["measure"]))
        predictor = self._predictor(times)
        lo = np.log([m.definition.parameter(p).range[0] for p in self._fit_ids])
        hi = np.log([m.definition.parameter(p).range[1] for p in self._fit_ids])
        preset = m.parameter_values(self.phenotype)
        preset.update(self.start or {})
        start0 = np.clip(np.log([preset[p] for p in self._fit_ids]), lo, hi)
        rng = np.random.default_rng(self.seed)
        others = lo + (hi - lo) * rng.uniform(0.15, 0.85, (max(self.n_starts - 1, 0), lo.size))
        starts = np.vstack([start0, others])
        f = starts.shape[1]
        eps = 1e-4

        def evaluate(theta: Array) -> tuple[Array, Array, Array]:
            """Residuals (K, M), Jacobians (K, M, F), log-likelihood (K,) by one batch."""
            rows = [theta]
            for j in range(f):
                step = theta.copy()
                step[:, j] += eps
                rows.append(step)
            pred = self._predict_matrix(np.vstack(rows), predictor, measures_idx, time_idx)
            pred = pred.reshape(f + 1, theta.shape[0], -1)
            r0, ll0 = _residuals(pred[0], y, noise)
            jac = np.stack(
                [(_residuals(pred[j + 1], y, noise)[0] - r0) / eps for j in range(f)], axis=2
            )
            ll = np.sum(ll0, axis=1)
            return r0, jac, np.where(np.all(np.isfinite(r0), axis=1), ll, -np.inf)

        theta, r, jac, ll = levenberg_marquardt(
            evaluate, starts, lo, hi, np.ones_like(starts, dtype=bool), self.max_iter, trail=True
        )
        best = int(np.argmax(ll))
        self.converged_ = bool(np.isfinite(ll[best]))
        if not self.converged_:
            raise ValidationError.single(
                "observations", len(y), f"data the {m.variant} variant can be simulated for"
            )
        th, jb, rb = theta[best], jac[best], r[best]
        info = jb.T @ jb
        cov = np.linalg.pinv(info)
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
        z = float(norm.ppf(0.5 + self.level / 2))
        at_lo, at_hi = np.isclose(th, lo, atol=1e-6), np.isclose(th, hi, atol=1e-6)
        low = np.where(at_lo, lo, np.clip(th - z * se, lo, hi))
        high = np.where(at_hi, hi, np.clip(th + z * se, lo, hi))
        self.profile_ = pd.DataFrame(columns=["parameter", "value", "log_likelihood", "direction"])
        wald = {"wald_low": np.exp(low), "wald_high": np.exp(high)}
        if self.intervals == "profile":
            low, high, self.profile_ = profile_intervals(
                evaluate, th, float(ll[best]), jb, z * se, lo, hi, self.level, self._fit_ids
            )
        self.theta_ = th
        self.cov_log_ = cov
        reliable, self.interval_warnings_ = _interval_reliability(
            info, se, at_lo | at_hi, int(y.size), self._fit_ids, self.level
        )
        self.estimates_ = pd.DataFrame(
            {
                "parameter": list(self._fit_ids),
                "estimate": np.exp(th),
                "low": np.exp(low),
                "high": np.exp(high),
                "at_bound": at_lo | at_hi,
                "interval_reliable": reliable,
                **(wald if self.intervals == "profile" else {}),
            }
        )
        column = self._parameter_matrix(m, th.reshape(1, -1))[:, 0]
        self.params_ = dict(zip(m.parameter_ids, column.tolist(), strict=True))
        self.log_likelihood_ = float(ll[best])
        self.n_observations_ = int(y.size)
        self.n_parameters_ = f
        self.aic_ = 2 * f - 2 * self.log_likelihood_
        self.bic_ = f * float(np.log(y.size)) - 2 * self.log_likelihood_
        pred = self._predict_matrix(th.reshape(1, -1), predictor, measures_idx, time_idx)[0]
        resid = obs.copy()
        resid["predicted"] = pred
        resid["residual"] = rb
        self.residuals_ = resid
        self.starts_ = np.exp(starts)
        self.hypothesis_note_ = HYPOTHESIS_NOTE
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "theta_"):
            raise ValidationError.single("ClientFit", "not fitted", "call fit(observations) first")

    def predict_observations(self, observations: pd.DataFrame) -> pd.DataFrame:
        """Point predictions and standardised residuals at the given observations."""
        self._check_fitted()
        m = _resolve(self.variant)
        obs = normalise_observations(observations, m.observable_ids)
        times = np.unique(obs["time_h"].to_numpy())
        time_idx = np.searchsorted(times, obs["time_h"].to_numpy())
        measures_idx = np.array([m.observable_ids.index(x) for x in obs["measure"]])
        pred = self._predict_matrix(
            self.theta_.reshape(1, -1), self._predictor(times), measures_idx, time_idx
        )[0]
        r, _ = _residuals(pred, obs["value"].to_numpy(), _noise(m, list(obs["measure"])))
        out = obs.copy()
        out["predicted"] = pred
        out["residual"] = r
        return out

    def predict(
        self,
        weeks: float = 16.0,
        names: Sequence[str] = ("symptom_load", "tryptase_serum", "hs_crp"),
        *,
        n_samples: int = 100,
        quantiles: Sequence[float] = (0.025, 0.5, 0.975),
    ) -> pd.DataFrame:
        """A trajectory band: parameters drawn from the fitted log-normal uncertainty.

        Returns a long frame ``time_h, name, quantile, value`` (daily); the band covers
        parameter uncertainty, not measurement noise.
        """
        self._check_fitted()
        m = _resolve(self.variant)
        rng = np.random.default_rng(self.seed)
        draws = rng.multivariate_normal(self.theta_, self.cov_log_, size=n_samples, method="eigh")
        lo = np.log([m.definition.parameter(p).range[0] for p in self._fit_ids])
        hi = np.log([m.definition.parameter(p).range[1] for p in self._fit_ids])
        draws = np.clip(np.vstack([self.theta_, draws]), lo, hi)
        p = self._parameter_matrix(m, draws)
        y0, found = batch_steady_state(m, p, np.array(initial_state(m, self.phenotype)))
        y0 = _initial_overrides(m, y0, p)
        (res,) = iter_batches(
            m,
            self.protocol,
            p[:, found],
            phenotype=self.phenotype,
            weeks=weeks,
            y0=y0[:, found],
            rtol=self.rtol,
            atol=self.atol,
            chunk_size=int(found.sum()),
        )
        blocks = []
        for name in names:
            values = res[name]
            values = values[np.all(np.isfinite(values), axis=1)]
            qv = np.quantile(values, list(quantiles), axis=0)
            for qi, q in enumerate(quantiles):
                blocks.append(
                    pd.DataFrame(
                        {"time_h": res.time_h, "name": name, "quantile": q, "value": qv[qi]}
                    )
                )
        return pd.concat(blocks, ignore_index=True)


#: Interval methods of :class:`ClientFit` (see the module's notes on uncertainty).
INTERVAL_METHODS = ("wald", "profile")


def _interval_reliability(
    info: Array,
    se: Array,
    at_bound: NDArray[np.bool_],
    n_observations: int,
    fit_ids: Sequence[str],
    level: float,
) -> tuple[NDArray[np.bool_], list[str]]:
    """Which parameters' intervals mean something, and a warning for those that do not.

    With no more observations than fitted parameters, or a singular information matrix, the
    data do not determine every parameter: the pseudo-inverse then reports a standard error of
    zero in the undetermined directions, i.e. a zero-width interval that looks like certainty.
    """
    f = len(fit_ids)
    rank = int(np.linalg.matrix_rank(info)) if f else 0
    zero_width = (se <= 1e-9) & ~at_bound
    unreliable = zero_width | np.full(f, n_observations <= f or rank < f)
    warnings: list[str] = []
    if unreliable.any():
        names = ", ".join(str(fit_ids[int(i)]) for i in np.flatnonzero(unreliable))
        why = (
            f"{n_observations} observation(s) for {f} fitted parameter(s)"
            if n_observations <= f
            else f"the data determine only {rank} of {f} parameter directions"
        )
        warnings.append(
            f"UNRELIABLE {level:.0%} intervals for {names}: {why}; a zero or near-zero width "
            "there means 'not determined by the data', not certainty. Record more visits "
            "before reading these intervals."
        )
    return ~unreliable, warnings


def compare_variants(
    observations: pd.DataFrame,
    variants: Sequence[str] = VARIANTS,
    *,
    phenotype: str = "A",
    protocol: Protocol | None = None,
    parameters: Mapping[str, Sequence[str]] | None = None,
    n_starts: int = 4,
    seed: int = 0,
    client: Any | None = None,
    fits: dict[str, ClientFit] | None = None,
    intervals: str = "wald",
) -> pd.DataFrame:
    """Fit each variant; AIC, BIC and leave-last-visit-out predictive error per variant.

    The leave-last-visit-out error refits each variant without the last visit (the latest
    time) and reports the root mean square of the standardised residuals of that visit's
    measurements under the refit (1 ≈ as good as the measurement noise allows).

    Parameters
    ----------
    client
        A ``dask.distributed.Client`` to fit the variants in parallel; ``None`` in-process.
    fits
        When given, filled with each variant's fit to all observations (estimates, intervals,
        predictions), so a caller that reports them need not fit again.
    intervals
        Interval method of those fits (:class:`ClientFit`); the comparison does not use them.

    Returns
    -------
    pandas.DataFrame
        ``variant, n_parameters, n_observations, log_likelihood, aic, bic, delta_aic,
        lvo_rmse, converged``, best AIC first.
    """
    obs = observations.rename(columns={"name": "measure", "time": "time_h"})
    jobs = [
        (
            v,
            phenotype,
            tuple((parameters or {}).get(v, DEFAULT_FIT_PARAMETERS[v])),
            protocol,
            n_starts,
            seed,
            obs,
            intervals,
        )
        for v in variants
    ]
    if client is None:
        rows = [_fit_variant(*job) for job in jobs]
    else:
        futures = [client.submit(_fit_variant, *job, pure=False) for job in jobs]
        rows = [fut.result() for fut in futures]
    if fits is not None:
        fits.update({row["variant"]: row["fit"] for row in rows})
    frame = pd.DataFrame(rows)
    frame["delta_aic"] = frame["aic"] - frame["aic"].min()
    cols = [
        "variant",
        "n_parameters",
        "n_observations",
        "log_likelihood",
        "aic",
        "bic",
        "delta_aic",
        "lvo_rmse",
        "converged",
    ]
    return frame[cols].sort_values("aic", kind="stable").reset_index(drop=True)


def _fit_variant(
    variant: str,
    phenotype: str,
    fit_ids: tuple[str, ...],
    protocol: Protocol | None,
    n_starts: int,
    seed: int,
    obs: pd.DataFrame,
    intervals: str = "wald",
) -> dict[str, Any]:
    full = ClientFit(
        variant, phenotype, fit_ids, protocol, n_starts=n_starts, seed=seed, intervals=intervals
    ).fit(obs)
    last = float(obs["time_h"].max())
    train, held = obs[obs["time_h"] < last], obs[obs["time_h"] == last]
    lvo = float("nan")
    if train["time_h"].nunique() >= 2:
        # Warm start from the full fit: one start is enough to refit without the last visit.
        part = ClientFit(
            variant, phenotype, fit_ids, protocol, n_starts=1, seed=seed, start=full.params_
        ).fit(train)
        scored = part.predict_observations(held)
        lvo = float(np.sqrt(np.mean(scored["residual"].to_numpy() ** 2)))
    return {
        "variant": variant,
        "n_parameters": full.n_parameters_,
        "n_observations": full.n_observations_,
        "log_likelihood": full.log_likelihood_,
        "aic": full.aic_,
        "bic": full.bic_,
        "lvo_rmse": lvo,
        "converged": full.converged_,
        "fit": full,
    }
