"""``hostcap user add|list|disable|token`` and ``hostcap serve`` (the web app)."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from hostcap.cli.consoles import console
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption
from hostcap.errors import InputError
from hostcap.settings import SETTINGS, database_url

if TYPE_CHECKING:
    from hostcap.services import accounts as account_services
    from hostcap.services import store as store_services
else:
    account_services = LazyModule("hostcap.services.accounts")
    store_services = LazyModule("hostcap.services.store")

__all__ = ["app"]

user_app = typer.Typer(help="Web app users: roles, passwords, API tokens.", no_args_is_help=True)
app.add_typer(user_app, name="user")

#: The web app's factory, loaded by uvicorn by name (the CLI never imports the web face).
WEB_APP_FACTORY = "hostcap.web:create_app"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Role(StrEnum):
    practitioner = "practitioner"
    researcher = "researcher"
    admin = "admin"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise InputError(
            "no password given; expected --password-stdin with the password on standard input",
            field="--password-stdin",
            value=None,
            expected="--password-stdin",
        )
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="lower-case letters, digits, '.', '_', '-'")],
    role: Annotated[Role, typer.Option("--role", help="what the user may see and do")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="read the password (at least 12 characters) from the first line of stdin",
        ),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Add a web app user (audited); the password is stored as an argon2id hash."""
    password = _read_password(password_stdin)
    store = store_services.open_store(database)
    try:
        user = account_services.add_user(store, username, role=role.value, password=password)
    finally:
        store.dispose()
    console.print(f"user {user.username} added with role {user.role}", markup=False)


@user_app.command("list")
def user_list(database: DatabaseOption = None) -> None:
    """List web app users and their roles."""
    store = store_services.open_store(database)
    try:
        users = account_services.list_users(store)
    finally:
        store.dispose()
    table = Table("username", "role", "state", "created")
    for u in users:
        table.add_row(
            u.username,
            u.role,
            "disabled" if u.disabled else "active",
            f"{u.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@user_app.command("disable")
def user_disable(username: str, database: DatabaseOption = None) -> None:
    """Disable a user: their sessions and API tokens stop working at once (audited)."""
    store = store_services.open_store(database)
    try:
        user = account_services.disable_user(store, username)
    finally:
        store.dispose()
    console.print(f"user {user.username} disabled; sessions and API tokens revoked", markup=False)


@user_app.command("token")
def user_token(username: str, database: DatabaseOption = None) -> None:
    """Issue an API token for a user; it is shown once (only its hash is stored)."""
    store = store_services.open_store(database)
    try:
        token = account_services.new_api_token(store, username)
    finally:
        store.dispose()
    typer.echo(token)
    Console(stderr=True).print(
        "API token shown once; send it as `Authorization: Bearer TOKEN` to /api/v1/",
        markup=False,
    )


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="listen on an address other than loopback (put a TLS proxy in front)",
        ),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Run the web app (uvicorn, one process) on the store; loopback unless --allow-remote."""
    if host not in LOOPBACK and not allow_remote:
        raise InputError(
            f"--host {host!r} is not a loopback address; expected 127.0.0.1, ::1 or localhost, "
            "or --allow-remote (behind a TLS proxy) to listen beyond this machine",
            field="--host",
            value=host,
            expected="a loopback address, or --allow-remote",
        )
    url = database_url(database)
    store = store_services.open_store(url)  # a missing or old store is named before serving
    users = len(account_services.list_users(store))
    store.dispose()
    # The app factory reads the store URL from the declared setting (uvicorn calls it by name).
    declared = next(s for s in SETTINGS if s.name == "database_url")
    os.environ[declared.env] = url
    import uvicorn

    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    console.print(f"hostcap web app on {where} (store {url})", markup=False)
    if not users:
        console.print(
            "no users yet: add one with `hostcap user add NAME --role practitioner "
            "--password-stdin`",
            markup=False,
        )
    uvicorn.run(
        WEB_APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=1,
        proxy_headers=allow_remote,
        server_header=False,
        log_level="info",
    )
