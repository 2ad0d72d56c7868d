"""The expected-trajectory band the decision engine shows: cheap, ordered, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from hostcap.errors import UnknownIdError
from hostcap.mechanistic_model import expected_trajectory_band, protocol_from_mapping, simulate

NR_AND_FIBRE = protocol_from_mapping(
    {
        "id": "nr_fibre",
        "phases": [
            {"id": "baseline", "start_week": 0},
            {
                "id": "treat",
                "start_week": 1,
                "interventions": [
                    {"id": "nicotinamide_riboside", "dose": 500},
                    {"id": "fermentable_fibre", "dose": 15},
                ],
            },
        ],
    }
)


def test_band_is_ordered_weekly_and_brackets_the_preset_under_treatment() -> None:
    band = expected_trajectory_band("A", NR_AND_FIBRE, weeks=8, members=8)
    assert list(band.columns) == ["week", "name", "low", "median", "high"]
    assert set(band["name"]) >= {"symptom_load", "tryptase_serum", "hs_crp"}
    assert sorted(set(band["week"])) == [float(w) for w in range(9)]
    assert np.all(band["low"] <= band["median"]) and np.all(band["median"] <= band["high"])
    symptoms = band[band["name"] == "symptom_load"]
    assert symptoms["median"].iloc[-1] < symptoms["median"].iloc[0] - 1.0
    nominal = simulate("essay", NR_AND_FIBRE, phenotype="A", weeks=8)
    assert symptoms["low"].iloc[-1] <= nominal.at_week("symptom_load", 8)
    assert nominal.at_week("symptom_load", 8) <= symptoms["high"].iloc[-1]


def test_band_is_reproducible_and_each_call_returns_its_own_frame() -> None:
    a = expected_trajectory_band("B", weeks=4, members=6)
    a.loc[:, "low"] = -1.0
    b = expected_trajectory_band("B", weeks=4, members=6)
    assert (b["low"] >= 0).all()
    c = expected_trajectory_band("B", weeks=4, members=6, seed=3)
    assert not np.allclose(b["high"].to_numpy(), c["high"].to_numpy())


def test_band_refuses_unknown_names_and_phenotypes() -> None:
    with pytest.raises(UnknownIdError, match="unobtainium"):
        expected_trajectory_band("A", names=("unobtainium",))
    with pytest.raises(UnknownIdError, match="'Z'"):
        expected_trajectory_band("Z", weeks=2, members=4)
