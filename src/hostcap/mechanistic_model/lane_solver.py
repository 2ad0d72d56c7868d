"""The batch integrator in C with members in SIMD lanes: same method, ~3x the numba loop.

:func:`integrate_members` and :func:`observe_members` run the loop of
:mod:`~hostcap.mechanistic_model.rosenbrock_loop` (the same Rosenbrock 4(3) tableau, error norm,
step control, landing on save times, restarts at protocol boundaries, status codes and NaN
outputs) with :data:`LANES` members at once in a vector register. Each model's kernels (its
right-hand side, Jacobian, state-free subexpressions, observables and sparse LU: the scalar
statements numba compiles, :attr:`CompiledModel.scalar_source` and :attr:`SparseLU.source`) are
translated, statement for statement, into C functions over ``L`` lanes (arrays laid out
``[index * L + lane]``, ``#pragma omp simd``); the hand-written loop ``c/rosenbrock_lanes.c``
keeps every lane's own time, step size, phase and next save, and refills a lane from the next
member when its member finishes.

The C text is compiled at first use with the system C compiler (``$CC``, else Python's, else
``cc``) into a shared library in the kernel cache (:func:`compiled_solver.kernel_cache_dir`),
named by the hash of the text, the flags, the compiler's version and the target CPU; later
processes load it (ctypes, which releases the GIL, so members still split over threads). The
flags keep IEEE semantics except ``errno`` (no ``-ffast-math``: the non-finite checks that give
a member its FAILURE status must stay): ``pow`` is vectorised by declaring glibc's vector
``pow`` (libmvec) ourselves, and products may fuse into multiply-adds, so numbers agree with
the numba loop to rounding, not bit for bit.

``HOSTCAP_SOLVER_BACKEND`` chooses: ``auto`` (this backend when a compiler builds it, else the
numba loop, with one logged line), ``c`` (this backend or an error) or ``numba``.
"""

from __future__ import annotations

import ast
import ctypes
import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from functools import cache
from pathlib import Path
from typing import Any, Unpack

import numpy as np
from numpy.typing import NDArray

from hostcap.errors import ValidationError
from hostcap.mechanistic_model import compiled_solver
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.compiled_solver import (
    IntegrationOptions,
    MemberArrays,
    Schedule,
    kernel_cache_dir,
)
from hostcap.mechanistic_model.rosenbrock_loop import (
    STATUS_FAILURE,
    STATUS_MAX_STEPS,
    STATUS_SUCCESS,
    TABLEAU,
)
from hostcap.mechanistic_model.sparse_lu import SparseLU
from hostcap.settings import setting

__all__ = [
    "FLAGS",
    "LANES",
    "integrate_members",
    "lane_library",
    "lane_source",
    "observe_members",
    "solver_backend",
]

Array = NDArray[np.float64]

#: Members at once: 8 doubles fill an AVX-512 register (two AVX2 ones). Measured on the essay
#: model (16 weeks, rtol 1e-6, one thread, AVX-512 CPU): 4 lanes 63, 8 lanes 49 (with 512-bit
#: vectors; 61 with 256-bit), 16 lanes 57 µs per member; numba 141.
LANES = 8
#: Compiler flags: optimised for this CPU, IEEE semantics kept (no fast-math) but for errno;
#: on x86-64, 512-bit vectors where the CPU has them (gcc prefers 256 by default; the option
#: does not exist for other architectures, where it would fail every build).
FLAGS = (
    "-O3",
    "-march=native",
    *(("-mprefer-vector-width=512",) if platform.machine().lower() in ("x86_64", "amd64") else ()),
    "-fno-math-errno",
    "-fopenmp-simd",
    "-fPIC",
    "-shared",
)
_LOOP_FILE = Path(__file__).parent / "c" / "rosenbrock_lanes.c"
_BACKENDS = ("auto", "c", "numba")
_log = logging.getLogger(__name__)

# Each scalar kernel the loop calls, and the name of its lane function in the C text.
_KERNELS = {
    "consts_into": "consts_l",
    "rhs_into": "rhs_l",
    "rhs_jac_into": "rhs_jac_l",
    "obs_into": "obs_l",
    "factor": "factor_l",
    "solve": "solve_l",
}
_C_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_C_AUG = {ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/="}


class _UntranslatableError(ValueError):
    """A kernel statement outside the subset the translation knows (the numba loop is used)."""


def _expr(node: ast.expr) -> str:
    """C for one expression of a generated kernel (names prefixed ``v_``, lanes indexed)."""
    if isinstance(node, ast.BinOp):
        left, right = _expr(node.left), _expr(node.right)
        if isinstance(node.op, ast.Pow):
            exponent = node.right
            if isinstance(exponent, ast.Constant) and exponent.value == 2:
                return f"({left} * {left})"
            return f"pow({left}, {right})"
        op = _C_OPS.get(type(node.op))
        if op is None:
            raise _UntranslatableError(ast.unparse(node))
        return f"({left} {op} {right})"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = "-" if isinstance(node.op, ast.USub) else "+"
        return f"({sign}{_expr(node.operand)})"
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        value = float(node.value)
        if not np.isfinite(value):
            raise _UntranslatableError(ast.unparse(node))
        return repr(value)
    if isinstance(node, ast.Name):
        return f"v_{node.id}"
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name)
        and isinstance(node.slice, ast.Constant)
        and isinstance(node.slice.value, int)
    ):
        return f"v_{node.value.id}[{node.slice.value} * L + lane_]"
    raise _UntranslatableError(ast.unparse(node))


def _lane_function(fn: ast.FunctionDef, c_name: str) -> str:
    """One scalar kernel as a C function over ``L`` lanes, statement for statement."""
    args = ", ".join(f"double *restrict v_{a.arg}" for a in fn.args.args)
    lines = [
        f"static void {c_name}({args})",
        "{",
        "#pragma omp simd",
        "    for (int lane_ = 0; lane_ < L; lane_++) {",
    ]
    declared: set[str] = set()
    for stmt in fn.body:
        if isinstance(stmt, ast.Return) and (
            stmt.value is None or ast.unparse(stmt.value) == "None"
        ):
            continue
        if isinstance(stmt, ast.AugAssign) and type(stmt.op) in _C_AUG:
            lines.append(
                f"        {_expr(stmt.target)} {_C_AUG[type(stmt.op)]} {_expr(stmt.value)};"
            )
        elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0]
            value = _expr(stmt.value)
            if isinstance(target, ast.Name) and target.id not in declared:
                declared.add(target.id)
                lines.append(f"        double v_{target.id} = {value};")
            else:
                lines.append(f"        {_expr(target)} = {value};")
        else:
            raise _UntranslatableError(ast.unparse(stmt))
    lines += ["    }", "}"]
    return "\n".join(lines)


def _c_array(name: str, values: NDArray[Any]) -> str:
    items = ", ".join(str(int(v)) for v in values) or "0"
    return f"static const int {name}[{max(1, values.size)}] = {{{items}}};"


def lane_source(m: CompiledModel, lu: SparseLU, lanes: int = LANES) -> str:
    """The C text for ``m``: its constants, its kernels over ``lanes`` lanes and the loop."""
    functions = {
        node.name: node
        for node in ast.parse(m.scalar_source + "\n\n" + lu.source).body
        if isinstance(node, ast.FunctionDef)
    }
    zero_slots = np.array(sorted(set(range(lu.size)) - set(lu.jacobian_slots.tolist())), dtype=int)
    sizes = {
        "L": lanes,
        "NS": len(m.state_ids),
        "NP": len(m.parameter_ids),
        "NU": max(1, len(m.input_ids)),
        "NK": max(1, m.scalar_constants),
        "NJ": int(lu.jacobian_slots.size),
        "NLU": int(lu.size),
        "NZ": int(zero_slots.size),
        "NO": max(1, len(m.observable_ids)),
        "STATUS_SUCCESS": STATUS_SUCCESS,
        "STATUS_MAX_STEPS": STATUS_MAX_STEPS,
        "STATUS_FAILURE": STATUS_FAILURE,
    }
    parts = [
        f"/* Generated by hostcap.mechanistic_model.lane_solver ({m.variant}); do not edit. */",
        "#include <math.h>",
        "#ifdef HOSTCAP_LIBMVEC",
        "/* glibc's libmvec has a vector pow; math.h declares it only under -ffast-math. */",
        "#pragma omp declare simd notinbranch",
        "extern double pow(double, double);",
        "#endif",
        *(f"#define {name} {value}" for name, value in sizes.items()),
        *(f"static const double {name} = {value!r};" for name, value in TABLEAU.items()),
        _c_array("JAC_SLOTS", lu.jacobian_slots),
        _c_array("DIAG_SLOTS", lu.diagonal_slots),
        _c_array("ZERO_SLOTS", zero_slots),
        *(_lane_function(functions[name], c_name) for name, c_name in _KERNELS.items()),
        _LOOP_FILE.read_text(encoding="utf-8"),
    ]
    return "\n\n".join(parts) + "\n"


def solver_backend() -> str:
    """``HOSTCAP_SOLVER_BACKEND``: ``auto``, ``c`` or ``numba``."""
    value = (setting("solver_backend") or "auto").strip().lower()
    if value not in _BACKENDS:
        raise ValidationError.single("HOSTCAP_SOLVER_BACKEND", value, "one of auto, c, numba")
    return value


@cache
def _compiler() -> tuple[tuple[str, ...], str] | None:
    """The C compiler's command and a fingerprint of it and of this CPU; None without one."""
    configured = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    command = tuple(shlex.split(str(configured))) or ("cc",)
    if shutil.which(command[0]) is None:
        command = ("cc",)
        if shutil.which("cc") is None:
            return None
    try:
        version = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        target = subprocess.run(
            [*command, "-march=native", "-Q", "--help=target"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return command, version + target


class _Library:
    """A loaded lane library's two entry points, typed for ctypes."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        ptr, i64, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double
        self.integrate = lib.hostcap_integrate_lanes
        self.integrate.restype = None
        self.integrate.argtypes = [ptr, ptr, i64, ptr, ptr, ptr, i64, ptr, i64, i64]
        self.integrate.argtypes += [f64, f64, i64, f64, f64, f64, ptr, ptr, ptr]
        self.observe = lib.hostcap_observe_lanes
        self.observe.restype = None
        self.observe.argtypes = [ptr, ptr, i64, i64, ptr, ptr]
        self.handle = lib
        self.path = path


_lock = threading.Lock()
_libraries: dict[str, _Library | None] = {}
_by_identity: dict[tuple[int, int], tuple[CompiledModel, SparseLU, _Library | None]] = {}


class _CompileError(RuntimeError):
    """The C compiler refused the text (or is broken): the numba loop is used."""


def _build(text: str, directory: Path, digest: str, command: tuple[str, ...]) -> Path:
    """Compile ``text`` into ``directory``: source and library appear whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"hostcap_lanes_{digest}.so"
    if target.exists():
        return target
    fd, tmp_c = tempfile.mkstemp(dir=directory, suffix=".c.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    source = directory / f"hostcap_lanes_{digest}.c"
    Path(tmp_c).replace(source)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".so.tmp")
    os.close(fd)
    # With glibc's vector pow (libmvec) first; without it, pow stays a scalar call per lane.
    attempts = ((("-DHOSTCAP_LIBMVEC",), ("-lmvec", "-lm")), ((), ("-lm",)))
    errors = []
    for defines, libraries in attempts:
        argv = [*command, *FLAGS, *defines, "-o", tmp, str(source), *libraries]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode == 0:
            Path(tmp).replace(target)
            return target
        errors.append((done.stderr.strip().splitlines() or ["?"])[-1])
    Path(tmp).unlink(missing_ok=True)
    raise _CompileError(f"{command[0]} failed: {errors[0]}")


def lane_library(m: CompiledModel, lu: SparseLU) -> _Library | None:
    """This model's lane library, compiled (or loaded from the cache); None if it cannot be."""
    known = _by_identity.get((id(m), id(lu)))
    if known is not None and known[0] is m and known[1] is lu:
        return known[2]
    with _lock:
        library = _load(m, lu)
        _by_identity[(id(m), id(lu))] = (m, lu, library)
        return library


def _load(m: CompiledModel, lu: SparseLU) -> _Library | None:
    try:
        text = lane_source(m, lu, LANES)
    except (_UntranslatableError, KeyError) as exc:
        _log.warning("hostcap: C lane integrator unavailable (%s); using numba", exc)
        return None
    found = _compiler()
    if found is None:
        _log.warning("hostcap: no C compiler found; the batch integrator uses numba")
        return None
    command, fingerprint = found
    key = "\0".join([text, " ".join(FLAGS), fingerprint])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    if digest in _libraries:
        return _libraries[digest]
    library: _Library | None = None
    try:
        try:
            path = _build(text, kernel_cache_dir(), digest, command)
        except OSError:
            # A read-only cache folder: build in a private temporary one (no disk cache).
            path = _build(text, Path(tempfile.mkdtemp(prefix="hostcap-lanes-")), digest, command)
        library = _Library(path)
    except (_CompileError, OSError, subprocess.SubprocessError) as exc:
        _log.warning("hostcap: C lane integrator did not build (%s); using numba", exc)
    _libraries[digest] = library
    return library


def _chosen(m: CompiledModel, lu: SparseLU) -> _Library | None:
    """The lane library when the setting asks for it (and, under ``auto``, it builds)."""
    backend = solver_backend()
    if backend == "numba":
        return None
    library = lane_library(m, lu)
    if library is None and backend == "c":
        raise ValidationError.single(
            "HOSTCAP_SOLVER_BACKEND", "c", "a working C compiler (or auto / numba)"
        )
    return library


def integrate_members(
    m: CompiledModel,
    lu: SparseLU,
    p: Array,
    y0: Array,
    schedule: Schedule,
    **options: Unpack[IntegrationOptions],
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """:func:`compiled_solver.integrate_members`, in lanes when the setting chooses C."""
    library = _chosen(m, lu)
    if library is None:
        return compiled_solver.integrate_members(m, lu, p, y0, schedule, **options)
    out = options["out"]
    n = y0.shape[1]
    batch = MemberArrays.of(p, y0, schedule)
    members_p, members_y, saves = batch.p, batch.y0, batch.saves
    starts, ends = batch.starts, batch.ends
    inputs = batch.inputs if batch.inputs.shape[1] else np.zeros((batch.inputs.shape[0], 1))
    assert out.flags.c_contiguous and out.shape == (n, saves.size - 1, members_y.shape[1])
    status = np.zeros(n, dtype=np.int64)
    steps = np.zeros(n, dtype=np.int64)
    n_p, n_s, n_t = members_p.shape[1], members_y.shape[1], saves.size - 1
    fixed = (
        ends.size,
        saves.ctypes.data,
        saves.size,
        int(options["first_save"]),
        float(options["rtol"]),
        float(options["atol"]),
    )
    tail = (int(options["max_steps"]), float(options["h0"]), schedule.end, schedule.tiny)

    def block(lo: int, hi: int) -> None:
        library.integrate(
            members_p.ctypes.data + lo * n_p * 8,
            members_y.ctypes.data + lo * n_s * 8,
            hi - lo,
            starts.ctypes.data,
            ends.ctypes.data,
            inputs.ctypes.data,
            *fixed,
            *tail,
            out.ctypes.data + lo * n_t * n_s * 8,
            status.ctypes.data + lo * 8,
            steps.ctypes.data + lo * 8,
        )

    compiled_solver._run_blocks(block, n, options.get("threads"))
    return status, steps


def observe_members(
    m: CompiledModel,
    lu: SparseLU,
    p: Array,
    states: Array,
    u_at: Array,
    *,
    threads: int | None = None,
) -> Array:
    """:func:`compiled_solver.observe_members`, in lanes when the setting chooses C."""
    library = _chosen(m, lu)
    if library is None:
        return compiled_solver.observe_members(m, lu, p, states, u_at, threads=threads)
    members_p, values, inputs = compiled_solver.observation_arrays(p, states, u_at)
    n, n_t = values.shape[0], values.shape[1]
    if inputs.shape[1] == 0:
        inputs = np.zeros((n_t, 1))
    n_o, n_p, n_s = len(m.observable_ids), members_p.shape[1], values.shape[2]
    out = np.empty((n, n_t, max(1, n_o)))

    def block(lo: int, hi: int) -> None:
        library.observe(
            members_p.ctypes.data + lo * n_p * 8,
            values.ctypes.data + lo * n_t * n_s * 8,
            hi - lo,
            n_t,
            inputs.ctypes.data,
            out.ctypes.data + lo * n_t * out.shape[2] * 8,
        )

    compiled_solver._run_blocks(block, n, threads)
    return out[:, :, :n_o]
