"""Concurrent writers on SQLite and PostgreSQL: three processes adding labs one by one while a
fourth imports files, all at once. Nothing may be lost, nothing may raise, and the audit chain
must stay intact (real databases, real processes; no mocks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from hostcap.clinical_store import Store

SRC = Path(__file__).resolve().parents[2] / "src"
WRITERS = 3
WRITES_EACH = 100
IMPORTS = 4
IMPORT_ROWS = 250

WORKER = """
import json, sys, datetime as dt
from hostcap.services.store import import_file, open_store

url, role, code, n, folder = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
store = open_store(url)
errors, ids = [], []
start = dt.datetime(2025, 1, 1, 8, 0)
if role == "writer":
    for i in range(n):
        when = start + dt.timedelta(minutes=i)
        try:
            report = store.add_one(
                "labs",
                {
                    "client_code": code,
                    "analyte": "tryptase",
                    "value": str(5 + i % 7),
                    "unit": "ng/mL",
                    "collected_at": when.strftime("%Y-%m-%dT%H:%M"),
                    "context": "baseline",
                },
            )
            ids.extend(report.ids)
        except Exception as exc:  # the test asserts there are none
            errors.append(repr(exc))
else:
    for k in range(n):
        path = f"{folder}/import_{k}.csv"
        try:
            ids.extend(import_file(store, "labs", path).ids)
        except Exception as exc:
            errors.append(repr(exc))
store.dispose()
print(json.dumps({"errors": errors, "ids": ids}))
"""


def _import_files(folder: Path, code: str) -> None:
    for k in range(IMPORTS):
        lines = ["client_code,analyte,value,unit,collected_at,context"]
        for i in range(IMPORT_ROWS):
            day = 1 + (k * IMPORT_ROWS + i) // 96
            minute = ((k * IMPORT_ROWS + i) % 96) * 15
            lines.append(
                f"{code},hs_crp,{1 + i % 5},mg/L,2025-03-{day:02d}T{minute // 60:02d}:"
                f"{minute % 60:02d},routine"
            )
        (folder / f"import_{k}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_three_writers_and_an_import_at_once_lose_nothing_and_raise_nothing(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    codes = [f"W{i}" for i in range(WRITERS)]
    for code in [*codes, "IMP"]:
        store.add_client(code, sex="female", birth_year=1980)
    _import_files(tmp_path, "IMP")
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    # The workers share the test's audit key (the user data folder the conftest points at).
    env = {
        "PYTHONPATH": str(SRC),
        "PATH": "/usr/bin:/bin",
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],
    }
    jobs = [(role, code, n) for role, code, n in [("writer", c, WRITES_EACH) for c in codes]]
    jobs.append(("importer", "IMP", IMPORTS))
    began = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), store_url, role, code, str(n), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for role, code, n in jobs
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = time.perf_counter() - began
    errors = [e for r in results for e in r["errors"]]
    assert errors == [], errors[:5]
    ids = [i for r in results for i in r["ids"]]
    expected = WRITERS * WRITES_EACH + IMPORTS * IMPORT_ROWS
    # Every write got its own ids back, and exactly those rows are in the table.
    assert len(ids) == len(set(ids)) == expected
    labs = store.frame("labs")
    assert len(labs) == expected
    assert sorted(labs["id"]) == sorted(ids)
    counts = labs.groupby("client_code").size().to_dict()
    assert counts == {**dict.fromkeys(codes, WRITES_EACH), "IMP": IMPORTS * IMPORT_ROWS}
    check = store.verify_audit()
    assert check.ok, [p.message for p in check.problems]
    actions = [e["action"] for e in store.audit_entries() if e["entity"] == "lab_results"]
    assert actions.count("create") == WRITERS * WRITES_EACH
    assert actions.count("import") == IMPORTS
    print(f"{store_url.split(':')[0]}: {expected} rows by 4 processes in {elapsed:.1f} s")
