"""Each competing hypothesis shows its defining difference in behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from hostcap.mechanistic_model import (
    compile_model,
    initial_state,
    protocol_from_mapping,
    simulate,
)

NR = protocol_from_mapping(
    {
        "id": "nr",
        "phases": [
            {
                "id": "nr",
                "start_week": 0,
                "interventions": [{"id": "nicotinamide_riboside", "dose": 1000}],
            }
        ],
    }
)
ANTIBIOTICS = protocol_from_mapping(
    {
        "id": "abx",
        "phases": [
            {
                "id": "abx",
                "start_week": 0,
                "interventions": [{"id": "antibiotic_course", "dose": 7}],
            }
        ],
    }
)


def _state(variant: str, name: str, **parameters: float) -> float:
    m = compile_model(variant)
    return float(initial_state(m, "healthy", parameters or None)[m.state_ids.index(name)])


def test_lower_alpha_kg_erodes_spp1_h3k9me3_in_essay_but_preserves_it_in_biochemical() -> None:
    low = {"v_akg_base": 1.5}  # the low end of the plausible α-KG supply
    assert _state("essay", "akg", **low) < 0.75 * _state("essay", "akg")
    assert _state("biochemical", "akg", **low) < 0.75 * _state("biochemical", "akg")
    # essay: α-KG-dependent writing -> less α-KG, less H3K9me3, more osteopontin.
    assert _state("essay", "k9_spp1", **low) < _state("essay", "k9_spp1") - 0.02
    assert _state("essay", "opn", **low) > _state("essay", "opn")
    # biochemical: α-KG is the KDM4 eraser's cofactor -> less α-KG preserves H3K9me3.
    assert _state("biochemical", "k9_spp1", **low) > _state("biochemical", "k9_spp1") + 0.02
    assert _state("biochemical", "opn", **low) < _state("biochemical", "opn")


def test_dnmt1_maintenance_cannot_rewrite_an_erased_promoter_but_essay_dnmt3a_can() -> None:
    # biochemical: SIRT1 activates DNMT1, which copies existing marks, so an almost
    # unmethylated promoter stays so despite NAD+; the essay's DNMT3A writes de novo.
    rise = {}
    for variant in ("essay", "biochemical"):
        m = compile_model(variant)
        y0 = initial_state(m, "healthy")
        y0[m.state_ids.index("m_inflam")] = 0.05
        traj = simulate(m, NR, phenotype="healthy", weeks=2, save_at=[0.0, 2 * 168.0], y0=y0)
        rise[variant] = traj.at_week("m_inflam", 2) - 0.05
    assert rise["essay"] > 0.25
    assert rise["biochemical"] < 0.4 * rise["essay"]


def test_butyrate_direct_lowers_the_effective_threshold_within_days_of_antibiotics() -> None:
    change = {}
    for variant in ("essay", "butyrate_direct"):
        traj = simulate(variant, ANTIBIOTICS, phenotype="healthy", weeks=1, save_at=[0.0, 7 * 24.0])
        thr = traj["threshold_eff"]
        change[variant] = (thr[1] - thr[0]) / thr[0]
    # Butyrate falls with the producers; through HDAC inhibition the threshold follows in days.
    assert change["butyrate_direct"] < -0.05
    # In the essay's chain the threshold moves over weeks: barely within the course.
    assert abs(change["essay"]) < 0.01


def test_null_model_ignores_upstream_supplements_but_not_conventional_drugs() -> None:
    weeks = 12
    save = [0.0, weeks * 168.0]
    h1 = protocol_from_mapping(
        {
            "id": "h1",
            "phases": [
                {
                    "id": "h1",
                    "start_week": 0,
                    "interventions": [{"id": "h1_antihistamine", "dose": 2}],
                }
            ],
        }
    )
    for phenotype in ("A", "B"):
        none = simulate("null", phenotype=phenotype, weeks=weeks, save_at=save)
        nr = simulate("null", NR, phenotype=phenotype, weeks=weeks, save_at=save)
        drug = simulate("null", h1, phenotype=phenotype, weeks=weeks, save_at=save)
        np.testing.assert_allclose(nr["mc_threshold"], none["mc_threshold"], rtol=1e-9)
        np.testing.assert_allclose(nr["symptom_load"], none["symptom_load"], rtol=1e-6)
        assert drug.at_week("symptom_load", weeks) < none.at_week("symptom_load", weeks) - 0.3
        # Regression to the mean: symptoms ease without any treatment.
        assert none.at_week("symptom_load", weeks) < none.at_week("symptom_load", 0)
    essay_none = simulate("essay", phenotype="B", weeks=weeks, save_at=save)
    essay_nr = simulate("essay", NR, phenotype="B", weeks=weeks, save_at=save)
    assert essay_nr.at_week("symptom_load", weeks) < essay_none.at_week("symptom_load", weeks) - 1
    assert essay_none.at_week("symptom_load", weeks) == pytest.approx(
        essay_none.at_week("symptom_load", 0), rel=1e-6
    )
