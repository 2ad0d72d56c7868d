"""Conventional drugs act on their own links: blockers on symptoms, stabilisers on release."""

from __future__ import annotations

import numpy as np
import pytest

from hostcap.mechanistic_model import Protocol, protocol_from_mapping, simulate


def _only(intervention: str, dose: float) -> Protocol:
    return protocol_from_mapping(
        {
            "id": intervention,
            "phases": [
                {
                    "id": "on",
                    "start_week": 0,
                    "interventions": [{"id": intervention, "dose": dose}],
                }
            ],
        }
    )


@pytest.mark.parametrize(
    "intervention", ["h1_antihistamine", "h2_antihistamine", "leukotriene_antagonist"]
)
def test_mediator_blockers_ease_symptoms_without_touching_release_or_tryptase(
    intervention: str,
) -> None:
    save = [0.0, 168.0]
    none = simulate("essay", phenotype="A", weeks=1, save_at=save)
    drug = simulate("essay", _only(intervention, 1.0), phenotype="A", weeks=1, save_at=save)
    assert drug.at_week("symptom_load", 1) < none.at_week("symptom_load", 1) - 0.2
    # Blockers act after release: degranulation, tryptase and every state but the drug's own
    # absorbed level (h1_level: the oral H1 blocker at its receptors) are unchanged.
    others = [i for i, s in enumerate(drug.state_ids) if s != "h1_level"]
    np.testing.assert_allclose(drug.states[:, others], none.states[:, others], rtol=1e-9)
    np.testing.assert_allclose(drug["degranulation"], none["degranulation"], rtol=1e-9)


def test_a_stabiliser_raises_the_effective_threshold_and_lowers_tryptase() -> None:
    save = [0.0, 168.0]
    none = simulate("essay", phenotype="A", weeks=1, save_at=save)
    drug = simulate(
        "essay", _only("mast_cell_stabiliser", 1.0), phenotype="A", weeks=1, save_at=save
    )
    assert drug.at_week("threshold_eff", 0) > 1.2 * none.at_week("threshold_eff", 0)
    assert drug.at_week("degranulation", 1) < 0.7 * none.at_week("degranulation", 1)
    assert drug.at_week("tryptase_serum", 1) < none.at_week("tryptase_serum", 1)
    assert drug.at_week("food_tolerance", 1) > none.at_week("food_tolerance", 1)
    # The stabiliser does not change the mast cells' own (epigenetic) threshold.
    assert drug.at_week("mc_threshold", 1) == pytest.approx(none.at_week("mc_threshold", 1))
