"""A real web app on 127.0.0.1 (uvicorn in a thread) over a real SQLite store, and users."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from hostcap.services import accounts
from hostcap.services.demo import record_demo_clients
from hostcap.services.store import open_store
from hostcap.web import create_app

PASSWORD = "correct horse battery staple"
ROLES = ("practitioner", "researcher", "admin")


@dataclass
class LiveApp:
    """A running app: its base URL and the store URL it serves."""

    url: str
    database: str
    server: uvicorn.Server
    thread: threading.Thread

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(database: str) -> LiveApp:
    app = create_app(database)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web app did not start")
        time.sleep(0.05)
    return LiveApp(f"http://127.0.0.1:{port}", database, server, thread)


def make_store(folder: Path, *, demo: bool = True) -> str:
    """An initialised store with the demo clients and one user per role (``<role>1``)."""
    url = f"sqlite:///{folder / 'web.sqlite'}"
    store = open_store(url, require_schema=False)
    try:
        store.init()
        if demo:
            record_demo_clients(store)
        for role in ROLES:
            accounts.add_user(store, f"{role}1", role=role, password=PASSWORD, actor="test")
    finally:
        store.dispose()
    return url


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def sign_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
    )


def signed_in(live: LiveApp, role: str | None) -> httpx.Client:
    """A client signed in as the role's user (None: anonymous)."""
    client = live.client()
    if role is not None:
        response = sign_in(client, f"{role}1")
        if response.status_code != 303:
            client.close()
        assert response.status_code == 303, response.text
    return client


def page_csrf(client: httpx.Client) -> str:
    """The session's CSRF token, read from a page the user may see."""
    for path in ("/clients", "/research"):
        response = client.get(path)
        if response.status_code == 200:
            return csrf_of(response.text)
    raise AssertionError("no page with a CSRF token")


@contextmanager
def session_as(live: LiveApp, role: str | None) -> Iterator[httpx.Client]:
    """``signed_in`` as a context manager (the client is closed after)."""
    client = signed_in(live, role)
    try:
        yield client
    finally:
        client.close()
