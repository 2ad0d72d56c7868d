"""Many parameter sets of one variant under one protocol: :func:`simulate_batch`.

The model is stiff (rates from minutes to months), so the batch solver is linearly implicit: the
Kaps–Rentrop / Shampine 4(3) Rosenbrock scheme (3 right-hand sides, 1 analytic Jacobian, 1 LU and
4 solves per step) with an embedded 3rd-order error estimate, written once in
:mod:`~hostcap.mechanistic_model.rosenbrock_loop` and compiled by numba together with each model's
kernels (:mod:`~hostcap.mechanistic_model.compiled_solver`), members split over threads; where a
C compiler is present (``HOSTCAP_SOLVER_BACKEND``), the same loop in C runs 8 members at once in
SIMD lanes (:mod:`~hostcap.mechanistic_model.lane_solver`, ~3x faster). Every
member keeps its own time, step size, phase and output index, and the LU of ``W = I/(γh) - J`` is a
straight-line sparse factorisation generated from the fixed Jacobian pattern (:mod:`sparse_lu`).
Steps land exactly on save times and restart exactly at protocol boundaries. A member that fails
gets its own status and NaN outputs; the rest of the batch is unaffected.

Each member starts, as in :func:`~hostcap.mechanistic_model.simulation.simulate`, from the
pre-treatment steady state of its own parameters (settled from the phenotype's steady state, then
polished by Newton iterations on the same sparse LU), unless ``y0`` is given.

References
----------
Shampine LF. Implementation of Rosenbrock methods. ACM TOMS 1982;8:93–113.
Kaps P, Rentrop P. Generalized Runge–Kutta methods of order four with stepsize control for stiff
ordinary differential equations. Numer Math 1979;33:55–68.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Any

import numpy as np
import pandas as pd
import sympy
from numpy.typing import NDArray

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model.compilation import CompiledModel, compile_model
from hostcap.mechanistic_model.compiled_solver import Schedule, require_numba
from hostcap.mechanistic_model.definition import HYPOTHESIS_NOTE
from hostcap.mechanistic_model.lane_solver import integrate_members, observe_members
from hostcap.mechanistic_model.protocols import Protocol, input_segments
from hostcap.mechanistic_model.rosenbrock_loop import STATUS_FAILURE, STATUS_MAX_STEPS
from hostcap.mechanistic_model.simulation import SolverStatus, initial_state, save_times
from hostcap.mechanistic_model.sparse_lu import SparseLU, plan_sparse_lu

__all__ = [
    "BatchResult",
    "batch_steady_state",
    "iter_batches",
    "parameter_matrix",
    "simulate_batch",
]

Array = NDArray[np.float64]


@cache
def _lu_for(variant: str) -> SparseLU:
    m = compile_model(variant)
    rows, cols = m.sparsity
    return plan_sparse_lu(len(m.state_ids), rows.tolist(), cols.tolist())


def _lu(m: CompiledModel) -> SparseLU:
    if compile_model(m.variant) is m:
        return _lu_for(m.variant)
    rows, cols = m.sparsity
    return plan_sparse_lu(len(m.state_ids), rows.tolist(), cols.tolist())


def _resolve(model: CompiledModel | str) -> CompiledModel:
    return compile_model(model) if isinstance(model, str) else model


@dataclass(frozen=True)
class _Integration:
    states: Array  # (N, T, S)
    status: NDArray[np.str_]
    steps: NDArray[np.int64]


def _integrate(
    m: CompiledModel,
    lu: SparseLU,
    p: Array,
    y0: Array,
    schedule: Schedule,
    *,
    rtol: float,
    atol: float,
    max_steps: int,
    h0: float = 1e-2,
    threads: int | None = None,
) -> _Integration:
    """Integrate members (columns of ``p`` and ``y0``) over the segments; save at ``times``."""
    n = y0.shape[1]
    out, first_save = schedule.start_output(y0)
    codes, steps = integrate_members(
        m,
        lu,
        p,
        y0,
        schedule,
        out=out,
        first_save=first_save,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        h0=h0,
        threads=threads,
    )
    status = np.full(n, SolverStatus.SUCCESS.value, dtype=object)
    status[codes == STATUS_MAX_STEPS] = SolverStatus.MAX_STEPS.value
    status[codes == STATUS_FAILURE] = SolverStatus.FAILURE.value
    return _Integration(out, status.astype(str), steps)


def _schedule(m: CompiledModel, protocol: Protocol | None, end_h: float, times: Array) -> Schedule:
    segs = input_segments(protocol, m.definition, end_h)
    start = np.array([s.start_h for s in segs])
    stop = np.array([s.end_h for s in segs])
    inputs = np.array([m.input_vector(s.values) for s in segs]).T.reshape(len(m.input_ids), -1)
    return Schedule(start, stop, inputs, times)


def batch_steady_state(
    model: CompiledModel | str,
    parameters: Array,
    guess: Array,
    *,
    settle_h: float = 1e4,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 20_000,
    threads: int | None = None,
) -> tuple[Array, NDArray[np.bool_]]:
    """Pre-treatment steady states (no inputs) of many parameter sets.

    Each member is integrated for ``settle_h`` hours from ``guess`` (so the attracting state is
    found, as in :func:`~hostcap.mechanistic_model.simulation.steady_state`), then polished by
    Newton iterations on the analytic Jacobian; the polish makes the result exact to the
    residual test, so the settling run needs only loose tolerances.

    Parameters
    ----------
    model
        Compiled variant or its name.
    parameters
        Shape ``(P, N)`` in :attr:`CompiledModel.parameter_ids` order.
    guess
        Shape ``(S,)`` or ``(S, N)``.
    threads
        Solver threads (default :func:`~hostcap.mechanistic_model.compiled_solver.solver_threads`).

    Returns
    -------
    tuple
        ``(states (S, N), found (N,))``; members without a steady state keep their settled value
        and ``found`` False.
    """
    m = _resolve(model)
    lu = _lu(m)
    n = parameters.shape[1]
    y0 = np.broadcast_to(
        np.asarray(guess, dtype=float).reshape(len(m.state_ids), -1), (len(m.state_ids), n)
    ).copy()
    zeros = np.zeros((len(m.input_ids), 1))
    run = _integrate(
        m,
        lu,
        parameters,
        y0,
        Schedule(np.array([0.0]), np.array([settle_h]), zeros, np.array([settle_h])),
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        threads=threads,
    )
    y = run.states[:, -1, :].T.copy()
    ok = run.status == SolverStatus.SUCCESS.value
    y[:, ~ok] = y0[:, ~ok]
    u = np.zeros((len(m.input_ids), n))
    # At most 6 Newton steps; a member stops once its own step is at rounding level (so its
    # result never depends on which other members share its chunk), the batch once all have.
    moving = np.ones(n, dtype=bool)
    for _ in range(6):
        f = m.rhs(0.0, y, parameters, u)
        work = lu.assemble(np.full(n, 1e-12), m.jacobian_values(0.0, y, parameters, u))
        lu.factor(work)
        lu.solve(work, f)
        with np.errstate(invalid="ignore"):
            candidate = y + f
            small = np.all(np.abs(f) <= 1e-14 * np.maximum(np.abs(y), 1e-6), axis=0)
        good = moving & np.all(np.isfinite(candidate), axis=0)
        y[:, good] = candidate[:, good]
        moving &= ~small
        if not moving.any():
            break
    residual = np.abs(m.rhs(0.0, y, parameters, u)) / np.maximum(np.abs(y), 1e-6)
    with np.errstate(invalid="ignore"):
        found = ok & np.all(np.isfinite(y), axis=0) & (np.max(residual, axis=0) <= 1e-7)
    return y, found


def parameter_matrix(
    model: CompiledModel | str,
    parameter_sets: pd.DataFrame | Mapping[str, Sequence[float] | Array] | Array | None,
    phenotype: str = "healthy",
) -> Array:
    """Parameter sets as a ``(P, N)`` matrix in :attr:`CompiledModel.parameter_ids` order.

    Parameters
    ----------
    parameter_sets
        ``None`` (one member, the preset), a frame or mapping with one column per parameter id
        (ids not given take the phenotype preset value; a ``member`` column is ignored), or an
        array of shape ``(N, P)`` in parameter order.

    Raises
    ------
    UnknownIdError
        A column naming no parameter of the variant.
    ValidationError
        Wrong array shape, or non-positive / non-finite values.
    """
    m = _resolve(model)
    base = m.parameter_vector(phenotype)
    if parameter_sets is None:
        return base.reshape(-1, 1)
    if isinstance(parameter_sets, np.ndarray):
        arr = np.atleast_2d(np.asarray(parameter_sets, dtype=float))
        if arr.shape[1] != base.size:
            raise ValidationError.single(
                "parameter_sets", arr.shape, f"an array of shape (N, {base.size})"
            )
        mat = arr.T.copy()
    else:
        frame = pd.DataFrame(dict(parameter_sets))
        columns = [c for c in frame.columns if c != "member"]
        for c in columns:
            if c not in m.parameter_ids:
                raise UnknownIdError(f"parameter of variant {m.variant}", str(c), m.parameter_ids)
        mat = np.repeat(base.reshape(-1, 1), len(frame), axis=1)
        for c in columns:
            mat[m.parameter_ids.index(str(c))] = frame[c].to_numpy(dtype=float)
    if not np.all(np.isfinite(mat)) or np.any(mat < 0):
        bad = np.argwhere(~np.isfinite(mat) | (mat < 0))[0]
        raise ValidationError.single(
            f"parameter_sets[{int(bad[1])}].{m.parameter_ids[int(bad[0])]}",
            float(mat[bad[0], bad[1]]),
            "a finite, non-negative value",
        )
    return mat


def _initial_overrides(m: CompiledModel, y: Array, p: Array) -> Array:
    """Apply the variant's initial-value expressions (the null variant's enrolment flare)."""
    if not m.definition.initial_overrides:
        return y
    for sid, text in m.definition.initial_overrides.items():
        fn = _override_function(m.parameter_ids, text)
        y[m.state_ids.index(sid)] = np.broadcast_to(fn(*p), y.shape[1])
    return y


@cache
def _override_function(parameter_ids: tuple[str, ...], text: str) -> Any:
    """An initial-value expression as a numpy function of the parameters (lambdify is slow:
    a fit applies the overrides to every batch)."""
    symbols = [sympy.Symbol(k) for k in parameter_ids]
    return sympy.lambdify(symbols, sympy.sympify(text), modules="numpy")


@dataclass(frozen=True)
class BatchResult:
    """Trajectories of many members: arrays ``(N, T, ·)`` and a status per member.

    Names are the SBML ids of the exported model, as in
    :class:`~hostcap.mechanistic_model.simulation.Trajectory`. The observables are computed
    from the states when first read (``observe``): a caller that needs states only, or only a
    few names, does not pay for every observable at every save time. They are computed from the
    arrays as they are then: read them before changing ``states`` in place.
    """

    time_h: Array
    member: NDArray[np.int64]
    state_ids: tuple[str, ...]
    states: Array
    observable_ids: tuple[str, ...]
    observe: Callable[[], Array] = field(repr=False, compare=False)
    parameter_ids: tuple[str, ...]
    parameters: Array  # (N, P)
    initial_states: Array  # (N, S)
    status: NDArray[np.str_]
    steps: NDArray[np.int64]
    variant: str
    phenotype: str
    protocol_id: str | None
    hypothesis_note: str = HYPOTHESIS_NOTE

    @cached_property
    def observables(self) -> Array:
        """Observables ``(N, T, O)``, computed from the states on first use."""
        return self.observe()

    @property
    def n(self) -> int:
        return int(self.member.size)

    @property
    def ok(self) -> NDArray[np.bool_]:
        return np.asarray(self.status == SolverStatus.SUCCESS.value)

    def names(self) -> tuple[str, ...]:
        return (*self.state_ids, *self.observable_ids)

    def __getitem__(self, name: str) -> Array:
        """Values of a state or observable, shape ``(N, T)``."""
        if name in self.state_ids:
            return self.states[:, :, self.state_ids.index(name)]
        if name in self.observable_ids:
            return self.observables[:, :, self.observable_ids.index(name)]
        raise UnknownIdError("batch name", name, self.names())

    def status_counts(self) -> dict[str, int]:
        values, counts = np.unique(self.status, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    def to_frame(self, names: Sequence[str] | None = None) -> pd.DataFrame:
        """Tidy frame ``member, time_h, name, value`` (one row per member, time and name)."""
        chosen = list(names) if names is not None else list(self.names())
        n, t = self.n, self.time_h.size
        blocks = [
            pd.DataFrame(
                {
                    "member": np.repeat(self.member, t),
                    "time_h": np.tile(self.time_h, n),
                    "name": name,
                    "value": self[name].reshape(-1),
                }
            )
            for name in chosen
        ]
        return pd.concat(blocks, ignore_index=True)

    def parameters_frame(self) -> pd.DataFrame:
        """``member`` plus every parameter and initial state value (SBML ids)."""
        frame = pd.DataFrame(self.parameters, columns=list(self.parameter_ids))
        init = pd.DataFrame(self.initial_states, columns=list(self.state_ids))
        out = pd.concat([frame, init], axis=1)
        out.insert(0, "member", self.member)
        return out


def iter_batches(
    model: CompiledModel | str,
    protocol: Protocol | None,
    parameters: Array,
    *,
    phenotype: str = "healthy",
    weeks: float = 16.0,
    save_at: Sequence[float] | Array | None = None,
    y0: Array | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 100_000,
    chunk_size: int = 2_000,
    first_member: int = 0,
) -> Iterator[BatchResult]:
    """:func:`simulate_batch` in chunks of ``chunk_size`` members (bounded memory).

    ``parameters`` is a ``(P, N)`` matrix (see :func:`parameter_matrix`); ``y0`` an optional
    ``(S, N)`` matrix of initial states.
    """
    m = _resolve(model)
    require_numba()
    if chunk_size < 1:
        raise ValidationError.single("chunk_size", chunk_size, "a positive integer")
    # Repeated save times are saved once.
    unique = None if save_at is None else np.unique(np.asarray([float(x) for x in save_at]))
    times, end_h = save_times(weeks, unique)
    lu = _lu(m)
    schedule = _schedule(m, protocol, end_h, times)
    u_at = schedule.inputs_at_saves()
    guess = np.array(initial_state(m, phenotype)) if y0 is None else None
    n_total = parameters.shape[1]
    for lo in range(0, n_total, chunk_size):
        hi = min(lo + chunk_size, n_total)
        p = parameters[:, lo:hi]
        n = hi - lo
        status = np.full(n, SolverStatus.SUCCESS.value, dtype=object)
        if y0 is None:
            assert guess is not None
            start, found = batch_steady_state(m, p, guess)
            status[~found] = SolverStatus.NO_STEADY_STATE.value
            start = _initial_overrides(m, start, p)
        else:
            start = np.asarray(y0, dtype=float)[:, lo:hi].copy()
            found = np.ones(n, dtype=bool)
        steps = np.zeros(n, dtype=np.int64)
        if np.any(found):
            run = _integrate(
                m,
                lu,
                p[:, found],
                start[:, found],
                schedule,
                rtol=rtol,
                atol=atol,
                max_steps=max_steps,
            )
            if np.all(found):
                states = run.states
            else:
                states = np.full((n, times.size, len(m.state_ids)), np.nan)
                states[found] = run.states
            status[found] = run.status
            steps[found] = run.steps
        else:
            states = np.full((n, times.size, len(m.state_ids)), np.nan)
        yield BatchResult(
            time_h=times,
            member=np.arange(first_member + lo, first_member + hi, dtype=np.int64),
            state_ids=m.state_ids,
            states=states,
            observable_ids=m.observable_ids,
            observe=_Observation(m, lu, p, states, u_at),
            parameter_ids=m.parameter_ids,
            parameters=p.T.copy(),
            initial_states=start.T.copy(),
            status=status.astype(str),
            steps=steps,
            variant=m.variant,
            phenotype=phenotype,
            protocol_id=protocol.id if protocol is not None else None,
        )


@dataclass(frozen=True)
class _Observation:
    """The observables of one chunk, computed when called (picklable, unlike a closure)."""

    m: CompiledModel
    lu: SparseLU
    p: Array
    states: Array
    u_at: Array

    def __call__(self) -> Array:
        return observe_members(self.m, self.lu, self.p, self.states, self.u_at)

    def __reduce__(self) -> tuple[type[_Computed], tuple[Array]]:
        # The compiled model does not pickle: a batch sent to another process carries the
        # observables themselves.
        return (_Computed, (self(),))


@dataclass(frozen=True)
class _Computed:
    """Observables already computed."""

    values: Array

    def __call__(self) -> Array:
        return self.values


@dataclass(frozen=True)
class _Concatenation:
    """The observables of several chunks, stacked when called."""

    parts: tuple[BatchResult, ...]

    def __call__(self) -> Array:
        return np.concatenate([r.observables for r in self.parts])


def _concat(parts: list[BatchResult]) -> BatchResult:
    first = parts[0]
    if len(parts) == 1:
        return first
    return BatchResult(
        time_h=first.time_h,
        member=np.concatenate([r.member for r in parts]),
        state_ids=first.state_ids,
        states=np.concatenate([r.states for r in parts]),
        observable_ids=first.observable_ids,
        observe=_Concatenation(tuple(parts)),
        parameter_ids=first.parameter_ids,
        parameters=np.concatenate([r.parameters for r in parts]),
        initial_states=np.concatenate([r.initial_states for r in parts]),
        status=np.concatenate([r.status for r in parts]),
        steps=np.concatenate([r.steps for r in parts]),
        variant=first.variant,
        phenotype=first.phenotype,
        protocol_id=first.protocol_id,
    )


def simulate_batch(
    model: CompiledModel | str,
    protocol: Protocol | None = None,
    parameter_sets: pd.DataFrame | Mapping[str, Any] | Array | None = None,
    *,
    phenotype: str = "healthy",
    weeks: float = 16.0,
    save_at: Sequence[float] | Array | None = None,
    y0: Sequence[float] | Array | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 100_000,
    chunk_size: int = 2_000,
) -> BatchResult:
    """Simulate many parameter sets of one variant under one protocol.

    Parameters
    ----------
    model
        A :class:`CompiledModel` or a variant name.
    protocol
        The intervention phases (shared by every member); ``None`` for none.
    parameter_sets
        See :func:`parameter_matrix`: a frame / mapping of parameter columns (others from the
        phenotype preset) or an ``(N, P)`` array.
    phenotype
        Preset filling parameters not given, and the steady state the start is settled from.
    weeks, save_at
        Horizon and save times in hours (default daily, including 0 and the end).
    y0
        Initial states, ``(S,)`` for all or ``(N, S)``; default each member's own pre-treatment
        steady state (with the variant's initial overrides).
    rtol, atol
        Per-member local error tolerances (weighted RMS norm).
    max_steps
        Steps allowed per member before it stops with ``MAX_STEPS``.
    chunk_size
        Members integrated together (memory is proportional to it).

    Returns
    -------
    BatchResult
        A status per member; members that did not succeed hold NaN.

    Examples
    --------
    >>> from hostcap.mechanistic_model import simulate_batch
    >>> res = simulate_batch("essay", None, {"tryp_basal": [5.0, 6.0]}, phenotype="A", weeks=1)
    >>> res.states.shape, list(res.status)
    ((2, 8, 18), ['success', 'success'])
    """
    m = _resolve(model)
    p = parameter_matrix(m, parameter_sets, phenotype)
    start: Array | None = None
    if y0 is not None:
        arr = np.asarray(y0, dtype=float)
        if arr.ndim == 1:
            arr = np.repeat(arr.reshape(1, -1), p.shape[1], axis=0)
        if arr.shape != (p.shape[1], len(m.state_ids)):
            raise ValidationError.single(
                "y0",
                arr.shape,
                f"shape ({len(m.state_ids)},) or ({p.shape[1]}, {len(m.state_ids)})",
            )
        start = arr.T.copy()
    parts = list(
        iter_batches(
            m,
            protocol,
            p,
            phenotype=phenotype,
            weeks=weeks,
            save_at=save_at,
            y0=start,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            chunk_size=chunk_size,
        )
    )
    return _concat(parts)
