"""``hostcap demo``: the main job of ``make run`` on the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.rule import Rule

from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption
from hostcap.cli.store_commands import _render_overview
from hostcap.services import demo as demo_services
from hostcap.services import store as store_services
from hostcap.services.client_view import client_view

__all__ = ["app"]

console = Console(highlight=False, soft_wrap=True)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="directory for demo outputs")] = Path(
        "hostcap-demo"
    ),
    database: DatabaseOption = None,
) -> None:
    """Create a store, record clearly labelled DEMO clients, and summarise them."""
    out.mkdir(parents=True, exist_ok=True)
    store = store_services.open_store(database, require_schema=False)
    store.init()
    console.print(Rule("hostcap demo — invented DEMONSTRATION data, not real clients"))
    console.print(f"store: {store.engine.url!r}", markup=False)
    for line in demo_services.record_demo_clients(store):
        console.print(Rule(f"{line['code']}: resembles {line['resembles']}"))
        _render_overview(client_view(store, line["code"]))
    check = store.verify_audit()
    console.print(f"audit chain: {'intact' if check.ok else 'BROKEN'} ({check.entries} entries)")
    console.print(f"outputs: {out}", markup=False)
