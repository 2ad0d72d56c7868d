"""Each model's kernels and the one Rosenbrock loop, compiled together by numba per model.

:func:`~hostcap.mechanistic_model.batch_simulation.simulate_batch` integrates every member with
the loop of :mod:`~hostcap.mechanistic_model.rosenbrock_loop` (Kaps–Rentrop / Shampine 4(3)
Rosenbrock) and the straight-line sparse LU of :mod:`~hostcap.mechanistic_model.sparse_lu`. This
module writes one Python module per model: the model's right-hand side and Jacobian (scalar
statements generated from the same sympy expressions, :attr:`CompiledModel.scalar_source`), the
generated LU source (plain indexing arithmetic, which compiles unchanged), the layout of the LU's
work array and the tableau as constants, and the source of the loop functions copied from
:mod:`~hostcap.mechanistic_model.rosenbrock_loop` as they stand. numba compiles it with
``cache=True`` and it runs member by member without the GIL, members split over threads. The
fast-math liberties taken are the ones that only change rounding (fused multiply-add, division by
reciprocal, reassociation, no signed zeros: about 12 % per step); the non-finite checks that give
a member its FAILURE status stay exact (no ``nnan`` / ``ninf``).

The generated module lives in the kernel cache (``HOSTCAP_KERNEL_CACHE``, default the user cache
directory), named by the hash of its text, so numba's on-disk cache finds the compiled code in
later processes: the first use of a variant compiles for some seconds, later processes load it
in about a second. :func:`python_kernels` binds the same loop, uncompiled, to the model's
kernels run by Python: slow, but the reference the compiled code is tested against.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
import platformdirs
from numpy.typing import NDArray

from hostcap.errors import ValidationError
from hostcap.mechanistic_model import rosenbrock_loop
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.rosenbrock_loop import (
    LOOP_FUNCTIONS,
    STATUS_FAILURE,
    STATUS_MAX_STEPS,
    STATUS_SUCCESS,
    STEP_HELPERS,
    TABLEAU,
)
from hostcap.mechanistic_model.sparse_lu import SparseLU
from hostcap.settings import setting

__all__ = [
    "IntegrationOptions",
    "MemberArrays",
    "Schedule",
    "integrate_members",
    "kernel_cache_dir",
    "kernel_compile",
    "kernel_source",
    "numba_available",
    "observation_arrays",
    "observe_members",
    "python_kernels",
    "require_numba",
    "solver_threads",
]

Array = NDArray[np.float64]


@dataclass(frozen=True)
class Schedule:
    """Where members are integrated: segments of constant inputs, and the save times.

    A step never crosses a segment boundary or a save time (it lands on it), and integration
    restarts at every boundary.
    """

    seg_start: Array  # (K,) hours
    seg_end: Array  # (K,) hours, seg_end[k] == seg_start[k + 1]
    seg_inputs: Array  # (U, K) input values held over each segment
    times: Array  # (T,) ascending save times, hours

    @property
    def start(self) -> float:
        return float(self.seg_start[0])

    @property
    def end(self) -> float:
        return float(self.seg_end[-1])

    @property
    def tiny(self) -> float:
        """Below this a step size (or the time left) counts as zero."""
        return 1e-13 * max(1.0, self.end)

    @property
    def times_ext(self) -> Array:
        """The save times with ``inf`` appended, so "the next save time" always exists."""
        return np.append(self.times, np.inf)

    def inputs_at_saves(self) -> Array:
        """``(U, T)`` inputs at the save times, right-continuous (a boundary starts a segment)."""
        seg = np.searchsorted(self.seg_start, self.times, side="right") - 1
        return self.seg_inputs[:, np.clip(seg, 0, self.seg_start.size - 1)]

    def start_output(self, y0: Array) -> tuple[Array, int]:
        """The ``(N, T, S)`` output and the index of the first save to reach.

        A save time at the start holds the start state itself, one before it NaN; the rest is
        left uninitialised (filling it was a second pass over the whole array): the loop writes
        every later save time of every member, NaN for a member that fails or a time it does
        not reach.
        """
        n_s, n = y0.shape
        out = np.empty((n, self.times.size, n_s))
        first_save = int(np.searchsorted(self.times, self.start, side="left"))
        out[:, :first_save, :] = np.nan
        if first_save < self.times.size and abs(self.times[first_save] - self.start) <= 1e-12 * max(
            1.0, self.end
        ):
            out[:, first_save, :] = y0.T
            first_save += 1
        return out, first_save


_HEADER = '''"""Generated by hostcap.mechanistic_model.compiled_solver ({variant}); do not edit.

The model's right-hand side and Jacobian and its sparse LU, with the Rosenbrock loop copied from
hostcap.mechanistic_model.rosenbrock_loop, compiled by numba together. The file is named by the
hash of its text, so numba's cache matches it.
"""

from __future__ import annotations

import numba
import numpy
import numpy as np

_options = dict(
    cache=True,
    nogil=True,
    error_model="numpy",
    fastmath={{"contract", "arcp", "nsz", "reassoc"}},
)
_jit = numba.njit(**_options)
_jit_inline = numba.njit(inline="always", **_options)

{constants}
'''

_lock = threading.Lock()
_modules: dict[str, Any] = {}
# The same (model, LU) objects come back on every batch; generating and hashing their module text
# (~0.2 ms) each time is skipped by remembering them (held, so their ids stay theirs).
_by_identity: dict[tuple[int, int], tuple[CompiledModel, SparseLU, Any]] = {}


def numba_available() -> bool:
    """Whether numba can be imported (it is in hostcap's ``research`` extra)."""
    return importlib.util.find_spec("numba") is not None


def require_numba() -> None:
    """Raise unless numba can be imported: the batch integrator is compiled by it.

    Raises
    ------
    ValidationError
        numba is not installed.
    """
    if not numba_available():
        raise ValidationError.single(
            "batch integrator",
            "numba not installed",
            "numba, from hostcap's research extra: pip install 'hostcap[research]'",
        )


def solver_threads(requested: int | None = None) -> int:
    """Threads for the batch integrator: ``requested``, ``HOSTCAP_SOLVER_THREADS``, or all CPUs."""
    if requested is not None:
        value: int | str = requested
    else:
        value = setting("solver_threads") or len(os.sched_getaffinity(0))
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValidationError.single("solver threads", value, "a positive integer")
    return threads


def kernel_cache_dir() -> Path:
    """Where generated solver modules (and numba's cache next to them) are kept."""
    configured = setting("kernel_cache")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("hostcap", appauthor=False)) / "kernels"


#: The kernels each model generates (compiled beside the loop).
_KERNELS = ("consts_into", "rhs_into", "jac_into", "rhs_jac_into", "obs_into", "factor", "solve")


def _layout(m: CompiledModel, lu: SparseLU) -> dict[str, Any]:
    """The model-specific constants the loop reads (:data:`rosenbrock_loop.MODEL_NAMES`)."""
    # Slots of W = cI - J that the Jacobian does not overwrite: fill-in, diagonal entries
    # outside the pattern, pivots (the factorisation writes those).
    zero_slots = sorted(set(range(lu.size)) - set(lu.jacobian_slots.tolist()))
    return {
        "JAC_SLOTS": lu.jacobian_slots.astype(np.int64),
        "DIAG_SLOTS": lu.diagonal_slots.astype(np.int64),
        "LU_SIZE": lu.size,
        "ZERO_SLOTS": np.array(zero_slots, dtype=np.int64),
        "N_CONSTANTS": max(1, m.scalar_constants),
    }


def _constants(m: CompiledModel, lu: SparseLU) -> dict[str, Any]:
    """Every constant of the loop's module: tableau, status codes and the model's layout."""
    codes = {
        "STATUS_SUCCESS": STATUS_SUCCESS,
        "STATUS_MAX_STEPS": STATUS_MAX_STEPS,
        "STATUS_FAILURE": STATUS_FAILURE,
    }
    return {**TABLEAU, **codes, **_layout(m, lu)}


def kernel_source(m: CompiledModel, lu: SparseLU) -> str:
    """The text of the generated module for ``m``: its kernels, its LU and the loop's source."""
    lines = []
    for name, value in _constants(m, lu).items():
        if isinstance(value, np.ndarray):
            lines.append(f"{name} = numpy.array({value.tolist()!r}, dtype=numpy.int64)")
        else:
            lines.append(f"{name} = {value!r}")
    parts = [
        _HEADER.format(variant=m.variant, constants="\n".join(lines)),
        m.scalar_source,
        lu.source,
        *(inspect.getsource(fn) for fn in LOOP_FUNCTIONS),
    ]
    text = "\n\n".join(parts)
    # Every function is compiled: the model's kernels and the loop's.
    for name in (*_KERNELS, *(fn.__name__ for fn in LOOP_FUNCTIONS)):
        jit = "_jit_inline" if any(fn.__name__ == name for fn in STEP_HELPERS) else "_jit"
        text = text.replace(f"\ndef {name}(", f"\n@{jit}\ndef {name}(")
    return text


def python_kernels(m: CompiledModel, lu: SparseLU) -> types.SimpleNamespace:
    """The loop bound, uncompiled, to this model's kernels run by Python (~1000× slower).

    The loop functions are those of :mod:`rosenbrock_loop` themselves (their code objects, with
    the model's names as globals), so this runs the very statements the compiled module copies:
    the reference that compiled results are tested against.
    """
    namespace: dict[str, Any] = {"numpy": np, "np": np, **_constants(m, lu)}
    exec(compile(m.scalar_source, f"<hostcap scalar kernels {m.variant}>", "exec"), namespace)
    namespace["factor"] = lu.factor
    namespace["solve"] = lu.solve
    missing = [n for n in rosenbrock_loop.MODEL_NAMES if n not in namespace]
    assert not missing, missing
    # Bound into the namespace itself, so that the loop's functions call each other's bound copy.
    for fn in LOOP_FUNCTIONS:
        namespace[fn.__name__] = types.FunctionType(fn.__code__, namespace, fn.__name__)
    # Non-finite values are a member's FAILURE status, as in the compiled code (numba's numpy
    # error model): not warnings.
    quiet = np.errstate(invalid="ignore", over="ignore", divide="ignore")
    entries = {fn.__name__: quiet(namespace[fn.__name__]) for fn in LOOP_FUNCTIONS}
    return types.SimpleNamespace(**{**namespace, **entries})


def _write_module(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    return path


def _module(m: CompiledModel, lu: SparseLU) -> Any:
    """The generated, numba-compiled module for this model (built once per process)."""
    known = _by_identity.get((id(m), id(lu)))
    if known is not None and known[0] is m and known[1] is lu:
        return known[2]
    require_numba()
    text = kernel_source(m, lu)
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    with _lock:
        found = _modules.get(digest)
        if found is not None:
            _by_identity[(id(m), id(lu))] = (m, lu, found)
            return found
        name = f"hostcap_kernel_{digest}"
        try:
            path = _write_module(kernel_cache_dir(), name, text)
        except OSError:
            # A read-only cache folder: compile from a private temporary copy (no disk cache).
            path = _write_module(Path(tempfile.mkdtemp(prefix="hostcap-kernels-")), name, text)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _warm_up(m, module)
        _modules[digest] = module
        _by_identity[(id(m), id(lu))] = (m, lu, module)
        return module


def _warm_up(m: CompiledModel, module: Any) -> None:
    """Compile (or load from numba's cache) every entry point now, on a one-member problem.

    numba compiles on first call; doing it here keeps the cost out of the first timed or
    threaded call, and the types match the real calls exactly (so no second compilation).
    """
    n_s, n_u = len(m.state_ids), len(m.input_ids)
    p = np.ascontiguousarray(m.parameter_vector().reshape(1, -1))
    y = np.ascontiguousarray(np.array([[s.initial for s in m.definition.states]]))
    u = np.zeros((1, n_u))
    out = np.full((1, 2, n_s), np.nan)
    module.integrate_block(
        p,
        y,
        np.array([0.0]),
        np.array([1e-3]),
        u,
        np.array([0.0, 1e-3, np.inf]),
        1,
        1e-6,
        1e-9,
        10,
        1e-4,
        1e-3,
        1e-16,
        out,
        np.zeros(1, dtype=np.int64),
        np.zeros(1, dtype=np.int64),
    )
    module.observe_block(p, out, np.zeros((2, n_u)), np.empty((1, 2, len(m.observable_ids))))


class IntegrationOptions(TypedDict):
    """How :func:`integrate_members` (either backend) integrates: ``out`` and ``first_save``
    from :meth:`Schedule.start_output`, the tolerances, the step budget, the first step size
    and the threads members are split over (default: the setting)."""

    out: Array
    first_save: int
    rtol: float
    atol: float
    max_steps: int
    h0: float
    threads: NotRequired[int | None]


@dataclass(frozen=True)
class MemberArrays:
    """A batch in the loops' layout: one contiguous row per member, the schedule's arrays."""

    p: Array  # (N, P)
    y0: Array  # (N, S)
    inputs: Array  # (K, U)
    starts: Array  # (K,)
    ends: Array  # (K,)
    saves: Array  # (T + 1,), ``inf`` last

    @classmethod
    def of(cls, p: Array, y0: Array, schedule: Schedule) -> MemberArrays:
        """Members are columns of ``p`` ``(P, N)`` and ``y0`` ``(S, N)``."""

        def row_major(a: Array) -> Array:
            return np.ascontiguousarray(a, dtype=np.float64)

        return cls(
            row_major(p.T),
            row_major(y0.T),
            row_major(schedule.seg_inputs.T),
            row_major(schedule.seg_start),
            row_major(schedule.seg_end),
            row_major(schedule.times_ext),
        )


def integrate_members(
    m: CompiledModel,
    lu: SparseLU,
    p: Array,
    y0: Array,
    schedule: Schedule,
    *,
    out: Array,
    first_save: int,
    rtol: float,
    atol: float,
    max_steps: int,
    h0: float,
    threads: int | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Integrate members (columns of ``p`` and ``y0``) with the compiled loop.

    ``out`` and ``first_save`` come from :meth:`Schedule.start_output`; ``out`` receives the
    saved states. Returns ``(status codes, steps)`` per member; codes are the ``STATUS_*`` of
    :mod:`~hostcap.mechanistic_model.rosenbrock_loop`.
    """
    kernel = _module(m, lu).integrate_block
    n = y0.shape[1]
    batch = MemberArrays.of(p, y0, schedule)
    members_p, members_y, inputs = batch.p, batch.y0, batch.inputs
    starts, ends, saves = batch.starts, batch.ends, batch.saves
    end, tiny = schedule.end, schedule.tiny
    status = np.zeros(n, dtype=np.int64)
    steps = np.zeros(n, dtype=np.int64)

    def block(lo: int, hi: int) -> None:
        kernel(
            members_p[lo:hi],
            members_y[lo:hi],
            starts,
            ends,
            inputs,
            saves,
            int(first_save),
            float(rtol),
            float(atol),
            int(max_steps),
            float(h0),
            float(end),
            float(tiny),
            out[lo:hi],
            status[lo:hi],
            steps[lo:hi],
        )

    _run_blocks(block, n, threads)
    return status, steps


def _run_blocks(block: Callable[[int, int], None], n: int, threads: int | None) -> None:
    """Run ``block(lo, hi)`` over ``range(n)`` in pieces on up to ``threads`` threads.

    Members are independent, so how they are split never changes a number; small pieces (at most
    256 members) balance members of unequal cost across threads.
    """
    workers = max(1, min(solver_threads(threads), n))
    if workers == 1:
        block(0, n)
        return
    size = max(1, min(256, -(-n // (4 * workers))))
    bounds = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(block, lo, hi) for lo, hi in bounds]:
            future.result()


def observation_arrays(p: Array, states: Array, u_at: Array) -> tuple[Array, Array, Array]:
    """The observation loops' layout: parameters ``(N, P)``, states ``(N, T, S)`` and inputs
    ``(T, U)``, each contiguous."""
    return (
        np.ascontiguousarray(p.T, dtype=np.float64),
        np.ascontiguousarray(states, dtype=np.float64),
        np.ascontiguousarray(u_at.T, dtype=np.float64),
    )


def observe_members(
    m: CompiledModel,
    lu: SparseLU,
    p: Array,
    states: Array,
    u_at: Array,
    *,
    threads: int | None = None,
) -> Array:
    """Observables (N, T, O) of states (N, T, S) with parameters (P, N) and inputs (U, T)."""
    module = _module(m, lu)
    members_p, values, inputs = observation_arrays(p, states, u_at)
    n, n_t = values.shape[0], values.shape[1]
    out = np.empty((n, n_t, len(m.observable_ids)))

    def block(lo: int, hi: int) -> None:
        module.observe_block(members_p[lo:hi], values[lo:hi], inputs, out[lo:hi])

    _run_blocks(block, n, threads)
    return out


def kernel_compile(m: CompiledModel, lu: SparseLU) -> Any:
    """Build (or load from the cache) this model's compiled module now; returns it."""
    return _module(m, lu)
