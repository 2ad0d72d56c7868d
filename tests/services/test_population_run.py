"""``run_population``: streamed end to end, honest about large requests, no partial files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pa_csv
import pytest

from hostcap.errors import InputError, ValidationError
from hostcap.mechanistic_model import compile_model, generate_population, stream_cohort
from hostcap.services.modelling_scale import (
    CONFIRM_ABOVE_S,
    MAX_WEEKS,
    estimate_population,
    run_population,
)


def _run(tmp_path: Path, **options: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "variant": "essay",
        "phenotype": "A",
        "n": 7,
        "seed": 2,
        "weeks": 2.0,
        "out": tmp_path / "pop.parquet",
        "chunk_size": 3,
    }
    settings.update(options)
    return run_population(**settings)  # type: ignore[arg-type]


def test_streamed_cohort_is_the_generated_cohort_chunk_by_chunk() -> None:
    whole = generate_population("essay", "A", 11, seed=5, chunk_size=4)
    stream = stream_cohort("essay", "A", 11, seed=5, chunk_size=4)
    chunks = list(stream.chunks())
    assert [c.n for c in chunks] == [4, 4, 3]
    assert [c.first_member for c in chunks] == [0, 4, 8]
    assert np.array_equal(np.concatenate([c.parameters for c in chunks], axis=1), whole.parameters)
    assert np.array_equal(
        np.concatenate([c.initial_states for c in chunks], axis=1), whole.initial_states
    )
    assert stream.n_drawn == whole.n_drawn


def test_params_out_streams_to_parquet_or_csv_with_every_double_exact(tmp_path: Path) -> None:
    summary = _run(
        tmp_path, params_out=tmp_path / "params.parquet", full=True, out=tmp_path / "a.parquet"
    )
    table = pd.read_parquet(tmp_path / "params.parquet")
    _run(tmp_path, params_out=tmp_path / "params.csv", out=tmp_path / "b.parquet")
    text = pa_csv.read_csv(tmp_path / "params.csv").to_pandas()
    assert summary["members"] == 7 and len(table) == 7
    assert table["member"].tolist() == list(range(7))
    # (a column of whole numbers reads back as integers from CSV: same values)
    pd.testing.assert_frame_equal(table, text, check_exact=True, check_dtype=False)
    m = compile_model("essay")
    assert list(table.columns) == ["member", *m.parameter_ids, *m.state_ids]
    whole = generate_population("essay", "A", 7, seed=2, chunk_size=3)
    assert np.array_equal(table[list(m.parameter_ids)].to_numpy().T, whole.parameters)
    members = pd.read_parquet(tmp_path / "a-members.parquet")
    assert sorted(members["member"].unique()) == list(range(7))
    # The same bands with or without --full and --params-out.
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    )


def test_summary_states_the_band_method_and_its_error_bound(tmp_path: Path) -> None:
    summary = _run(tmp_path)
    assert summary["exact_quantiles"] is True
    bands = summary["bands"]
    assert isinstance(bands, dict) and bands["method"].startswith("exact")
    assert bands["relative_error_bound"] == 0.0


def test_an_interrupted_run_leaves_no_output_file(tmp_path: Path) -> None:
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, params_out=tmp_path / "params.csv", full=True, progress=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_limits_on_weeks_grid_and_chunk_size_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="--weeks"):
        _run(tmp_path, weeks=MAX_WEEKS + 1)
    with pytest.raises(ValidationError, match="--chunk-size"):
        _run(tmp_path, chunk_size=10**6)
    assert list(tmp_path.iterdir()) == []


def test_a_run_estimated_over_ten_minutes_needs_confirmation(tmp_path: Path) -> None:
    n = 10**8
    estimate = estimate_population(variant="essay", n=n, weeks=16.0)
    assert estimate["seconds"] > CONFIRM_ABOVE_S
    with pytest.raises(InputError, match="--yes") as refused:
        _run(tmp_path, n=n, weeks=16.0)
    assert f"{n:,} members" in str(refused.value) and "peak memory" in str(refused.value)
    assert list(tmp_path.iterdir()) == []
    small = estimate_population(variant="essay", n=1_000, weeks=16.0)
    assert small["seconds"] < CONFIRM_ABOVE_S
    # Memory does not grow with the members asked for.
    assert (
        estimate["peak_memory_mb"]
        == estimate_population(variant="essay", n=10**6, weeks=16.0)["peak_memory_mb"]
    )
