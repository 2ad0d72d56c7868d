"""Validated single-record writes on SQLite and PostgreSQL: units, limits, dates, duplicates."""

from __future__ import annotations

import datetime as dt

import pytest

from hostcap.clinical_store import Store
from hostcap.errors import DuplicateError, NotFoundError, ValidationError


@pytest.fixture
def client(store: Store) -> str:
    store.add_client("C001", sex="female", birth_year=1985)
    return "C001"


def _lab(code: str, **over: str) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        "client_code": code,
        "analyte": "tryptase",
        "value": "12",
        "unit": "ug/L",
        "collected_at": "2026-01-05T09:00",
        "context": "baseline",
    }
    values.update(over)
    return values


def test_lab_is_stored_canonical_beside_the_value_as_entered(store: Store, client: str) -> None:
    store.add_one("labs", _lab(client, analyte="hs_crp", value="0.25", unit="mg/dL"))
    row = store.frame("labs").iloc[0]
    assert row["analyte"] == "hs_crp"
    assert row["value"] == pytest.approx(2.5)
    assert row["unit"] == "mg/L"
    assert (row["value_as_entered"], row["unit_as_entered"]) == (0.25, "mg/dL")


def test_a_loinc_code_is_accepted_for_the_analyte(store: Store, client: str) -> None:
    store.add_one("labs", _lab(client, analyte="21582-2"))
    assert store.frame("labs")["analyte"].tolist() == ["tryptase"]


def test_a_value_outside_hard_limits_is_rejected_with_the_documented_message(
    store: Store, client: str
) -> None:
    with pytest.raises(ValidationError) as info:
        store.add_one("labs", _lab(client, value="-3", unit="ng/mL"))
    assert "tryptase value -3 ng/mL is outside 0–2000 ng/mL" in str(info.value)
    assert info.value.field == "value"
    assert store.frame("labs").empty


def test_a_value_outside_soft_limits_is_stored_with_a_warning(store: Store, client: str) -> None:
    report = store.add_one("labs", _lab(client, value="250"))
    assert report.warnings, "a soft-limit value must come back with a warning"
    stored = store.frame("labs").iloc[0]
    assert stored["value"] == 250
    assert stored["warning"] and "usual range" in stored["warning"]


def test_a_unit_the_analyte_does_not_accept_is_named(store: Store, client: str) -> None:
    with pytest.raises(ValidationError) as info:
        store.add_one("labs", _lab(client, unit="mmol/L"))
    assert "mmol/L" in str(info.value) and "tryptase" in str(info.value)


def test_future_dates_and_dates_before_birth_are_rejected(store: Store, client: str) -> None:
    future = (dt.datetime.now() + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    with pytest.raises(ValidationError, match="is in the future"):
        store.add_one("labs", _lab(client, collected_at=future))
    with pytest.raises(ValidationError, match="before the client's birth year 1985"):
        store.add_one("labs", _lab(client, collected_at="1984-12-31T10:00"))


def test_an_unknown_client_is_named_with_the_next_step(store: Store) -> None:
    with pytest.raises(ValidationError, match=r"'C999' is not in the store.*hostcap client add"):
        store.add_one("labs", _lab("C999"))
    with pytest.raises(NotFoundError), store.reading() as session:
        store.client(session, "C999")


def test_duplicates_are_refused_unless_replacing_explicitly(store: Store, client: str) -> None:
    store.add_one("labs", _lab(client))
    with pytest.raises(DuplicateError, match=r"already in the store.*--replace"):
        store.add_one("labs", _lab(client, value="13"))
    assert store.frame("labs")["value"].tolist() == [12]
    report = store.add_one("labs", _lab(client, value="13"), replace=True)
    assert report.replaced == 1
    assert store.frame("labs")["value"].tolist() == [13]
    actions = [e["action"] for e in store.audit_entries()]
    assert "replace" in actions


def test_duplicate_client_codes_are_refused(store: Store, client: str) -> None:
    with pytest.raises(DuplicateError, match="already in the store"):
        store.add_client(client, sex="male", birth_year=1990)


def test_client_fields_are_validated_together(store: Store) -> None:
    with pytest.raises(ValidationError) as info:
        store.add_client("C 1!", sex="unknown", birth_year=3000)
    text = info.value.report()
    assert "sex value 'unknown' is not allowed; expected one of female, male, other" in text
    assert "birth_year value '3000' is too large" in text
    assert "client_code 'C 1!' is not a valid pseudonymous code" in text
    assert store.list_clients() == []


def test_medication_load_is_daily_dose_over_the_who_ddd(store: Store, client: str) -> None:
    store.add_one(
        "meds",
        {
            "client_code": client,
            "drug": "cetirizine",
            "dose": "10",
            "unit": "mg",
            "per_day": "2",
            "start": "2026-01-05",
        },
    )
    row = store.frame("meds").iloc[0]
    assert row["daily_dose"] == pytest.approx(20)
    assert row["ddd_per_day"] == pytest.approx(2.0)
    assert row["drug_class"] == "h1_antihistamine"


def test_a_medication_ending_before_it_starts_is_rejected(store: Store, client: str) -> None:
    with pytest.raises(ValidationError, match="end value 2026-01-01 is before start 2026-01-05"):
        store.add_one(
            "meds",
            {
                "client_code": client,
                "drug": "famotidine",
                "dose": "20",
                "unit": "mg",
                "per_day": "2",
                "start": "2026-01-05",
                "end": "2026-01-01",
            },
        )


def test_questionnaires_are_scored_on_entry_and_bad_answers_named(
    store: Store, client: str
) -> None:
    store.add_one(
        "questionnaires",
        {
            "client_code": client,
            "instrument": "fss",
            "answers": "5,6,4,5,6,5,4,6,5",
            "date": "2026-01-05",
        },
    )
    row = store.frame("questionnaires").iloc[0]
    assert row["mean"] == pytest.approx(46 / 9)
    with pytest.raises(ValidationError, match="fss"):
        store.add_one(
            "questionnaires",
            {"client_code": client, "instrument": "fss", "answers": "5,6,9", "date": "2026-01-06"},
        )


def test_food_trials_and_episodes_are_checked(store: Store, client: str) -> None:
    store.add_one(
        "food",
        {"client_code": client, "food": "Tomato", "date": "2026-02-01", "reaction_grade": "1"},
    )
    with pytest.raises(ValidationError, match="reaction_grade value '4' is too large"):
        store.add_one(
            "food",
            {"client_code": client, "food": "egg", "date": "2026-02-01", "reaction_grade": "4"},
        )
    store.add_one(
        "episodes",
        {
            "client_code": client,
            "onset_at": "2026-02-03T18:30",
            "organ_systems": "skin;gastrointestinal",
            "severity": "6",
        },
    )
    episode = store.frame("episodes").iloc[0]
    assert episode["organ_systems"] == ["skin", "gastrointestinal"]
    with pytest.raises(ValidationError, match="names an item that is not allowed"):
        store.add_one(
            "episodes",
            {
                "client_code": client,
                "onset_at": "2026-02-04T18:30",
                "organ_systems": "skin;liver",
                "severity": "6",
            },
        )


def test_every_write_is_audited_with_its_after_state(store: Store, client: str) -> None:
    store.add_one("labs", _lab(client))
    entries = store.audit_entries(client)
    assert [e["entity"] for e in entries] == ["clients", "lab_results"]
    assert '"analyte":"tryptase"' in entries[-1]["after"]
    assert store.verify_audit().ok
