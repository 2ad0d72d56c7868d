"""Fixtures of the web tests: a live app per module, signed-in clients per role."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.web.live_app import ROLES, LiveApp, make_store, signed_in, start_app


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """One app per test module on its own store."""
    app = start_app(make_store(tmp_path_factory.mktemp("web")))
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def sessions(live: LiveApp) -> Iterator[dict[str | None, httpx.Client]]:
    """A signed-in client per role and an anonymous one."""
    clients = {role: signed_in(live, role) for role in (*ROLES, None)}
    try:
        yield clients
    finally:
        for c in clients.values():
            c.close()
