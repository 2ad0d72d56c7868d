"""Web app accounts in the store: users, server-side sessions, login attempts, API tokens.

Only queries and audited writes live here; password hashing, token generation and the rules
(roles, rate limits, expiry) are the services' (``hostcap.services.accounts``). A user's rows
and API tokens are written with an audit entry carrying their row hashes; sessions and login
attempts are operational state, audited by event (sign-in, sign-out) rather than by row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from hostcap.clinical_store.audit import append_audit, row_hasher
from hostcap.clinical_store.tables import (
    WebApiTokenRow,
    WebLoginAttemptRow,
    WebSessionRow,
    WebUserRow,
)
from hostcap.errors import DuplicateError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hostcap.clinical_store.store import Store

__all__ = [
    "SessionRecord",
    "UserRecord",
    "add_api_token",
    "add_user",
    "api_token_user",
    "count_failed_attempts",
    "get_user",
    "list_users",
    "new_session",
    "record_login_attempt",
    "revoke_session",
    "revoke_user_sessions",
    "session_by_token",
    "set_user_disabled",
    "touch_session",
]


@dataclass(frozen=True)
class UserRecord:
    """A web user as the services see it (the password hash only for verification)."""

    id: int
    username: str
    role: str
    password_hash: str
    disabled: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class SessionRecord:
    """A stored session joined with its user."""

    id: int
    user: UserRecord
    csrf_token: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool


def _user(row: WebUserRow) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        role=row.role,
        password_hash=row.password_hash,
        disabled=bool(row.disabled),
        created_at=row.created_at,
    )


def _hashes(
    session: Session, row: WebUserRow | WebApiTokenRow
) -> dict[str, list[tuple[int, str | None]]]:
    table = cast(Table, row.__table__)
    hashes = row_hasher(session).hash_stored(session, table, [row.id])
    return {table.name: sorted(hashes.items())}


def add_user(
    store: Store,
    username: str,
    *,
    role: str,
    password_hash: str,
    now: dt.datetime,
    actor: str | None,
) -> UserRecord:
    """Store a new user; :class:`DuplicateError` when the username is taken."""
    try:
        with store.transaction() as session:
            row = WebUserRow(
                username=username,
                role=role,
                password_hash=password_hash,
                disabled=False,
                created_at=now,
            )
            session.add(row)
            session.flush()
            append_audit(
                session,
                action="create",
                entity="web_users",
                entity_id=row.id,
                client_code=None,
                after={"username": username, "role": role},
                actor=actor,
                rows=_hashes(session, row),
            )
            return _user(row)
    except SqlIntegrityError:
        raise DuplicateError(
            f"username {username!r} is taken; expected a new username",
            field="USERNAME",
            value=username,
            expected="a username not yet used",
        ) from None


def get_user(store: Store, username: str) -> UserRecord | None:
    with store.reading() as session:
        row = session.execute(
            select(WebUserRow).where(WebUserRow.username == username)
        ).scalar_one_or_none()
        return None if row is None else _user(row)


def list_users(store: Store) -> list[UserRecord]:
    with store.reading() as session:
        rows = session.execute(select(WebUserRow).order_by(WebUserRow.username)).scalars()
        return [_user(r) for r in rows]


def set_user_disabled(
    store: Store, username: str, *, disabled: bool, actor: str | None
) -> UserRecord:
    """Disable (or re-enable) a user; disabling also revokes every session and API token."""
    with store.transaction() as session:
        row = session.execute(
            select(WebUserRow).where(WebUserRow.username == username)
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no web user {username!r}; see `hostcap user list`")
        before = {"disabled": bool(row.disabled)}
        row.disabled = disabled
        tokens: list[int] = []
        if disabled:
            session.execute(
                update(WebSessionRow).where(WebSessionRow.user_id == row.id).values(revoked=True)
            )
            tokens = list(
                session.execute(
                    select(WebApiTokenRow.id).where(
                        WebApiTokenRow.user_id == row.id, WebApiTokenRow.revoked.is_(False)
                    )
                ).scalars()
            )
            session.execute(
                update(WebApiTokenRow).where(WebApiTokenRow.id.in_(tokens)).values(revoked=True)
            )
        session.flush()
        rows = _hashes(session, row)
        if tokens:
            token_table = cast(Table, WebApiTokenRow.__table__)
            hashed = row_hasher(session).hash_stored(session, token_table, tokens)
            rows[token_table.name] = sorted(hashed.items())
        append_audit(
            session,
            action="update",
            entity="web_users",
            entity_id=row.id,
            client_code=None,
            before=before,
            after={"disabled": disabled, "api_tokens_revoked": len(tokens)},
            actor=actor,
            rows=rows,
        )
        return _user(row)


def add_api_token(
    store: Store, username: str, *, token_sha256: str, now: dt.datetime, actor: str | None
) -> int:
    """Store the sha256 of a new API token of ``username``; returns its id."""
    with store.transaction() as session:
        user = session.execute(
            select(WebUserRow).where(WebUserRow.username == username)
        ).scalar_one_or_none()
        if user is None:
            raise NotFoundError(f"no web user {username!r}; see `hostcap user list`")
        row = WebApiTokenRow(
            user_id=user.id, token_sha256=token_sha256, created_at=now, revoked=False
        )
        session.add(row)
        session.flush()
        append_audit(
            session,
            action="create",
            entity="web_api_tokens",
            entity_id=row.id,
            client_code=None,
            after={"username": username},
            actor=actor,
            rows=_hashes(session, row),
        )
        return row.id


def api_token_user(store: Store, token_sha256: str) -> UserRecord | None:
    """The user of a live (not revoked) API token, or None."""
    with store.reading() as session:
        row = session.execute(
            select(WebUserRow)
            .join(WebApiTokenRow, WebApiTokenRow.user_id == WebUserRow.id)
            .where(WebApiTokenRow.token_sha256 == token_sha256, WebApiTokenRow.revoked.is_(False))
        ).scalar_one_or_none()
        return None if row is None else _user(row)


def record_login_attempt(
    store: Store, username: str, address: str, *, succeeded: bool, now: dt.datetime
) -> None:
    with store.transaction() as session:
        session.add(
            WebLoginAttemptRow(
                username=username[:64], address=address[:64], at=now, succeeded=succeeded
            )
        )


def count_failed_attempts(
    store: Store, *, since: dt.datetime, username: str | None = None, address: str | None = None
) -> int:
    """Failed sign-ins since ``since`` for a username or from an address."""
    query = select(func.count()).where(
        WebLoginAttemptRow.at >= since, WebLoginAttemptRow.succeeded.is_(False)
    )
    if username is not None:
        query = query.where(WebLoginAttemptRow.username == username[:64])
    if address is not None:
        query = query.where(WebLoginAttemptRow.address == address[:64])
    with store.reading() as session:
        return int(session.execute(query).scalar_one())


def new_session(
    store: Store,
    user: UserRecord,
    *,
    token_sha256: str,
    csrf_token: str,
    now: dt.datetime,
    expires_at: dt.datetime,
    address: str,
    replaces: str | None = None,
) -> None:
    """Store a new session (revoking the one it ``replaces``: rotation at sign-in) and audit the
    sign-in."""
    with store.transaction() as session:
        if replaces is not None:
            session.execute(
                update(WebSessionRow)
                .where(WebSessionRow.token_sha256 == replaces)
                .values(revoked=True)
            )
        row = WebSessionRow(
            token_sha256=token_sha256,
            user_id=user.id,
            csrf_token=csrf_token,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            revoked=False,
            address=address[:64],
        )
        session.add(row)
        session.flush()
        append_audit(
            session,
            action="login",
            entity="web_sessions",
            entity_id=row.id,
            client_code=None,
            after={"username": user.username, "address": address[:64]},
            actor=user.username,
        )


def session_by_token(store: Store, token_sha256: str) -> SessionRecord | None:
    with store.reading() as session:
        found = session.execute(
            select(WebSessionRow, WebUserRow)
            .join(WebUserRow, WebUserRow.id == WebSessionRow.user_id)
            .where(WebSessionRow.token_sha256 == token_sha256)
        ).one_or_none()
        if found is None:
            return None
        row, user = found
        return SessionRecord(
            id=row.id,
            user=_user(user),
            csrf_token=row.csrf_token,
            created_at=row.created_at,
            last_seen_at=row.last_seen_at,
            expires_at=row.expires_at,
            revoked=bool(row.revoked),
        )


def touch_session(store: Store, session_id: int, now: dt.datetime) -> None:
    with store.transaction() as session:
        session.execute(
            update(WebSessionRow).where(WebSessionRow.id == session_id).values(last_seen_at=now)
        )


def revoke_session(store: Store, session_id: int, *, actor: str, reason: str) -> None:
    """Revoke one session (sign-out, expiry) and audit it."""
    with store.transaction() as session:
        session.execute(
            update(WebSessionRow).where(WebSessionRow.id == session_id).values(revoked=True)
        )
        append_audit(
            session,
            action="logout",
            entity="web_sessions",
            entity_id=session_id,
            client_code=None,
            after={"reason": reason},
            actor=actor,
        )


def revoke_user_sessions(store: Store, username: str, *, actor: str | None) -> int:
    """Revoke every live session of ``username``; returns how many."""
    with store.transaction() as session:
        user_id = session.execute(
            select(WebUserRow.id).where(WebUserRow.username == username)
        ).scalar_one_or_none()
        if user_id is None:
            raise NotFoundError(f"no web user {username!r}; see `hostcap user list`")
        result = session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.user_id == user_id, WebSessionRow.revoked.is_(False))
            .values(revoked=True)
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        append_audit(
            session,
            action="logout",
            entity="web_sessions",
            entity_id=None,
            client_code=None,
            after={"username": username, "sessions_revoked": count},
            actor=actor,
        )
        return count
