"""simulate_batch: agreement with simulate(), the generated sparse LU, per-member status."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model import (
    SolverStatus,
    compile_model,
    initial_state,
    protocol_from_yaml,
    simulate,
    simulate_batch,
)
from hostcap.mechanistic_model.sparse_lu import plan_sparse_lu

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = protocol_from_yaml(
    (ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("variant", ["essay", "biochemical", "butyrate_direct", "null"])
def test_generated_sparse_lu_solves_like_a_dense_solver(variant: str) -> None:
    m = compile_model(variant)
    rows, cols = m.sparsity
    lu = plan_sparse_lu(len(m.state_ids), rows.tolist(), cols.tolist())
    rng = np.random.default_rng(3)
    n = 4
    values = rng.normal(size=(rows.size, n))
    c = rng.uniform(20.0, 40.0, n)
    work = lu.assemble(c, values)
    rhs = rng.normal(size=(len(m.state_ids), n))
    expected = rhs.copy()
    lu.factor(work)
    lu.solve(work, rhs)
    for k in range(n):
        dense = np.zeros((len(m.state_ids), len(m.state_ids)))
        dense[rows, cols] = values[:, k]
        solved = np.linalg.solve(c[k] * np.eye(len(m.state_ids)) - dense, expected[:, k])
        assert np.allclose(rhs[:, k], solved, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("variant", "sets"),
    [
        ("essay", {"d_prod": [0.0075, 0.009], "k_thr": [0.0015, 0.001]}),
        ("null", {"k_rtm": [0.001, 0.002], "thr_personal": [0.5, 0.7]}),
    ],
)
def test_every_member_agrees_with_simulate_to_1e6_relative(
    variant: str, sets: dict[str, list[float]]
) -> None:
    # Save times off the daily grid and on the week-2 and week-6 phase boundaries.
    save_at = [0.0, 13.7, 336.0, 500.25, 1008.0, 1500.0, 2688.0]
    batch = simulate_batch(
        variant, PROTOCOL, sets, phenotype="A", save_at=save_at, rtol=1e-8, atol=1e-10
    )
    assert list(batch.status) == ["success", "success"]
    for i in range(2):
        ref = simulate(
            variant,
            PROTOCOL,
            phenotype="A",
            save_at=save_at,
            parameters={k: v[i] for k, v in sets.items()},
            rtol=1e-10,
            atol=1e-12,
        )
        for got, want in ((batch.states[i], ref.states), (batch.observables[i], ref.observables)):
            rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-9)
            assert float(np.max(rel)) < 1e-6


def test_default_tolerances_follow_the_protocol_and_save_daily() -> None:
    batch = simulate_batch("essay", PROTOCOL, {"d_prod": [0.0075]}, phenotype="A", weeks=8)
    assert batch.time_h.tolist() == [24.0 * d for d in range(57)]
    ref = simulate("essay", PROTOCOL, phenotype="A", weeks=8, rtol=1e-9, atol=1e-11)
    rel = np.abs(batch["symptom_load"][0] - ref["symptom_load"]) / ref["symptom_load"]
    assert float(np.max(rel)) < 1e-4
    # Fibre, inoculum and barrier support from week 2 raise butyrate producers.
    assert batch["producers"][0, -1] > batch["producers"][0, 0] * 1.05


def test_a_failing_member_keeps_its_status_and_never_loses_the_batch() -> None:
    m = compile_model("essay")
    start = np.array(initial_state(m, "A"))
    broken = start.copy()
    broken[0] = np.nan
    batch = simulate_batch(
        m,
        PROTOCOL,
        np.vstack([m.parameter_vector("A")] * 3),
        phenotype="A",
        weeks=2,
        y0=np.vstack([start, broken, start]),
    )
    assert list(batch.status) == ["success", "failure", "success"]
    assert np.all(np.isnan(batch.states[1]))
    assert np.allclose(batch.states[0], batch.states[2])
    assert batch.status_counts() == {"failure": 1, "success": 2}
    assert SolverStatus(batch.status[1]).message()


def test_too_few_steps_is_reported_per_member() -> None:
    batch = simulate_batch("essay", PROTOCOL, {"d_prod": [0.0075]}, phenotype="A", max_steps=5)
    assert list(batch.status) == ["max_steps"]
    assert np.all(np.isnan(batch.states[0]))


def test_chunks_give_the_same_numbers_as_one_batch() -> None:
    sets = {"d_prod": [0.006, 0.0075, 0.009], "fibre_diet": [8.0, 10.0, 14.0]}
    whole = simulate_batch("essay", PROTOCOL, sets, phenotype="A", weeks=4)
    chunked = simulate_batch("essay", PROTOCOL, sets, phenotype="A", weeks=4, chunk_size=2)
    assert np.allclose(whole.states, chunked.states, rtol=1e-12, atol=0.0)
    assert chunked.member.tolist() == [0, 1, 2]
    frame = chunked.parameters_frame()
    assert frame["fibre_diet"].tolist() == [8.0, 10.0, 14.0]
    assert "producers" in frame.columns


def test_bad_parameter_sets_name_the_field_and_value() -> None:
    with pytest.raises(UnknownIdError, match="k_thr_typo"):
        simulate_batch("essay", None, {"k_thr_typo": [1.0]})
    with pytest.raises(ValidationError, match="d_prod"):
        simulate_batch("essay", None, {"d_prod": [-1.0]})


def test_a_last_save_time_that_weeks_times_168_rounds_below_is_still_saved() -> None:
    # 1380 h / 168 * 168 == 1379.9999999999998: the horizon must still reach the 1380 h save.
    save = [0.0, 10.0, 660.0, 1380.0]
    weeks = save[-1] / 168.0
    assert weeks * 168.0 < save[-1]
    one = simulate("essay", PROTOCOL, phenotype="A", weeks=weeks, save_at=save)
    assert np.all(np.isfinite(one.states))
    batch = simulate_batch(
        "essay", PROTOCOL, {"tryp_basal": [5.0, 6.0]}, phenotype="A", weeks=weeks, save_at=save
    )
    assert list(batch.status) == ["success", "success"]
    assert np.all(np.isfinite(batch.states)) and np.all(np.isfinite(batch.observables))


def test_observables_are_computed_on_first_read_from_the_saved_states() -> None:
    import pickle

    sets = {"d_prod": [0.006, 0.0075, 0.009]}
    batch = simulate_batch("essay", PROTOCOL, sets, phenotype="A", weeks=4, chunk_size=2)
    assert "observables" not in vars(batch)  # nothing computed yet
    m = compile_model("essay")
    first = batch.observables
    assert first.shape == (3, batch.time_h.size, len(m.observable_ids))
    assert batch.observables is first  # computed once
    # The same numbers as the observables of each saved state, member by member.
    whole = simulate_batch("essay", PROTOCOL, sets, phenotype="A", weeks=4)
    assert np.array_equal(whole.observables, first)
    assert np.all(np.isfinite(first))
    # A batch still travels between processes (no closure inside).
    copy = pickle.loads(pickle.dumps(whole))
    assert np.array_equal(copy["symptom_load"], whole["symptom_load"])


def test_save_times_before_the_start_stay_nan_in_the_uninitialised_output() -> None:
    from hostcap.mechanistic_model.batch_simulation import _schedule

    m = compile_model("essay")
    schedule = _schedule(m, PROTOCOL, 48.0, np.array([0.0, 24.0, 48.0]))
    late = type(schedule)(
        schedule.seg_start + 12.0, schedule.seg_end + 12.0, schedule.seg_inputs, schedule.times
    )
    y0 = np.array(initial_state(m, "A")).reshape(-1, 1)
    out, first = late.start_output(y0)
    assert first == 1 and np.all(np.isnan(out[:, 0, :]))
