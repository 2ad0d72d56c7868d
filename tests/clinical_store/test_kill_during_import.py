"""kill -9 during a large CSV import, on SQLite and PostgreSQL: nothing half-written.

A separate process runs the real import (``hostcap.services.store.import_file``) of a file of
LAB_ROWS lab results; it reports each phase it enters on its stdout (validating, inserting,
writing, inserted, committing, head) through thin wrappers around the store's own functions and
SQLAlchemy events, and the test sends SIGKILL at three moments: early (while the file is being
validated, the write transaction already open), in the middle (rows being written: SQLite's
multi-row INSERTs, PostgreSQL's id draw and COPY), and late (every row and the audit entry
written, COMMIT about to be sent: the worker holds there until it is killed). For each kill the
test asserts that the process was still running and had not reached the next phase, and sees the
open transaction from the database side (SQLite: the write lock is held; PostgreSQL: the
worker's backend is inside a transaction, and for the middle and late kills it had drawn ids).
Afterwards the store must hold exactly what it held before (every table, row by row), pass
SQLite's integrity check, verify (chain, head file, data), accept a new write and verify again;
then the same import, run through the CLI, completes with every row. Last, a kill after the
COMMIT but before the audit head file was moved forward: every row is in and the audit verifies
(the lagging head file is a note), and the next write moves it on.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from hostcap.clinical_store import Store
from hostcap.clinical_store.tables import Base
from hostcap.services.store import import_file

SRC = Path(__file__).resolve().parents[2] / "src"
CLIENTS = ("K1", "K2", "K3", "K4")
LAB_ROWS = 150_000
LATER_ROWS = 20_000
CLI = "import sys; from hostcap.cli.main import run; sys.argv[0] = 'hostcap'; run()"

# The worker: the real import, with each phase reported on stdout before it starts. Only the
# late kills stall the worker, where they are otherwise too brief to hit: at the database COMMIT
# (nothing left to do but commit) and after it, before the audit head file is moved forward.
WORKER = r"""
import os, sys, time
from sqlalchemy import event
from sqlalchemy.engine import Engine
import hostcap.clinical_store.record_writes as store_module
from hostcap.services.store import import_file, open_store

url, path, hold = sys.argv[1], sys.argv[2], sys.argv[3]

def mark(phase):
    os.write(1, (phase + "\n").encode())

def wrap(name, before, after=None):
    original = getattr(store_module, name)
    def wrapped(*args, **kwargs):
        mark(before)
        result = original(*args, **kwargs)
        if after:
            mark(after)
        return result
    setattr(store_module, name, wrapped)

store = open_store(url)
wrap("validate_records", "validating")
wrap("bulk_insert", "inserting", "inserted")

writing = []

@event.listens_for(Engine, "before_cursor_execute")
def _first_row_statement(conn, cursor, statement, parameters, context, executemany):
    # SQLite: the first multi-row INSERT; PostgreSQL: drawing the ids, then COPY.
    if not writing and (
        statement.startswith("INSERT INTO lab_results") or "('lab_results', 'id')" in statement
    ):
        writing.append(1)
        mark("writing")

@event.listens_for(Engine, "commit")
def _before_commit(conn):
    mark("committing")
    if hold == "commit":
        time.sleep(120)

# After the commit, the audit head file beside the key is moved forward.
from hostcap.clinical_store.audit_files import AuditFiles
advance_head = AuditFiles.advance_head

def held_advance_head(self, *args, **kwargs):
    mark("head")
    if hold == "head":
        time.sleep(120)
    return advance_head(self, *args, **kwargs)

AuditFiles.advance_head = held_advance_head

report = import_file(store, "labs", path)
mark(f"committed {report.inserted}")
"""


def _lab_file(path: Path, rows: int, *, start: dt.datetime = dt.datetime(2021, 1, 1)) -> Path:
    """``rows`` lab results for the four clients: one per client, analyte and minute."""
    analytes = (("tryptase", "ng/mL", "baseline"), ("hs_crp", "mg/L", "routine"))
    lines = ["client_code,analyte,value,unit,collected_at,context"]
    per_series = -(-rows // (len(CLIENTS) * len(analytes)))
    n = 0
    for code in CLIENTS:
        for analyte, unit, context in analytes:
            for i in range(per_series):
                if n == rows:
                    break
                when = start + dt.timedelta(minutes=i)
                lines.append(
                    f"{code},{analyte},{1 + (n % 97) / 10:.1f},{unit},"
                    f"{when:%Y-%m-%dT%H:%M},{context}"
                )
                n += 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _seed(store: Store, folder: Path) -> None:
    """A store with rows in several tables (so 'unchanged' means something)."""
    for code in CLIENTS:
        store.add_client(code, sex="female", birth_year=1975)
    body = "".join(
        f"{code},tryptase,{4 + k},ng/mL,2020-03-0{1 + k}T09:00,baseline\n"
        for code in CLIENTS
        for k in range(3)
    )
    path = folder / "seed.csv"
    path.write_text("client_code,analyte,value,unit,collected_at,context\n" + body, "utf-8")
    import_file(store, "labs", path)
    store.add_one(
        "meds",
        {
            "client_code": "K1",
            "drug": "cetirizine",
            "dose": "10",
            "unit": "mg",
            "per_day": "1",
            "start": "2020-02-01",
        },
    )
    store.add_one(
        "findings",
        {
            "client_code": "K2",
            "field": "findings.splenomegaly",
            "value": "false",
            "date": "2020-02-01",
        },
    )


def _snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in id order."""
    with store.reading() as session:
        return {
            name: [tuple(r) for r in session.execute(select(table).order_by(*table.primary_key))]
            for name, table in sorted(Base.metadata.tables.items())
        }


def _assert_verifies(store: Store) -> None:
    check = store.verify_audit()
    assert check.ok, [p.message for p in check.problems]


def _env() -> dict[str, str]:
    # The worker shares the test's audit key (PostgreSQL: under the user data folder).
    return {
        "PYTHONPATH": str(SRC),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],
    }


def _reader(stream: Any, lines: Queue[str]) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put("<eof>")


def _open_transaction(url: str) -> bool:
    """Whether another process holds an open write transaction on the store at ``url``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(parsed.database), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            return "locked" in str(exc)
        else:
            conn.execute("ROLLBACK")
            return False
        finally:
            conn.close()
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
            "AND state IN ('active', 'idle in transaction')"
        ).fetchone()
    return bool(row and row[0])


def _pg_ids_drawn(url: str) -> int:
    """The lab_results id sequence's last value (sequences are not rolled back)."""
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT last_value FROM lab_results_id_seq"  # owned by lab_results.id
        ).fetchone()
    assert row is not None
    return int(row[0])


def _kill_at(
    url: str,
    script: Path,
    data: Path,
    *,
    phase: str,
    delay: float,
    during: Callable[[], None] | None = None,
) -> list[str]:
    """Start the worker, wait until it reports ``phase``, wait ``delay``, check the transaction
    is open, SIGKILL it; returns the phases it had reported before it died."""
    proc = subprocess.Popen(
        [sys.executable, str(script), url, str(data), HOLD.get(phase, "-")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    lines: Queue[str] = Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 120
    try:
        while phase not in seen:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except Empty:
                pytest.fail(f"the worker did not reach {phase!r} in time (saw {seen})")
            if line == "<eof>":
                pytest.fail(f"the worker ended before {phase!r}: {seen}; {proc.stderr.read()}")
            seen.append(line)
        time.sleep(delay)
        if phase == "head":  # committed: no transaction left open
            assert not _open_transaction(url), "a transaction is open after the commit"
        else:
            assert _open_transaction(url), f"no open write transaction at {phase!r} + {delay} s"
        if during is not None:
            during()
        assert proc.poll() is None, "the worker finished before the kill"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Everything the worker wrote before it died is in the pipe (the reader drains it).
    while (line := lines.get(timeout=10)) != "<eof>":
        seen.append(line)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()
    assert "Traceback" not in stderr, stderr
    return seen


def _wait_released(url: str) -> None:
    """PostgreSQL ends the killed client's transaction when it sees the socket close."""
    deadline = time.monotonic() + 30
    while _open_transaction(url):
        assert time.monotonic() < deadline, "the killed worker's transaction is still open"
        time.sleep(0.05)


#: Where the worker holds until it is killed (the late moments, which are otherwise brief).
HOLD = {"committing": "commit", "head": "head"}

# phase, delay after it, the phase it must not have reached, what the moment is
MOMENTS = [
    ("validating", 0.3, "inserting", "early: validating the file"),
    ("writing", 0.3, "inserted", "middle: rows being written"),
    ("committing", 0.2, "committed", "late: every row written, COMMIT not yet sent"),
]


def test_kill_9_during_a_large_import_leaves_nothing_half_written(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    began = time.perf_counter()
    sqlite = store_url.startswith("sqlite")
    _seed(store, tmp_path)
    data = _lab_file(tmp_path / "labs.csv", LAB_ROWS)
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    timings: list[str] = []
    for n, (phase, delay, not_reached, label) in enumerate(MOMENTS):
        _assert_verifies(store)
        before = _snapshot(store)
        ids_before = 0 if sqlite else _pg_ids_drawn(store_url)
        ids_at_kill: list[int] = []

        def writing_seen(ids_at_kill: list[int] = ids_at_kill) -> None:
            # PostgreSQL: the ids the worker had drawn for its rows (its writing had begun).
            if not sqlite:
                ids_at_kill.append(_pg_ids_drawn(store_url))

        t0 = time.perf_counter()
        seen = _kill_at(store_url, script, data, phase=phase, delay=delay, during=writing_seen)
        timings.append(f"{phase} +{delay}s: killed after {time.perf_counter() - t0:.1f} s")
        assert phase in seen, (label, seen)
        assert not any(s.startswith(not_reached) for s in seen), (label, seen)
        if phase == "committing":  # the late kill came after every row was written
            assert "inserted" in seen, seen
        if not sqlite:
            if phase == "validating":
                assert ids_at_kill == [ids_before], "ids drawn before the insert began"
            else:
                assert ids_at_kill[0] > ids_before, (label, ids_at_kill, ids_before)
            _wait_released(store_url)

        # Nothing half-written: every table holds exactly what it held, row by row.
        after = _snapshot(store)
        assert after == before, label
        if sqlite:
            with store.engine.connect() as conn:
                assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        _assert_verifies(store)
        # The store takes a new write afterwards, and still verifies.
        report = store.add_one(
            "labs",
            {
                "client_code": CLIENTS[n % len(CLIENTS)],
                "analyte": "tryptase",
                "value": "6.5",
                "unit": "ng/mL",
                "collected_at": f"2020-05-0{1 + n}T10:00",
                "context": "baseline",
            },
        )
        assert len(report.ids) == 1
        _assert_verifies(store)

    # The same import, run to the end through the CLI, stores every row of the file.
    labs_before = len(store.frame("labs"))
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CLI, "import", "labs", str(data), "--database", store_url],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    timings.append(f"full import through the CLI: {time.perf_counter() - t0:.1f} s")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    labs = store.frame("labs")
    assert len(labs) == labs_before + LAB_ROWS
    assert labs.groupby("client_code").size().to_dict() == {
        code: LAB_ROWS // len(CLIENTS) + 3 + sum(1 for n in range(3) if n % 4 == i)
        for i, code in enumerate(CLIENTS)
    }
    if sqlite:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    _assert_verifies(store)

    # Killed after the COMMIT, before the audit head file beside the key was moved forward:
    # every row is in, and the audit verifies (the head file lagging behind is only a note);
    # the next write moves the head file on.
    later = _lab_file(tmp_path / "later.csv", LATER_ROWS, start=dt.datetime(2023, 1, 1))
    labs_before = len(store.frame("labs"))
    t0 = time.perf_counter()
    seen = _kill_at(store_url, script, later, phase="head", delay=0.2)
    timings.append(f"head file update: killed after {time.perf_counter() - t0:.1f} s")
    assert "committing" in seen and not any(s.startswith("committed") for s in seen), seen
    assert len(store.frame("labs")) == labs_before + LATER_ROWS
    check = store.verify_audit()
    assert check.ok, [p.message for p in check.problems]
    assert any("written after the head file was last updated" in n for n in check.notes)
    store.add_one(
        "labs",
        {
            "client_code": "K1",
            "analyte": "tryptase",
            "value": "7",
            "unit": "ng/mL",
            "collected_at": "2020-06-01T10:00",
            "context": "baseline",
        },
    )
    check = store.verify_audit()
    assert check.ok and check.notes == (), (check.problems, check.notes)
    print(
        f"{make_url(store_url).get_backend_name()}: {'; '.join(timings)}; "
        f"total {time.perf_counter() - began:.1f} s"
    )
