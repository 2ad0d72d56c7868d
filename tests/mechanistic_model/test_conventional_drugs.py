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
    "intervention",
    [
        "h1_antihistamine",
        "h1_antihistamine_metabolite",
        "h2_antihistamine",
        "leukotriene_antagonist",
    ],
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
    others = [i for i, s in enumerate(drug.state_ids) if s not in ("h1_level", "h1_met_level")]
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


def _half_effect_hour(intervention: str) -> tuple[float, float]:
    """Hours until one dose reaches half its day-1 effect on symptom load, and that effect."""
    save = [h / 20 for h in range(24 * 20 + 1)]
    none = simulate("essay", phenotype="A", weeks=1 / 7, save_at=save)
    drug = simulate("essay", _only(intervention, 1.0), phenotype="A", weeks=1 / 7, save_at=save)
    effect = np.asarray(none["symptom_load"]) - np.asarray(drug["symptom_load"])
    return save[int(np.argmax(effect >= effect[-1] / 2))], float(effect[-1])


def test_loratadine_acting_through_its_metabolite_has_a_later_onset_than_cetirizine() -> None:
    # Day 1998: relief from 1 h with cetirizine, from 3 h with loratadine (desloratadine peaks
    # 1.8-4 h after a dose); both are 1 DDD and block H1 alike once absorbed.
    fast, fast_effect = _half_effect_hour("h1_antihistamine")
    slow, slow_effect = _half_effect_hour("h1_antihistamine_metabolite")
    assert 0.8 <= fast <= 1.3
    assert 2.5 <= slow <= 3.5
    assert slow_effect == pytest.approx(fast_effect, rel=0.05)


def test_the_two_h1_drugs_add_per_ddd_at_steady_state() -> None:
    save = [0.0, 336.0]
    both = protocol_from_mapping(
        {
            "id": "both",
            "phases": [
                {
                    "id": "on",
                    "start_week": 0,
                    "interventions": [
                        {"id": "h1_antihistamine", "dose": 1.0},
                        {"id": "h1_antihistamine_metabolite", "dose": 1.0},
                    ],
                }
            ],
        }
    )
    two = simulate("essay", _only("h1_antihistamine", 2.0), phenotype="A", weeks=2, save_at=save)
    mixed = simulate("essay", both, phenotype="A", weeks=2, save_at=save)
    expected = two.at_week("symptom_load", 2)
    assert mixed.at_week("symptom_load", 2) == pytest.approx(expected, rel=1e-3)
