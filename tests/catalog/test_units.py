"""Unit spelling and conversion: what people type becomes UCUM, and conversions are exact."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostcap.catalog import analytes, convert_unit, normalise_unit
from hostcap.catalog.units import split_annotation, ucum_to_pint, unit_factor
from hostcap.errors import ValidationError


@pytest.mark.parametrize(
    ("typed", "ucum"),
    [
        ("µg/L", "ug/L"),  # micro sign U+00B5
        ("μg/L", "ug/L"),  # Greek mu U+03BC
        ("mcg/L", "ug/L"),
        ("ug/L", "ug/L"),
        ("ng/ml", "ng/mL"),
        ("NG/ML", "ng/mL"),
        ("mg/dl", "mg/dL"),
        ("mg / dL", "mg/dL"),
        ("x10^9/L", "10*9/L"),
        ("10^9/L", "10*9/L"),
        ("×10^9/L", "10*9/L"),
        ("10*9/L", "10*9/L"),
        ("10E9/L", "10*9/L"),
        ("G/L", "10*9/L"),
        ("K/uL", "10*3/uL"),
        ("x10^3/µL", "10*3/uL"),
        ("mcg/g creat", "ug/g{creat}"),
        ("ug/g creatinine", "ug/g{creat}"),
        ("µg/g Cr", "ug/g{creat}"),
        ("ug/g{creat}", "ug/g{creat}"),
        ("pg/mg creat", "pg/mg{creat}"),
        ("µM", "umol/L"),
        ("micromol/L", "umol/L"),
        ("mmol/L", "mmol/L"),
        ("g/l", "g/L"),
        ("mg/day", "mg/d"),
        ("IU/mL", "[IU]/mL"),
    ],
)
def test_typed_units_are_spelled_the_ucum_way(typed: str, ucum: str) -> None:
    assert normalise_unit(typed) == ucum


@pytest.mark.parametrize("typed", ["furlongs", "", "   ", "mg/dL dL", "10^9", "ng/mL!"])
def test_an_unreadable_unit_is_named_in_the_error(typed: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalise_unit(typed)
    issue = info.value.issues[0]
    assert issue.location == "unit"
    assert repr(typed) in issue.message
    assert "expected a UCUM unit" in issue.message


@settings(deadline=None)  # the first example may build the pint registry
@given(
    st.sampled_from(["ng/mL", "mg/dL", "mg/L", "ug/L", "umol/L", "pg/mg{creat}"]).flatmap(
        lambda u: st.tuples(
            st.just(u),
            st.lists(st.booleans(), min_size=len(u), max_size=len(u)),
        )
    )
)
def test_letter_case_does_not_change_the_unit(case: tuple[str, list[bool]]) -> None:
    unit, upper = case
    typed = "".join(c.upper() if up else c.lower() for c, up in zip(unit, upper, strict=True))
    assert normalise_unit(typed) == unit


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (0.3, "mg/dL", "mg/L", 3.0),
        (5.0, "ug/L", "ng/mL", 5.0),
        (2.0, "ug/mL", "mg/L", 2.0),
        (140.0, "g/L", "g/dL", 14.0),
        (4.0, "g/dL", "g/L", 40.0),
        (250.0, "10*3/uL", "10*9/L", 250.0),
        (1.0, "mg/g{creat}", "ug/g{creat}", 1000.0),
        (20.0, "mg", "mg", 20.0),
        (0.5, "g", "mg", 500.0),
    ],
)
def test_dimensional_conversions_match_hand_arithmetic(
    value: float, src: str, dst: str, expected: float
) -> None:
    assert convert_unit(value, src, dst) == pytest.approx(expected, rel=1e-12)


def test_conversion_factors_are_exact_for_decimal_prefixes() -> None:
    # pint alone gives 0.9999999999999999 for ug/L -> ng/mL; the factor is snapped.
    assert unit_factor("ug/L", "ng/mL") == 1.0
    assert unit_factor("mg/dL", "mg/L") == 10.0


def test_amount_and_mass_convert_only_with_a_molar_mass() -> None:
    assert convert_unit(1.0, "mg/dL", "umol/L", molar_mass_g_per_mol=113.12) == pytest.approx(
        88.4016973126, rel=1e-10
    )
    with pytest.raises(ValidationError) as info:
        convert_unit(1.0, "mg/dL", "umol/L")
    assert info.value.field == "unit"
    assert info.value.expected == "a unit convertible to umol/L"


def test_incompatible_units_name_the_unit_and_the_target() -> None:
    with pytest.raises(ValidationError) as info:
        convert_unit(3.0, "ng/mL", "10*9/L")
    issue = info.value.issues[0]
    assert (issue.location, issue.value, issue.expected) == (
        "unit",
        "ng/mL",
        "a unit convertible to 10*9/L",
    )
    assert "unit 'ng/mL' cannot be converted to 10*9/L" in issue.message


def test_annotations_must_match_for_a_conversion() -> None:
    with pytest.raises(ValidationError, match=r"annotation \{creat\} differs from none"):
        convert_unit(1.0, "ug/g{creat}", "ug/g")
    assert split_annotation("pg/mg{creat}") == ("pg/mg", "{creat}")
    assert ucum_to_pint("10*9/L") == "1e9/L"
    assert ucum_to_pint("{CFU}/d") == "1/d"


def test_a_non_finite_value_is_refused() -> None:
    with pytest.raises(ValidationError, match="a finite number"):
        convert_unit(float("nan"), "mg/L", "mg/dL")


_PAIRS = [
    (a.id, u, v) for a in analytes().values() for u in a.accepted_units for v in a.accepted_units
]


@settings(deadline=None)  # the first example may build the pint registry
@given(st.sampled_from(_PAIRS), st.floats(min_value=1e-6, max_value=1e6))
def test_every_pair_of_accepted_units_converts_there_and_back(
    pair: tuple[str, str, str], value: float
) -> None:
    analyte_id, src, dst = pair
    molar = analytes()[analyte_id].molar_mass_g_per_mol
    there = convert_unit(value, src, dst, molar_mass_g_per_mol=molar)
    back = convert_unit(there, dst, src, molar_mass_g_per_mol=molar)
    assert back == pytest.approx(value, rel=1e-10)
