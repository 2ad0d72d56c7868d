"""Medications: WHO ATC codes and DDDs, and the per-class load derived from them."""

from __future__ import annotations

import pytest

from hostcap.catalog import DrugClass, antihistamine_load, get_medication, medications
from hostcap.citations import require_citations
from hostcap.errors import UnknownIdError, ValidationError


@pytest.mark.parametrize(
    ("drug", "atc", "drug_class", "ddd"),
    [
        ("cetirizine", "R06AE07", DrugClass.H1_ANTIHISTAMINE, 10),
        ("levocetirizine", "R06AE09", DrugClass.H1_ANTIHISTAMINE, 5),
        ("loratadine", "R06AX13", DrugClass.H1_ANTIHISTAMINE, 10),
        ("desloratadine", "R06AX27", DrugClass.H1_ANTIHISTAMINE, 5),
        ("fexofenadine", "R06AX26", DrugClass.H1_ANTIHISTAMINE, 120),
        ("famotidine", "A02BA03", DrugClass.H2_ANTIHISTAMINE, 40),
        ("ketotifen", "R06AX17", DrugClass.MAST_CELL_STABILISER, 2),
        ("cromolyn", "A07EB01", DrugClass.MAST_CELL_STABILISER, 800),
        ("montelukast", "R03DC03", DrugClass.LEUKOTRIENE_ANTAGONIST, 10),
        ("avapritinib", "L01EX18", DrugClass.KIT_INHIBITOR, 200),
    ],
)
def test_required_medications_carry_atc_class_and_ddd(
    drug: str, atc: str, drug_class: DrugClass, ddd: float
) -> None:
    med = get_medication(drug)
    assert (med.atc, med.drug_class, med.ddd, med.ddd_unit) == (atc, drug_class, ddd, "mg")


def test_doubtful_ddds_are_marked_unverified() -> None:
    assert not get_medication("cromolyn").ddd_verified
    assert not get_medication("avapritinib").ddd_verified
    assert get_medication("cetirizine").ddd_verified


def test_every_medication_cites_a_known_source_and_says_how_it_is_prescribed() -> None:
    for med in medications().values():
        assert require_citations([med.citation]) == []
        assert med.prescription_note
    assert get_medication("avapritinib").prescription_only is True
    assert "mastocytosis only" in get_medication("avapritinib").prescription_note
    assert get_medication("cetirizine").prescription_only is None  # varies by country


def test_medications_are_found_by_id_alias_or_atc_code() -> None:
    assert get_medication("Cetirizine").id == "cetirizine"
    assert get_medication("cromoglicic acid").id == "cromolyn"
    assert get_medication("sodium_cromoglicate").id == "cromolyn"
    assert get_medication("r03dc03").id == "montelukast"


def test_an_unknown_medication_is_named() -> None:
    with pytest.raises(UnknownIdError, match="unknown medication 'ranitidine'"):
        get_medication("ranitidine")


def test_load_is_daily_dose_over_ddd_summed_per_class() -> None:
    load = antihistamine_load(
        [("cetirizine", 20.0), ("fexofenadine", 180.0), ("famotidine", 40.0), ("ketotifen", 1.0)]
    )
    assert load[DrugClass.H1_ANTIHISTAMINE] == pytest.approx(2.0 + 1.5)
    assert load[DrugClass.H2_ANTIHISTAMINE] == pytest.approx(1.0)
    assert load[DrugClass.MAST_CELL_STABILISER] == pytest.approx(0.5)
    assert load[DrugClass.LEUKOTRIENE_ANTAGONIST] == 0.0


def test_the_four_conventional_classes_are_always_reported() -> None:
    assert antihistamine_load([]) == {
        DrugClass.H1_ANTIHISTAMINE: 0.0,
        DrugClass.H2_ANTIHISTAMINE: 0.0,
        DrugClass.MAST_CELL_STABILISER: 0.0,
        DrugClass.LEUKOTRIENE_ANTAGONIST: 0.0,
    }
    assert antihistamine_load([("avapritinib", 25.0)])[DrugClass.KIT_INHIBITOR] == 0.125


def test_load_refuses_unknown_drugs_and_lists_every_bad_dose() -> None:
    with pytest.raises(UnknownIdError):
        antihistamine_load([("cetirizine", 10.0), ("ranitidine", 150.0)])
    with pytest.raises(ValidationError) as info:
        antihistamine_load(
            [("cetirizine", -10.0), ("famotidine", 20.0), ("loratadine", float("inf"))]
        )
    assert [i.location for i in info.value.issues] == ["uses[0]", "uses[2]"]
    assert "cetirizine daily dose -10.0 is not a non-negative number of mg" in str(info.value)
