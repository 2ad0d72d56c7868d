"""De-identified export by default, audited identified export, verified SQLite backups."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from hostcap.clinical_store import Store
from hostcap.errors import ConfigurationError, IntegrityError
from hostcap.services.store import export_store


def _fill(store: Store) -> None:
    store.add_client(
        "A1",
        sex="female",
        birth_year=1930,
        identity={"full_name": "Ada Example", "email": "ada@example.org"},
    )
    store.add_enrolment("A1", protocol="gut_first", started_on=dt.date(2026, 1, 1))
    store.add_one(
        "labs",
        {
            "client_code": "A1",
            "analyte": "tryptase",
            "value": "5",
            "unit": "ng/mL",
            "collected_at": "2026-01-15T09:00",
        },
    )


def test_default_export_has_codes_and_days_but_no_identity_or_dates(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    paths = export_store(store, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(
        [
            "clients.csv",
            "labs.csv",
            "medications.csv",
            "questionnaires.csv",
            "food_trials.csv",
            "episodes.csv",
            "interventions.csv",
            "findings.csv",
            "visits.csv",
        ]
    )
    text = "".join(p.read_text() for p in paths)
    assert "Ada" not in text and "example.org" not in text and "2026-01-15" not in text
    clients = pd.read_csv(tmp_path / "out" / "clients.csv")
    assert clients["age_at_day0"].tolist() == [90]  # ages over 89 are aggregated
    labs = pd.read_csv(tmp_path / "out" / "labs.csv")
    assert labs["collected_day"].tolist() == [14]
    assert "collected_at" not in labs.columns
    assert store.audit_entries()[-1]["action"] == "export"


def test_identified_export_includes_identity_and_is_audited(store: Store, tmp_path: Path) -> None:
    _fill(store)
    export_store(store, tmp_path / "out", identified=True)
    clients = pd.read_csv(tmp_path / "out" / "clients.csv")
    assert clients["full_name"].tolist() == ["Ada Example"]
    labs = pd.read_csv(tmp_path / "out" / "labs.csv")
    assert labs["collected_at"].str.startswith("2026-01-15").all()
    assert store.audit_entries()[-1]["action"] == "export_identified"


def test_backup_is_a_verified_copy_that_restores(sqlite_store: Store, tmp_path: Path) -> None:
    _fill(sqlite_store)
    target = tmp_path / "copy.sqlite"
    counts = sqlite_store.backup(target)
    assert counts["lab_results"] == 1
    restored = Store(f"sqlite:///{target}")
    try:
        restored.ensure_ready()
        assert restored.frame("labs")["value"].tolist() == [5.0]
        assert restored.verify_audit().ok
        assert restored.row_counts() == sqlite_store.row_counts()
    finally:
        restored.dispose()


def test_backup_verification_notices_a_copy_that_differs(
    sqlite_store: Store, tmp_path: Path
) -> None:
    _fill(sqlite_store)
    target = tmp_path / "copy.sqlite"
    sqlite_store.backup(target)
    sqlite_store.add_client("B2", sex="male", birth_year=1990)
    with pytest.raises(IntegrityError, match="row counts"):
        sqlite_store.verify_backup(target)


@pytest.mark.postgres
def test_backup_of_a_postgresql_store_points_to_pg_dump(store_url: str, tmp_path: Path) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    store = Store(store_url)
    try:
        with pytest.raises(ConfigurationError, match="pg_dump"):
            store.backup(tmp_path / "x.sqlite")
    finally:
        store.dispose()
