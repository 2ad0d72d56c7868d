"""The catalog's own checks refuse inconsistent entries (so a bad YAML edit cannot ship)."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from hostcap.catalog import (
    Analyte,
    Instrument,
    Intervention,
    get_analyte,
    get_instrument,
    get_intervention,
)


def _analyte(**changes: Any) -> dict[str, Any]:
    return get_analyte("tryptase").model_dump() | changes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"soft_min": -1.0}, "hard_min <= soft_min < soft_max <= hard_max"),
        ({"soft_max": 0.5}, "hard_min <= soft_min < soft_max <= hard_max"),
        ({"canonical_unit": "mg/L"}, "is not in accepted_units"),
        ({"accepted_units": ("ng/mL", "ug/l")}, "not in UCUM spelling"),
        ({"loinc": None}, "exactly one of loinc and local_code"),
        ({"local_code": "HC-TRY"}, "exactly one of loinc and local_code"),
        ({"loinc": "21582"}, "String should match pattern"),
        ({"id": "Tryptase"}, "String should match pattern"),
        ({"reference_low": 20.0}, "reference_low must be below reference_high"),
        ({"typo_field": 1}, "Extra inputs are not permitted"),
    ],
)
def test_inconsistent_analytes_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Analyte.model_validate(_analyte(**changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"typical_min": 20.0, "typical_max": 10.0}, "typical_min must not exceed typical_max"),
        ({"dose_unit": "DDD/d"}, "does not fit kind"),
        ({"prescription": True}, "prescription must be true exactly"),
        ({"model_input": "nad_boost"}, "Input should be"),
    ],
)
def test_inconsistent_interventions_are_refused(changes: dict[str, Any], message: str) -> None:
    data = get_intervention("colostrum").model_dump() | changes
    with pytest.raises(pydantic.ValidationError, match=message):
        Intervention.model_validate(data)


def test_instruments_with_misnumbered_items_or_subscales_are_refused() -> None:
    data = get_instrument("gsrs").model_dump(exclude={"n_items"})
    items = list(data["items"])
    with pytest.raises(pydantic.ValidationError, match=r"numbered 1\.\.n"):
        Instrument.model_validate(data | {"items": items[1:]})
    with pytest.raises(pydantic.ValidationError, match="names items outside"):
        Instrument.model_validate(data | {"subscales": {"reflux": (2, 16)}})
