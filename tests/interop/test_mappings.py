"""The FHIR and REDCap mappings are derived from the record kinds' declarations and cover them."""

from __future__ import annotations

import datetime as dt

import pytest

from hostcap.interop import (
    DICTIONARY_COLUMNS,
    FHIR_MAPPING,
    FIELD_TYPES,
    KIND_ORDER,
    build_bundle,
    data_dictionary,
    date_shifts,
    deidentify,
    eav_rows,
    flat_rows,
    read_bundle,
    read_dictionary,
    read_records,
)
from hostcap.services.records import record_fields, record_kinds

FIELDS = {kind: record_fields(kind) for kind in record_kinds()}


@pytest.mark.parametrize("kind", sorted(FIELDS))
def test_the_fhir_mapping_names_every_declared_field_and_nothing_else(kind: str) -> None:
    declared = [c.name for c in FIELDS[kind]]
    assert sorted(FHIR_MAPPING[kind].fields) == sorted(declared)


def test_every_kind_is_written_in_a_known_order() -> None:
    assert sorted(KIND_ORDER) == sorted(FIELDS)


def test_every_declared_type_has_a_redcap_field_type() -> None:
    assert {str(c.type) for specs in FIELDS.values() for c in specs} <= set(FIELD_TYPES)


def test_each_dictionary_row_has_the_18_columns_and_follows_its_declaration() -> None:
    rows = {r["Variable / Field Name"]: r for r in data_dictionary(FIELDS)}
    assert all(tuple(r) == DICTIONARY_COLUMNS for r in rows.values())
    for kind, specs in FIELDS.items():
        if kind == "questionnaires":
            continue
        for spec in specs:
            if spec.name == "client_code":
                continue
            row = rows[f"{kind}_{spec.name}"]
            field_type, validation = FIELD_TYPES[str(spec.type)]
            assert row["Form Name"] == kind
            assert row["Field Type"] in (field_type, "notes", "dropdown"), spec.name
            assert row["Text Validation Type OR Show Slider Number"] == validation
            for code in spec.choices:
                assert f"{code}, " in row["Choices, Calculations, OR Slider Labels"]


RECORDS = {
    "clients": [{"client_code": "A-1", "sex": "female", "birth_year": "2020", "demo": "false"}],
    "episodes": [
        {
            "client_code": "A-1",
            "onset_at": "2020-01-20T10:00:00",
            "organ_systems": "skin",
            "severity": "3",
            "notes": "secret",
        }
    ],
}


def test_date_shifts_never_move_a_client_before_the_birth_year() -> None:
    shifts = date_shifts(RECORDS, FIELDS, {"A-1": 300})
    assert shifts == {"A-1": 19}
    out = deidentify(RECORDS, FIELDS, {"A-1": "P-XXXXXX"}, shifts)
    assert out["episodes"][0]["onset_at"] == "2020-01-01T10:00:00"
    assert "notes" not in out["episodes"][0]
    assert out["clients"][0]["client_code"] == "P-XXXXXX"


def test_a_bundle_reads_back_into_the_same_records_in_any_time_zone() -> None:
    zone = dt.timezone(dt.timedelta(hours=-5))
    bundle = build_bundle(RECORDS, FIELDS, identified=True, zone=zone)
    episode = bundle["entry"][-1]["resource"]
    assert episode["effectiveDateTime"] == "2020-01-20T10:00:00-05:00"
    back = read_bundle(bundle, zone=dt.timezone(dt.timedelta(hours=1)))
    assert back.records["episodes"][0]["onset_at"] == "2020-01-20T16:00:00"
    same = read_bundle(bundle, zone=zone)
    assert same.records["episodes"][0]["onset_at"] == "2020-01-20T10:00:00"
    assert same.records["episodes"][0]["notes"] == "secret"


def test_eav_records_in_the_apis_layout_read_like_flat_ones() -> None:
    records = {
        "clients": RECORDS["clients"],
        "episodes": [
            dict(RECORDS["episodes"][0], organ_systems="skin;respiratory"),
            {
                "client_code": "A-1",
                "onset_at": "2020-02-01T08:00:00",
                "organ_systems": "skin",
                "severity": "1",
            },
        ],
    }
    dictionary_rows = data_dictionary(FIELDS)
    dictionary, issues = read_dictionary(dictionary_rows, list(DICTIONARY_COLUMNS))
    assert issues == []
    header, flat = flat_rows(records, FIELDS, dictionary_rows)
    from_flat = read_records(flat, header, dictionary, FIELDS)
    _, eav = eav_rows(records, FIELDS)
    # The API's header: record, event_id, field_name, value, redcap_repeat_instance.
    api = [
        {
            "record": r["record"],
            "event_id": "",
            "field_name": r["field_name"],
            "value": r["value"],
            "redcap_repeat_instance": r["redcap_repeat_instance"],
        }
        for r in eav
    ]
    from_eav = read_records(
        api,
        ["record", "event_id", "field_name", "value", "redcap_repeat_instance"],
        dictionary,
        FIELDS,
    )
    assert from_flat.issues == [] and from_eav.issues == []
    assert from_eav.records == from_flat.records
    assert from_eav.records["episodes"][0]["organ_systems"] == "skin;respiratory"
