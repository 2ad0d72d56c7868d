"""Analytes: codes, limits, conversions to the canonical unit and the plausibility messages."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostcap.catalog import (
    Analyte,
    analytes,
    canonical_factor,
    check_plausibility,
    from_canonical,
    get_analyte,
    normalise_unit,
    to_canonical,
)
from hostcap.catalog.units import unit_factor
from hostcap.citations import get_citation, require_citations
from hostcap.errors import Severity, UnknownIdError, ValidationError

REQUIRED = {
    "tryptase",
    "hs_crp",
    "urine_n_methylhistamine",
    "urine_lte4",
    "urine_dinor_11b_pgf2a",
    "creatinine",
    "haemoglobin",
    "platelets",
    "neutrophils",
    "albumin",
    "nad_whole_blood",
    "faecal_butyrate",
    "osteopontin",
    "zonulin",
}


def test_the_catalog_holds_every_analyte_the_issue_asks_for() -> None:
    assert set(analytes()) >= REQUIRED


@pytest.mark.parametrize("analyte", list(analytes().values()), ids=lambda a: a.id)
def test_every_analyte_is_internally_consistent(analyte: Analyte) -> None:
    assert analyte.canonical_unit in analyte.accepted_units
    assert all(normalise_unit(u) == u for u in analyte.accepted_units)
    assert analyte.hard_min <= analyte.soft_min < analyte.soft_max <= analyte.hard_max
    if analyte.reference_low is not None and analyte.reference_high is not None:
        assert analyte.reference_low < analyte.reference_high
    for ref in (analyte.reference_low, analyte.reference_high):
        if ref is not None:
            assert analyte.hard_min <= ref <= analyte.hard_max
    assert require_citations(analyte.citation_keys()) == []
    assert canonical_factor(analyte.id, analyte.canonical_unit) == 1.0


def test_codes_follow_loinc_or_the_local_code_system() -> None:
    tryptase = get_analyte("tryptase")
    assert (tryptase.code_system, tryptase.code) == ("http://loinc.org", "21582-2")
    assert tryptase.loinc_verified
    nad = get_analyte("nad_whole_blood")
    assert (nad.code_system, nad.code) == ("urn:hostcap:local", "HC-NAD-WB")
    assert nad.research_only and nad.loinc is None
    for research in ("nad_whole_blood", "faecal_butyrate", "osteopontin", "zonulin"):
        assert get_analyte(research).code_system == "urn:hostcap:local"


def test_the_urine_mediator_loinc_codes_are_marked_unverified() -> None:
    for analyte_id, code in [
        ("urine_n_methylhistamine", "44340-8"),
        ("urine_lte4", "33343-5"),
        ("urine_dinor_11b_pgf2a", "94381-1"),
    ]:
        a = get_analyte(analyte_id)
        assert a.loinc == code
        assert not a.loinc_verified


def test_analytes_are_found_by_id_loinc_or_local_code_in_any_case() -> None:
    assert get_analyte("21582-2").id == "tryptase"
    assert get_analyte("30522-7").id == "hs_crp"
    assert get_analyte("TRYPTASE").id == "tryptase"
    assert get_analyte(" hs_CRP ").id == "hs_crp"
    assert get_analyte("HC-OPN-P").id == "osteopontin"
    assert get_analyte("hc-nad-wb").id == "nad_whole_blood"


def test_an_unknown_analyte_names_the_value_and_the_known_ids() -> None:
    with pytest.raises(UnknownIdError) as info:
        get_analyte("histamine")
    assert "unknown analyte 'histamine'" in str(info.value)
    assert "tryptase" in str(info.value)
    assert info.value.field == "analyte"


def test_the_evidence_numbers_are_the_ones_in_evidence_md() -> None:
    t = get_analyte("tryptase")
    assert (t.reference_high, t.within_subject_cv_pct, t.analytical_cv_pct, t.rcv_pct) == (
        11.4,
        5.6,
        6.3,
        23.5,
    )
    assert get_analyte("hs_crp").within_subject_cv_pct == 50
    nmh = get_analyte("urine_n_methylhistamine")
    assert (nmh.reference_low, nmh.reference_high) == (30, 200)
    assert get_analyte("urine_lte4").reference_high == 104
    assert get_analyte("urine_dinor_11b_pgf2a").reference_high == 1802
    opn = get_analyte("osteopontin")
    assert (opn.within_subject_cv_pct, opn.reference_high) == (8.2, 76)
    # Whole-blood NAD+ must not carry a threshold (handling destroys 30-80 %; tretowicz2026_nad).
    nad = get_analyte("nad_whole_blood")
    assert nad.reference_low is None and nad.reference_high is None


def test_research_analytes_carry_their_caveats() -> None:
    assert "do not measure zonulin" in (get_analyte("zonulin").caveat or "")
    assert "30–80 %" in (get_analyte("nad_whole_blood").caveat or "")
    assert "not a validated readout" in (get_analyte("nad_whole_blood").caveat or "")


@pytest.mark.parametrize(
    ("analyte", "value", "unit", "expected"),
    [
        ("tryptase", 5.1, "ug/L", 5.1),
        ("tryptase", 5.1, "µg/L", 5.1),
        ("hs_crp", 0.3, "mg/dL", 3.0),
        ("hs_crp", 2.0, "ug/mL", 2.0),
        ("haemoglobin", 140.0, "g/L", 14.0),
        ("haemoglobin", 8.0, "mmol/L", 8.0 * 1.61145),
        ("creatinine", 1.0, "mg/dL", 88.4016973126),
        ("albumin", 4.0, "g/dL", 40.0),
        ("platelets", 250.0, "x10^3/µL", 250.0),
        ("neutrophils", 3.2, "G/L", 3.2),
        ("osteopontin", 51.0, "ng/mL", 51.0),
        ("urine_n_methylhistamine", 0.12, "mg/g creat", 120.0),
        ("nad_whole_blood", 30.0, "µM", 30.0),
    ],
)
def test_values_convert_to_the_canonical_unit(
    analyte: str, value: float, unit: str, expected: float
) -> None:
    assert to_canonical(analyte, value, unit) == pytest.approx(expected, rel=1e-10)
    assert to_canonical(get_analyte(analyte), value, unit) == pytest.approx(expected, rel=1e-10)


def test_a_unit_the_analyte_does_not_accept_is_refused_with_the_accepted_list() -> None:
    with pytest.raises(ValidationError) as info:
        to_canonical("tryptase", 5.0, "mmol/L")
    issue = info.value.issues[0]
    assert (
        issue.message == "unit 'mmol/L' is not accepted for tryptase; expected one of ng/mL, ug/L"
    )
    assert (issue.location, issue.value, issue.expected) == ("unit", "mmol/L", "one of ng/mL, ug/L")


def test_crp_in_nanomoles_is_not_accepted() -> None:
    with pytest.raises(ValidationError, match="not accepted for hs_crp"):
        canonical_factor("hs_crp", "nmol/L")


def test_an_unreadable_unit_is_refused_for_the_analyte() -> None:
    with pytest.raises(ValidationError, match=r"unit 'bananas' is not accepted for tryptase"):
        canonical_factor("tryptase", "bananas")


_PAIRS = [(a.id, u) for a in analytes().values() for u in a.accepted_units]


@settings(deadline=None)  # the first example may build the pint registry
@given(
    st.sampled_from(_PAIRS),
    st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False),
)
def test_any_accepted_unit_to_canonical_and_back_is_the_identity(
    pair: tuple[str, str], value: float
) -> None:
    analyte_id, unit = pair
    back = from_canonical(analyte_id, to_canonical(analyte_id, value, unit), unit)
    assert math.isclose(back, value, rel_tol=1e-12)


@pytest.mark.parametrize("analyte", list(analytes().values()), ids=lambda a: a.id)
def test_factors_are_consistent_across_all_accepted_units(analyte: Analyte) -> None:
    for u in analyte.accepted_units:
        for v in analyte.accepted_units:
            direct = unit_factor(u, v, analyte.molar_mass_g_per_mol)
            via_canonical = canonical_factor(analyte.id, u) / canonical_factor(analyte.id, v)
            assert direct == pytest.approx(via_canonical, rel=1e-10), (u, v)


def test_the_hard_limit_message_has_the_documented_form() -> None:
    (issue,) = check_plausibility("tryptase", -3)
    assert issue.message == "tryptase value -3 ng/mL is outside 0–2000 ng/mL"
    assert (issue.severity, issue.location, issue.value, issue.expected) == (
        Severity.ERROR,
        "value",
        -3,
        "0–2000 ng/mL",
    )
    (above,) = check_plausibility(get_analyte("tryptase"), 2000.5)
    assert above.severity == Severity.ERROR


def test_the_soft_limit_message_has_the_documented_form() -> None:
    (issue,) = check_plausibility("tryptase", 250)
    assert issue.message == (
        "tryptase value 250 ng/mL is outside the usual range 0.5–200 ng/mL; stored with a warning"
    )
    assert (issue.severity, issue.location, issue.expected) == (
        Severity.WARNING,
        "value",
        "0.5–200 ng/mL",
    )


def test_values_inside_the_usual_range_and_on_the_limits_raise_nothing() -> None:
    assert check_plausibility("tryptase", 5.0) == []
    assert check_plausibility("tryptase", 200) == []
    assert [i.severity for i in check_plausibility("tryptase", 2000)] == [Severity.WARNING]
    assert [i.severity for i in check_plausibility("tryptase", 0)] == [Severity.WARNING]


def test_a_non_finite_value_is_an_error() -> None:
    (issue,) = check_plausibility("hs_crp", float("nan"))
    assert issue.severity == Severity.ERROR
    assert "not a finite number" in issue.message


def test_haemoglobin_limits_are_physical_plausibility() -> None:
    assert check_plausibility("haemoglobin", 1.5)[0].message == (
        "haemoglobin value 1.5 g/dL is outside 2–25 g/dL"
    )
    assert check_plausibility("platelets", 2500)[0].message == (
        "platelets value 2500 10*9/L is outside 0–2000 10*9/L"
    )


def test_analytes_are_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        get_analyte("tryptase").hard_max = 5  # type: ignore[misc]


def test_unverified_sources_are_flagged_in_the_citations() -> None:
    assert not get_citation("arup_urine_loinc").verified
    assert not get_citation("tretowicz2026_nad").verified
