"""CSV import: all or nothing, every problem with its row, dry runs write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostcap.clinical_store import Store
from hostcap.errors import ValidationError
from hostcap.services.store import import_file

HEADER = "client_code,analyte,value,unit,collected_at,context,hours_after_onset\n"


@pytest.fixture
def clients(store: Store) -> Store:
    store.add_client("A1", sex="female", birth_year=1980)
    store.add_client("B2", sex="male", birth_year=1975)
    return store


def _write(tmp_path: Path, body: str, name: str = "labs.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


GOOD = (
    "A1,tryptase,5.1,ng/mL,2026-01-05T09:00,baseline,\n"
    "A1,tryptase,14,ug/L,2026-02-05T11:00,acute,2\n"
    "B2,hs_crp,0.3,mg/dL,2026-01-06T08:30,routine,\n"
)


def test_a_valid_file_is_imported_in_one_batch_and_audited_once(
    clients: Store, tmp_path: Path
) -> None:
    report = import_file(clients, "labs", _write(tmp_path, GOOD))
    assert (report.inserted, report.dry_run) == (3, False)
    labs = clients.frame("labs")
    assert len(labs) == 3
    assert labs.loc[labs["analyte"] == "hs_crp", "value"].item() == pytest.approx(3.0)
    imports = [e for e in clients.audit_entries() if e["action"] == "import"]
    assert len(imports) == 1
    assert '"rows":3' in imports[0]["after"] and "source_sha256" in imports[0]["after"]


def test_one_bad_row_writes_nothing_and_every_problem_is_reported_with_its_row(
    clients: Store, tmp_path: Path
) -> None:
    before = clients.row_counts()
    body = GOOD + (
        "A1,tryptase,-3,ng/mL,2026-01-07T09:00,baseline,\n"  # row 5: hard limit
        "ZZ,tryptase,4,ng/mL,2026-01-07T09:00,baseline,\n"  # row 6: unknown client
        "B2,tryptase,abc,ng/mL,2026-01-08T09:00,baseline,\n"  # row 7: not a number
        "B2,tryptase,4,mmol/L,2026-01-09T09:00,baseline,\n"  # row 8: unit
        "B2,tryptase,4,ng/mL,2026-01-10T09:00,fasting,\n"  # row 9: context
    )
    with pytest.raises(ValidationError) as info:
        import_file(clients, "labs", _write(tmp_path, body))
    rows = sorted({i.location.split(",")[0] for i in info.value.issues if i.severity == "error"})
    assert rows == ["row 5", "row 6", "row 7", "row 8", "row 9"]
    assert "nothing was written" in str(info.value)
    assert "tryptase value -3 ng/mL is outside 0–2000 ng/mL" in info.value.report()
    assert clients.row_counts() == before


def test_duplicates_within_the_file_and_against_the_store_are_refused(
    clients: Store, tmp_path: Path
) -> None:
    import_file(clients, "labs", _write(tmp_path, GOOD))
    before = clients.row_counts()
    body = (
        "A1,tryptase,5.1,ng/mL,2026-01-05T09:00,baseline,\n"  # already stored
        "B2,tryptase,6,ng/mL,2026-03-01T09:00,baseline,\n"
        "B2,tryptase,6.5,ng/mL,2026-03-01T09:00,baseline,\n"  # repeats row 3
    )
    with pytest.raises(ValidationError) as info:
        import_file(clients, "labs", _write(tmp_path, body, "again.csv"))
    report = info.value.report()
    assert "already in the store" in report and "repeats row 3" in report
    assert clients.row_counts() == before


def test_dry_run_checks_everything_and_writes_nothing(clients: Store, tmp_path: Path) -> None:
    before = clients.row_counts()
    report = import_file(clients, "labs", _write(tmp_path, GOOD), dry_run=True)
    assert (report.dry_run, report.inserted) == (True, 3)
    assert clients.row_counts() == before


def test_a_header_typo_is_named_not_silently_dropped(clients: Store, tmp_path: Path) -> None:
    path = tmp_path / "typo.csv"
    path.write_text(
        "client_code,analyte,valeu,unit,collected_at\nA1,tryptase,4,ng/mL,2026-01-01T09:00\n"
    )
    with pytest.raises(ValidationError) as info:
        import_file(clients, "labs", path)
    assert "unknown column 'valeu'" in info.value.report()
    assert "required column 'value' is missing" in info.value.report()


def test_other_kinds_import_from_their_documented_columns(clients: Store, tmp_path: Path) -> None:
    meds = tmp_path / "meds.csv"
    meds.write_text(
        "client_code,drug,dose,unit,per_day,start,end\n"
        "A1,cetirizine,10,mg,2,2026-01-05,\n"
        "A1,famotidine,20,mg,2,2026-01-05,2026-03-01\n"
    )
    food = tmp_path / "food.csv"
    food.write_text(
        "client_code,food,date,reaction_grade\nA1,egg,2026-02-01,0\nA1,tomato,2026-02-08,2\n"
    )
    episodes = tmp_path / "episodes.csv"
    episodes.write_text(
        "client_code,onset_at,organ_systems,severity,emergency_care\n"
        "A1,2026-02-03T18:30,skin;gastrointestinal,5,false\n"
    )
    questionnaires = tmp_path / "q.csv"
    questionnaires.write_text(
        'client_code,instrument,answers,date\nA1,fss,"5,6,4,5,6,5,4,6,5",2026-01-05\n'
    )
    for kind, path in [
        ("meds", meds),
        ("food", food),
        ("episodes", episodes),
        ("questionnaires", questionnaires),
    ]:
        assert import_file(clients, kind, path).inserted >= 1
    counts = clients.row_counts()
    assert counts["medication_uses"] == 2 and counts["food_trials"] == 2
    assert counts["episodes"] == 1 and counts["questionnaire_responses"] == 1


def test_reported_ids_follow_the_file_rows_even_though_rows_are_written_in_key_order(
    clients: Store, tmp_path: Path
) -> None:
    # Rows out of key order: B2 before A1, later dates first.
    body = (
        "B2,hs_crp,0.3,mg/dL,2026-01-06T08:30,routine,\n"
        "A1,tryptase,14,ug/L,2026-02-05T11:00,acute,2\n"
        "A1,tryptase,5.1,ng/mL,2026-01-05T09:00,baseline,\n"
    )
    report = import_file(clients, "labs", _write(tmp_path, body))
    labs = clients.frame("labs").set_index("id")
    values = [float(labs.loc[i, "value"]) for i in report.ids]
    assert values == pytest.approx([3.0, 14.0, 5.1])
