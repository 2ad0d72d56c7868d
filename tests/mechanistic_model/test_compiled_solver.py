"""The numba batch backend: same kernels, same method, same numbers as the numpy backend."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from hostcap.errors import ValidationError
from hostcap.mechanistic_model import (
    compile_model,
    initial_state,
    protocol_from_yaml,
    simulate_batch,
)
from hostcap.mechanistic_model.batch_simulation import _lu
from hostcap.mechanistic_model.compiled_solver import (
    kernel_cache_dir,
    kernel_compile,
    kernel_source,
    resolve_backend,
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


@pytest.mark.parametrize("variant", VARIANTS)
def test_numba_and_numpy_backends_give_the_same_members_statuses_and_steps(variant: str) -> None:
    m = compile_model(variant)
    rng = np.random.default_rng(5)
    base = m.parameter_vector("A")
    sets = base * np.exp(rng.uniform(-0.15, 0.15, (6, base.size)))
    runs = {
        backend: simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=8, backend=backend)
        for backend in ("numba", "numpy")
    }
    a, b = runs["numba"], runs["numpy"]
    assert a.status.tolist() == b.status.tolist()
    assert a.steps.tolist() == b.steps.tolist()
    # Rounding differs (fused kernels, FMA), nothing else: agreement far below the solver's
    # absolute tolerance (1e-9); washed-out states near 1e-55 carry no significant digits.
    assert np.allclose(a.states, b.states, rtol=1e-11, atol=1e-15, equal_nan=True)
    assert np.allclose(a.observables, b.observables, rtol=1e-11, atol=1e-15, equal_nan=True)
    assert np.allclose(a.initial_states, b.initial_states, rtol=1e-11, atol=1e-15)


def test_failing_and_exhausted_members_get_the_same_status_from_both_backends() -> None:
    m = compile_model("essay")
    start = np.array(initial_state(m, "A"))
    broken = start.copy()
    broken[3] = np.inf
    y0 = np.vstack([start, broken, start])
    sets = np.vstack([m.parameter_vector("A")] * 3)
    for backend in ("numba", "numpy"):
        batch = simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=2, y0=y0, backend=backend)
        assert batch.status.tolist() == ["success", "failure", "success"]
        assert np.all(np.isnan(batch.states[1])) and np.all(np.isnan(batch.observables[1]))
        short = simulate_batch(
            m, PROTOCOL, sets[:1], phenotype="A", max_steps=5, y0=y0[:1], backend=backend
        )
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
        results.append(simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=4, backend="numba"))
    assert np.array_equal(results[0].states, results[1].states, equal_nan=True)
    assert results[0].steps.tolist() == results[1].steps.tolist()


def test_backend_and_thread_settings_are_validated_by_name_and_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match=r"batch solver.*fortran.*auto, numba, numpy"):
        resolve_backend("fortran")
    monkeypatch.setenv("HOSTCAP_BATCH_SOLVER", "numpy")
    assert resolve_backend(None) == "numpy"
    assert resolve_backend("numba") == "numba"
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
    # The model's own generated statements are in it, not a hand-written copy.
    undecorated = text.replace("@_jit\n", "")
    assert m.scalar_source in undecorated
    assert lu.source in undecorated
