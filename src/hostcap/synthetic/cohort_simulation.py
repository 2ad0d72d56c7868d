"""Simulate many clients at once with the mechanistic model's own vectorised kernels.

Each client is an independent copy of the model with its own parameters and inputs. Stacking the
clients into one ODE system (states laid out state-major, ``y[s * N + n]``) lets one implicit
solver step them together; the Jacobian is block diagonal and is handed to scipy's ``Radau`` as a
sparse matrix, so one step costs a sparse LU of ``N`` small blocks. The result is the same model
as :func:`hostcap.mechanistic_model.simulate` (a test compares the two client by client), at a
fraction of the cost of ``N`` separate runs.

When the stacked run fails (or a client's steady state cannot be found), the affected clients fall
back to the mechanistic model's per-client :func:`~hostcap.mechanistic_model.initial_state` and
:func:`~hostcap.mechanistic_model.simulate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
import sympy
from numpy.typing import NDArray
from scipy import sparse
from scipy.integrate import solve_ivp
from scipy.sparse.linalg import splu

from hostcap.errors import ComputationError
from hostcap.mechanistic_model import (
    HOURS_PER_WEEK,
    CompiledModel,
    Protocol,
    input_segments,
    simulate,
)

__all__ = ["CohortRun", "batch_steady_states", "simulate_cohort", "single_threaded_blas"]

Array = NDArray[np.float64]

#: Hours the pre-treatment run settles before the Newton polish (slowest rates are ~1e-4 / h).
SETTLE_H = 20_000.0


@dataclass(frozen=True)
class CohortRun:
    """Daily noise-free trajectories of a cohort.

    Attributes
    ----------
    day
        Days since enrolment, shape ``(T,)``.
    states
        Shape ``(S, N, T)`` in ``model.state_ids`` order.
    observables
        Shape ``(O, N, T)`` in ``model.observable_ids`` order.
    expressions
        Shape ``(E, N, T)`` in ``model.expression_ids`` order.
    fallback
        Number of clients simulated one by one after the stacked run could not handle them.
    steady, settled
        The pre-treatment steady states ``(S, N)`` and which of them were accepted; pass them
        back as ``start`` to simulate the same clients again without re-solving.
    """

    day: Array
    states: Array
    observables: Array
    expressions: Array
    fallback: int
    steady: Array
    settled: NDArray[np.bool_]

    def observable(self, model: CompiledModel, name: str) -> Array:
        """Shape ``(N, T)`` values of one observable."""
        return np.asarray(self.observables[model.observable_ids.index(name)], dtype=float)

    def expression(self, model: CompiledModel, name: str) -> Array:
        """Shape ``(N, T)`` values of one named intermediate."""
        return np.asarray(self.expressions[model.expression_ids.index(name)], dtype=float)

    def state(self, model: CompiledModel, name: str) -> Array:
        """Shape ``(N, T)`` values of one state."""
        return np.asarray(self.states[model.state_ids.index(name)], dtype=float)


def single_threaded_blas() -> AbstractContextManager[object]:
    """Limit BLAS to one thread while stepping: the stacked system's small dense products are
    several times slower when BLAS threads compete for two cores (measured 22 s vs 8.5 s)."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return nullcontext()
    limits: AbstractContextManager[object] = threadpool_limits(limits=1)
    return limits


def _block_jacobian(model: CompiledModel, values: Array, n: int) -> sparse.csc_matrix:
    """The stacked system's block-diagonal Jacobian from per-client non-zero entries."""
    rows, cols = model.sparsity
    s = len(model.state_ids)
    offsets = np.arange(n)
    r = (rows[:, None] * n + offsets[None, :]).ravel()
    c = (cols[:, None] * n + offsets[None, :]).ravel()
    return sparse.csc_matrix((values.ravel(), (r, c)), shape=(s * n, s * n))


def _integrate(
    model: CompiledModel,
    y0: Array,
    p: Array,
    u: Array,
    t_span: tuple[float, float],
    t_eval: Array | None,
    *,
    rtol: float,
    atol: float,
) -> tuple[Array, Array]:
    """Integrate the stacked system; returns (times, states ``(S, N, len(times))``)."""
    s, n = y0.shape

    def fun(t: float, x: Array) -> Array:
        return np.asarray(model.rhs(t, x.reshape(s, n), p, u), dtype=float).ravel()

    def jac(t: float, x: Array) -> sparse.csc_matrix:
        return _block_jacobian(model, model.jacobian_values(t, x.reshape(s, n), p, u), n)

    sol = solve_ivp(
        fun,
        t_span,
        y0.ravel(),
        method="Radau",
        jac=jac,
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
    )
    if not sol.success or not np.all(np.isfinite(sol.y)):
        raise ComputationError(f"stacked cohort integration failed: {sol.message}")
    return sol.t, sol.y.reshape(s, n, -1)


def _newton(model: CompiledModel, y: Array, parameters: Array, u: Array) -> Array:
    """Up to 10 Newton steps on ``rhs = 0`` with the block-diagonal Jacobian."""
    s, n = y.shape
    for _ in range(10):
        f = np.asarray(model.rhs(0.0, y, parameters, u), dtype=float)
        jac = _block_jacobian(model, model.jacobian_values(0.0, y, parameters, u), n)
        try:
            step = splu(jac).solve(f.ravel()).reshape(s, n)
        except RuntimeError:
            break
        candidate = y - step
        if not np.all(np.isfinite(candidate)):
            break
        y = candidate
        if np.max(np.abs(step) / np.maximum(np.abs(y), 1e-6)) < 1e-12:
            break
    return y


def _accepted(model: CompiledModel, y: Array, parameters: Array, u: Array) -> NDArray[np.bool_]:
    """Clients whose state is a stable, non-negative steady state (residual <= 1e-7)."""
    f = np.asarray(model.rhs(0.0, y, parameters, u), dtype=float)
    residual = np.max(np.abs(f) / np.maximum(np.abs(y), 1e-6), axis=0)
    ok = np.isfinite(residual) & (residual <= 1e-7) & np.all(y >= -1e-9, axis=0)
    dense = np.moveaxis(model.jacobian(0.0, y, parameters, u), -1, 0)
    finite = np.all(np.isfinite(dense), axis=(1, 2))
    stable = np.zeros(y.shape[1], dtype=bool)
    if finite.any():
        stable[finite] = np.max(np.linalg.eigvals(dense[finite]).real, axis=1) < 0
    return np.asarray(ok & stable, dtype=bool)


def batch_steady_states(
    model: CompiledModel,
    parameters: Array,
    guesses: Array,
    *,
    settle_h: float = SETTLE_H,
) -> tuple[Array, NDArray[np.bool_]]:
    """Pre-treatment steady states of many clients (no interventions).

    A Newton solve from the phenotype preset's state is tried first and accepted where it
    lands on a stable (every Jacobian eigenvalue negative), non-negative steady state; the other
    clients settle by integration for ``settle_h`` hours and are polished by Newton again.

    Parameters
    ----------
    model
        The compiled variant.
    parameters
        Shape ``(P, N)`` in ``model.parameter_ids`` order.
    guesses
        Shape ``(S, N)`` starting states (e.g. the phenotype presets' steady states).
    settle_h
        Hours to integrate the clients the first Newton solve did not settle.

    Returns
    -------
    (states, ok)
        States ``(S, N)`` and a mask of the clients whose relative residual is below ``1e-7``
        (the mechanistic model's own acceptance threshold) at a stable steady state.
    """
    u = np.zeros((len(model.input_ids), guesses.shape[1]))
    y = _newton(model, guesses.copy(), parameters, u)
    ok = _accepted(model, y, parameters, u)
    rest = np.flatnonzero(~ok)
    if rest.size:
        sub_p, sub_u = parameters[:, rest], u[:, rest]
        try:
            _, ys = _integrate(
                model, guesses[:, rest], sub_p, sub_u, (0.0, settle_h), None, rtol=1e-6, atol=1e-9
            )
            settled = _newton(model, ys[:, :, -1].copy(), sub_p, sub_u)
            y[:, rest] = settled
            ok[rest] = _accepted(model, settled, sub_p, sub_u)
        except ComputationError:
            pass
    return y, ok


def _apply_initial_overrides(model: CompiledModel, y: Array, parameters: Array) -> Array:
    """The variant's enrolment overrides (the ``null`` variant's flare), client by client."""
    overrides = model.definition.initial_overrides
    if not overrides:
        return y
    y = y.copy()
    symbols = [sympy.Symbol(k) for k in model.parameter_ids]
    for sid, text in overrides.items():
        fn = sympy.lambdify(symbols, sympy.sympify(text), modules="numpy")
        value = fn(*parameters)
        y[model.state_ids.index(sid)] = np.broadcast_to(np.asarray(value, dtype=float), y.shape[1])
    return y


def _input_pieces(
    model: CompiledModel, phase_inputs: Sequence[Sequence[tuple[float, dict[str, float]]]]
) -> list[tuple[float, Array]]:
    """Piecewise-constant input matrices ``(I, N)`` on the union of every client's boundaries."""
    boundaries = sorted({start for client in phase_inputs for start, _ in client} | {0.0})
    pieces = []
    for start in boundaries:
        u = np.zeros((len(model.input_ids), len(phase_inputs)))
        for n, client in enumerate(phase_inputs):
            active = [values for begin, values in client if begin <= start]
            if active:
                u[:, n] = model.input_vector(active[-1])
        pieces.append((start, u))
    return pieces


def _per_client(
    model: CompiledModel,
    parameters: Array,
    protocol: Protocol | None,
    weeks: float,
    save_h: Array,
) -> Array:
    """The fallback: one client through the mechanistic model's own ``simulate``."""
    values = dict(zip(model.parameter_ids, (float(v) for v in parameters), strict=True))
    traj = simulate(
        model, protocol, phenotype="healthy", weeks=weeks, save_at=save_h, parameters=values
    )
    return np.asarray(traj.states.T, dtype=float)


def simulate_cohort(
    model: CompiledModel,
    parameters: Array,
    guesses: Array,
    protocols: Sequence[Protocol | None],
    *,
    weeks: float,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    start: tuple[Array, NDArray[np.bool_]] | None = None,
) -> CohortRun:
    """Daily trajectories of every client, from its own pre-treatment steady state.

    Parameters
    ----------
    model
        The compiled variant.
    parameters
        Shape ``(P, N)``.
    guesses
        Shape ``(S, N)``: starting guesses for the steady states (phenotype presets).
    protocols
        Per client, the protocol with its doses (already scaled by the effect scale); the
        model's own :func:`~hostcap.mechanistic_model.input_segments` turns it into inputs.
    weeks
        Length of the run; states are saved daily from day 0.
    start
        Steady states and their acceptance mask from an earlier run of the same clients.

    Returns
    -------
    CohortRun
    """
    n = parameters.shape[1]
    end_h = float(weeks) * HOURS_PER_WEEK
    save_h = np.arange(0.0, end_h + 1e-9, 24.0)
    steady, ok = start if start is not None else batch_steady_states(model, parameters, guesses)
    y0 = steady
    y0 = _apply_initial_overrides(model, y0, parameters)
    out = np.full((len(model.state_ids), n, save_h.size), np.nan)
    phase_inputs = [
        [(seg.start_h, seg.values) for seg in input_segments(protocol, model.definition, end_h)]
        for protocol in protocols
    ]
    pieces = _input_pieces(model, phase_inputs)
    fallback = ~ok
    # From an exact steady state with no inputs nothing moves: no need to integrate.
    at_rest = not model.definition.initial_overrides
    try:
        y = y0
        for k, (begin, u) in enumerate(pieces):
            stop = pieces[k + 1][0] if k + 1 < len(pieces) else end_h
            begin, stop = min(begin, end_h), min(stop, end_h)
            if stop <= begin:
                continue
            last = stop >= end_h
            inside = save_h[(save_h >= begin) & ((save_h <= stop) if last else (save_h < stop))]
            if at_rest and not u.any():
                out[:, :, np.searchsorted(save_h, inside)] = y[:, :, None]
                continue
            at_rest = False
            t_eval = np.unique(np.append(inside, stop))
            times, ys = _integrate(
                model, y, parameters, u, (begin, stop), t_eval, rtol=rtol, atol=atol
            )
            keep = np.isin(times, inside)
            out[:, :, np.searchsorted(save_h, times[keep])] = ys[:, :, keep]
            y = ys[:, :, -1]
    except ComputationError:
        fallback = np.ones(n, dtype=bool)
    for i in (int(k) for k in np.flatnonzero(fallback)):
        out[:, i, :] = _per_client(model, parameters[:, i], protocols[i], weeks, save_h)
    s, _, t = out.shape
    flat = out.reshape(s, n * t)
    p_flat = np.repeat(parameters, t, axis=1)
    u_flat = np.zeros((len(model.input_ids), n * t))
    for k, (begin, u) in enumerate(pieces):
        stop = pieces[k + 1][0] if k + 1 < len(pieces) else np.inf
        mask = (save_h >= begin) & (save_h < stop)
        u_flat.reshape(-1, n, t)[:, :, mask] = u[:, :, None]
    observables = np.asarray(model.observables(0.0, flat, p_flat, u_flat), dtype=float)
    expressions = np.asarray(model.expressions(0.0, flat, p_flat, u_flat), dtype=float)
    return CohortRun(
        day=save_h / 24.0,
        states=out,
        observables=observables.reshape(-1, n, t),
        expressions=expressions.reshape(-1, n, t),
        fallback=int(fallback.sum()),
        steady=steady,
        settled=ok,
    )
