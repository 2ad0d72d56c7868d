"""Web app accounts: users and roles, passwords, sign-in sessions, API tokens, rate limits.

Passwords are hashed with argon2id (argon2-cffi's defaults); session and API tokens are random
(``secrets``) and only their sha256 is stored, so a copy of the store signs nobody in. A
session ends when it is revoked (sign-out, user disabled), after ``web_session_hours`` in all or
``web_idle_minutes`` without a request. Sign-in is rate limited per username and per address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hostcap.clinical_store import Store
from hostcap.clinical_store import web_accounts as accounts
from hostcap.errors import AccessError, InputError, ValidationError
from hostcap.settings import setting

__all__ = [
    "LOGIN_FAILURES_PER_ADDRESS",
    "LOGIN_FAILURES_PER_USERNAME",
    "LOGIN_WINDOW",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "SignedIn",
    "UserSummary",
    "add_user",
    "can_research",
    "can_see_clients",
    "disable_user",
    "is_admin",
    "list_users",
    "new_api_token",
    "session_for",
    "sign_in",
    "sign_out",
    "user_for_api_token",
]

ROLES = ("practitioner", "researcher", "admin")
MIN_PASSWORD_LENGTH = 12
_MAX_PASSWORD_LENGTH = 1024
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
#: Failed sign-ins allowed in ``LOGIN_WINDOW`` before further attempts are refused (429).
LOGIN_FAILURES_PER_USERNAME = 5
LOGIN_FAILURES_PER_ADDRESS = 20
LOGIN_WINDOW = dt.timedelta(minutes=15)
_TOUCH_EVERY = dt.timedelta(seconds=30)

_hasher = PasswordHasher()  # argon2id, the library's recommended parameters
#: Verified against when the username is unknown, so that the time taken does not say which.
_DUMMY_HASH = _hasher.hash("not a password of anyone " + secrets.token_hex(8))


@dataclass(frozen=True)
class UserSummary:
    """A user as listed (never the password hash)."""

    username: str
    role: str
    disabled: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class SignedIn:
    """Who is asking, by a live session (``session_token``) or by an API token."""

    username: str
    role: str
    csrf_token: str
    session_id: int | None
    session_token: str | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def can_see_clients(role: str) -> bool:
    """Identified client pages: practitioners and admins."""
    return role in ("practitioner", "admin")


def can_research(role: str) -> bool:
    """The de-identified cohort view: researchers and admins."""
    return role in ("researcher", "admin")


def is_admin(role: str) -> bool:
    return role == "admin"


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise ValidationError.single(
            "USERNAME",
            username,
            "2–64 characters: lower-case letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
        )
    return name


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(
            f"the password has {len(password)} characters; expected at least {MIN_PASSWORD_LENGTH}",
            field="password",
            value=f"{len(password)} characters",
            expected=f"at least {MIN_PASSWORD_LENGTH} characters",
        )
    if len(password) > _MAX_PASSWORD_LENGTH:
        raise InputError(
            f"the password has {len(password)} characters; expected at most {_MAX_PASSWORD_LENGTH}",
            field="password",
            value=f"{len(password)} characters",
            expected=f"at most {_MAX_PASSWORD_LENGTH} characters",
        )


def add_user(
    store: Store, username: str, *, role: str, password: str, actor: str | None = None
) -> UserSummary:
    """Add a web user (``hostcap user add``); audited."""
    name = _check_username(username)
    if role not in ROLES:
        raise ValidationError.single("--role", role, "one of " + ", ".join(ROLES))
    _check_password(password)
    row = accounts.add_user(
        store, name, role=role, password_hash=_hasher.hash(password), now=_now(), actor=actor
    )
    return UserSummary(row.username, row.role, row.disabled, row.created_at)


def list_users(store: Store) -> list[UserSummary]:
    return [
        UserSummary(u.username, u.role, u.disabled, u.created_at)
        for u in accounts.list_users(store)
    ]


def disable_user(store: Store, username: str, *, actor: str | None = None) -> UserSummary:
    """Disable a user: every session and API token of theirs stops working at once."""
    row = accounts.set_user_disabled(store, username.strip().lower(), disabled=True, actor=actor)
    return UserSummary(row.username, row.role, row.disabled, row.created_at)


def new_api_token(store: Store, username: str, *, actor: str | None = None) -> str:
    """A new API token for ``username`` (shown once: only its sha256 is stored)."""
    name = username.strip().lower()
    user = accounts.get_user(store, name)
    if user is not None and user.disabled:
        raise AccessError(f"web user {name!r} is disabled; no token issued", status=403)
    token = "hct_" + secrets.token_urlsafe(32)
    accounts.add_api_token(store, name, token_sha256=_sha256(token), now=_now(), actor=actor)
    return token


def user_for_api_token(store: Store, token: str) -> SignedIn | None:
    """Who an ``Authorization: Bearer`` token belongs to (None: unknown, revoked, disabled)."""
    user = accounts.api_token_user(store, _sha256(token))
    if user is None or user.disabled:
        return None
    return SignedIn(username=user.username, role=user.role, csrf_token="", session_id=None)


def _refused() -> AccessError:
    return AccessError(
        "sign-in refused: the username or password is wrong, or the user is disabled"
    )


def sign_in(
    store: Store,
    username: str,
    password: str,
    *,
    address: str,
    previous_token: str | None = None,
) -> SignedIn:
    """Check a password and open a new session (a new token: the old one, if any, is revoked).

    Raises
    ------
    AccessError
        401 for a wrong username or password or a disabled user (the message does not say
        which); 429 when too many sign-ins failed recently for this username or address.
    """
    now = _now()
    name = username.strip().lower()[:64]
    since = now - LOGIN_WINDOW
    if (
        accounts.count_failed_attempts(store, since=since, username=name)
        >= LOGIN_FAILURES_PER_USERNAME
        or accounts.count_failed_attempts(store, since=since, address=address)
        >= LOGIN_FAILURES_PER_ADDRESS
    ):
        raise AccessError(
            f"too many failed sign-ins; try again in {int(LOGIN_WINDOW.total_seconds() // 60)} "
            "minutes",
            status=429,
        )
    user = accounts.get_user(store, name)
    ok = False
    try:
        ok = _hasher.verify(
            user.password_hash if user else _DUMMY_HASH, password[:_MAX_PASSWORD_LENGTH]
        )
    except (VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and not user.disabled
    accounts.record_login_attempt(store, name, address, succeeded=ok, now=now)
    if not ok or user is None:
        raise _refused()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    hours = float(setting("web_session_hours") or 8)
    accounts.new_session(
        store,
        user,
        token_sha256=_sha256(token),
        csrf_token=csrf,
        now=now,
        expires_at=now + dt.timedelta(hours=hours),
        address=address,
        replaces=_sha256(previous_token) if previous_token else None,
    )
    found = accounts.session_by_token(store, _sha256(token))
    assert found is not None
    return SignedIn(user.username, user.role, csrf, found.id, token)


def session_for(store: Store, token: str) -> SignedIn | None:
    """The live session of a cookie token, or None (unknown, revoked, expired, idle, disabled).

    An expired or idle session is revoked here, so it can never come back.
    """
    if not token or len(token) > 200:
        return None
    found = accounts.session_by_token(store, _sha256(token))
    if found is None or found.revoked or found.user.disabled:
        return None
    now = _now()
    idle = dt.timedelta(minutes=float(setting("web_idle_minutes") or 30))
    if now >= found.expires_at or now - found.last_seen_at >= idle:
        accounts.revoke_session(store, found.id, actor=found.user.username, reason="expired")
        return None
    if now - found.last_seen_at >= _TOUCH_EVERY:
        accounts.touch_session(store, found.id, now)
    return SignedIn(found.user.username, found.user.role, found.csrf_token, found.id, token)


def sign_out(store: Store, who: SignedIn) -> None:
    """End a session on the server (the cookie alone can never bring it back)."""
    if who.session_id is not None:
        accounts.revoke_session(store, who.session_id, actor=who.username, reason="sign-out")
