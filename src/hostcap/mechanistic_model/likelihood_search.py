"""The searches behind :class:`~hostcap.mechanistic_model.client_fitting.ClientFit`.

:func:`levenberg_marquardt` runs a bounded Levenberg–Marquardt iteration on many rows of
parameters at once (the starts of a multi-start fit, or the refits along profiles), so that each
iteration is one batch simulation. :func:`profile_intervals` walks the profile likelihood of every
fitted parameter in both directions with it. The notes on the likelihood and on the two kinds of
interval are in :mod:`~hostcap.mechanistic_model.client_fitting`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import chi2

__all__ = [
    "FIT_LL_TOL",
    "FIT_TRAIL_LL",
    "PROFILE_LL_TOL",
    "PROFILE_MAX_STEPS",
    "Evaluate",
    "levenberg_marquardt",
    "profile_intervals",
]

Array = NDArray[np.float64]

#: A start stops once an accepted step gains less log-likelihood than this: 0.05 is 0.1 AIC
#: units, far below what changes a variant comparison, and the likelihood surfaces of these
#: short series are flat enough that Levenberg–Marquardt otherwise crawls for many iterations.
FIT_LL_TOL = 0.05
#: A start that trails the best start by more than this (log-likelihood units) after three
#: iterations is stopped.
FIT_TRAIL_LL = 1.0

Evaluate = Callable[[Array], tuple[Array, Array, Array]]


def levenberg_marquardt(
    evaluate: Evaluate,
    theta: Array,
    lo: Array,
    hi: Array,
    free: NDArray[np.bool_],
    max_iter: int,
    *,
    trail: bool,
    ll_tol: float = FIT_LL_TOL,
) -> tuple[Array, Array, Array, Array]:
    """Bounded Levenberg–Marquardt on every row of ``theta`` at once (one batch per iteration).

    ``free`` (same shape as ``theta``) marks the coordinates a row may move; the others stay
    where they are (the profile likelihood holds one parameter fixed per row). ``trail`` stops
    rows that trail the best row (multi-start rows of one problem; not for profile rows, which
    are different problems). Returns ``theta, residuals, jacobians, log-likelihoods``.
    """
    theta = theta.copy()
    r, jac, ll = evaluate(theta)
    k = theta.shape[0]
    lam = np.full(k, 1e-2)
    active = np.isfinite(ll) & np.any(free, axis=1)
    for iteration in range(max_iter):
        act = np.flatnonzero(active)
        if act.size == 0:
            break
        cand = theta[act].copy()
        for row, i in enumerate(act):
            cols = np.flatnonzero(free[i])
            ji = jac[i][:, cols]
            a = ji.T @ ji
            g = ji.T @ r[i]
            step = np.linalg.solve(a + lam[i] * np.diag(np.diag(a) + 1e-9), -g)
            cand[row, cols] = np.clip(theta[i, cols] + step, lo[cols], hi[cols])
        r_c, jac_c, ll_c = evaluate(cand)
        better = ll_c > ll[act] + 1e-10
        gain = np.where(better, ll_c - ll[act], 0.0)
        moved = np.max(np.abs(cand - theta[act]), axis=1)
        upd = act[better]
        theta[upd], r[upd], jac[upd], ll[upd] = (
            cand[better],
            r_c[better],
            jac_c[better],
            ll_c[better],
        )
        lam[act] = np.where(better, lam[act] / 5, lam[act] * 10)
        # A row stops when an accepted step barely changes the likelihood or the parameters,
        # or when the damping says no downhill step is left.
        done = (better & ((gain < ll_tol) | (moved < 1e-4))) | (lam[act] > 1e3)
        # A start trailing the best by more than FIT_TRAIL_LL after a few iterations climbs a
        # flat ridge far below the best optimum; its remaining iterations are wasted.
        if trail and iteration >= 3:
            done |= ll[act] < np.max(ll) - FIT_TRAIL_LL
        active[act[done]] = False
    return theta, r, jac, ll


#: Most profile steps per parameter and direction before the profile is cut short.
PROFILE_MAX_STEPS = 10
#: Profile refits stop at a smaller gain than fits (FIT_LL_TOL): a refit left short of its
#: optimum makes the profile fall too fast and the interval too narrow.
PROFILE_LL_TOL = 0.005


def profile_intervals(
    evaluate: Evaluate,
    th: Array,
    ll_best: float,
    wald_half: Array,
    lo: Array,
    hi: Array,
    level: float,
    names: Sequence[str],
) -> tuple[Array, Array, pd.DataFrame]:
    """Profile-likelihood interval ends (log scale) of every fitted parameter; see the notes.

    Every (parameter, direction) pair is one chain; all chains take their next step together
    and are refitted in one batch per Levenberg–Marquardt iteration.
    """
    f = th.size
    drop = 0.5 * float(chi2.ppf(level, 1))
    root_at_end = float(np.sqrt(2 * drop))
    chains = [(j, d) for j in range(f) for d in (-1.0, 1.0)]
    n = len(chains)
    idx = np.array([j for j, _ in chains])
    sign = np.array([d for _, d in chains])
    step = np.clip(wald_half / 3, 0.02, (hi - lo) / 4)[idx]
    theta = np.repeat(th.reshape(1, -1), n, axis=0)  # chain c's parameter sits at theta[c, idx[c]]
    root = np.zeros(n)  # signed-root statistic at the last step (0 at the optimum)
    ends = np.where(sign < 0, lo[idx], hi[idx])  # open unless a crossing is found
    active = ~np.isclose(th[idx], ends, atol=1e-6)
    free = np.ones((n, f), dtype=bool)
    free[np.arange(n), idx] = False
    rows: list[tuple[str, float, float, str]] = [
        (name, float(np.exp(v)), ll_best, "optimum") for name, v in zip(names, th, strict=True)
    ]
    for _ in range(PROFILE_MAX_STEPS):
        act = np.flatnonzero(active)
        if act.size == 0:
            break
        at = theta[act, idx[act]]
        target = np.clip(at + sign[act] * step[act], lo[idx[act]], hi[idx[act]])
        cand = theta[act].copy()
        cand[np.arange(act.size), idx[act]] = target
        cand, _, _, ll = levenberg_marquardt(
            evaluate, cand, lo, hi, free[act], max_iter=15, trail=False, ll_tol=PROFILE_LL_TOL
        )
        for row, c in enumerate(act):
            rows.append(
                (
                    names[idx[c]],
                    float(np.exp(target[row])),
                    float(ll[row]),
                    "down" if sign[c] < 0 else "up",
                )
            )
            new_root = (
                float(np.sqrt(2 * max(ll_best - ll[row], 0.0))) if np.isfinite(ll[row]) else np.inf
            )
            if new_root >= root_at_end:
                # Crossing between the last step and this one: linear in the signed root.
                t = (root_at_end - root[c]) / (new_root - root[c]) if np.isfinite(new_root) else 0.5
                ends[c] = at[row] + t * (target[row] - at[row])
                active[c] = False
                continue
            if new_root - root[c] < root_at_end / 8:
                step[c] *= 2  # a flat profile (weakly identified): larger steps
            theta[c], root[c] = cand[row], new_root
            if np.isclose(target[row], ends[c], atol=1e-6):
                active[c] = False  # reached the range: open on this side
    # A chain still going after PROFILE_MAX_STEPS keeps the range end: the likelihood has not
    # fallen enough anywhere it looked, so the interval is open on that side (conservative).
    low = np.array([ends[2 * j] for j in range(f)])
    high = np.array([ends[2 * j + 1] for j in range(f)])
    frame = pd.DataFrame(rows, columns=["parameter", "value", "log_likelihood", "direction"])
    return (
        low,
        high,
        frame.sort_values(["parameter", "value"], kind="stable").reset_index(drop=True),
    )
