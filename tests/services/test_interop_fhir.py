"""FHIR R4B export and import through the store, checked by two validators hostcap did not
write, by round trips, and on HL7's own published example resources."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.interop.validators import fhir_resources_errors, fhirjs_errors
from tests.services.interop_store import DAY0, SECRET_NOTE, fill_store

from hostcap.clinical_store import Store
from hostcap.errors import ValidationError
from hostcap.services import interop as services
from hostcap.services.synthesis import synthesize_cohort

EXAMPLES = Path(__file__).parents[1] / "data" / "fhir"


@pytest.fixture
def filled(sqlite_store: Store) -> Store:
    fill_store(sqlite_store)
    return sqlite_store


def _empty(tmp_path: Path, name: str) -> Store:
    store = Store(f"sqlite:///{tmp_path / name}.sqlite")
    store.init()
    return store


def _resources(path: Path) -> list[dict[str, Any]]:
    return [e["resource"] for e in json.loads(path.read_text())["entry"]]


def _of(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["resourceType"] == kind]


@pytest.mark.parametrize("identified", [False, True])
def test_every_exported_resource_passes_both_validators(
    filled: Store, tmp_path: Path, identified: bool
) -> None:
    path = services.export_fhir(filled, tmp_path / "bundle.json", identified=identified).path
    bundle = json.loads(path.read_text())
    assert fhir_resources_errors(bundle) == []
    assert fhirjs_errors(path) == []
    kinds = {r["resourceType"] for r in _resources(path)}
    assert kinds == {
        "Patient",
        "Observation",
        "MedicationStatement",
        "QuestionnaireResponse",
        "Questionnaire",
        "Encounter",
    }


def test_a_lab_travels_as_a_loinc_coded_observation_in_ucum_with_its_offset_and_range(
    filled: Store, tmp_path: Path
) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json", identified=True).path
    labs = [
        r
        for r in _of(_resources(path), "Observation")
        if r.get("category", [{}])[0].get("coding", [{}])[0].get("code") == "laboratory"
    ]
    acute = next(r for r in labs if r["valueQuantity"]["value"] == 14.25)
    coding = acute["code"]["coding"][0]
    assert (coding["system"], coding["code"]) == ("http://loinc.org", "21582-2")
    assert acute["valueQuantity"] == {
        "value": 14.25,
        "unit": "ug/L",
        "system": "http://unitsofmeasure.org",
        "code": "ug/L",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT14:05:00[+-]\d\d:\d\d", acute["effectiveDateTime"])
    components = {c["code"]["coding"][0]["code"]: c for c in acute["component"]}
    assert components["context"]["valueCodeableConcept"]["coding"][0]["code"] == "acute"
    assert components["hours-after-onset"]["valueQuantity"]["value"] == 2.5
    baseline = next(r for r in labs if r["valueQuantity"]["value"] == 6.5)
    assert baseline["valueQuantity"]["code"] == "ng/mL"  # "ng/ml" as entered, in UCUM
    assert baseline["referenceRange"][0]["high"]["value"] == 11.4
    crp = next(r for r in labs if r["code"]["coding"][0]["code"] == "30522-7")
    assert crp["valueQuantity"]["code"] == "mg/dL"


def test_medications_carry_atc_dose_and_frequency(filled: Store, tmp_path: Path) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json", identified=True).path
    statements = _of(_resources(path), "MedicationStatement")
    cetirizine = next(
        s for s in statements if s["medicationCodeableConcept"]["text"] == "Cetirizine"
    )
    assert {"system": "http://www.whocc.no/atc", "code": "R06AE07", "display": "Cetirizine"} in (
        cetirizine["medicationCodeableConcept"]["coding"]
    )
    regular, rescue = cetirizine["dosage"]
    assert regular["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    assert regular["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert rescue["asNeededBoolean"] is True
    assert cetirizine["status"] == "completed"


def test_no_condition_is_exported_and_no_hypothesis_phenotype_appears(
    filled: Store, tmp_path: Path
) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json", identified=True).path
    assert not _of(_resources(path), "Condition")
    text = path.read_text()
    assert "phenotype" not in text.lower()


def test_the_default_export_is_de_identified(filled: Store, tmp_path: Path) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json").path
    text = path.read_text()
    for secret in ("IO-001", "IO-002", SECRET_NOTE, "Dr Smith", "extra cetirizine"):
        assert secret not in text
    patients = _of(_resources(path), "Patient")
    assert {p["birthDate"] for p in patients} == {"1980", "1981"}
    assert all(p["identifier"][0]["system"] == "urn:hostcap:pseudonym" for p in patients)
    assert all(
        set(p) <= {"resourceType", "id", "meta", "identifier", "gender", "birthDate"}
        for p in patients
    )
    # Dates move back by 1-364 days, the same for every record of a client.
    visits = _of(_resources(path), "Encounter")
    starts = sorted(v["period"]["start"] for v in visits)
    assert DAY0.isoformat() not in starts


def test_identified_export_is_audited_as_such(filled: Store, tmp_path: Path) -> None:
    services.export_fhir(filled, tmp_path / "b.json", identified=True)
    services.export_fhir(filled, tmp_path / "c.json", code="IO-002")
    entries = filled.audit_entries()
    actions = [(e["action"], e["entity"]) for e in entries][-2:]
    assert actions == [("export_identified", "fhir"), ("export", "fhir")]


def test_export_import_into_an_empty_store_export_gives_the_same_bundle(
    filled: Store, tmp_path: Path
) -> None:
    first = services.export_fhir(filled, tmp_path / "1.json", identified=True).path
    empty = _empty(tmp_path, "copy")
    report = services.import_fhir(empty, first)
    assert report.inserted == {
        "clients": 2,
        "visits": 4,
        "labs": 6,
        "meds": 4,
        "interventions": 4,
        "questionnaires": 4,
        "episodes": 4,
        "food": 4,
        "findings": 6,
    }
    second = services.export_fhir(empty, tmp_path / "2.json", identified=True).path
    assert second.read_text() == first.read_text()


def test_importing_the_same_bundle_twice_adds_nothing(filled: Store, tmp_path: Path) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json").path
    empty = _empty(tmp_path, "copy")
    services.import_fhir(empty, path)
    counts = empty.row_counts()
    again = services.import_fhir(empty, path)
    assert set(again.inserted.values()) == {0}
    assert empty.row_counts() == counts


def test_a_changed_value_of_a_stored_record_is_refused_naming_the_resource(
    filled: Store, tmp_path: Path
) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json", identified=True).path
    bundle = json.loads(path.read_text())
    lab = next(
        e for e in bundle["entry"] if e["resource"].get("valueQuantity", {}).get("value") == 14.25
    )
    lab["resource"]["valueQuantity"]["value"] = 15.0
    path.write_text(json.dumps(bundle))
    counts = filled.row_counts()
    with pytest.raises(ValidationError) as caught:
        services.import_fhir(filled, path)
    issue = next(i for i in caught.value.issues if i.code == "differs_from_stored")
    assert issue.location.startswith("entry[") and "Observation/" in issue.location
    assert "14.25" in issue.message and "15" in issue.message
    assert filled.row_counts() == counts


def test_one_bad_resource_refuses_the_whole_bundle_naming_resource_path_value_expectation(
    filled: Store, tmp_path: Path
) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json").path
    bundle = json.loads(path.read_text())
    lab = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("valueQuantity", {}).get("code") == "mg/dL"
    )
    lab["valueQuantity"]["code"] = "mmol/L"  # not a unit hs-CRP can be converted from
    lab["code"]["coding"][0]["code"] = "30522-7"
    path.write_text(json.dumps(bundle))
    empty = _empty(tmp_path, "copy")
    with pytest.raises(ValidationError) as caught:
        services.import_fhir(empty, path)
    issue = next(i for i in caught.value.issues if "unit" in i.location)
    assert f"Observation/{lab['id']}" in issue.location
    assert issue.value == "mmol/L"
    assert issue.expected
    assert empty.row_counts()["clients"] == 0


def test_unsupported_resources_are_listed_not_dropped_silently(
    filled: Store, tmp_path: Path
) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json", identified=True).path
    bundle = json.loads(path.read_text())
    subject = bundle["entry"][-1]["resource"]["subject"]
    bundle["entry"].append(
        {"resource": {"resourceType": "Condition", "id": "c1", "subject": subject}}
    )
    path.write_text(json.dumps(bundle))
    report = services.import_fhir(_empty(tmp_path, "copy"), path)
    assert any("Condition/c1" in s and "no diagnoses" in s for s in report.skipped)
    assert any("Condition/c1" in str(w) for w in report.warnings)


def test_dry_run_writes_nothing(filled: Store, tmp_path: Path) -> None:
    path = services.export_fhir(filled, tmp_path / "b.json").path
    empty = _empty(tmp_path, "copy")
    report = services.import_fhir(empty, path, dry_run=True)
    assert report.inserted["labs"] == 6
    assert empty.row_counts()["clients"] == 0


# -- HL7's published examples -------------------------------------------------------------------


def _refusal(store: Store, path: Path) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        services.import_fhir(store, path)
    return [str(i) for i in caught.value.issues]


def test_published_patient_example_is_refused_for_want_of_a_pseudonymous_code(
    tmp_path: Path,
) -> None:
    store = _empty(tmp_path, "s")
    problems = _refusal(store, EXAMPLES / "patient-example.json")
    assert any(
        "entry[0] Patient/example identifier" in p
        and "urn:oid:1.2.36.146.595.217.0.1" in p
        and "medical record number is not one" in p
        for p in problems
    ), problems
    assert any("name, telecom, address, contact" in p for p in problems)


def test_published_glucose_observation_is_refused_for_its_unknown_loinc_code(
    tmp_path: Path,
) -> None:
    problems = _refusal(_empty(tmp_path, "s"), EXAMPLES / "observation-example-f001-glucose.json")
    assert any(
        "Observation/f001" in p and "subject.reference 'Patient/f001' is not a Patient" in p
        for p in problems
    ), problems


def test_published_medication_statement_is_refused_for_its_uncoded_medication(
    tmp_path: Path,
) -> None:
    problems = _refusal(_empty(tmp_path, "s"), EXAMPLES / "medicationstatementexample1.json")
    assert any(
        "MedicationStatement/example001 medication[x]" in p
        and "medicationReference is not read" in p
        for p in problems
    ), problems


def _with_patient(tmp_path: Path, example: str) -> Path:
    """The published resource in a bundle with a hostcap Patient, its subject pointed there."""
    resource = json.loads((EXAMPLES / example).read_text())
    resource["subject"] = {"reference": "urn:uuid:0c6c3b0e-4b8e-4c44-9d3c-2f1b7a4e1a10"}
    patient = {
        "resourceType": "Patient",
        "id": "0c6c3b0e-4b8e-4c44-9d3c-2f1b7a4e1a10",
        "identifier": [{"system": "urn:hostcap:client-code", "value": "HL7-F001"}],
        "gender": "male",
        "birthDate": "1944",
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:0c6c3b0e-4b8e-4c44-9d3c-2f1b7a4e1a10", "resource": patient},
            {"resource": resource},
        ],
    }
    path = tmp_path / example
    path.write_text(json.dumps(bundle))
    return path


def test_published_haemoglobin_observation_imports_with_its_loinc_and_ucum_unit(
    tmp_path: Path,
) -> None:
    store = _empty(tmp_path, "s")
    report = services.import_fhir(
        store, _with_patient(tmp_path, "observation-example-f005-hemoglobin.json")
    )
    assert report.inserted == {"clients": 1, "labs": 1}
    lab = store.frame("labs").iloc[0]
    assert (lab["analyte"], lab["value"], lab["unit"]) == ("haemoglobin", 7.2, "g/dL")
    assert (lab["lab_reference_low"], lab["lab_reference_high"]) == (7.5, 10.0)
    assert lab["collected_at"].year == 2013


def test_published_glucose_observation_with_a_patient_is_refused_for_its_loinc_code(
    tmp_path: Path,
) -> None:
    problems = _refusal(
        _empty(tmp_path, "s"), _with_patient(tmp_path, "observation-example-f001-glucose.json")
    )
    assert any(
        "Observation/f001 code.coding" in p
        and "http://loinc.org|15074-8" in p
        and "21582-2 tryptase" in p
        for p in problems
    ), problems


# -- a synthetic cohort --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_synthetic_cohort_of_50_clients_round_trips_through_fhir_and_redcap(
    tmp_path: Path,
) -> None:
    source = _empty(tmp_path, "cohort")
    synthesize_cohort(source, 50, 11, truth_out=tmp_path / "truth.json")
    before = services.stored_records(source)
    assert len(before["clients"]) == 50
    path = services.export_fhir(source, tmp_path / "cohort.json", identified=True).path
    assert fhir_resources_errors(json.loads(path.read_text())) == []
    assert fhirjs_errors(path) == []
    through_fhir = _empty(tmp_path, "fhir")
    report = services.import_fhir(through_fhir, path)
    assert report.inserted == {k: len(v) for k, v in before.items() if v}
    records = services.export_redcap(source, tmp_path / "r.csv", identified=True).path
    assert records is not None
    through_redcap = _empty(tmp_path, "redcap")
    dictionary = services.write_redcap_dictionary(tmp_path / "dd.csv")
    report = services.import_redcap(through_redcap, records, dictionary)
    assert report.inserted == {k: len(v) for k, v in before.items() if v}
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    for copy in (through_fhir, through_redcap):
        after = services.stored_records(copy)
        for kind in before:
            assert sorted(map(key, _normalised(before[kind]))) == sorted(
                map(key, _normalised(after[kind]))
            ), kind


def _normalised(records: list[dict[str, str | None]]) -> list[dict[str, Any]]:
    """Stored values as compared (a lab keeps its unit's UCUM spelling; numbers as numbers)."""
    out = []
    for record in records:
        row: dict[str, Any] = {}
        for name, value in record.items():
            try:
                row[name] = round(float(value), 9) if value is not None else None
            except ValueError:
                row[name] = value
        out.append(row)
    return out


def test_the_fhirjs_validator_is_present_for_the_test_set_up() -> None:
    assert shutil.which("node") is not None


def test_import_is_all_or_nothing_and_idempotent_on_both_backends(
    store: Store, tmp_path: Path
) -> None:
    source = _empty(tmp_path, "source")
    fill_store(source)
    path = services.export_fhir(source, tmp_path / "b.json", identified=True).path
    report = services.import_fhir(store, path)
    assert report.inserted["episodes"] == 4
    counts = store.row_counts()
    assert set(services.import_fhir(store, path).inserted.values()) == {0}
    bundle = json.loads(path.read_text())
    bundle["entry"][-1]["resource"]["subject"] = {"reference": "urn:uuid:missing"}
    fresh = tmp_path / "fresh.json"
    for entry in bundle["entry"]:
        for ident in entry["resource"].get("identifier", []):
            ident["value"] += "-NEW"
    fresh.write_text(json.dumps(bundle))
    with pytest.raises(ValidationError, match="is not a Patient in this bundle"):
        services.import_fhir(store, fresh)
    assert store.row_counts() == counts
