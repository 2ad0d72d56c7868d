"""Corrections and deletions go through hostcap: validated as on insert, audited with the old
values and the reason, and the audit still verifies afterwards (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from tests.clinical_store.test_audit_data import fill

from hostcap.clinical_store import KINDS, Store
from hostcap.clinical_store.corrections import INPUT_COLUMNS, correctable_fields, input_values
from hostcap.clinical_store.store_rows import table_of as _table
from hostcap.errors import DuplicateError, NotFoundError, ValidationError


@pytest.fixture
def filled(store: Store) -> Store:
    fill(store)
    return store


def _lab_id(store: Store) -> int:
    labs = store.frame("labs", code="A1")
    return int(labs.sort_values("collected_at")["id"].iloc[-1])


def test_every_input_column_of_every_kind_maps_to_a_stored_column() -> None:
    assert set(INPUT_COLUMNS) == set(KINDS)
    for name, spec in KINDS.items():
        table = _table(spec)
        assert set(INPUT_COLUMNS[name]) == set(correctable_fields(spec)), name
        assert set(INPUT_COLUMNS[name].values()) <= set(table.c.keys()), name


def test_rewriting_each_kind_with_its_own_values_changes_nothing(filled: Store) -> None:
    """The rebuilt input validates back to the very row that is stored (for every kind)."""
    for name, spec in KINDS.items():
        frame = filled.frame(name)
        record_id = int(frame["id"].iloc[0])
        with filled.reading() as session:
            stored, code = filled._stored_record(session, spec, record_id)
        values = input_values(spec, stored, code)
        field = next(f for f in correctable_fields(spec) if values.get(f) is not None)
        change = filled.correct_record(
            name, record_id, {field: str(values[field])}, reason="round trip"
        )
        assert change["after"] == change["before"], name
    assert filled.verify_audit().ok


def test_a_correction_is_validated_stored_and_audited_with_the_old_row_and_reason(
    filled: Store,
) -> None:
    lab = _lab_id(filled)
    change = filled.correct_record("labs", lab, {"value": "7.5"}, reason="transcription error")
    assert change["before"]["value"] == 5.0
    assert change["after"]["value"] == 7.5 and change["after"]["value_as_entered"] == 7.5
    entry = filled.audit_entries()[-1]
    assert entry["action"] == "correct" and entry["entity_id"] == str(lab)
    assert json.loads(entry["before"])["value"] == 5.0
    after = json.loads(entry["after"])
    assert after["reason"] == "transcription error" and after["previous"] == {"value": "5.0"}
    assert filled.verify_audit().ok


def test_a_unit_correction_recomputes_the_canonical_value(filled: Store) -> None:
    lab = _lab_id(filled)
    with pytest.raises(ValidationError, match="'ng/mL' is not accepted for hs_crp"):
        filled.correct_record("labs", lab, {"analyte": "hs_crp"}, reason="wrong analyte")
    change = filled.correct_record(
        "labs", lab, {"analyte": "hs_crp", "unit": "mg/dL"}, reason="wrong analyte and unit"
    )
    assert change["after"]["unit"] == "mg/L"
    assert change["after"]["value"] == pytest.approx(10 * change["after"]["value_as_entered"])
    assert filled.verify_audit().ok


def test_a_bad_value_is_refused_naming_field_value_and_expectation(filled: Store) -> None:
    lab = _lab_id(filled)
    before = filled.audit_entries()
    with pytest.raises(ValidationError) as info:
        filled.correct_record("labs", lab, {"value": "-3"}, reason="x")
    message = str(info.value)
    assert "nothing was changed" in message and "value" in message and "-3" in message
    assert info.value.expected
    with pytest.raises(ValidationError, match="collected_at"):
        filled.correct_record("labs", lab, {"collected_at": "yesterday"}, reason="x")
    assert filled.audit_entries() == before
    assert filled.verify_audit().ok


def test_a_finding_value_is_validated_as_on_insert(filled: Store) -> None:
    finding = int(filled.frame("findings")["id"].iloc[0])
    change = filled.correct_record("findings", finding, {"value": "true"}, reason="re-examined")
    assert change["after"]["value"] is True
    assert filled.verify_audit().ok


def test_an_empty_reason_an_unknown_field_kind_or_id_are_refused(filled: Store) -> None:
    lab = _lab_id(filled)
    with pytest.raises(ValidationError, match=r"--reason.*non-empty reason"):
        filled.correct_record("labs", lab, {"value": "6"}, reason="  ")
    with pytest.raises(ValidationError, match=r"--field.*'vlue'.*analyte, value, unit"):
        filled.correct_record("labs", lab, {"vlue": "6"}, reason="x")
    with pytest.raises(ValidationError, match=r"'lab'.*labs, meds"):
        filled.correct_record("lab", lab, {"value": "6"}, reason="x")
    with pytest.raises(NotFoundError, match="labs record 999 is not in the store"):
        filled.delete_record("labs", 999, reason="x")
    with pytest.raises(ValidationError, match="--reason"):
        filled.delete_record("labs", lab, reason="")


def test_a_correction_onto_another_records_key_is_refused(filled: Store) -> None:
    labs = filled.frame("labs", code="A1").sort_values("collected_at")
    first, second = int(labs["id"].iloc[0]), int(labs["id"].iloc[1])
    taken = labs["collected_at"].iloc[1].strftime("%Y-%m-%dT%H:%M")
    with pytest.raises(DuplicateError, match=f"stored record {second}"):
        filled.correct_record("labs", first, {"collected_at": taken}, reason="x")


def test_a_deleted_record_is_gone_kept_in_the_audit_and_the_audit_verifies(
    filled: Store,
) -> None:
    lab = _lab_id(filled)
    old = filled.delete_record("labs", lab, reason="entered twice")
    assert lab not in filled.frame("labs")["id"].tolist()
    entry = filled.audit_entries()[-1]
    assert entry["action"] == "delete"
    assert json.loads(entry["before"])["value"] == old["value"]
    assert json.loads(entry["after"]) == {"reason": "entered twice"}
    assert filled.verify_audit().ok


def test_a_client_with_records_is_not_deleted_one_without_goes_with_its_identity(
    filled: Store,
) -> None:
    a1 = int(filled.frame("clients", code="A1")["id"].iloc[0])
    with pytest.raises(ValidationError, match="still has records"):
        filled.delete_record("clients", a1, reason="x")
    filled.add_client("C3", sex="other", birth_year=2000, identity={"full_name": "Cy Example"})
    c3 = int(filled.frame("clients", code="C3")["id"].iloc[0])
    filled.delete_record("clients", c3, reason="registered by mistake")
    entry = filled.audit_entries()[-1]
    assert "Cy Example" not in (entry["after"] or "") + (entry["before"] or "")
    assert json.loads(entry["after"])["identity_fields_deleted"] == ["full_name"]
    assert filled.verify_audit().ok


def test_a_record_changed_outside_hostcap_is_not_corrected_unless_accepted(
    filled: Store,
) -> None:
    from sqlalchemy import text

    from hostcap.errors import IntegrityError

    lab = _lab_id(filled)
    with filled.engine.begin() as conn:
        conn.execute(text(f"update lab_results set value=1.2 where id={lab}"))
    with pytest.raises(IntegrityError, match="changed outside hostcap"):
        filled.correct_record("labs", lab, {"value": "5"}, reason="restore the value")
    with pytest.raises(IntegrityError, match="--accept-unaudited-change"):
        filled.delete_record("labs", lab, reason="x")
    assert not filled.verify_audit().ok  # still reported: nothing was laundered
    filled.correct_record(
        "labs", lab, {"value": "5"}, reason="restore the value", accept_unaudited_change=True
    )
    entry = json.loads(filled.audit_entries()[-1]["after"])
    assert entry["unaudited_change"]["found_hash"] != entry["unaudited_change"]["audited_hash"]
    assert filled.verify_audit().ok


def test_a_row_inserted_outside_hostcap_is_not_deleted_unless_accepted(filled: Store) -> None:
    from sqlalchemy import text

    from hostcap.errors import IntegrityError

    with filled.engine.begin() as conn:
        conn.execute(
            text(
                "insert into food_trials (client_id, trial_date, food, reaction_grade) "
                "values (1, '2026-03-01', 'rice', 0)"
            )
        )
    planted = int(filled.frame("food").sort_values("id")["id"].iloc[-1])
    with pytest.raises(IntegrityError, match="changed outside hostcap"):
        filled.delete_record("food", planted, reason="not ours")
    filled.delete_record("food", planted, reason="not ours", accept_unaudited_change=True)
    assert filled.verify_audit().ok
