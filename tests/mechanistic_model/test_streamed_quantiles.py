"""Streamed quantile bands: within the stated bound of numpy's exact quantiles, never outside
the members' observed range, whatever the order of the members."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hostcap.mechanistic_model import (
    QuantileBands,
    generate_population,
    protocol_from_yaml,
    simulate_population,
)
from hostcap.mechanistic_model.streamed_quantiles import BINS, StreamedQuantiles

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = protocol_from_yaml(
    (ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml").read_text(encoding="utf-8")
)
QS = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)


def _check(sketch: StreamedQuantiles, values: np.ndarray) -> None:
    got = sketch.quantiles(QS)
    want = np.quantile(values, QS, axis=0)
    bound = sketch.error_bounds()
    low, high = values.min(axis=0), values.max(axis=0)
    assert np.all(np.abs(got - want) <= bound * (1 + 1e-9) + 1e-300)
    assert np.all((got >= low) & (got <= high))
    # The bound itself: under 2 / (BINS - 1) of each cell's observed range (or, for values that
    # agree to 12 digits, the finest width double precision allows).
    finest = 2.0**-49 * np.maximum(np.abs(low), np.abs(high))
    assert np.all(bound <= np.maximum(2.0 * (high - low) / (BINS - 1), finest) + 1e-300)
    assert np.array_equal(got[0], low) and np.array_equal(got[-1], high)


@pytest.mark.parametrize("order", ["random", "ascending", "descending"])
def test_sketch_is_within_one_bin_of_numpys_quantiles_in_any_member_order(order: str) -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    values = np.column_stack(
        [
            np.exp(rng.normal(size=n) * 6.0),  # 10 decades
            rng.normal(size=n),  # crosses zero
            np.where(rng.random(n) < 0.97, 0.0, rng.random(n)),  # mostly one value
            np.full(n, 5.0),  # constant
            1.0 + 1e-13 * rng.normal(size=n),  # spread at the last digits
            np.concatenate([rng.normal(size=n // 2), 1e6 + rng.normal(size=n - n // 2)]),
        ]
    )
    if order == "ascending":
        values = np.sort(values, axis=0)  # the grid has to move for every new maximum
    elif order == "descending":
        values = np.sort(values, axis=0)[::-1]
    sketch = StreamedQuantiles(values.shape[1])
    for lo in range(0, n, 1_500):
        sketch.add(values[lo : lo + 1_500])
    assert sketch.n == n
    _check(sketch, values)


def test_a_constant_cell_is_exact_and_an_empty_sketch_says_nothing() -> None:
    sketch = StreamedQuantiles(2)
    assert np.all(np.isnan(sketch.quantiles([0.5])))
    sketch.add(np.array([[0.0, -3.5]] * 7))
    assert sketch.quantiles([0.05, 0.95]).tolist() == [[0.0, -3.5], [0.0, -3.5]]
    assert sketch.error_bounds().tolist() == [0.0, 0.0]


def test_real_batch_bands_beyond_the_exact_limit_match_numpy_within_their_stated_bound() -> None:
    # Few members held exactly, so the bands stream; butyrate starts near 0 for some members
    # (washed-out producers): the 5 % band must not go below the smallest member.
    pop = generate_population("essay", "A", 1_200, seed=11, chunk_size=400)
    names = ["butyrate", "producers", "symptom_load", "tryptase_serum", "mc_threshold"]
    run = simulate_population(
        pop, PROTOCOL, weeks=6, names=names, keep_members=True, chunk_size=400, exact_limit=300
    )
    assert not run.exact_quantiles and run.members is not None
    method = run.extra["band_method"]
    assert "histogram" in method["method"]
    assert method["relative_error_bound"] <= 1e-3
    for name in names:
        rows = run.members[run.members["name"] == name]
        table = rows.pivot(index="member", columns="time_h", values="value").to_numpy()
        bands = run.bands[run.bands["name"] == name]
        got = bands["value"].to_numpy().reshape(-1, 5).T  # (Q, T)
        want = np.quantile(table, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        scale = table.max() - table.min()
        assert np.max(np.abs(got - want)) <= max(1e-3 * scale, 1e-12), name
        assert np.max(np.abs(got - want)) <= method["per_name"][name]["error_bound"] * 1.000001
        assert np.all(got >= table.min(axis=0)) and np.all(got <= table.max(axis=0)), name


def test_quantile_bands_are_exact_up_to_the_limit_and_say_so() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(500, 3, 2))
    bands = QuantileBands(["a", "b"], np.array([0.0, 1.0, 2.0]), exact_limit=1000)
    bands.add(values[:250])
    bands.add(values[250:])
    assert bands.exact and bands.describe()["relative_error_bound"] == 0.0
    frame = bands.result()
    got = frame[(frame["name"] == "b") & (frame["time_h"] == 2.0)]["value"].to_numpy()
    assert np.allclose(got, np.quantile(values[:, 2, 1], [0.05, 0.25, 0.5, 0.75, 0.95]))


@pytest.mark.slow
def test_n20000_butyrate_5_percent_band_stays_within_the_members_and_the_bound() -> None:
    # Issue 17: at N = 20,000 the old histogram put butyrate's 5 % band at -0.024 while every
    # member is >= 0 (1.5 % of the series' scale).
    pop = generate_population("essay", "A", 20_000, seed=1, chunk_size=2_000)
    names = ["butyrate", "producers"]
    # The default exact limit with all 29 names (about 5,100 members); then the bands stream.
    run = simulate_population(
        pop, PROTOCOL, weeks=16, names=names, keep_members=True, exact_limit=5_000
    )
    assert not run.exact_quantiles and run.members is not None
    for name in names:
        rows = run.members[run.members["name"] == name]
        table = rows.pivot(index="member", columns="time_h", values="value").to_numpy()
        got = run.bands[run.bands["name"] == name]["value"].to_numpy().reshape(-1, 5).T
        want = np.quantile(table, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
        scale = table.max() - table.min()
        assert np.max(np.abs(got - want)) / scale <= 1e-3, name
        assert np.all(got >= table.min(axis=0)), name


def test_counts_and_grids_do_not_depend_on_how_the_members_are_chunked() -> None:
    # One grid move per cell per chunk must end where moving it value by value ends: chunks of
    # one member (a move per value) and one chunk of all members give identical histograms.
    rng = np.random.default_rng(8)
    values = np.column_stack(
        [np.exp(rng.normal(size=600) * 4.0), np.sort(rng.normal(size=600)), rng.normal(size=600)]
    )
    whole, single = StreamedQuantiles(3), StreamedQuantiles(3)
    whole.add(values)
    for row in values:
        single.add(row.reshape(1, -1))
    for name in ("counts", "origin", "width", "low", "high"):
        assert np.array_equal(getattr(whole, name), getattr(single, name)), name
