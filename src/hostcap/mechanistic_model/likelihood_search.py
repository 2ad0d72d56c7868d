"""The searches behind :class:`~hostcap.mechanistic_model.client_fitting.ClientFit`.

:func:`levenberg_marquardt` runs a bounded Levenberg–Marquardt iteration on many rows of
parameters at once (the starts of a multi-start fit, or the refits along profiles), so that each
iteration is one batch simulation. :func:`profile_intervals` walks the profile likelihood of every
fitted parameter in both directions with it. The notes on the likelihood and on the two kinds of
interval are in :mod:`~hostcap.mechanistic_model.client_fitting`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import chi2

__all__ = [
    "FIT_LL_TOL",
    "FIT_TRAIL_LL",
    "PROFILE_FAR",
    "PROFILE_LL_TOL",
    "PROFILE_MAX_STEPS",
    "PROFILE_ROOT_TOL",
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
    floor: float = -np.inf,
) -> tuple[Array, Array, Array, Array]:
    """Bounded Levenberg–Marquardt on every row of ``theta`` at once (one batch per iteration).

    ``free`` (same shape as ``theta``) marks the coordinates a row may move; the others stay
    where they are (the profile likelihood holds one parameter fixed per row). ``trail`` stops
    rows that trail the best row (multi-start rows of one problem; not for profile rows, which
    are different problems). Rows still below ``floor`` after three iterations stop too (a
    profile look far beyond the interval's end needs no exact refit). Returns ``theta,
    residuals, jacobians, log-likelihoods``.
    """
    theta = theta.copy()
    r, jac, ll = evaluate(theta)
    k = theta.shape[0]
    lam = np.full(k, 1e-2)
    active = np.isfinite(ll) & np.any(free, axis=1)
    for iteration in range(max_iter):
        act = np.flatnonzero(active)
        cand = theta[act].copy()
        promising = np.ones(act.size, dtype=bool)
        for row, i in enumerate(act):
            cols, step = _bounded_step(jac[i], r[i], theta[i], free[i], lo, hi, lam[i])
            cand[row, cols] = np.clip(theta[i, cols] + step, lo[cols], hi[cols])
            # Converged when even the undamped Gauss–Newton step is predicted to gain less than
            # ll_tol: stopping here saves the batch that would only confirm it.
            promising[row] = _predicted_gain(jac[i][:, cols], r[i]) >= ll_tol
        active[act[~promising]] = False
        act, cand = act[promising], cand[promising]
        if act.size == 0:
            break
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
        if iteration >= 3:
            done |= ll[act] < (np.max(ll) - FIT_TRAIL_LL if trail else floor)
        active[act[done]] = False
    return theta, r, jac, ll


def _predicted_gain(jac: Array, r: Array) -> float:
    """Log-likelihood gain of the full Gauss–Newton step predicted by the linearised model."""
    if jac.shape[1] == 0:
        return 0.0
    step = np.linalg.lstsq(jac, -r, rcond=None)[0]
    return 0.5 * float(r @ r - np.sum((r + jac @ step) ** 2))


def _bounded_step(
    jac: Array,
    r: Array,
    theta: Array,
    free: NDArray[np.bool_],
    lo: Array,
    hi: Array,
    lam: float,
) -> tuple[NDArray[np.int64], Array]:
    """A damped Gauss–Newton step of the free coordinates that respects the range.

    A coordinate at a bound whose step points out of the range is held there and the step is
    solved again for the others (an active set): clipping it afterwards instead would leave the
    other coordinates' step computed for a move that cannot happen, and the step is then often
    rejected (a parameter at its bound is common here, e.g. a weakly identified rate).
    """
    cols = np.flatnonzero(free)
    step: Array = np.zeros(0)
    for _ in range(cols.size):
        ji = jac[:, cols]
        a = ji.T @ ji
        step = np.asarray(
            np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-9), -(ji.T @ r)), dtype=np.float64
        )
        blocked = ((theta[cols] <= lo[cols] + 1e-9) & (step < 0)) | (
            (theta[cols] >= hi[cols] - 1e-9) & (step > 0)
        )
        if not blocked.any():
            break
        cols, step = cols[~blocked], step[~blocked]
        if cols.size == 0:
            break
    return cols, step


#: Most refits per parameter and direction before the profile search is cut short.
PROFILE_MAX_STEPS = 10
#: Profile refits stop at a smaller gain than fits (FIT_LL_TOL): a refit left short of its
#: optimum makes the profile fall too fast and the interval too narrow.
PROFILE_LL_TOL = 0.005
#: A profile search stops at a point whose signed root is this close to its target (1.96 for
#: 95 %); the end is then interpolated in the root, which is exact for a quadratic likelihood.
PROFILE_ROOT_TOL = 0.1
#: A look whose signed root is still this far beyond the target after three refit iterations is
#: not refitted further: it only brackets the crossing, which a closer look then pins down.
PROFILE_FAR = 1.0


@dataclass
class _Chains:
    """The profile searches: one chain per (parameter, direction), each a bracketing search.

    ``inner`` is the furthest point whose signed root is below the target (the optimum at
    first): its value, root, refitted row and Jacobian; ``outer`` the nearest point beyond the
    target (``nan`` until one is found); ``prev`` the inner point before the current one.
    """

    idx: NDArray[np.int64]
    sign: Array
    in_v: Array
    in_r: Array
    in_theta: Array
    in_jac: Array
    prev_v: Array
    prev_r: Array
    out_v: Array
    out_r: Array
    limit: Array
    ends: Array
    active: NDArray[np.bool_]

    def targets(self, act: NDArray[np.int64], first_step: Array, goal: float) -> Array:
        """Where each active chain looks next: the crossing of ``goal`` predicted linearly in
        the signed root (regula falsi inside a bracket, secant outside, at most four times
        the last step), the quadratic (Wald) prediction first."""
        in_v, in_r, sign = self.in_v[act], self.in_r[act], self.sign[act]
        last = np.abs(in_v - self.prev_v[act])
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (in_v - self.prev_v[act]) / (in_r - self.prev_r[act])
            secant = in_v + np.clip((goal - in_r) * slope * sign, 0.5 * last, 4 * last) * sign
            inside = in_v + (goal - in_r) * (self.out_v[act] - in_v) / (self.out_r[act] - in_r)
        secant = np.where(np.isfinite(secant) & (slope * sign > 0), secant, in_v + 4 * last * sign)
        inside = np.where(np.isfinite(inside), inside, 0.5 * (in_v + self.out_v[act]))
        step = np.where(last > 0, secant, in_v + sign * first_step[act])
        return np.where(np.isnan(self.out_v[act]), step, inside)


def profile_intervals(
    evaluate: Evaluate,
    th: Array,
    ll_best: float,
    jac_best: Array,
    wald_half: Array,
    lo: Array,
    hi: Array,
    level: float,
    names: Sequence[str],
) -> tuple[Array, Array, pd.DataFrame]:
    """Profile-likelihood interval ends (log scale) of every fitted parameter; see the notes.

    Every (parameter, direction) pair is one chain searching for the point where the signed
    root of the likelihood-ratio statistic reaches its target: the first look is the Wald end,
    later ones interpolate in the signed root (linear in the parameter for a quadratic
    likelihood), and each refit starts from the nearest inner point moved along the Gauss–Newton
    prediction of how the other parameters follow. All chains take their next look together
    and are refitted in one batch per Levenberg–Marquardt iteration.
    """
    f = th.size
    goal = float(np.sqrt(chi2.ppf(level, 1)))  # signed root at the interval's end
    idx = np.repeat(np.arange(f), 2)
    sign = np.tile([-1.0, 1.0], f)
    n = idx.size
    limit = np.where(sign < 0, lo[idx], hi[idx])
    ch = _Chains(
        idx=idx,
        sign=sign,
        in_v=th[idx].copy(),
        in_r=np.zeros(n),
        in_theta=np.repeat(th.reshape(1, -1), n, axis=0),
        in_jac=np.repeat(jac_best[None], n, axis=0),
        prev_v=th[idx].copy(),
        prev_r=np.zeros(n),
        out_v=np.full(n, np.nan),
        out_r=np.full(n, np.nan),
        limit=limit,
        ends=limit.copy(),  # open unless a crossing is found
        active=~np.isclose(th[idx], limit, atol=1e-6),
    )
    first_step = np.clip(wald_half, 0.05, hi - lo)[idx]
    free = np.ones((n, f), dtype=bool)
    free[np.arange(n), idx] = False
    rows: list[tuple[str, float, float, str]] = [
        (name, float(np.exp(v)), ll_best, "optimum") for name, v in zip(names, th, strict=True)
    ]
    for _ in range(PROFILE_MAX_STEPS):
        act = np.flatnonzero(ch.active)
        if act.size == 0:
            break
        j = idx[act]
        target = np.clip(ch.targets(act, first_step, goal), lo[j], hi[j])
        cand = _follow(ch.in_theta[act], ch.in_jac[act], j, target, lo, hi)
        theta, _, jac, ll = levenberg_marquardt(
            evaluate,
            cand,
            lo,
            hi,
            free[act],
            max_iter=15,
            trail=False,
            ll_tol=PROFILE_LL_TOL,
            floor=ll_best - 0.5 * (goal + PROFILE_FAR) ** 2,
        )
        with np.errstate(invalid="ignore"):
            root = np.where(np.isfinite(ll), np.sqrt(2 * np.maximum(ll_best - ll, 0.0)), np.inf)
        rows += [
            (
                names[j[k]],
                float(np.exp(target[k])),
                float(ll[k]),
                "up" if ch.sign[c] > 0 else "down",
            )
            for k, c in enumerate(act)
        ]
        _advance(ch, act, target, root, theta, jac, goal)
    # A chain still bracketed after PROFILE_MAX_STEPS ends where the bracket interpolates; one
    # never bracketed keeps the range end: the likelihood has not fallen enough anywhere it
    # looked, so the interval is open on that side (conservative).
    left = np.flatnonzero(ch.active & np.isfinite(ch.out_v))
    ch.ends[left] = _interpolate(ch.in_v[left], ch.in_r[left], ch.out_v[left], ch.out_r[left], goal)
    frame = pd.DataFrame(rows, columns=["parameter", "value", "log_likelihood", "direction"])
    return (
        ch.ends[0::2].copy(),
        ch.ends[1::2].copy(),
        frame.sort_values(["parameter", "value"], kind="stable").reset_index(drop=True),
    )


def _follow(
    theta: Array, jac: Array, j: NDArray[np.int64], target: Array, lo: Array, hi: Array
) -> Array:
    """Rows moved to ``target`` in their parameter ``j``, the others following the Gauss–Newton
    prediction ``δθ_o = −(J_oᵀJ_o)⁺ J_oᵀ J_j δθ_j`` (the refit then starts close to its optimum)."""
    out = theta.copy()
    for k in range(theta.shape[0]):
        delta = target[k] - theta[k, j[k]]
        others = np.flatnonzero(np.arange(theta.shape[1]) != j[k])
        follow = np.linalg.lstsq(jac[k][:, others], -jac[k][:, j[k]] * delta, rcond=None)[0]
        out[k, others] = np.clip(theta[k, others] + follow, lo[others], hi[others])
        out[k, j[k]] = target[k]
    return out


def _interpolate(v0: Array, r0: Array, v1: Array, r1: Array, goal: float) -> Array:
    """Where the signed root reaches ``goal`` on the line through two points (v, root)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(np.isfinite(r1), np.where(r1 > r0, (goal - r0) / (r1 - r0), 1.0), 0.5)
    return v0 + t * (v1 - v0)


def _advance(
    ch: _Chains,
    act: NDArray[np.int64],
    target: Array,
    root: Array,
    theta: Array,
    jac: Array,
    goal: float,
) -> None:
    """Update the chains with their refitted looks: an end when close enough, else a new
    inner or outer point, or an open end at the range."""
    close = np.abs(root - goal) <= PROFILE_ROOT_TOL
    beyond = root >= goal
    # The end of a close look is interpolated with the inner point (extrapolated a little
    # when the look fell just short): linear in the signed root.
    near = act[close]
    end = _interpolate(ch.in_v[near], ch.in_r[near], target[close], root[close], goal)
    # Within the range: a look just short of the target at the range's end is open there.
    lim = ch.limit[near]
    ch.ends[near] = np.where(ch.sign[near] < 0, np.maximum(end, lim), np.minimum(end, lim))
    ch.active[near] = False
    out = ~close & beyond
    ch.out_v[act[out]], ch.out_r[act[out]] = target[out], root[out]
    inner = ~close & ~beyond
    c = act[inner]
    ch.prev_v[c], ch.prev_r[c] = ch.in_v[c], ch.in_r[c]
    ch.in_v[c], ch.in_r[c] = target[inner], root[inner]
    ch.in_theta[c], ch.in_jac[c] = theta[inner], jac[inner]
    # An inner look at the range's end: the interval is open on that side.
    ch.active[c[np.isclose(target[inner], ch.limit[c], atol=1e-6)]] = False
