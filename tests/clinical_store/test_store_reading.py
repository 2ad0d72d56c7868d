"""How the store reads: pooled SQLite connections that keep their pragmas, read transactions
that do not take the write lock, and one snapshot per page (one state, each frame read once)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pandas as pd
from sqlalchemy import event, text

from hostcap.clinical_store import Store


def _lab(code: str, value: str, when: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "client_code": code,
                "analyte": "tryptase",
                "value": value,
                "unit": "ng/mL",
                "collected_at": when,
                "context": "baseline",
            }
        ],
        dtype="string",
    )


def test_sqlite_reads_reuse_pooled_connections_that_keep_their_pragmas(
    sqlite_store: Store,
) -> None:
    opened: list[object] = []
    event.listen(sqlite_store.engine.pool, "connect", lambda *_: opened.append(1))
    for _ in range(5):
        with sqlite_store.reading() as session:
            foreign_keys = session.execute(text("PRAGMA foreign_keys")).scalar_one()
            busy = session.execute(text("PRAGMA busy_timeout")).scalar_one()
            journal = session.execute(text("PRAGMA journal_mode")).scalar_one()
        assert (foreign_keys, busy, journal) == (1, 30000, "wal")
    sqlite_store.list_clients()
    assert len(opened) <= 1  # at most one new connection for six reads


def test_a_reading_session_does_not_hold_the_write_lock(
    sqlite_store: Store, tmp_path: Path
) -> None:
    sqlite_store.add_client("C001", sex="female", birth_year=1985)
    with sqlite_store.reading() as session:
        session.execute(text("SELECT count(*) FROM clients")).scalar_one()
        other = sqlite3.connect(tmp_path / "store.sqlite", timeout=0.2, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the reader held it
            other.execute("ROLLBACK")
        finally:
            other.close()


def test_writes_still_begin_immediate_and_a_second_writer_waits(
    sqlite_store: Store, tmp_path: Path
) -> None:
    statements: list[str] = []
    event.listen(
        sqlite_store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: statements.append(statement),
    )
    sqlite_store.add_client("C001", sex="female", birth_year=1985)
    assert "BEGIN IMMEDIATE" in statements
    with sqlite_store.transaction() as session:
        session.execute(text("SELECT count(*) FROM clients")).scalar_one()
        other = sqlite3.connect(tmp_path / "store.sqlite", timeout=0.2, isolation_level=None)
        try:
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
            else:
                raise AssertionError("a second writer got the lock during a write transaction")
        finally:
            other.close()


def test_a_snapshot_reads_each_frame_once_and_hands_out_copies(store: Store) -> None:
    store.add_client("C001", sex="female", birth_year=1985)
    store.add_records("labs", _lab("C001", "5.1", "2024-01-02T08:00"), actor="test")
    queries: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: queries.append(statement),
    )
    with store.snapshot():
        first = store.frame("labs", code="C001")
        first.loc[0, "value"] = -1.0
        second = store.frame("labs", code="C001")
    lab_queries = [q for q in queries if "lab_results" in q]
    assert len(lab_queries) == 1
    assert float(second.loc[0, "value"]) == 5.1
    assert float(store.frame("labs", code="C001").loc[0, "value"]) == 5.1


def test_a_snapshot_sees_one_state_and_a_later_read_sees_the_new_record(
    sqlite_store: Store,
) -> None:
    sqlite_store.add_client("C001", sex="female", birth_year=1985)
    sqlite_store.add_records("labs", _lab("C001", "5.1", "2024-01-02T08:00"), actor="test")
    other = Store(sqlite_store.url)
    try:
        with sqlite_store.snapshot():
            before = len(sqlite_store.frame("labs", code="C001"))
            other.add_records("labs", _lab("C001", "6.0", "2024-02-02T08:00"), actor="test")
            with sqlite_store.reading() as session:
                count = session.execute(text("SELECT count(*) FROM lab_results")).scalar_one()
        assert (before, count) == (1, 1)
        assert len(sqlite_store.frame("labs", code="C001")) == 2
    finally:
        other.dispose()


def test_writers_in_threads_of_one_process_queue_and_lose_nothing(sqlite_store: Store) -> None:
    sqlite_store.add_client("C001", sex="female", birth_year=1985)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(10):
                when = f"2024-{1 + worker:02d}-{1 + i:02d}T08:00"
                sqlite_store.add_records("labs", _lab("C001", "5.0", when), actor=f"w{worker}")
                with sqlite_store.snapshot():  # a reader in the same thread between writes
                    sqlite_store.frame("labs", code="C001")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(sqlite_store.frame("labs", code="C001")) == 80
    assert sqlite_store.verify_audit().ok
