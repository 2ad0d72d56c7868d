"""De-identified export by default (pseudonyms, no free text), audited identified export with a
manifest, verified private SQLite backups written without following links."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from hostcap.clinical_store import KINDS, Store
from hostcap.clinical_store.export import EXPORT_FILES
from hostcap.errors import ConfigurationError, InputError, IntegrityError
from hostcap.services.store import export_store

NOTE = "Jane Smith, ph 555-0100"
CODE = "JaneSmith-1985-03-12"
CSV_NAMES = sorted(EXPORT_FILES.values())


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


def _fill_free_text(store: Store) -> None:
    """A client whose code is identifying, with the note in every free-text field there is."""
    store.add_client(CODE, sex="female", birth_year=1985)
    store.add_client("B2", sex="male", birth_year=1970)
    for code in (CODE, "B2"):
        store.add_one("visits", {"client_code": code, "date": "2026-01-05", "notes": NOTE})
        store.add_one(
            "labs",
            {
                "client_code": code,
                "analyte": "tryptase",
                "value": "5",
                "unit": "ng/mL",
                "collected_at": "2026-01-15T09:00",
            },
        )
    store.add_one(
        "episodes",
        {
            "client_code": CODE,
            "onset_at": "2026-01-10T08:00",
            "organ_systems": "skin",
            "severity": "3",
            "treatment": NOTE,
            "notes": NOTE,
        },
    )
    store.add_one(
        "findings",
        {
            "client_code": CODE,
            "field": "findings.splenomegaly",
            "value": "false",
            "date": "2026-01-05",
            "source": NOTE,
        },
    )
    store.add_one(
        "food",
        {
            "client_code": CODE,
            "food": "rice",
            "date": "2026-01-06",
            "reaction_grade": "0",
            "notes": NOTE,
        },
    )
    store.add_one(
        "interventions",
        {
            "client_code": CODE,
            "intervention": "prebiotic",
            "dose": "5",
            "unit": "g/d",
            "start": "2026-01-05",
            "phase": NOTE,
        },
    )


def _text(paths: list[Path]) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in paths)


def _pseudonyms(folder: Path) -> dict[str, set[str]]:
    return {
        name: set(pd.read_csv(folder / name)["client_pseudonym"].dropna()) for name in CSV_NAMES
    }


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_export_has_pseudonyms_and_days_but_no_identity_or_dates(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    paths = export_store(store, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted([*CSV_NAMES, "README.txt", "manifest.json"])
    text = _text(paths)
    assert "Ada" not in text and "example.org" not in text and "2026-01-15" not in text
    assert "A1" not in text
    clients = pd.read_csv(tmp_path / "out" / "clients.csv")
    assert clients["age_at_day0"].tolist() == [90]  # ages over 89 are aggregated
    assert clients["client_pseudonym"].str.fullmatch(r"P-[2-9A-Z]{6}").all()
    labs = pd.read_csv(tmp_path / "out" / "labs.csv")
    assert labs["collected_day"].tolist() == [14]
    assert "collected_at" not in labs.columns
    assert store.audit_entries()[-1]["action"] == "export"


def test_every_free_text_column_is_declared_and_stored_under_its_name() -> None:
    declared = {k: spec.free_text_columns for k, spec in KINDS.items() if spec.free_text_columns}
    assert declared == {
        "food": ("notes",),
        "episodes": ("treatment", "notes"),
        "findings": ("source",),
        "visits": ("notes",),
        "interventions": ("phase",),
    }
    for kind, columns in declared.items():
        table_columns = set(KINDS[kind].table.__table__.columns.keys())
        assert set(columns) <= table_columns, kind


def test_a_note_and_an_identifying_code_never_leave_in_a_default_export(
    store: Store, tmp_path: Path
) -> None:
    _fill_free_text(store)
    paths = export_store(store, tmp_path / "out")
    text = _text(paths)
    for leak in ("Jane", "Smith", "555-0100", CODE, "1985-03-12"):
        assert leak not in text, leak
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["kind"] == "de-identified"
    assert manifest["free_text_included"] is False and manifest["review_required"] is False
    assert manifest["pseudonym_mapping"] is None
    assert not (tmp_path / "out" / "pseudonyms.csv").exists()
    assert sorted(f["name"] for f in manifest["files"]) == CSV_NAMES
    episodes = pd.read_csv(tmp_path / "out" / "episodes.csv")
    assert "treatment" not in episodes.columns and "notes" not in episodes.columns


def test_free_text_is_exported_only_on_request_and_marked_for_review(
    store: Store, tmp_path: Path
) -> None:
    _fill_free_text(store)
    paths = export_store(store, tmp_path / "out", include_free_text=True)
    assert NOTE in (tmp_path / "out" / "visits.csv").read_text()
    assert NOTE in (tmp_path / "out" / "interventions.csv").read_text()
    assert CODE not in _text(paths)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["free_text_included"] is True and manifest["review_required"] is True
    assert manifest["free_text_columns"]["episodes.csv"] == ["treatment", "notes"]
    readme = (tmp_path / "out" / "README.txt").read_text()
    assert "REVIEW BEFORE SHARING" in readme
    assert json.loads(store.audit_entries()[-1]["after"])["free_text_included"] is True


def test_pseudonyms_agree_across_files_and_differ_between_exports(
    store: Store, tmp_path: Path
) -> None:
    _fill_free_text(store)
    export_store(store, tmp_path / "one")
    export_store(store, tmp_path / "two")
    one, two = _pseudonyms(tmp_path / "one"), _pseudonyms(tmp_path / "two")
    clients_one = one.pop("clients.csv")
    assert len(clients_one) == 2
    for name, found in one.items():
        assert found <= clients_one, name
    assert set().union(*one.values()) == clients_one  # labs and visits name both clients
    assert clients_one.isdisjoint(two["clients.csv"])


def test_only_an_identified_export_holds_the_mapping_and_its_files_are_private(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    _fill_free_text(store)
    paths = export_store(store, tmp_path / "out", identified=True)
    clients = pd.read_csv(tmp_path / "out" / "clients.csv")
    assert "Ada Example" in clients["full_name"].tolist()
    mapping = pd.read_csv(tmp_path / "out" / "pseudonyms.csv")
    assert set(mapping["client_code"]) == {"A1", "B2", CODE}
    assert set(mapping["client_pseudonym"]) == set(clients["client_pseudonym"])
    labs = pd.read_csv(tmp_path / "out" / "labs.csv")
    assert labs["collected_at"].str.startswith("2026-01-15").all()
    assert NOTE not in (tmp_path / "out" / "visits.csv").read_text()  # free text still opt-in
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["kind"] == "identified" and manifest["pseudonym_mapping"] == "pseudonyms.csv"
    assert manifest["hostcap_version"] and manifest["created_at"].endswith("+00:00")
    assert {_mode(p) for p in paths} == {0o600}
    assert store.audit_entries()[-1]["action"] == "export_identified"


def test_identified_and_de_identified_exports_never_share_a_folder(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    export_store(store, tmp_path / "plain")
    before = {p.name: p.read_bytes() for p in (tmp_path / "plain").iterdir()}
    with pytest.raises(InputError, match="holds a de-identified export"):
        export_store(store, tmp_path / "plain", identified=True, force=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "plain").iterdir()} == before
    export_store(store, tmp_path / "secret", identified=True)
    with pytest.raises(InputError, match="holds an identified export"):
        export_store(store, tmp_path / "secret", force=True)


def test_an_export_is_not_written_over_without_force(store: Store, tmp_path: Path) -> None:
    _fill(store)
    export_store(store, tmp_path / "out")
    first = (tmp_path / "out" / "clients.csv").read_text()
    with pytest.raises(InputError, match=r"already exists.*--force"):
        export_store(store, tmp_path / "out")
    assert (tmp_path / "out" / "clients.csv").read_text() == first
    export_store(store, tmp_path / "out", force=True)
    assert (tmp_path / "out" / "clients.csv").read_text() != first  # a fresh pseudonym


def test_a_link_planted_in_the_export_folder_is_refused_and_its_target_untouched(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "labs.csv").symlink_to(victim)
    for force in (False, True):
        with pytest.raises(InputError, match="symbolic link"):
            export_store(store, out, force=force)
    assert victim.read_text() == "precious\n"
    assert (out / "labs.csv").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["labs.csv"]  # nothing else written


def test_backup_is_a_private_verified_copy_that_restores(
    sqlite_store: Store, tmp_path: Path
) -> None:
    _fill(sqlite_store)
    target = tmp_path / "copy.sqlite"
    counts = sqlite_store.backup(target)
    assert counts["lab_results"] == 1
    assert _mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    restored = Store(f"sqlite:///{target}")
    try:
        restored.ensure_ready()
        assert restored.frame("labs")["value"].tolist() == [5.0]
        assert restored.verify_audit().ok
        assert restored.row_counts() == sqlite_store.row_counts()
    finally:
        restored.dispose()


def test_a_new_sqlite_store_is_created_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        store = Store(f"sqlite:///{tmp_path / 'new.sqlite'}")
        store.init()
        store.dispose()
    finally:
        os.umask(old)
    assert _mode(tmp_path / "new.sqlite") == 0o600


def test_a_folder_as_sqlite_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is a folder"):
        Store(f"sqlite:///{tmp_path}")


def test_backup_refuses_an_existing_file_unless_forced(sqlite_store: Store, tmp_path: Path) -> None:
    _fill(sqlite_store)
    target = tmp_path / "copy.sqlite"
    target.write_text("older backup")
    with pytest.raises(InputError, match="already exists"):
        sqlite_store.backup(target)
    assert target.read_text() == "older backup"
    sqlite_store.backup(target, force=True)
    assert _mode(target) == 0o600 and target.stat().st_size > 1000


def test_backup_through_a_dangling_link_is_refused(sqlite_store: Store, tmp_path: Path) -> None:
    _fill(sqlite_store)
    link = tmp_path / "backup.sqlite"
    link.symlink_to(tmp_path / "elsewhere.sqlite")
    for force in (False, True):
        with pytest.raises(InputError, match="symbolic link"):
            sqlite_store.backup(link, force=force)
    assert not (tmp_path / "elsewhere.sqlite").exists()
    assert link.is_symlink()


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


def test_init_tightens_an_older_world_readable_store_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = Store(f"sqlite:///{path}")
    store.init()
    store.dispose()
    path.chmod(0o644)  # as stores were created before files were made private
    again = Store(f"sqlite:///{path}")
    again.init()
    again.dispose()
    assert path.stat().st_mode & 0o777 == 0o600
