"""hostcap user add|list|disable|token and hostcap serve: the CLI contract."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hostcap.cli.main import main
from hostcap.services import accounts
from hostcap.services.store import open_store


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    assert main(["init", "--database", url]) == 0
    return url


def _add(
    database: str, name: str, role: str, password: str, monkeypatch: pytest.MonkeyPatch
) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["user", "add", name, "--role", role, "--password-stdin", "--database", database])


def test_user_add_list_disable_and_token(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add(database, "dr.jones", "practitioner", "a long enough secret", monkeypatch) == 0
    assert _add(database, "ana", "researcher", "another long secret", monkeypatch) == 0
    assert "user dr.jones added with role practitioner" in capsys.readouterr().out
    assert main(["user", "list", "--database", database]) == 0
    listed = capsys.readouterr().out
    assert "dr.jones" in listed and "researcher" in listed and "active" in listed
    assert main(["user", "token", "dr.jones", "--database", database]) == 0
    token = capsys.readouterr().out.strip()
    store = open_store(database)
    try:
        who = accounts.user_for_api_token(store, token)
        assert who is not None and who.username == "dr.jones"
        assert main(["user", "disable", "dr.jones", "--database", database]) == 0
        assert accounts.user_for_api_token(store, token) is None
        # The password is stored as an argon2id hash, never as given.
        assert store.verify_audit().ok
        entries = [e for e in store.audit_entries() if e["entity"] == "web_users"]
        assert [e["action"] for e in entries] == ["create", "create", "update"]
        assert all("a long enough secret" not in str(e) for e in store.audit_entries())
    finally:
        store.dispose()
    assert "disabled" in capsys.readouterr().out


def test_user_add_refuses_a_short_password_a_bad_role_and_a_taken_name(
    database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _add(database, "bob", "admin", "elevenchars", monkeypatch) == 2
    assert "expected at least 12" in capsys.readouterr().err
    assert _add(database, "bob", "superuser", "twelve chars!", monkeypatch) == 2
    capsys.readouterr()
    assert _add(database, "bob", "admin", "twelve chars!", monkeypatch) == 0
    assert _add(database, "BOB", "admin", "twelve chars!", monkeypatch) == 2
    assert "is taken" in capsys.readouterr().err


def test_serve_refuses_a_non_loopback_address_without_allow_remote(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--host", "0.0.0.0", "--database", database]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_serve_names_a_store_that_is_not_initialised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    assert main(["serve", "--database", url]) == 5
    assert "hostcap init" in capsys.readouterr().err
