"""hostcap restore: a backup is verified before it replaces the store; the old store is kept."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from hostcap.clinical_store import Store, restore_sqlite_backup
from hostcap.errors import ConfigurationError, InputError, IntegrityError
from hostcap.services.store import restore_store


def _store(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    store.init()
    store.add_client("R1", sex="female", birth_year=1980)
    return store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _kept(folder: Path) -> list[Path]:
    """The kept old stores (their audit key, head and lock files beside them left out)."""
    return sorted(
        p
        for p in folder.glob("store.sqlite.before-restore-*")
        if not p.name.endswith((".audit-key", ".head", ".lock"))
    )


def test_restore_round_trip_keeps_the_old_store_private(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = _store(path)
    store.backup(tmp_path / "b.sqlite")
    store.add_client("R2", sex="male", birth_year=1990)
    store.dispose()
    report = restore_store(f"sqlite:///{path}", tmp_path / "b.sqlite", force=True)
    assert report.kept is not None and _kept(tmp_path) == [report.kept]
    assert _mode(path) == 0o600 and _mode(report.kept) == 0o600
    restored, old = Store(f"sqlite:///{path}"), Store(f"sqlite:///{report.kept}")
    try:
        assert [c["code"] for c in restored.list_clients()] == ["R1"]
        assert [c["code"] for c in old.list_clients()] == ["R1", "R2"]
        # The restored chain is shorter than the one it replaced: its head file was reset, so
        # it verifies intact; the kept store verifies with the key and head kept beside it.
        check = restored.verify_audit()
        assert check.ok, check.problems
        assert restored.audit_entries()[-1]["action"] == "restore"
        kept_check = old.verify_audit()
        assert kept_check.ok, kept_check.problems
        assert _mode(report.kept.with_name(report.kept.name + ".audit-key")) == 0o600
    finally:
        restored.dispose()
        old.dispose()
    assert not list(tmp_path.glob(".*tmp*"))


def test_restore_over_an_existing_store_needs_force(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _store(path).backup(tmp_path / "b.sqlite")
    before = path.read_bytes()
    with pytest.raises(InputError, match="--force"):
        restore_store(f"sqlite:///{path}", tmp_path / "b.sqlite")
    assert path.read_bytes() == before and _kept(tmp_path) == []


def test_restore_into_a_new_path_needs_no_force(tmp_path: Path) -> None:
    _store(tmp_path / "store.sqlite").backup(tmp_path / "b.sqlite")
    report = restore_store(f"sqlite:///{tmp_path / 'new.sqlite'}", tmp_path / "b.sqlite")
    assert report.kept is None and report.rows["clients"] == 1
    assert _mode(tmp_path / "new.sqlite") == 0o600


def test_a_corrupted_backup_is_refused_and_the_store_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _store(path).backup(tmp_path / "b.sqlite")
    data = bytearray((tmp_path / "b.sqlite").read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every b-tree page header destroyed
        data[start : start + 8] = b"\x0d\xff\xff\xff\xff\xff\xff\xff"
    (tmp_path / "bad.sqlite").write_bytes(bytes(data))
    before = path.read_bytes()
    with pytest.raises(IntegrityError, match="nothing was restored"):
        restore_store(f"sqlite:///{path}", tmp_path / "bad.sqlite", force=True)
    assert path.read_bytes() == before and _kept(tmp_path) == []
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _store(path).dispose()
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(IntegrityError, match="not a readable SQLite database"):
        restore_store(f"sqlite:///{path}", tmp_path / "junk.sqlite", force=True)


def test_a_backup_with_a_tampered_audit_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    _store(path).backup(tmp_path / "b.sqlite")
    with sqlite3.connect(tmp_path / "b.sqlite") as conn:
        conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(IntegrityError, match="audit verification"):
        restore_store(f"sqlite:///{path}", tmp_path / "b.sqlite", force=True)
    assert path.read_bytes() == before


def test_a_missing_backup_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        restore_store(f"sqlite:///{tmp_path / 's.sqlite'}", tmp_path / "none.sqlite")


@pytest.mark.postgres
def test_restore_into_postgresql_points_to_pg_restore(store_url: str, tmp_path: Path) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    store = Store(store_url)
    try:
        with pytest.raises(ConfigurationError, match="pg_restore"):
            restore_sqlite_backup(store, tmp_path / "b.sqlite")
    finally:
        store.dispose()


def test_a_truncated_backup_is_refused_by_the_head_kept_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    store = _store(path)
    store.add_client("R2", sex="male", birth_year=1990)
    store.backup(tmp_path / "b.sqlite")
    store.dispose()
    with sqlite3.connect(tmp_path / "b.sqlite") as conn:
        last, previous = conn.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 2"
        ).fetchall()
        conn.execute("DELETE FROM clients WHERE code = 'R2'")
        conn.execute("DELETE FROM audit_log WHERE seq = ?", (last[0],))
        conn.execute("UPDATE audit_head SET seq = ?, last_hash = ?", previous)
    conn.close()
    before = path.read_bytes()
    with pytest.raises(IntegrityError, match="audit verification"):
        restore_store(f"sqlite:///{path}", tmp_path / "b.sqlite", force=True)
    assert path.read_bytes() == before and _kept(tmp_path) == []


def test_a_backup_of_another_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = _store(tmp_path / "other" / "store.sqlite")
    other.backup(tmp_path / "other.sqlite")
    other.dispose()
    path = tmp_path / "store.sqlite"
    _store(path).dispose()
    before = path.read_bytes()
    with pytest.raises(IntegrityError, match="another audit key"):
        restore_store(f"sqlite:///{path}", tmp_path / "other.sqlite", force=True)
    assert path.read_bytes() == before
