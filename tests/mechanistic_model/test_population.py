"""Virtual populations: seeded draws within ranges, acceptance, streamed quantile bands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model import (
    AcceptanceRule,
    QuantileBands,
    compile_model,
    generate_population,
    protocol_from_yaml,
    sample_parameters,
    simulate,
    simulate_population,
    simulate_stream,
    stream_cohort,
)

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = protocol_from_yaml(
    (ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml").read_text(encoding="utf-8")
)


def test_draws_stay_in_the_plausible_ranges_and_centre_on_the_preset() -> None:
    m = compile_model("essay")
    draws = sample_parameters(m, "A", 4000, np.random.default_rng(5))
    for spec in m.definition.parameters:
        row = draws[m.parameter_ids.index(spec.id)]
        assert np.all(row >= min(spec.range[0], row[0])) and np.all(
            row <= max(spec.range[1], row[0])
        )
    d_prod = draws[m.parameter_ids.index("d_prod")]
    # Phenotype A raises producer loss to 0.0075; the log-normal median sits there.
    assert abs(np.median(d_prod) / 0.0075 - 1) < 0.05
    # Parameters whose range includes 0 stay at the preset value.
    assert np.all(draws[m.parameter_ids.index("infl_extra")] == 0.0)


def test_correlations_enter_through_the_copula() -> None:
    m = compile_model("essay")
    draws = sample_parameters(
        m,
        "A",
        3000,
        np.random.default_rng(2),
        spread=0.3,
        vary=["d_prod", "barrier_insult"],
        correlations={("d_prod", "barrier_insult"): 0.8},
    )
    a = np.log(draws[m.parameter_ids.index("d_prod")])
    b = np.log(draws[m.parameter_ids.index("barrier_insult")])
    assert np.corrcoef(a, b)[0, 1] > 0.7
    with pytest.raises(ValidationError, match="positive-definite"):
        sample_parameters(
            m,
            "A",
            5,
            np.random.default_rng(2),
            vary=["d_prod", "k_thr"],
            correlations={("d_prod", "k_thr"): 1.5},
        )


def test_same_seed_same_cohort_and_every_member_passes_acceptance() -> None:
    rules = (AcceptanceRule("symptom_load", 4.0, 10.0), AcceptanceRule("tryptase_serum", 2.0, 25.0))
    one = generate_population("essay", "A", 12, seed=7, chunk_size=16, acceptance=rules)
    two = generate_population("essay", "A", 12, seed=7, chunk_size=16, acceptance=rules)
    other = generate_population("essay", "A", 12, seed=8, chunk_size=16, acceptance=rules)
    assert np.array_equal(one.parameters, two.parameters)
    assert not np.array_equal(one.parameters, other.parameters)
    assert one.n == 12 and one.n_drawn >= 12
    m = compile_model("essay")
    # Each member's initial state is its own steady state: simulate() from its parameters agrees.
    for i in (0, 5):
        params = dict(zip(m.parameter_ids, one.parameters[:, i], strict=True))
        traj = simulate(m, phenotype="A", weeks=0.0, parameters=params)
        assert np.allclose(traj.states[0], one.initial_states[:, i], rtol=1e-6)
        assert 4.0 <= traj["symptom_load"][0] <= 10.0
        assert 2.0 <= traj["tryptase_serum"][0] <= 25.0


def test_impossible_acceptance_says_what_failed() -> None:
    rules = (AcceptanceRule("symptom_load", 11.0, 12.0),)
    with pytest.raises(ValidationError, match="symptom_load in \\[11, 12\\]"):
        generate_population("essay", "A", 3, seed=1, chunk_size=8, max_draws=16, acceptance=rules)
    with pytest.raises(UnknownIdError, match="no_such_observable"):
        generate_population("essay", "A", 3, acceptance=(AcceptanceRule("no_such_observable"),))


def test_population_bands_are_the_quantiles_of_the_members() -> None:
    pop = generate_population("essay", "A", 9, seed=3, chunk_size=8)
    run = simulate_population(
        pop,
        PROTOCOL,
        weeks=3,
        names=["symptom_load", "producers"],
        keep_members=True,
        chunk_size=4,
        summary_weeks=[3.0],
    )
    assert run.status_counts() == {"success": 9}
    assert run.members is not None and run.summaries is not None
    members = run.members[run.members["name"] == "symptom_load"]
    last = members[members["time_h"] == 504.0]["value"].to_numpy()
    bands = run.bands[(run.bands["name"] == "symptom_load") & (run.bands["time_h"] == 504.0)]
    assert np.allclose(bands["value"].to_numpy(), np.quantile(last, [0.05, 0.25, 0.5, 0.75, 0.95]))
    assert np.allclose(np.sort(run.summaries["symptom_load"].to_numpy()), np.sort(last))
    assert set(run.bands.columns) == {"time_h", "name", "quantile", "value"}


def test_histogram_quantiles_beyond_the_exact_limit_stay_close() -> None:
    rng = np.random.default_rng(0)
    values = np.exp(rng.normal(size=(6000, 2, 1)))
    values[:, 1, 0] = rng.normal(size=6000)  # crosses zero: linear bins
    bands = QuantileBands(["x"], np.array([0.0, 1.0]), exact_limit=1000)
    for k in range(6):
        bands.add(values[k * 1000 : (k + 1) * 1000])
    assert not bands.exact
    frame = bands.result()
    for t in (0, 1):
        got = frame[frame["time_h"] == float(t)]["value"].to_numpy()
        want = np.quantile(values[:, t, 0], [0.05, 0.25, 0.5, 0.75, 0.95])
        assert np.allclose(got, want, rtol=5e-3, atol=5e-3)


def test_a_cohort_stream_too_few_pass_raises_from_the_streamed_simulation() -> None:
    rules = (AcceptanceRule("symptom_load", 50.0, 60.0),)  # no candidate passes
    stream = stream_cohort("essay", "A", 5, seed=1, chunk_size=8, max_draws=16, acceptance=rules)
    with pytest.raises(ValidationError, match="only 0 did"):
        simulate_stream(stream, PROTOCOL, weeks=1, chunk_size=4)
    assert stream.n_drawn == 16


def test_streamed_simulation_equals_the_materialised_one() -> None:
    pop = generate_population("essay", "A", 10, seed=3, chunk_size=4)
    whole = simulate_population(pop, PROTOCOL, weeks=2, chunk_size=4, exact_limit=3)
    stream = stream_cohort("essay", "A", 10, seed=3, chunk_size=4)
    streamed = simulate_stream(stream, PROTOCOL, weeks=2, chunk_size=4, exact_limit=3)
    pd.testing.assert_frame_equal(whole.bands, streamed.bands)
    assert streamed.status == whole.status_counts() == {"success": 10}
    assert not streamed.exact_quantiles
