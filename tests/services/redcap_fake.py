"""A small local fake of REDCap's ``POST /api/`` for contract tests of pull and push.

It answers what hostcap's PyCap calls need — ``version``, ``metadata`` (export/import),
``record`` (export flat or EAV, import; JSON or CSV), ``repeatingFormsEvents`` (import) — checks
the token and listens on 127.0.0.1 only. It is a contract test of how hostcap drives PyCap,
not a test of REDCap: REDCap's own validation is not reproduced.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

TOKEN = "0123456789ABCDEF0123456789ABCDEF"
VERSION = "14.5.10"


@dataclass
class FakeProject:
    """What the fake REDCap project holds, and every request it was sent (without the token)."""

    token: str = TOKEN
    metadata: list[dict[str, str]] = field(default_factory=list)
    records: list[dict[str, str]] = field(default_factory=list)
    repeating: list[dict[str, str]] = field(default_factory=list)
    calls: list[dict[str, str]] = field(default_factory=list)


def _rows(data: str, fmt: str) -> list[dict[str, str]]:
    if fmt == "csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(data))]
    return [{k: "" if v is None else str(v) for k, v in r.items()} for r in json.loads(data)]


def _reply(rows: list[dict[str, str]], fmt: str) -> Response:
    if fmt == "csv":
        buffer = io.StringIO()
        header = list(rows[0]) if rows else []
        writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return PlainTextResponse(buffer.getvalue())
    return JSONResponse(rows)


def _eav(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for row in rows:
        for name, value in row.items():
            if name in ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance"):
                continue
            if value == "" or ("___" in name and value == "0"):
                continue
            base, _, code = name.partition("___")
            out.append(
                {
                    "record": row["record_id"],
                    "field_name": base,
                    "value": code or value,
                    "redcap_repeat_instrument": row.get("redcap_repeat_instrument", ""),
                    "redcap_repeat_instance": row.get("redcap_repeat_instance", ""),
                }
            )
    return out


def make_app(project: FakeProject) -> Starlette:
    async def api(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        project.calls.append({k: v for k, v in form.items() if k != "token"})
        error_format = form.get("returnFormat", form.get("format", "xml"))
        if form.get("token") != project.token:
            message = "You do not have permissions to use the API"
            if error_format == "json":
                return JSONResponse({"error": message}, status_code=403)
            return PlainTextResponse(f"ERROR: {message}", status_code=403)
        content = form.get("content")
        fmt = form.get("format", "xml")
        if content == "version":
            return PlainTextResponse(VERSION)
        if content == "metadata" and "data" in form:
            project.metadata = _rows(form["data"], fmt)
            return JSONResponse(len(project.metadata))
        if content == "metadata":
            return _reply(project.metadata, fmt)
        if content == "repeatingFormsEvents" and "data" in form:
            project.repeating = _rows(form["data"], fmt)
            return JSONResponse(len(project.repeating))
        if content == "record" and "data" in form:
            incoming = _rows(form["data"], fmt)
            key = ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance")
            kept = {tuple(r.get(k, "") for k in key): r for r in project.records}
            for row in incoming:
                kept[tuple(row.get(k, "") for k in key)] = row
            project.records = list(kept.values())
            return JSONResponse({"count": len({r["record_id"] for r in incoming})})
        if content == "record":
            rows = _eav(project.records) if form.get("type") == "eav" else project.records
            return _reply(rows, fmt)
        return JSONResponse({"error": f"content {content!r} is not in this fake"}, status_code=400)

    return Starlette(routes=[Route("/api/", api, methods=["POST"])])


@contextmanager
def running(project: FakeProject) -> Iterator[str]:
    """Serve ``project`` on 127.0.0.1 (a free port) in a thread; yields the API address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        make_app(project), host="127.0.0.1", port=port, log_level="error", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake REDCap API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/api/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
