"""What the store accepts at its edges, on SQLite and PostgreSQL: soft limits confirmed and
flagged, hard limits refused, zoned times in UTC, NFKC text, one script per client code,
validated enrolments and findings.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from hostcap.catalog import get_intervention, get_medication, medications
from hostcap.citations import require_citations
from hostcap.clinical_store import Store
from hostcap.errors import DuplicateError, ValidationError
from hostcap.services.store import import_file


@pytest.fixture
def client(store: Store) -> str:
    store.add_client("C001", sex="female", birth_year=1985)
    return "C001"


def _med(code: str, dose: str, per_day: str) -> dict[str, str | None]:
    return {
        "client_code": code,
        "drug": "cetirizine",
        "dose": dose,
        "unit": "mg",
        "per_day": per_day,
        "start": "2026-01-01",
    }


def test_every_medication_documents_its_maximum_daily_dose_with_a_known_source() -> None:
    for med in medications().values():
        assert med.max_daily_dose >= med.ddd * 0.5, med.id
        assert med.hard_max_daily_dose == 10 * med.max_daily_dose
        assert require_citations(med.citation_keys()) == [], med.id


def test_the_model_and_the_store_share_one_intervention_hard_limit() -> None:
    from hostcap.mechanistic_model.protocols import DOSE_ERROR_FACTOR

    nr = get_intervention("nicotinamide_riboside")
    assert nr.hard_max == DOSE_ERROR_FACTOR * nr.typical_max == 3000


def test_a_dose_above_the_documented_maximum_needs_confirming_and_is_flagged(
    store: Store, client: str
) -> None:
    with pytest.raises(ValidationError, match="--confirm-unusual"):
        store.add_one("meds", _med(client, "10", "6"))
    assert store.frame("meds").empty
    report = store.add_one("meds", _med(client, "10", "6"), confirm_unusual=True)
    assert report.warnings and "confirmed unusual" in report.warnings[0].message
    assert report.warnings[0].location == "dose"
    assert store.frame("meds")["daily_dose"].tolist() == [60.0]
    created = [e for e in store.audit_entries() if e["entity"] == "medication_uses"]
    assert "confirmed unusual" in json.loads(created[-1]["after"])["unusual"]


def test_a_dose_above_the_hard_limit_is_refused_even_when_confirmed(
    store: Store, client: str
) -> None:
    with pytest.raises(ValidationError, match="hard limit 400 mg/d"):
        store.add_one("meds", _med(client, "100000", "24"), confirm_unusual=True)
    assert get_medication("cetirizine").max_daily_dose == 40
    assert store.frame("meds").empty


def test_an_import_with_confirmed_unusual_doses_lists_them_in_its_audit_entry(
    store: Store, client: str, tmp_path: Path
) -> None:
    path = tmp_path / "iv.csv"
    path.write_text(
        "client_code,intervention,dose,unit,start\n"
        f"{client},nicotinamide_riboside,500,mg/d,2026-01-01\n"
        f"{client},nicotinamide_riboside,2500,mg/d,2026-02-01\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError, match="row 3, dose"):
        import_file(store, "interventions", path)
    report = import_file(store, "interventions", path, confirm_unusual=True)
    entry = [e for e in store.audit_entries() if e["action"] == "import"][-1]
    assert json.loads(entry["after"])["confirmed_unusual"] == [report.ids[1]]


def test_a_zoned_time_is_stored_in_utc_and_a_naive_one_as_given(store: Store, client: str) -> None:
    base = {"client_code": client, "analyte": "tryptase", "value": "5", "unit": "ng/mL"}
    store.add_one("labs", base | {"collected_at": "2026-01-12T09:00+05:00"})
    store.add_one("labs", base | {"collected_at": "2026-01-13T09:00Z"})
    store.add_one("labs", base | {"collected_at": "2026-01-14T09:00"})
    stamps = sorted(store.frame("labs")["collected_at"])
    assert stamps == [
        dt.datetime(2026, 1, 12, 4, 0),
        dt.datetime(2026, 1, 13, 9, 0),
        dt.datetime(2026, 1, 14, 9, 0),
    ]


def test_text_is_normalised_to_nfkc(store: Store) -> None:
    store.add_client("\uff23\uff10\uff10\uff12", sex="female", birth_year=1985)  # full-width
    assert [c["code"] for c in store.list_clients()] == ["C002"]
    store.add_one(
        "labs",
        {
            "client_code": "C002",
            "analyte": "tryptase",
            "value": "\uff11\uff12",
            "unit": "ng/mL",
            "collected_at": "2026-01-05T09:00",
        },
    )
    assert store.frame("labs")["value"].tolist() == [12.0]


def test_codes_that_look_like_a_stored_code_or_mix_scripts_are_refused(
    store: Store, client: str
) -> None:
    for code in ("\u0421001", "c001"):
        with pytest.raises(ValidationError, match="looks the same as the stored client 'C001'"):
            store.add_client(code, sex="female", birth_year=1985)
    with pytest.raises(ValidationError, match="mixes writing systems"):
        store.add_client("\u0421X9", sex="female", birth_year=1985)
    store.add_client("\u0421\u0425\u0419-9", sex="female", birth_year=1985)  # all Cyrillic
    assert len(store.list_clients()) == 2


def test_text_up_to_its_declared_length_is_stored_and_one_more_is_refused(
    store: Store, client: str
) -> None:
    values = {"client_code": client, "date": "2026-01-01", "reaction_grade": "0"}
    store.add_one("food", values | {"food": "f" * 100})
    with pytest.raises(ValidationError, match="101 characters long; expected at most 100"):
        store.add_one("food", values | {"food": "g" * 101})
    assert store.frame("food")["food"].str.len().tolist() == [100]


def test_enrolments_take_a_known_label_once_per_client_protocol_and_start(
    store: Store, client: str
) -> None:
    start = dt.date(2026, 1, 1)
    store.add_enrolment(client, protocol=" restore ", started_on=start, phenotype_label="a")
    (enrolment,) = store.enrolments(client)
    assert (enrolment["protocol"], enrolment["phenotype_label"]) == ("restore", "A")
    with pytest.raises(DuplicateError, match="already enrolled in 'restore'"):
        store.add_enrolment(client, protocol="restore", started_on=start)
    with pytest.raises(ValidationError, match="expected one of A, B, C, mixed"):
        store.add_enrolment(client, protocol="other", started_on=start, phenotype_label="Z")
    with pytest.raises(ValidationError, match="protocol is empty"):
        store.add_enrolment(client, protocol="  ", started_on=start)
    assert len(store.enrolments(client)) == 1


def test_findings_take_the_values_their_input_field_takes(store: Store, client: str) -> None:
    day = "2026-01-01"
    for field, value in [
        ("findings.splenomegaly", "yes"),
        ("history.antibiotic_courses_2y", "4"),
        ("kit_d816v", "negative"),
        ("history.hEDS", "false"),
        ("current_episode.systolic_bp_mmhg", "85.5"),
    ]:
        store.add_one(
            "findings", {"client_code": client, "field": field, "value": value, "date": day}
        )
    stored = dict(
        zip(store.frame("findings")["field"], store.frame("findings")["value"], strict=False)
    )
    assert stored["findings.splenomegaly"] is True and stored["history.antibiotic_courses_2y"] == 4
    for field, value, needle in [
        ("history.antibiotic_courses_2y", "4.5", "whole number"),
        ("history.antibiotic_courses_2y", "-1", ">= 0"),
        ("episodes", "[]", "not a field"),
        ("tryptase.events.acute_ng_ml", "5", "not a field"),
        ("age_years", "40", "not a field"),
    ]:
        with pytest.raises(ValidationError, match=needle):
            store.add_one(
                "findings", {"client_code": client, "field": field, "value": value, "date": day}
            )
    assert len(store.frame("findings")) == 5
