"""The compiled batch integrator: the model's kernels and the one loop, compiled per model.

The compiled module is checked against the same loop run by Python on the same kernels
(:func:`python_kernels`), which also gives ``rosenbrock_loop`` its line coverage.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hostcap.errors import ValidationError
from hostcap.mechanistic_model import (
    CompiledModel,
    compile_model,
    compiled_solver,
    initial_state,
    protocol_from_yaml,
    rosenbrock_loop,
    simulate_batch,
)
from hostcap.mechanistic_model.batch_simulation import _lu, _schedule
from hostcap.mechanistic_model.compiled_solver import (
    kernel_cache_dir,
    kernel_compile,
    kernel_source,
    python_kernels,
    require_numba,
    solver_threads,
)

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = protocol_from_yaml(
    (ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml").read_text(encoding="utf-8")
)
VARIANTS = ["essay", "biochemical", "butyrate_direct", "null"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_compiled_kernels_evaluate_the_same_expressions_as_the_vectorised_ones(
    variant: str,
) -> None:
    m = compile_model(variant)
    module = kernel_compile(m, _lu(m))
    rng = np.random.default_rng(11)
    base = np.array(initial_state(m, "A"))
    p = m.parameter_vector("A")
    u = rng.uniform(0.0, 1.0, len(m.input_ids))
    for _ in range(5):
        y = base * rng.uniform(0.5, 1.5, base.size)
        f = np.empty(len(m.state_ids))
        jv = np.empty(m.sparsity[0].size)
        obs = np.empty(len(m.observable_ids))
        k = np.empty(max(1, m.scalar_constants))
        module.consts_into(y, p, u, k)
        module.rhs_into(y, p, u, k, f)
        module.jac_into(y, p, u, k, jv)
        module.obs_into(y, p, u, obs)
        f2, jv2 = np.empty_like(f), np.empty_like(jv)
        module.rhs_jac_into(y, p, u, k, f2, jv2)
        assert np.allclose(f, m.rhs(0.0, y, p, u), rtol=1e-13, atol=1e-300)
        assert np.allclose(jv, m.jacobian_values(0.0, y, p, u), rtol=1e-13, atol=1e-300)
        assert np.allclose(obs, m.observables(0.0, y, p, u), rtol=1e-13, atol=1e-300)
        assert np.allclose(f2, f, rtol=1e-13, atol=1e-300)
        assert np.allclose(jv2, jv, rtol=1e-13, atol=1e-300)


def _run_loop(
    module: Any, m: CompiledModel, sets: np.ndarray, y0: np.ndarray, weeks: float, max_steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Call ``integrate_block`` and ``observe_block`` of ``module`` as the batch solver does."""
    times = np.arange(0.0, weeks * 168.0 + 1e-9, 24.0)
    schedule = _schedule(m, PROTOCOL, weeks * 168.0, times)
    out, first_save = schedule.start_output(y0.T)
    n = sets.shape[0]
    status = np.zeros(n, dtype=np.int64)
    steps = np.zeros(n, dtype=np.int64)
    module.integrate_block(
        np.ascontiguousarray(sets),
        np.ascontiguousarray(y0),
        schedule.seg_start,
        schedule.seg_end,
        np.ascontiguousarray(schedule.seg_inputs.T),
        schedule.times_ext,
        first_save,
        1e-6,
        1e-9,
        max_steps,
        1e-2,
        schedule.end,
        schedule.tiny,
        out,
        status,
        steps,
    )
    obs = np.empty((n, times.size, len(m.observable_ids)))
    u_at = np.ascontiguousarray(schedule.inputs_at_saves().T)
    module.observe_block(np.ascontiguousarray(sets), out, u_at, obs)
    return out, obs, status, steps


@pytest.mark.parametrize("variant", VARIANTS)
def test_compiled_loop_gives_the_members_statuses_and_steps_of_the_loop_run_by_python(
    variant: str,
) -> None:
    m = compile_model(variant)
    lu = _lu(m)
    rng = np.random.default_rng(5)
    base = m.parameter_vector("A")
    sets = base * np.exp(rng.uniform(-0.15, 0.15, (3, base.size)))
    start = np.array(initial_state(m, "A"))
    y0 = np.vstack([start, start * 1.05, start])
    # Three weeks cross the week-2 phase boundary of the protocol.
    compiled = _run_loop(kernel_compile(m, lu), m, sets, y0, 3.0, 100_000)
    python = _run_loop(python_kernels(m, lu), m, sets, y0, 3.0, 100_000)
    assert compiled[2].tolist() == python[2].tolist() == [rosenbrock_loop.STATUS_SUCCESS] * 3
    assert compiled[3].tolist() == python[3].tolist()
    # Rounding differs (fast-math contraction and reassociation in the compiled code), nothing
    # else: agreement far below the solver's absolute tolerance (1e-9).
    assert np.allclose(compiled[0], python[0], rtol=1e-11, atol=1e-15)
    assert np.allclose(compiled[1], python[1], rtol=1e-11, atol=1e-15)


def test_failing_and_exhausted_members_get_the_same_status_compiled_and_run_by_python() -> None:
    m = compile_model("essay")
    lu = _lu(m)
    start = np.array(initial_state(m, "A"))
    broken = start.copy()
    broken[3] = np.inf
    y0 = np.vstack([start, broken, start])
    sets = np.vstack([m.parameter_vector("A")] * 3)
    for module in (kernel_compile(m, lu), python_kernels(m, lu)):
        states, obs, status, _ = _run_loop(module, m, sets, y0, 1.0, 100_000)
        assert status.tolist() == [0, rosenbrock_loop.STATUS_FAILURE, 0]
        assert np.all(np.isnan(states[1])) and np.all(np.isnan(obs[1]))
        assert np.all(np.isfinite(states[0]))
        _, _, status, steps = _run_loop(module, m, sets[:1], y0[:1], 1.0, 5)
        assert status.tolist() == [rosenbrock_loop.STATUS_MAX_STEPS]
        assert steps.tolist() == [5]
    batch = simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=2, y0=y0)
    assert batch.status.tolist() == ["success", "failure", "success"]
    short = simulate_batch(m, PROTOCOL, sets[:1], phenotype="A", max_steps=5, y0=y0[:1])
    assert short.status.tolist() == ["max_steps"]
    assert short.steps.tolist() == [5]


def test_how_members_are_split_over_threads_never_changes_a_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m = compile_model("essay")
    rng = np.random.default_rng(9)
    base = m.parameter_vector("A")
    sets = base * np.exp(rng.uniform(-0.2, 0.2, (40, base.size)))
    results = []
    for threads in ("1", "3"):
        monkeypatch.setenv("HOSTCAP_SOLVER_THREADS", threads)
        results.append(simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=4))
    assert np.array_equal(results[0].states, results[1].states, equal_nan=True)
    assert results[0].steps.tolist() == results[1].steps.tolist()


def test_a_batch_run_without_numba_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compiled_solver, "numba_available", lambda: False)
    with pytest.raises(ValidationError, match=r"batch integrator.*hostcap\[research\]"):
        simulate_batch("essay", PROTOCOL, {"d_prod": [0.0075]}, phenotype="A", weeks=1)


def test_thread_settings_are_validated_by_name_and_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_numba()  # installed here: no error
    monkeypatch.setenv("HOSTCAP_SOLVER_THREADS", "two")
    with pytest.raises(ValidationError, match=r"solver threads.*two.*positive integer"):
        solver_threads()
    with pytest.raises(ValidationError, match="solver threads"):
        solver_threads(0)
    monkeypatch.setenv("HOSTCAP_SOLVER_THREADS", "2")
    assert solver_threads() == 2


def test_the_generated_module_is_kept_in_the_kernel_cache_under_the_hash_of_its_text() -> None:
    m = compile_model("essay")
    lu = _lu(m)
    module = kernel_compile(m, lu)
    text = kernel_source(m, lu)
    path = Path(module.__file__)
    assert path.read_text(encoding="utf-8") == text
    assert hashlib.sha256(text.encode()).hexdigest()[:20] in path.name
    assert path.parent == kernel_cache_dir()
    # The model's own generated statements are in it, and the loop exactly as its module has it.
    undecorated = text.replace("@_jit\n", "")
    assert m.scalar_source in undecorated
    assert lu.source in undecorated
    for fn in rosenbrock_loop.LOOP_FUNCTIONS:
        assert inspect.getsource(fn) in undecorated
    for name in rosenbrock_loop.MODEL_NAMES:
        assert f"\n{name} = " in text or f"\ndef {name}(" in undecorated
