"""The batch integrator compiled per member with numba: one Rosenbrock method, two backends.

:func:`~hostcap.mechanistic_model.batch_simulation.simulate_batch` integrates every member with
the Kaps–Rentrop / Shampine 4(3) Rosenbrock scheme and the straight-line sparse LU of
:mod:`~hostcap.mechanistic_model.sparse_lu`. It has two backends that run the same method with the
same step-size control, so they agree to rounding:

``numpy``
    vectorised over members (rows of ``N``); no compiler, but every step pays numpy's per-call
    overhead on some 40 array operations, which dominates for small batches and costs about
    3× against compiled code for large ones.
``numba``
    this module: the model's right-hand side and Jacobian (scalar statements generated from the
    same sympy expressions, :attr:`CompiledModel.scalar_source`), the generated LU source (which
    is plain indexing arithmetic and compiles unchanged) and the integrator loop below are
    written into one Python module per model, compiled by numba with ``cache=True`` and run
    member by member without the GIL, members split over threads. The fast-math liberties taken
    are the ones that only change rounding (fused multiply-add, division by reciprocal,
    reassociation, no signed zeros: about 12 % per step); the non-finite checks that give a
    member its FAILURE status stay exact (no ``nnan`` / ``ninf``).

The generated module lives in the kernel cache (``HOSTCAP_KERNEL_CACHE``, default the user cache
directory), named by the hash of its text, so numba's on-disk cache finds the compiled code in
later processes: the first use of a variant compiles for some seconds, later processes load it
in well under a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import platformdirs
from numpy.typing import NDArray

from hostcap.errors import ValidationError
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.sparse_lu import SparseLU

__all__ = [
    "ROSENBROCK_TABLEAU",
    "Backend",
    "Schedule",
    "integrate_members",
    "kernel_cache_dir",
    "kernel_compile",
    "kernel_source",
    "numba_available",
    "observe_members",
    "resolve_backend",
    "solver_threads",
]

Array = NDArray[np.float64]
Backend = Literal["numba", "numpy"]

#: Shampine's 4(3) coefficients (Numerical Recipes ``stiff``), shared by both backends.
ROSENBROCK_TABLEAU: dict[str, float] = {
    "GAM": 0.5,
    "A21": 2.0,
    "A31": 48.0 / 25.0,
    "A32": 6.0 / 25.0,
    "C21": -8.0,
    "C31": 372.0 / 25.0,
    "C32": 12.0 / 5.0,
    "C41": -112.0 / 125.0,
    "C42": -54.0 / 125.0,
    "C43": -2.0 / 5.0,
    "B1": 19.0 / 9.0,
    "B2": 1.0 / 2.0,
    "B3": 25.0 / 108.0,
    "B4": 125.0 / 108.0,
    "E1": 17.0 / 54.0,
    "E2": 7.0 / 36.0,
    "E3": 0.0,
    "E4": 125.0 / 108.0,
}


@dataclass(frozen=True)
class Schedule:
    """Where members are integrated: segments of constant inputs, and the save times.

    Both backends step through the same schedule: a step never crosses a segment boundary or a
    save time (it lands on it), and integration restarts at every boundary.
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
        """The ``(N, T, S)`` output (NaN until saved) and the index of the first save to reach.

        A save time at the start holds the start state itself.
        """
        n_s, n = y0.shape
        out = np.full((n, self.times.size, n_s), np.nan)
        first_save = int(np.searchsorted(self.times, self.start, side="left"))
        if first_save < self.times.size and abs(self.times[first_save] - self.start) <= 1e-12 * max(
            1.0, self.end
        ):
            out[:, first_save, :] = y0.T
            first_save += 1
        return out, first_save


#: Status codes written by the kernel (index into ``SolverStatus`` order).
STATUS_SUCCESS, STATUS_MAX_STEPS, STATUS_FAILURE = 0, 1, 2

# The integrator, written once as text so that it is compiled together with the model's
# generated kernels (numba inlines the calls). It mirrors ``batch_simulation._integrate_numpy``
# statement by statement: same stages, same norm, same step-size rule, same landing on save
# times and protocol boundaries.
_INTEGRATOR = """
@_jit
def integrate_block(P, Y0, seg_start, seg_end, seg_inputs, times_ext, first_save, rtol, atol,
                    max_steps, h0, end, tiny, out, status, steps_out):
    n_mem, n_s = Y0.shape
    nnz = JAC_SLOTS.size
    lu_size = LU_SIZE
    n_seg = seg_end.size
    y = numpy.empty(n_s)
    f = numpy.empty(n_s)
    ys = numpy.empty(n_s)
    fs = numpy.empty(n_s)
    y_new = numpy.empty(n_s)
    g1 = numpy.empty(n_s)
    g2 = numpy.empty(n_s)
    g3 = numpy.empty(n_s)
    g4 = numpy.empty(n_s)
    jv = numpy.empty(nnz)
    kc = numpy.empty(N_CONSTANTS)
    work = numpy.empty(lu_size)
    for i in range(n_mem):
        p = P[i]
        for s in range(n_s):
            y[s] = Y0[i, s]
        t = seg_start[0]
        seg = 0
        k = first_save
        h_want = h0
        steps = 0
        code = 0
        # kc holds the state-free subexpressions of this member's phase; f and jv the
        # derivative and Jacobian at (t, y): computed together after each accepted step, kept
        # through a rejected one.
        consts_into(y, p, seg_inputs[seg], kc)
        rhs_jac_into(y, p, seg_inputs[seg], kc, f, jv)
        while True:
            u = seg_inputs[seg]
            stop = min(times_ext[k], seg_end[seg])
            remaining = stop - t
            land = h_want >= remaining * (1.0 - 1e-12)
            h = remaining if land else h_want
            for q in range(ZERO_SLOTS.size):
                work[ZERO_SLOTS[q]] = 0.0
            for q in range(nnz):
                work[JAC_SLOTS[q]] = -jv[q]
            c = 1.0 / (GAM * h)
            for s in range(n_s):
                work[DIAG_SLOTS[s]] += c
            factor(work)
            for s in range(n_s):
                g1[s] = f[s]
            solve(work, g1)
            for s in range(n_s):
                ys[s] = y[s] + A21 * g1[s]
            rhs_into(ys, p, u, kc, fs)
            for s in range(n_s):
                g2[s] = fs[s] + (C21 / h) * g1[s]
            solve(work, g2)
            for s in range(n_s):
                ys[s] = y[s] + A31 * g1[s] + A32 * g2[s]
            rhs_into(ys, p, u, kc, fs)
            for s in range(n_s):
                g3[s] = fs[s] + (C31 * g1[s] + C32 * g2[s]) / h
            solve(work, g3)
            for s in range(n_s):
                g4[s] = fs[s] + (C41 * g1[s] + C42 * g2[s] + C43 * g3[s]) / h
            solve(work, g4)
            acc = 0.0
            finite = True
            for s in range(n_s):
                yn = y[s] + B1 * g1[s] + B2 * g2[s] + B3 * g3[s] + B4 * g4[s]
                y_new[s] = yn
                if not numpy.isfinite(yn):
                    finite = False
                e = E1 * g1[s] + E2 * g2[s] + E4 * g4[s]
                sc = atol + rtol * max(abs(y[s]), abs(yn))
                acc += (e / sc) ** 2
            norm = numpy.sqrt(acc / n_s)
            if not numpy.isfinite(norm):
                finite = False
            if not finite:
                norm = numpy.inf
            accept = norm <= 1.0
            steps += 1
            if not finite:
                fac = 0.25
            elif accept:
                fac = min(max(0.9 / numpy.sqrt(numpy.sqrt(max(norm, 1e-10))), 0.2), 5.0)
            else:
                fac = min(max(0.9 / numpy.sqrt(numpy.sqrt(norm)), 0.1), 0.9)
            h_next = h * fac
            if accept and land:
                h_want = max(h_want, h_next)
            else:
                h_want = h_next
            if accept:
                t_new = stop if land else t + h
                for s in range(n_s):
                    y[s] = y_new[s]
                # Steps land on save times, so a save time is reached only as an end point.
                if t_new == times_ext[k]:
                    for s in range(n_s):
                        out[i, k, s] = y[s]
                    k += 1
                t = t_new
                if land and stop == seg_end[seg] and seg + 1 < n_seg:
                    seg += 1
                    consts_into(y, p, seg_inputs[seg], kc)
                rhs_jac_into(y, p, seg_inputs[seg], kc, f, jv)
            if t >= end - tiny:
                break
            if h_want < tiny:
                code = 2
                break
            if steps >= max_steps:
                code = 1
                break
        status[i] = code
        steps_out[i] = steps
        if code != 0:
            out[i, :, :] = numpy.nan
    return None


@_jit
def observe_block(P, states, u_at, out):
    n_mem, n_t, n_s = states.shape
    for i in range(n_mem):
        p = P[i]
        for j in range(n_t):
            obs_into(states[i, j], p, u_at[j], out[i, j])
    return None
"""

_HEADER = '''"""Generated by hostcap.mechanistic_model.compiled_solver ({variant}); do not edit.

The model's right-hand side and Jacobian, its sparse LU and the Rosenbrock integrator, compiled by
numba together. The file is named by the hash of its text, so numba's cache matches it.
"""

import numba
import numpy

_jit = numba.njit(
    cache=True,
    nogil=True,
    error_model="numpy",
    fastmath={{"contract", "arcp", "nsz", "reassoc"}},
)

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


def resolve_backend(requested: str | None = None) -> Backend:
    """The backend to run: ``requested``, else ``HOSTCAP_BATCH_SOLVER``, else ``auto``.

    Raises
    ------
    ValidationError
        An unknown backend name, or ``numba`` asked for where numba is not installed.
    """
    name = (requested or os.environ.get("HOSTCAP_BATCH_SOLVER") or "auto").strip().lower()
    if name == "auto":
        return "numba" if numba_available() else "numpy"
    if name not in ("numba", "numpy"):
        raise ValidationError.single("batch solver", name, "one of auto, numba, numpy")
    if name == "numba" and not numba_available():
        raise ValidationError.single(
            "batch solver", name, "numpy or auto: numba is not installed (pip install numba)"
        )
    return "numba" if name == "numba" else "numpy"


def solver_threads(requested: int | None = None) -> int:
    """Threads for the numba backend: ``requested``, ``HOSTCAP_SOLVER_THREADS``, or all CPUs."""
    if requested is not None:
        value: int | str = requested
    else:
        value = os.environ.get("HOSTCAP_SOLVER_THREADS", "").strip() or len(os.sched_getaffinity(0))
    try:
        threads = int(value)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValidationError.single("solver threads", value, "a positive integer")
    return threads


def kernel_cache_dir() -> Path:
    """Where generated solver modules (and numba's cache next to them) are kept."""
    configured = os.environ.get("HOSTCAP_KERNEL_CACHE", "").strip()
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("hostcap", appauthor=False)) / "kernels"


def kernel_source(m: CompiledModel, lu: SparseLU) -> str:
    """The text of the generated module for ``m`` (model kernels, LU, integrator)."""
    # Slots of W = cI - J that the Jacobian does not overwrite: fill-in, diagonal entries
    # outside the pattern, pivots (the factorisation writes those).
    zero_slots = sorted(set(range(lu.size)) - set(lu.jacobian_slots.tolist()))
    constants = "\n".join(
        [
            *(f"{k} = {v!r}" for k, v in ROSENBROCK_TABLEAU.items()),
            f"JAC_SLOTS = numpy.array({lu.jacobian_slots.tolist()!r}, dtype=numpy.int64)",
            f"DIAG_SLOTS = numpy.array({lu.diagonal_slots.tolist()!r}, dtype=numpy.int64)",
            f"LU_SIZE = {lu.size}",
            f"ZERO_SLOTS = numpy.array({zero_slots!r}, dtype=numpy.int64)",
            f"N_CONSTANTS = {max(1, m.scalar_constants)}",
        ]
    )
    parts = [
        _HEADER.format(variant=m.variant, constants=constants),
        m.scalar_source,
        lu.source,
        _INTEGRATOR,
    ]
    text = "\n\n".join(parts)
    # Every generated function is compiled; the integrator already carries its decorator.
    for name in (
        "consts_into",
        "rhs_into",
        "jac_into",
        "rhs_jac_into",
        "obs_into",
        "factor",
        "solve",
    ):
        text = text.replace(f"\ndef {name}(", f"\n@_jit\ndef {name}(")
    return text


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
    """Integrate members (columns of ``p`` and ``y0``) with the compiled kernel.

    ``out`` and ``first_save`` come from :meth:`Schedule.start_output`; ``out`` receives the
    saved states. Returns ``(status codes, steps)`` per member; codes are ``STATUS_SUCCESS``,
    ``STATUS_MAX_STEPS`` and ``STATUS_FAILURE``.
    """
    kernel = _module(m, lu).integrate_block
    n = y0.shape[1]
    members_p = np.ascontiguousarray(p.T, dtype=np.float64)
    members_y = np.ascontiguousarray(y0.T, dtype=np.float64)
    inputs = np.ascontiguousarray(schedule.seg_inputs.T, dtype=np.float64)
    starts = np.ascontiguousarray(schedule.seg_start, dtype=np.float64)
    ends = np.ascontiguousarray(schedule.seg_end, dtype=np.float64)
    saves = np.ascontiguousarray(schedule.times_ext, dtype=np.float64)
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
    n, n_t = states.shape[0], states.shape[1]
    members_p = np.ascontiguousarray(p.T, dtype=np.float64)
    values = np.ascontiguousarray(states, dtype=np.float64)
    inputs = np.ascontiguousarray(u_at.T, dtype=np.float64)
    out = np.empty((n, n_t, len(m.observable_ids)))

    def block(lo: int, hi: int) -> None:
        module.observe_block(members_p[lo:hi], values[lo:hi], inputs, out[lo:hi])

    _run_blocks(block, n, threads)
    return out


def kernel_compile(m: CompiledModel, lu: SparseLU) -> Any:
    """Build (or load from the cache) this model's compiled module now; returns it."""
    return _module(m, lu)
