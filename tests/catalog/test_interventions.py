"""Interventions: the ids, units and model inputs other packages depend on."""

from __future__ import annotations

import pytest

from hostcap.catalog import DrugClass, InterventionKind, get_intervention, interventions
from hostcap.catalog.interventions import DOSE_UNITS, MODEL_INPUTS
from hostcap.citations import require_citations
from hostcap.errors import UnknownIdError

# The contract table from the issue: id, kind, dose unit, typical range, model input.
CONTRACT = [
    ("nicotinamide_riboside", "supplement", "mg/d", 100, 1000, "nad_precursor"),
    ("nicotinamide_mononucleotide", "supplement", "mg/d", 250, 1000, "nad_precursor"),
    ("fermentable_fibre", "diet", "g/d", 5, 30, "fibre_substrate"),
    ("resistant_starch", "diet", "g/d", 5, 30, "resistant_starch_substrate"),
    ("prebiotic", "supplement", "g/d", 2.5, 10, "fibre_substrate"),
    ("butyrate_producer_probiotic", "probiotic", "CFU/d", 1e9, 1e11, "producer_inoculum"),
    ("zinc_carnosine", "supplement", "mg/d", 75, 150, "barrier_repair"),
    ("colostrum", "supplement", "g/d", 10, 20, "barrier_repair"),
    ("calcium_alpha_ketoglutarate", "supplement", "g/d", 1, 3, "akg_input"),
    ("h1_antihistamine", "conventional_drug", "DDD/d", 1, 4, "h1_block"),
    ("h1_antihistamine_metabolite", "conventional_drug", "DDD/d", 1, 4, "h1_block_metabolite"),
    ("h2_antihistamine", "conventional_drug", "DDD/d", 1, 2, "h2_block"),
    ("mast_cell_stabiliser", "conventional_drug", "DDD/d", 1, 2, "stabiliser"),
    ("leukotriene_antagonist", "conventional_drug", "DDD/d", 1, 1, "lt_block"),
    ("antibiotic_course", "antibiotic", "course_days", 5, 14, "antibiotic_pulse"),
]


def test_the_catalog_matches_the_agreed_contract_exactly() -> None:
    got = [
        (v.id, str(v.kind), v.dose_unit, v.typical_min, v.typical_max, v.model_input)
        for v in interventions().values()
    ]
    assert got == CONTRACT


def test_every_dose_unit_fits_its_kind_and_every_range_is_ordered() -> None:
    for v in interventions().values():
        assert v.kind in DOSE_UNITS[v.dose_unit]
        assert 0 < v.typical_min <= v.typical_max
        assert v.model_input in MODEL_INPUTS
        assert require_citations(v.citation_keys()) == []
        assert v.evidence_note


def test_prescription_decisions_are_exactly_the_drugs_and_antibiotics() -> None:
    prescription = {v.id for v in interventions().values() if v.prescription}
    assert prescription == {
        "h1_antihistamine",
        "h1_antihistamine_metabolite",
        "h2_antihistamine",
        "mast_cell_stabiliser",
        "leukotriene_antagonist",
        "antibiotic_course",
    }
    assert all(
        v.kind in (InterventionKind.CONVENTIONAL_DRUG, InterventionKind.ANTIBIOTIC)
        for v in interventions().values()
        if v.prescription
    )


def test_conventional_drug_interventions_name_their_drug_class() -> None:
    assert get_intervention("h1_antihistamine").drug_class == DrugClass.H1_ANTIHISTAMINE
    assert get_intervention("leukotriene_antagonist").drug_class == (
        DrugClass.LEUKOTRIENE_ANTAGONIST
    )
    assert get_intervention("zinc_carnosine").drug_class is None


def test_the_essay_s_speculative_links_are_graded_as_such() -> None:
    assert get_intervention("butyrate_producer_probiotic").evidence_grade == "S"
    assert get_intervention("nicotinamide_riboside").evidence_grade == "E"


def test_an_unknown_intervention_is_named() -> None:
    assert get_intervention("Colostrum").id == "colostrum"
    with pytest.raises(UnknownIdError, match="unknown intervention 'quercetin'"):
        get_intervention("quercetin")
