"""Consent records (``hostcap consent add``): audited, append-only; the newest record decides.

A report of a client (:mod:`hostcap.services.publishing`) is written only while the consent
for its scope stands (:func:`require_consent`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostcap.clinical_store import Store
from hostcap.errors import InputError, ValidationError
from hostcap.services.store import open_store

__all__ = [
    "CONSENT_SCOPES",
    "ConsentState",
    "add_consent",
    "add_consent_at",
    "consent_state",
    "require_consent",
]

CONSENT_SCOPES: tuple[str, ...] = Store.CONSENT_SCOPES


@dataclass(frozen=True)
class ConsentState:
    """Whether a client's consent for one scope stands, and the record that says so."""

    scope: str
    granted: bool
    record: Mapping[str, Any] | None

    @property
    def reason(self) -> str:
        if self.record is None:
            return f"no {self.scope} consent is recorded"
        if self.record["withdrawn"]:
            return f"the {self.scope} consent was withdrawn"
        return f"{self.scope} consent recorded"


def add_consent(
    store: Store,
    code: str,
    *,
    scope: str,
    consented_on: dt.date | str,
    document: Path | None = None,
    withdrawn: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    """Record a consent (or its withdrawal) for ``code``; audited; returns the record.

    ``document`` (the signed form) is not stored: its file name and sha256 are, so the form on
    file can be matched later.
    """
    day = _parse_date(consented_on)
    name = digest = None
    if document is not None:
        path = Path(document)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise InputError(
                f"--document {str(path)!r} cannot be read ({exc.strerror or exc}); expected a "
                "readable file (the signed consent form)",
                field="--document",
                value=str(path),
                expected="a readable file",
            ) from exc
        name, digest = path.name, hashlib.sha256(content).hexdigest()
    row_id = store.add_consent(
        code,
        scope=scope,
        consented_on=day,
        withdrawn=withdrawn,
        document_name=name,
        document_sha256=digest,
        actor=actor,
    )
    return next(r for r in store.consents(code) if r["id"] == row_id)


def add_consent_at(database_url: str | None, code: str, **options: Any) -> dict[str, Any]:
    """:func:`add_consent` on the store at ``database_url`` (or the configured default)."""
    store = open_store(database_url)
    try:
        return add_consent(store, code, **options)
    finally:
        store.dispose()


def _parse_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError.single("--date", value, "a date as YYYY-MM-DD") from None


def consent_state(store: Store, code: str, scope: str) -> ConsentState:
    """The standing state of ``code``'s consent for ``scope``: the newest record decides."""
    if scope not in CONSENT_SCOPES:
        raise ValidationError.single("scope", scope, " or ".join(CONSENT_SCOPES))
    records = [r for r in store.consents(code) if r["scope"] == scope]
    newest = records[-1] if records else None
    return ConsentState(scope, newest is not None and not newest["withdrawn"], newest)


def require_consent(store: Store, code: str, scope: str) -> ConsentState:
    """The standing ``scope`` consent of ``code``; refused (a clear message naming the command
    that records it) when there is none or it was withdrawn."""
    state = consent_state(store, code, scope)
    if not state.granted:
        other = [s for s in CONSENT_SCOPES if s != scope and consent_state(store, code, s).granted]
        extra = f" (only {', '.join(other)} consent is recorded)" if other else ""
        raise InputError(
            f"client {code!r}: {state.reason}{extra}; nothing was written. Expected a "
            f"standing {scope} consent: record it with `hostcap consent add {code} --scope "
            f"{scope} --date YYYY-MM-DD`",
            field="consent",
            value=state.reason,
            expected=f"a recorded, not withdrawn {scope} consent",
        )
    return state
