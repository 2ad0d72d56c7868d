"""Measurements drawn with the observables' noise models, reproducible by seed."""

from __future__ import annotations

import numpy as np
import pytest

from hostcap.errors import UnknownIdError
from hostcap.mechanistic_model import Trajectory, load_definition, sample_observations, simulate
from hostcap.mechanistic_model.observation_sampling import draw_measurement


@pytest.fixture(scope="module")
def trajectory() -> Trajectory:
    return simulate("essay", phenotype="A", weeks=8)


def test_the_same_seed_gives_the_same_draws_and_another_seed_does_not(
    trajectory: Trajectory,
) -> None:
    a = sample_observations(trajectory, seed=7)
    b = sample_observations(trajectory, seed=7)
    c = sample_observations(trajectory, seed=8)
    assert a.equals(b)
    assert not np.allclose(a["value"].to_numpy(), c["value"].to_numpy())
    assert list(a.columns) == ["week", "time_h", "name", "true_value", "value", "unit"]
    assert sorted(set(a["week"])) == [0.0, 4.0, 8.0]


def test_noise_models_have_the_documented_spread() -> None:
    noise = {o.id: o.noise for o in load_definition("essay").observables}
    rng = np.random.default_rng(1)
    truth = np.full(200_000, 2.0)
    crp = draw_measurement(truth, noise["hs_crp"], rng)
    assert crp.mean() == pytest.approx(2.0, rel=0.01)  # unbiased in the mean
    assert crp.std() / crp.mean() == pytest.approx(0.5, rel=0.02)  # ~50 % within-subject CV
    tryptase = draw_measurement(np.full(200_000, 5.0), noise["tryptase_serum"], rng)
    assert tryptase.std() / tryptase.mean() == pytest.approx(0.084, rel=0.02)
    food = draw_measurement(np.full(1000, 0.37), noise["food_tolerance"], rng)
    assert np.allclose(food * 20, np.round(food * 20))  # counts on a 20-food panel
    symptoms = draw_measurement(np.array([0.1, 9.9] * 500), noise["symptom_load"], rng)
    assert symptoms.min() >= 0.0 and symptoms.max() <= 10.0


def test_sampling_an_unknown_observable_names_it(trajectory: Trajectory) -> None:
    with pytest.raises(UnknownIdError, match="serum_unobtainium"):
        sample_observations(trajectory, names=["serum_unobtainium"])
