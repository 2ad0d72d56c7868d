"""The validators the FHIR tests rely on really refuse what they should: each catches an error
the other misses, so a test passing both means something."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.interop.validators import fhir_resources_errors, fhirjs_errors


def _bundle(observation: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:5f0f4c1e-6d1b-4a0e-9a55-0c2b8f1d9e01", "resource": observation}
        ],
    }


GOOD = {
    "resourceType": "Observation",
    "id": "5f0f4c1e-6d1b-4a0e-9a55-0c2b8f1d9e01",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "21582-2"}]},
    "effectiveDateTime": "2026-01-12T09:00:00+01:00",
    "valueQuantity": {
        "value": 6.5,
        "unit": "ug/L",
        "system": "http://unitsofmeasure.org",
        "code": "ug/L",
    },
}


def _write(tmp_path: Path, bundle: dict[str, Any]) -> Path:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return path


def test_both_validators_accept_a_plain_lab_observation(tmp_path: Path) -> None:
    bundle = _bundle(GOOD)
    assert fhir_resources_errors(bundle) == []
    assert fhirjs_errors(_write(tmp_path, bundle)) == []


def test_only_fhirjs_refuses_a_status_outside_its_value_set(tmp_path: Path) -> None:
    bundle = _bundle(GOOD | {"status": "bogus"})
    assert fhir_resources_errors(bundle) == []
    errors = fhirjs_errors(_write(tmp_path, bundle))
    assert [e["location"] for e in errors] == ["Observation.status"], errors


def test_only_fhir_resources_refuses_a_malformed_date_time(tmp_path: Path) -> None:
    bundle = _bundle(GOOD | {"effectiveDateTime": "2026-13-45T09:00:00+01:00"})
    assert any("effectiveDateTime" in e for e in fhir_resources_errors(bundle))
    assert fhirjs_errors(_write(tmp_path, bundle)) == []
