"""The C lane integrator: the numba loop's method, members in SIMD lanes.

The numba-compiled loop (:func:`compiled_solver.integrate_members`, itself tested against the
loop run by Python) is the reference: the C backend must give the same statuses and step counts
and the same states to rounding, whatever lane, block or thread a member lands in.
"""

from __future__ import annotations

import ast
import logging
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
    lane_solver,
    protocol_from_yaml,
    rosenbrock_loop,
    simulate_batch,
)
from hostcap.mechanistic_model.batch_simulation import _lu, _schedule

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = protocol_from_yaml(
    (ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml").read_text(encoding="utf-8")
)
VARIANTS = ["essay", "biochemical", "butyrate_direct", "null"]
LANES = lane_solver.LANES


@pytest.fixture(autouse=True)
def _c_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C backend on (a test that wants another sets the variable again)."""
    monkeypatch.setenv("HOSTCAP_SOLVER_BACKEND", "c")


def _members(m: CompiledModel, n: int, spread: float, seed: int) -> tuple[Any, Any]:
    """``(P, N)`` parameters and ``(S, N)`` start states of ``n`` perturbed members."""
    rng = np.random.default_rng(seed)
    base = m.parameter_vector("A")
    sets = base * np.exp(rng.uniform(-spread, spread, (n, base.size)))
    start = np.array(initial_state(m, "A"))
    y0 = start * rng.uniform(0.9, 1.1, (n, start.size))
    return sets.T.copy(), y0.T.copy()


def _run(
    integrate: Any,
    m: CompiledModel,
    p: Any,
    y0: Any,
    *,
    weeks: float = 3.0,
    rtol: float = 1e-8,
    max_steps: int = 100_000,
    threads: int = 1,
) -> tuple[Any, Any, Any]:
    """States, status codes and steps of members integrated by ``integrate``."""
    times = np.arange(0.0, weeks * 168.0 + 1e-9, 24.0)
    schedule = _schedule(m, PROTOCOL, weeks * 168.0, times)
    out, first_save = schedule.start_output(y0)
    status, steps = integrate(
        m,
        _lu(m),
        p,
        y0,
        schedule,
        out=out,
        first_save=first_save,
        rtol=rtol,
        atol=1e-9,
        max_steps=max_steps,
        h0=1e-2,
        threads=threads,
    )
    return out, status, steps


@pytest.mark.parametrize("variant", VARIANTS)
def test_lanes_agree_with_the_numba_loop_to_1e_9_at_rtol_1e_8(variant: str) -> None:
    m = compile_model(variant)
    assert lane_solver.lane_library(m, _lu(m)) is not None
    p, y0 = _members(m, 2 * LANES + 1, 0.15, seed=3)
    # Three weeks cross the week-2 phase boundary of the protocol.
    c = _run(lane_solver.integrate_members, m, p, y0)
    ref = _run(compiled_solver.integrate_members, m, p, y0)
    assert c[1].tolist() == ref[1].tolist() == [rosenbrock_loop.STATUS_SUCCESS] * p.shape[1]
    assert c[2].tolist() == ref[2].tolist()
    assert np.all(np.isfinite(c[0]))
    assert np.allclose(c[0], ref[0], rtol=1e-9, atol=1e-15)


def test_lanes_agree_with_the_numba_loop_at_the_benchmark_tolerance() -> None:
    m = compile_model("essay")
    p, y0 = _members(m, 3 * LANES - 1, 0.2, seed=4)
    c = _run(lane_solver.integrate_members, m, p, y0, weeks=6.0, rtol=1e-6)
    ref = _run(compiled_solver.integrate_members, m, p, y0, weeks=6.0, rtol=1e-6)
    assert c[1].tolist() == ref[1].tolist()
    # Same steps, rounding apart: far inside the tolerance.
    assert np.allclose(c[0], ref[0], rtol=1e-7, atol=1e-12)


def test_observables_in_lanes_agree_with_the_numba_kernels() -> None:
    m = compile_model("essay")
    p, y0 = _members(m, LANES + 3, 0.15, seed=5)
    states = _run(lane_solver.integrate_members, m, p, y0)[0]
    u_at = np.random.default_rng(1).uniform(0.0, 1.0, (len(m.input_ids), states.shape[1]))
    c = lane_solver.observe_members(m, _lu(m), p, states, u_at)
    ref = compiled_solver.observe_members(m, _lu(m), p, states, u_at)
    assert c.shape == ref.shape == (p.shape[1], states.shape[1], len(m.observable_ids))
    assert np.allclose(c, ref, rtol=1e-12, atol=1e-300)


def test_a_non_finite_start_fails_that_member_only_and_max_steps_stops_each_member() -> None:
    m = compile_model("essay")
    p, y0 = _members(m, LANES + 2, 0.1, seed=6)
    y0[3, 1] = np.inf
    y0[0, 4] = np.nan
    states, status, _ = _run(lane_solver.integrate_members, m, p, y0, weeks=1.0)
    expected = [rosenbrock_loop.STATUS_SUCCESS] * p.shape[1]
    expected[1] = expected[4] = rosenbrock_loop.STATUS_FAILURE
    assert status.tolist() == expected
    assert np.all(np.isnan(states[[1, 4]]))
    assert np.all(np.isfinite(np.delete(states, [1, 4], axis=0)))
    _, status, steps = _run(lane_solver.integrate_members, m, p, y0, weeks=1.0, max_steps=7)
    assert status[[0, 2, 3, 5]].tolist() == [rosenbrock_loop.STATUS_MAX_STEPS] * 4
    assert steps[[0, 2, 3, 5]].tolist() == [7] * 4
    ref_status = _run(compiled_solver.integrate_members, m, p, y0, weeks=1.0, max_steps=7)[1]
    assert status.tolist() == ref_status.tolist()


def test_a_member_gets_the_same_numbers_in_any_lane_beside_any_members() -> None:
    m = compile_model("essay")
    # Wide spread: step counts differ a lot, so lanes are refilled at different times.
    p, y0 = _members(m, 2 * LANES + 3, 0.6, seed=7)
    y0[2, 5] = np.nan
    states, status, steps = _run(lane_solver.integrate_members, m, p, y0)
    finished = steps[status == rosenbrock_loop.STATUS_SUCCESS]
    assert finished.max() > 1.3 * finished.min()
    order = np.random.default_rng(2).permutation(p.shape[1])
    shuffled = _run(lane_solver.integrate_members, m, p[:, order], y0[:, order])
    assert np.array_equal(shuffled[0], states[order], equal_nan=True)
    assert shuffled[2].tolist() == steps[order].tolist()
    for i in (0, 5, p.shape[1] - 1):
        alone = _run(lane_solver.integrate_members, m, p[:, i : i + 1], y0[:, i : i + 1])
        assert np.array_equal(alone[0][0], states[i], equal_nan=True)
        assert alone[1].tolist() == [status[i]] and alone[2].tolist() == [steps[i]]


def test_how_members_are_split_over_threads_never_changes_a_lane_result() -> None:
    m = compile_model("essay")
    p, y0 = _members(m, 41, 0.3, seed=8)
    one = _run(lane_solver.integrate_members, m, p, y0, threads=1)
    three = _run(lane_solver.integrate_members, m, p, y0, threads=3)
    assert np.array_equal(one[0], three[0], equal_nan=True)
    assert one[2].tolist() == three[2].tolist()


def test_simulate_batch_uses_the_backend_the_setting_names(monkeypatch: pytest.MonkeyPatch) -> None:
    m = compile_model("essay")
    sets = _members(m, 5, 0.2, seed=9)[0].T
    runs = {}
    for backend in ("c", "numba", "auto"):
        monkeypatch.setenv("HOSTCAP_SOLVER_BACKEND", backend)
        runs[backend] = simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=3, rtol=1e-8)
    # A member without a pre-treatment steady state is NaN under every backend alike.
    assert (
        runs["auto"].status.tolist() == runs["c"].status.tolist() == runs["numba"].status.tolist()
    )
    assert np.array_equal(runs["auto"].states, runs["c"].states, equal_nan=True)
    assert not np.array_equal(runs["numba"].states, runs["c"].states, equal_nan=True)  # rounding
    assert np.allclose(
        runs["numba"].states, runs["c"].states, rtol=1e-9, atol=1e-15, equal_nan=True
    )
    assert runs["numba"].steps.tolist() == runs["c"].steps.tolist()
    monkeypatch.setenv("HOSTCAP_SOLVER_BACKEND", "fortran")
    with pytest.raises(ValidationError, match=r"HOSTCAP_SOLVER_BACKEND.*fortran.*auto, c, numba"):
        simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=1)


def test_without_a_working_compiler_auto_falls_back_to_numba_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = compile_model("null")
    lu = _lu(m)
    sets = _members(m, 3, 0.2, seed=10)[0].T
    monkeypatch.setenv("HOSTCAP_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(lane_solver, "_by_identity", {})
    monkeypatch.setattr(lane_solver, "_libraries", {})
    monkeypatch.setattr(lane_solver, "FLAGS", (*lane_solver.FLAGS, "--no-such-compiler-flag"))
    monkeypatch.setenv("HOSTCAP_SOLVER_BACKEND", "auto")
    with caplog.at_level(logging.WARNING, logger="hostcap.mechanistic_model.lane_solver"):
        fallback = simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=1)
    assert [r.getMessage() for r in caplog.records if "did not build" in r.getMessage()]
    assert not list(tmp_path.glob("hostcap_lanes_*.so"))
    monkeypatch.setenv("HOSTCAP_SOLVER_BACKEND", "numba")
    numba = simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=1)
    assert np.array_equal(fallback.states, numba.states)
    monkeypatch.setenv("HOSTCAP_SOLVER_BACKEND", "c")
    with pytest.raises(ValidationError, match=r"HOSTCAP_SOLVER_BACKEND.*C compiler"):
        simulate_batch(m, PROTOCOL, sets, phenotype="A", weeks=1)
    assert lane_solver.lane_library(m, lu) is None


def test_the_library_is_cached_under_the_hash_of_its_source_flags_and_compiler(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    m = compile_model("null")
    lu = _lu(m)
    monkeypatch.setenv("HOSTCAP_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(lane_solver, "_by_identity", {})
    monkeypatch.setattr(lane_solver, "_libraries", {})
    assert lane_solver.lane_library(m, lu) is not None
    (built,) = tmp_path.glob("hostcap_lanes_*.so")
    (source,) = tmp_path.glob("hostcap_lanes_*.c")
    assert source.read_text(encoding="utf-8") == lane_solver.lane_source(m, lu)
    assert source.stem == built.stem
    stamp = built.stat().st_mtime_ns
    # A new process (fresh in-memory tables) loads the same file without compiling again.
    monkeypatch.setattr(lane_solver, "_by_identity", {})
    monkeypatch.setattr(lane_solver, "_libraries", {})
    assert lane_solver.lane_library(m, lu) is not None
    assert built.stat().st_mtime_ns == stamp
    assert len(list(tmp_path.glob("hostcap_lanes_*.so"))) == 1


def test_kernel_statements_outside_the_known_subset_are_refused_not_mistranslated() -> None:
    text = lane_solver.lane_source(compile_model("essay"), _lu(compile_model("essay")))
    assert "_ZGV" not in text and "#pragma omp simd" in text
    assert "v_out[0 * L + lane_]" in text
    with pytest.raises(ValueError, match="exp"):
        lane_solver._lane_function(
            _parse("def rhs_into(y, p, u, k, out):\n    out[0] = exp(y[0])\n"), "rhs_l"
        )


def _parse(source: str) -> ast.FunctionDef:
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef)
    return node


def test_an_unwritable_cache_folder_builds_in_a_private_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    m = compile_model("null")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("HOSTCAP_KERNEL_CACHE", str(blocker / "kernels"))
    monkeypatch.setattr(lane_solver, "_by_identity", {})
    monkeypatch.setattr(lane_solver, "_libraries", {})
    library = lane_solver.lane_library(m, _lu(m))
    assert library is not None
    assert library.path.parent != blocker / "kernels" and library.path.exists()
    p, y0 = _members(m, 3, 0.1, seed=12)
    c = _run(lane_solver.integrate_members, m, p, y0, weeks=1.0)
    assert c[1].tolist() == [rosenbrock_loop.STATUS_SUCCESS] * 3
