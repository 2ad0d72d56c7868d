"""The batch integrator's loop, written once: Rosenbrock 4(3) per member over a schedule.

:func:`integrate_block` integrates members one after another with the Kaps–Rentrop / Shampine
4(3) Rosenbrock scheme (3 right-hand sides, 1 analytic Jacobian, 1 LU and 4 solves per step) and
its embedded 3rd-order error estimate: every member keeps its own time, step size, protocol phase
and next save time; steps land exactly on save times and restart exactly at protocol boundaries;
a member that fails gets its own status code and NaN outputs. :func:`observe_block` evaluates the
observables at the saved states.

Both functions are plain Python over 1-D numpy arrays and scalars, so that numba compiles them
unchanged. They call a model's kernels and read its layout through module-level names that this
module only declares (for ruff and mypy): the model's right-hand side and Jacobian
(:attr:`~hostcap.mechanistic_model.compilation.CompiledModel.scalar_source`), its sparse LU
(:mod:`~hostcap.mechanistic_model.sparse_lu`) and the slots of ``W = I/(γh) - J`` in the LU's work
array. :mod:`~hostcap.mechanistic_model.compiled_solver` writes one module per model holding
those kernels, the tableau below and the source of these two functions, copied as they stand
(:func:`inspect.getsource`), and numba compiles it with ``cache=True``; it can also bind the same
functions, uncompiled, to the model's kernels run by Python (the reference the compiled code is
tested against).

Why the loop is copied into the model's module rather than imported there: numba resolves a
function's globals at compile time but keys its on-disk cache on the function's file and
bytecode only. One imported loop compiled against two models' kernels would share one cache
entry (a fresh process would load the first model's machine code for the second), and kernels
passed as arguments are typed by object identity, so they never hit the cache in a new process
(a 6–9 s recompile every time). A copy lives in a file named by the hash of its whole text, which
numba caches correctly.

References
----------
Shampine LF. Implementation of Rosenbrock methods. ACM TOMS 1982;8:93–113.
Kaps P, Rentrop P. Generalized Runge–Kutta methods of order four with stepsize control for stiff
ordinary differential equations. Numer Math 1979;33:55–68.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LOOP_FUNCTIONS",
    "MODEL_NAMES",
    "STATUS_FAILURE",
    "STATUS_MAX_STEPS",
    "STATUS_SUCCESS",
    "STEP_HELPERS",
    "TABLEAU",
    "integrate_block",
    "observe_block",
    "step_factor",
]

Array = NDArray[np.float64]
Index = NDArray[np.int64]

#: Status codes the loop writes per member (mapped to ``SolverStatus`` by the caller).
STATUS_SUCCESS, STATUS_MAX_STEPS, STATUS_FAILURE = 0, 1, 2

# Shampine's 4(3) coefficients (Numerical Recipes ``stiff``).
GAM = 0.5
A21 = 2.0
A31 = 48.0 / 25.0
A32 = 6.0 / 25.0
C21 = -8.0
C31 = 372.0 / 25.0
C32 = 12.0 / 5.0
C41 = -112.0 / 125.0
C42 = -54.0 / 125.0
C43 = -2.0 / 5.0
B1 = 19.0 / 9.0
B2 = 1.0 / 2.0
B3 = 25.0 / 108.0
B4 = 125.0 / 108.0
E1 = 17.0 / 54.0
E2 = 7.0 / 36.0
E4 = 125.0 / 108.0  # E3 is 0: the third stage does not enter the error estimate.

#: The tableau by name: the generated module defines each as a constant of the same value.
TABLEAU: dict[str, float] = {
    "GAM": GAM,
    "A21": A21,
    "A31": A31,
    "A32": A32,
    "C21": C21,
    "C31": C31,
    "C32": C32,
    "C41": C41,
    "C42": C42,
    "C43": C43,
    "B1": B1,
    "B2": B2,
    "B3": B3,
    "B4": B4,
    "E1": E1,
    "E2": E2,
    "E4": E4,
}

#: Names the loop reads that each model defines: its kernels and the layout of its LU.
MODEL_NAMES = (
    "JAC_SLOTS",
    "DIAG_SLOTS",
    "ZERO_SLOTS",
    "LU_SIZE",
    "N_CONSTANTS",
    "consts_into",
    "rhs_into",
    "rhs_jac_into",
    "obs_into",
    "factor",
    "solve",
)

if TYPE_CHECKING:
    # Declared for the checkers only: the generated module (or the namespace the functions are
    # bound to) defines them for one model.
    # Work-array slot of each Jacobian non-zero (in the model's sparsity order), of each diagonal
    # entry (by state), and the slots the Jacobian does not overwrite (fill-in, pivots).
    JAC_SLOTS: Index = np.empty(0, dtype=np.int64)
    DIAG_SLOTS: Index = np.empty(0, dtype=np.int64)
    ZERO_SLOTS: Index = np.empty(0, dtype=np.int64)
    LU_SIZE = 0  # length of the LU's work array
    N_CONSTANTS = 1  # length of the state-free subexpressions (at least 1)

    def consts_into(y: Array, p: Array, u: Array, k: Array) -> None: ...
    def rhs_into(y: Array, p: Array, u: Array, k: Array, out: Array) -> None: ...
    def rhs_jac_into(y: Array, p: Array, u: Array, k: Array, f: Array, jac: Array) -> None: ...
    def obs_into(y: Array, p: Array, u: Array, out: Array) -> None: ...
    def factor(work: Array) -> None: ...
    def solve(work: Array, b: Array) -> None: ...


def step_factor(norm: float, finite: bool, accept: bool) -> float:
    """How much the next step grows or shrinks, from the error norm of this one."""
    # norm**-0.25 as 1/sqrt(sqrt(norm)): cheaper than pow, and exact enough.
    if not finite:
        return 0.25
    if accept:
        return float(min(max(0.9 / np.sqrt(np.sqrt(max(norm, 1e-10))), 0.2), 5.0))
    return float(min(max(0.9 / np.sqrt(np.sqrt(norm)), 0.1), 0.9))


def integrate_block(
    P: Array,
    Y0: Array,
    seg_start: Array,
    seg_end: Array,
    seg_inputs: Array,
    times_ext: Array,
    first_save: int,
    rtol: float,
    atol: float,
    max_steps: int,
    h0: float,
    end: float,
    tiny: float,
    out: Array,
    status: Index,
    steps_out: Index,
) -> None:
    """Integrate members ``P[i]``, ``Y0[i]`` over the phases ``seg_*`` (constant inputs
    ``seg_inputs[k]``), saving at ``times_ext[first_save:]`` (``inf`` last) into ``out[i]``; a
    member stops at ``end``, after ``max_steps`` steps or when its step falls below ``tiny``.
    """
    n_mem, n_s = Y0.shape
    n_seg = seg_end.size
    y, f, ys, fs, y_new = np.empty(n_s), np.empty(n_s), np.empty(n_s), np.empty(n_s), np.empty(n_s)
    g1, g2, g3, g4 = np.empty(n_s), np.empty(n_s), np.empty(n_s), np.empty(n_s)
    jv, kc, work = np.empty(JAC_SLOTS.size), np.empty(N_CONSTANTS), np.empty(LU_SIZE)
    for i in range(n_mem):
        p = P[i]
        for s in range(n_s):
            y[s] = Y0[i, s]
        t = seg_start[0]
        seg = 0
        k = first_save
        h_want = h0
        steps = 0
        code = STATUS_SUCCESS
        # kc: the state-free subexpressions of this member's phase; f, jv: derivative and
        # Jacobian at (t, y), computed after each accepted step, kept through a rejected one.
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
            for q in range(JAC_SLOTS.size):
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
                if not np.isfinite(yn):
                    finite = False
                e = E1 * g1[s] + E2 * g2[s] + E4 * g4[s]
                sc = atol + rtol * max(abs(y[s]), abs(yn))
                acc += (e / sc) ** 2
            norm = np.sqrt(acc / n_s)
            if not np.isfinite(norm):
                finite = False
            if not finite:
                norm = np.inf
            accept = norm <= 1.0
            steps += 1
            h_next = h * step_factor(norm, finite, accept)
            h_want = max(h_want, h_next) if accept and land else h_next
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
                code = STATUS_FAILURE
                break
            if steps >= max_steps:
                code = STATUS_MAX_STEPS
                break
        status[i] = code
        steps_out[i] = steps
        # The output starts uninitialised: a failed member is NaN, and so is a save time not
        # reached (none, as steps land on every one before the end).
        out[i, (0 if code != STATUS_SUCCESS else k) : times_ext.size - 1, :] = np.nan


def observe_block(P: Array, states: Array, u_at: Array, out: Array) -> None:
    """Observables ``out[i, j]`` of ``states[i, j]``, parameters ``P[i]`` and inputs ``u_at[j]``."""
    n_mem, n_t, _ = states.shape
    for i in range(n_mem):
        p = P[i]
        for j in range(n_t):
            obs_into(states[i, j], p, u_at[j], out[i, j])


#: Helpers of one step, inlined into :func:`integrate_block` where compiled (as calls they cost
#: a few per cent per step).
STEP_HELPERS = (step_factor,)
#: The functions copied into each model's module, in order (callees first).
LOOP_FUNCTIONS = (*STEP_HELPERS, integrate_block, observe_block)
