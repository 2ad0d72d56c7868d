"""Web accounts: argon2id passwords, sessions by token hash, audited user rows."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from hostcap.clinical_store import Store
from hostcap.clinical_store.tables import WebSessionRow, WebUserRow
from hostcap.errors import AccessError, InputError
from hostcap.services import accounts


def test_passwords_are_stored_as_argon2id_hashes_and_sessions_by_token_hash(
    store: Store,
) -> None:
    sqlite_store = store  # both backends: SQLite and the test PostgreSQL server
    accounts.add_user(sqlite_store, "Dr.Who", role="practitioner", password="twelve chars")
    with sqlite_store.reading() as session:
        user = session.execute(select(WebUserRow)).scalar_one()
    assert user.username == "dr.who"
    assert user.password_hash.startswith("$argon2id$") and "twelve" not in user.password_hash
    who = accounts.sign_in(sqlite_store, "dr.who", "twelve chars", address="10.0.0.1")
    assert who.session_token is not None
    with sqlite_store.reading() as session:
        stored = session.execute(select(WebSessionRow)).scalar_one()
    assert stored.token_sha256 == hashlib.sha256(who.session_token.encode()).hexdigest()
    assert who.session_token not in str(stored.__dict__)
    assert accounts.session_for(sqlite_store, who.session_token) is not None
    assert sqlite_store.verify_audit().ok


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(sqlite_store: Store) -> None:
    accounts.add_user(sqlite_store, "ana", role="researcher", password="a long password")
    with pytest.raises(AccessError) as wrong:
        accounts.sign_in(sqlite_store, "ana", "not her password", address="a")
    with pytest.raises(AccessError) as unknown:
        accounts.sign_in(sqlite_store, "bob", "not his password", address="a")
    assert str(wrong.value) == str(unknown.value) and wrong.value.status == 401


def test_a_password_shorter_than_12_characters_is_refused(sqlite_store: Store) -> None:
    with pytest.raises(InputError, match="expected at least 12"):
        accounts.add_user(sqlite_store, "eve", role="admin", password="x" * 11)
    assert accounts.list_users(sqlite_store) == []
