"""REDCap data dictionary and records through the store: round trips, PyCap's and pandas' readers,
all-or-nothing imports checked against the dictionary, and pull/push through PyCap against a
local fake of the API (a contract test, not a REDCap test)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from redcap import Project
from tests.services.interop_store import SECRET_NOTE, fill_store
from tests.services.redcap_fake import TOKEN, FakeProject, running

from hostcap.clinical_store import Store
from hostcap.errors import ConfigurationError, ValidationError
from hostcap.interop import DICTIONARY_COLUMNS
from hostcap.services import interop as services
from hostcap.services.records import record_fields


@pytest.fixture
def filled(sqlite_store: Store) -> Store:
    fill_store(sqlite_store)
    return sqlite_store


def _empty(tmp_path: Path, name: str) -> Store:
    store = Store(f"sqlite:///{tmp_path / name}.sqlite")
    store.init()
    return store


def _dictionary(tmp_path: Path) -> Path:
    return services.write_redcap_dictionary(tmp_path / "dictionary.csv")


def test_the_dictionary_has_redcaps_18_columns_in_order_and_record_id_first(
    tmp_path: Path,
) -> None:
    frame = pd.read_csv(_dictionary(tmp_path), dtype=str, keep_default_na=False)
    assert tuple(frame.columns) == DICTIONARY_COLUMNS
    assert frame.iloc[0, 0] == "record_id"
    forms = list(frame["Form Name"])
    # Every form's fields are contiguous, as REDCap requires.
    assert [f for i, f in enumerate(forms) if i == 0 or forms[i - 1] != f] == list(
        dict.fromkeys(forms)
    )
    assert {"clients", "labs", "meds", "episodes", "food", "visits", "fss", "gsrs"} <= set(forms)


def test_dictionary_fields_follow_the_record_kind_declarations(tmp_path: Path) -> None:
    frame = pd.read_csv(_dictionary(tmp_path), dtype=str, keep_default_na=False).set_index(
        "Variable / Field Name"
    )
    for spec in record_fields("episodes"):
        if spec.name == "client_code":
            continue
        row = frame.loc[f"episodes_{spec.name}"]
        assert row["Field Label"] == spec.display_label
        assert (row["Required Field?"] == "y") == spec.required
        assert (row["Identifier?"] == "y") == spec.free_text
        if spec.minimum is not None:
            assert float(row["Text Validation Min"]) == spec.minimum
    assert frame.loc["episodes_organ_systems", "Field Type"] == "checkbox"
    assert frame.loc["episodes_severity", "Text Validation Type OR Show Slider Number"] == (
        "integer"
    )
    assert frame.loc["labs_collected_at", "Text Validation Type OR Show Slider Number"] == (
        "datetime_seconds_ymd"
    )
    assert frame.loc["labs_context", "Field Type"] == "dropdown"
    assert "tryptase," in frame.loc["labs_analyte", "Choices, Calculations, OR Slider Labels"]
    assert frame.loc["fss_1", "Field Type"] == "radio"
    assert frame.loc["active_stand_1", "Text Validation Max"] == "250"


def test_flat_records_have_repeat_columns_checkboxes_and_form_status(
    filled: Store, tmp_path: Path
) -> None:
    path = services.export_redcap(filled, tmp_path / "r.csv", identified=True).path
    assert path is not None
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns[:3]) == [
        "record_id",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
    ]
    assert {"episodes_organ_systems___skin", "episodes_complete", "fss_complete"} <= set(
        frame.columns
    )
    episodes = frame[frame["redcap_repeat_instrument"] == "episodes"]
    assert sorted(episodes["redcap_repeat_instance"]) == ["1", "1", "2", "2"]
    assert set(episodes["episodes_organ_systems___skin"]) == {"0", "1"}
    assert set(frame[frame["redcap_repeat_instrument"] == ""]["record_id"]) == {"IO-001", "IO-002"}


def test_records_parse_with_pycaps_own_dataframe_reader(filled: Store, tmp_path: Path) -> None:
    # PyCap reads CSV records into pandas with its own options (Records._read_csv); the
    # dictionary through the metadata reader's options.
    records = services.export_redcap(filled, tmp_path / "r.csv", identified=True).path
    assert records is not None
    project = Project("http://127.0.0.1:9/api/", TOKEN)
    frame = project._read_csv(io.StringIO(records.read_text()))
    assert len(frame) == len(pd.read_csv(records))
    dictionary = pd.read_csv(_dictionary(tmp_path), index_col=0)
    assert dictionary.index[0] == "record_id"


@pytest.mark.parametrize("record_type", ["flat", "eav"])
def test_records_round_trip_without_loss(filled: Store, tmp_path: Path, record_type: str) -> None:
    first = services.export_redcap(
        filled, tmp_path / "1.csv", record_type=record_type, identified=True
    ).path
    assert first is not None
    copy = _empty(tmp_path, "copy")
    report = services.import_redcap(copy, first, _dictionary(tmp_path))
    assert report.inserted["labs"] == 6 and report.inserted["questionnaires"] == 4
    before, after = services.stored_records(filled), services.stored_records(copy)
    for kind in before:
        assert len(before[kind]) == len(after[kind]), kind
    second = services.export_redcap(
        copy, tmp_path / "2.csv", record_type=record_type, identified=True
    ).path
    assert second is not None
    assert second.read_text() == first.read_text()
    again = services.import_redcap(copy, first, tmp_path / "dictionary.csv")
    assert set(again.inserted.values()) == {0}


def test_the_default_export_is_de_identified(filled: Store, tmp_path: Path) -> None:
    path = services.export_redcap(filled, tmp_path / "r.csv").path
    assert path is not None
    text = path.read_text()
    for secret in ("IO-001", "IO-002", SECRET_NOTE, "Dr Smith"):
        assert secret not in text
    assert filled.audit_entries()[-1]["action"] == "export"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _edit(path: Path, row: int, column: str, value: str) -> None:
    rows = _rows(path)
    rows[row][column] = value
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_a_value_the_dictionary_refuses_stops_the_whole_import(
    filled: Store, tmp_path: Path
) -> None:
    path = services.export_redcap(filled, tmp_path / "r.csv", identified=True).path
    assert path is not None
    rows = _rows(path)
    n = next(i for i, r in enumerate(rows) if r["redcap_repeat_instrument"] == "episodes")
    _edit(path, n, "episodes_severity", "11")
    copy = _empty(tmp_path, "copy")
    with pytest.raises(ValidationError) as caught:
        services.import_redcap(copy, path, _dictionary(tmp_path))
    [issue] = caught.value.issues
    assert issue.location == f"row {n + 2}, episodes_severity"
    assert issue.value == "11" and issue.expected == "at most 10"
    assert copy.row_counts()["clients"] == 0


def test_a_value_the_store_refuses_names_the_records_row(filled: Store, tmp_path: Path) -> None:
    path = services.export_redcap(filled, tmp_path / "r.csv", identified=True).path
    assert path is not None
    rows = _rows(path)
    n = next(i for i, r in enumerate(rows) if r["labs_analyte"] == "hs_crp")
    _edit(path, n, "labs_unit", "furlongs")
    copy = _empty(tmp_path, "copy")
    with pytest.raises(ValidationError) as caught:
        services.import_redcap(copy, path, _dictionary(tmp_path))
    assert [i.location for i in caught.value.issues] == [f"row {n + 2}, unit"]
    assert copy.row_counts()["lab_results"] == 0


def test_a_dictionary_without_redcaps_columns_is_refused(filled: Store, tmp_path: Path) -> None:
    path = services.export_redcap(filled, tmp_path / "r.csv", identified=True).path
    assert path is not None
    bad = tmp_path / "bad.csv"
    bad.write_text("field,form\nrecord_id,clients\n")
    with pytest.raises(ValidationError, match="not REDCap's 18 columns"):
        services.import_redcap(_empty(tmp_path, "copy"), path, bad)


# -- pull and push through PyCap against a local fake of the API ----------------------------------


def test_push_then_pull_through_pycap_moves_every_record(
    filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDCAP_TOKEN_FOR_TEST", TOKEN)
    project = FakeProject()
    with running(project) as url:
        pushed = services.push_redcap(filled, url, "REDCAP_TOKEN_FOR_TEST", identified=True)
        assert pushed.clients == 2
        assert [c["content"] for c in project.calls] == [
            "version",
            "metadata",
            "repeatingFormsEvents",
            "record",
        ]
        assert project.metadata[0]["field_name"] == "record_id"
        assert {r["form_name"] for r in project.repeating} >= {"labs", "meds", "episodes"}
        copy = _empty(tmp_path, "copy")
        report = services.pull_redcap(copy, url, "REDCAP_TOKEN_FOR_TEST")
    assert report.inserted == {k: len(v) for k, v in services.stored_records(filled).items() if v}
    assert all("token" not in call for call in project.calls)


def test_a_wrong_token_is_refused_by_the_api_and_reported(
    filled: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDCAP_TOKEN_FOR_TEST", "F" * 32)
    with running(FakeProject()) as url, pytest.raises(ConfigurationError, match="permissions"):
        services.pull_redcap(filled, url, "REDCAP_TOKEN_FOR_TEST")


def test_a_missing_token_variable_is_named(filled: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    with pytest.raises(ConfigurationError, match="NO_SUCH_TOKEN_VAR"):
        services.pull_redcap(filled, "http://127.0.0.1:9/api/", "NO_SUCH_TOKEN_VAR")
