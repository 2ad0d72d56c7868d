"""Web load benchmark (issue 14): a bounded loop of requests to the app on 127.0.0.1.

The store holds 500 clients and 20,000 labs. The app runs in its own process (uvicorn, one
worker); the load comes from an httpx AsyncClient with 8 concurrent users, a fixed number of
requests per endpoint, in this process. Timed: the client page, the timeline SVG and a lab form
post, against a trivial endpoint (``/healthz``) timed in the same run (the peer: what the
machine, uvicorn and the client themselves cost). Goal: client page p95 < 150 ms at 8
concurrent users on 2 cores. The load generator shares the 2 cores, so the ratios to the
trivial endpoint are the comparable numbers.

    python -m benchmarks.web_load [--clients 500] [--labs 20000] [--users 8] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from benchmarks.results_io import write_result
from hostcap.services import accounts
from hostcap.services.store import open_store

PASSWORD = "benchmark password 1"


def build_store(folder: Path, n_clients: int, n_labs: int) -> str:
    url = f"sqlite:///{folder / 'web.sqlite'}"
    store = open_store(url, require_schema=False)
    store.init()
    codes = [f"W{i:04d}" for i in range(n_clients)]
    clients = pd.DataFrame(
        {
            "client_code": codes,
            "sex": ["female", "male"] * (n_clients // 2) + ["female"] * (n_clients % 2),
            "birth_year": ["1980"] * n_clients,
        },
        dtype="string",
    )
    store.add_records("clients", clients, actor="benchmark")
    rng = np.random.default_rng(14)
    per = n_labs // n_clients
    rows = []
    start = pd.Timestamp("2024-01-01T08:00")
    for code in codes:
        for j in range(per):
            analyte, unit, base = (("tryptase", "ng/mL", 6.0), ("hs_crp", "mg/L", 2.0))[j % 2]
            rows.append(
                {
                    "client_code": code,
                    "analyte": analyte,
                    "value": f"{base * rng.lognormal(0, 0.2):.3f}",
                    "unit": unit,
                    "collected_at": (start + pd.Timedelta(days=7 * (j // 2))).strftime(
                        "%Y-%m-%dT%H:%M"
                    ),
                    "context": "baseline" if j < 2 else "routine",
                }
            )
    store.add_records("labs", pd.DataFrame(rows, dtype="string"), actor="benchmark")
    accounts.add_user(store, "bench", role="practitioner", password=PASSWORD, actor="benchmark")
    store.dispose()
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, HOSTCAP_DATABASE_URL=url)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "hostcap.web:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the web app did not start")


def sign_in(base: str) -> tuple[dict[str, str], str]:
    with httpx.Client(base_url=base) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        response = client.post(
            "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert response.status_code == 303, response.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/clients").text)
        assert csrf
        return dict(client.cookies.items()), csrf.group(1)


async def timed(
    client: httpx.AsyncClient,
    requests: list[tuple[str, str, dict[str, str] | None, int]],
    users: int,
) -> list[float]:
    """Run ``requests`` with ``users`` at a time; each one's latency in ms (status checked)."""
    queue: asyncio.Queue[tuple[str, str, dict[str, str] | None, int]] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    out: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            method, path, data, expected = queue.get_nowait()
            t0 = time.perf_counter()
            response = await client.request(method, path, data=data)
            out.append((time.perf_counter() - t0) * 1000)
            if response.status_code != expected:
                raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(users)))
    WALL[id(out)] = time.perf_counter() - started
    return out


#: Wall time of each timed batch (by the id of its latency list): throughput = n / wall.
WALL: dict[int, float] = {}


async def load(
    base: str, cookies: dict[str, str], csrf: str, codes: list[str], users: int, n: int
) -> dict[str, list[float]]:
    rng = np.random.default_rng(1)
    picks = [codes[i] for i in rng.integers(0, len(codes), n)]
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=base, cookies=cookies, limits=limits, timeout=120) as c:
        await timed(c, [("GET", f"/clients/{picks[0]}", None, 200)] * users, users)  # warm-up
        results = {
            "trivial (/healthz)": await timed(c, [("GET", "/healthz", None, 200)] * n, users),
            "client page": await timed(
                c, [("GET", f"/clients/{p}", None, 200) for p in picks], users
            ),
            "timeline SVG": await timed(
                c, [("GET", f"/clients/{p}/timeline.svg", None, 200) for p in picks], users
            ),
            "lab form post": await timed(
                c,
                [
                    (
                        "POST",
                        f"/clients/{p}/labs",
                        {
                            "csrf_token": csrf,
                            "analyte": "tryptase",
                            "value": "5.5",
                            "unit": "ng/mL",
                            "collected_at": f"2025-06-{1 + i // 1440 % 28:02d}T"
                            f"{i // 60 % 24:02d}:{i % 60:02d}",
                            "context": "routine",
                        },
                        303,
                    )
                    for i, p in enumerate(picks)
                ],
                users,
            ),
        }
        results["trivial (/healthz), again"] = await timed(
            c, [("GET", "/healthz", None, 200)] * n, users
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--labs", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        url = build_store(Path(tmp), args.clients, args.labs)
        built = time.perf_counter() - t0
        port = free_port()
        server = start_server(url, port)
        try:
            base = f"http://127.0.0.1:{port}"
            cookies, csrf = sign_in(base)
            codes = [f"W{i:04d}" for i in range(args.clients)]
            results = asyncio.run(load(base, cookies, csrf, codes, args.users, args.requests))
        finally:
            server.terminate()
            server.wait(timeout=30)
    trivial = float(np.percentile(results["trivial (/healthz)"], 50))
    rows: list[dict[str, Any]] = []
    for name, times in results.items():
        p50, p95 = (float(np.percentile(times, q)) for q in (50, 95))
        rows.append(
            {
                "endpoint": name,
                "n": len(times),
                "p50_ms": round(p50, 1),
                "p95_ms": round(p95, 1),
                "p50_vs_trivial": round(p50 / trivial, 1),
                "per_s": round(len(times) / WALL[id(times)], 1),
            }
        )
    lines = [
        "# Web load (issue 14)",
        "",
        f"{args.clients} clients, {args.labs} labs; {args.users} concurrent users; "
        f"{args.requests} requests per endpoint; app: uvicorn, 1 worker, own process; load from "
        f"httpx on the same machine ({os.cpu_count()} CPUs). Store built in {built:.1f} s.",
        "",
        "| endpoint | n | p50 ms | p95 ms | p50 / trivial p50 | requests/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['endpoint']} | {r['n']} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['p50_vs_trivial']} | {r['per_s']} |"
            for r in rows
        ),
        "",
        "Goal: client page p95 < 150 ms at 8 concurrent users on 2 cores. Every client page view "
        "writes an audit entry (hash-chained), and every form post a record and its entry.",
    ]
    path = write_result("web_load", {"args": vars(args), "rows": rows}, "\n".join(lines))
    print("\n".join(lines))
    print(f"written: {path}")


if __name__ == "__main__":
    main()
