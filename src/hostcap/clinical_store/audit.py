"""Append-only, hash-chained audit log.

Every entry's ``hash`` is sha256 over the previous entry's hash and the canonical JSON of the
entry's own fields; the chain head lives in ``audit_head`` and is read under the write lock (row
lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so concurrent writers queue and the chain never
forks. Editing, deleting or reordering any entry breaks verification from that entry on.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hostcap.clinical_store.tables import AuditEntryRow, AuditHeadRow

__all__ = [
    "GENESIS_HASH",
    "AuditProblem",
    "AuditVerification",
    "append_audit",
    "canonical_json",
    "current_actor",
    "entry_hash",
    "verify_chain",
]

GENESIS_HASH = "0" * 64


def current_actor() -> str:
    """Who is writing: ``HOSTCAP_ACTOR`` or the operating-system user."""
    explicit = os.environ.get("HOSTCAP_ACTOR")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"cannot serialise {type(value).__name__} in the audit log")


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) used for hashing and storage."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_default)


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(canonical_json(fields).encode())
    return digest.hexdigest()


def _entry_fields(row: AuditEntryRow) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "entity": row.entity,
        "entity_id": row.entity_id,
        "client_code": row.client_code,
        "before": row.before,
        "after": row.after,
    }


def append_audit(
    session: Session,
    *,
    action: str,
    entity: str,
    entity_id: str | int | None,
    client_code: str | None,
    before: Any = None,
    after: Any = None,
    actor: str | None = None,
) -> AuditEntryRow:
    """Append one entry inside the caller's transaction (it commits or rolls back with it)."""
    head = session.execute(
        select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHeadRow(id=1, seq=0, last_hash=GENESIS_HASH)
        session.add(head)
    row = AuditEntryRow(
        seq=head.seq + 1,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        actor=actor or current_actor(),
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        client_code=client_code,
        before=None if before is None else canonical_json(before),
        after=None if after is None else canonical_json(after),
        prev_hash=head.last_hash,
        hash="",
    )
    row.hash = entry_hash(row.prev_hash, _entry_fields(row))
    session.add(row)
    head.seq = row.seq
    head.last_hash = row.hash
    return row


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    message: str


@dataclass(frozen=True)
class AuditVerification:
    """Result of walking the chain: ``ok`` when every link and the head agree."""

    entries: int
    problems: tuple[AuditProblem, ...]
    head_hash: str

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(session: Session) -> AuditVerification:
    """Recompute every hash in order; report each broken link, gap and head mismatch."""
    problems: list[AuditProblem] = []
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for row in session.execute(select(AuditEntryRow).order_by(AuditEntryRow.seq)).scalars():
        count += 1
        if row.seq != expected_seq:
            problems.append(
                AuditProblem(row.seq, f"entry {expected_seq} is missing (next found is {row.seq})")
            )
        if row.prev_hash != prev:
            problems.append(
                AuditProblem(row.seq, f"entry {row.seq} does not link to the entry before it")
            )
        recomputed = entry_hash(row.prev_hash, _entry_fields(row))
        if recomputed != row.hash:
            problems.append(
                AuditProblem(row.seq, f"entry {row.seq} was altered after it was written")
            )
        prev = row.hash
        expected_seq = row.seq + 1
    head = session.get(AuditHeadRow, 1)
    if head is not None and (head.last_hash != prev or head.seq != expected_seq - 1):
        problems.append(
            AuditProblem(
                head.seq, "the chain head does not match the last entry (entries were removed)"
            )
        )
    if head is None and count:
        problems.append(AuditProblem(0, "the chain head is missing"))
    return AuditVerification(entries=count, problems=tuple(problems), head_hash=prev)
