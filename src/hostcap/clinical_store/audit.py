"""Append-only, keyed, hash-chained audit log that covers the stored data.

Every entry's ``hash`` is HMAC-SHA256, under the store's audit key (a file outside the database,
see :mod:`audit_files`), over the previous entry's hash and the canonical JSON of the entry's
fields. Every write records, in the same entry, the content hash of each row it created,
changed or removed (``row_hashes``: ``{table: {"ids": [[first, last], ...], "hashes": "<64 hex
per id, in id order>", "removed": [[first, last], ...]}}``; a bulk import records all of its
rows in one entry). Corrections and deletions refuse a row that no longer matches the hash the
log last recorded for it (:func:`audited_row_hash`), so they cannot hide a change made outside
hostcap. ``verify_chain`` (:mod:`audit_verification`) then

* recomputes every entry hash (a change, deletion, reordering, or a chain recomputed without the
  key breaks it),
* compares the newest entry with the head recorded outside the database (deleting the newest
  entries and moving ``audit_head``, or emptying the log, disagrees with it),
* recomputes the hash of every live row of every clinical table and compares it with the hash
  the log says hostcap last wrote: a row changed, added or removed outside hostcap is reported
  by table and id.

What this protects against: anyone who can change the database but cannot read or write the key
and head files. Someone who can also rewrite those files can forge everything.

The chain head in ``audit_head`` is read under the write lock (row lock on PostgreSQL, BEGIN
IMMEDIATE on SQLite), so concurrent writers queue and the chain never forks.

Stores written before keyed hashing keep their entries: those (``key_id`` NULL) are verified
with the unkeyed sha256 they were written with, and ``hostcap init`` records a keyed
``baseline`` entry holding the hashes of every row as it was at the upgrade; data checks start
from there, and the verification says which entries are legacy.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from hostcap.clinical_store.audit_files import AuditFiles, key_id
from hostcap.clinical_store.row_hash import RowHasher
from hostcap.clinical_store.tables import AuditEntryRow, AuditHeadRow, Base
from hostcap.errors import ConfigurationError
from hostcap.settings import setting

__all__ = [
    "AUDIT_TABLES",
    "GENESIS_HASH",
    "AuditContext",
    "HashedRows",
    "append_audit",
    "audit_context",
    "audited_row_hash",
    "canonical_json",
    "clinical_tables",
    "current_actor",
    "entry_fields",
    "entry_hash",
    "keyed_entry_hash",
    "row_changes",
    "row_hasher",
]

GENESIS_HASH = "0" * 64
AUDIT_TABLES = frozenset({"audit_log", "audit_head"})
#: Web sign-in state (sessions, login attempts) changes on every request: not row-hashed. Users
#: and API tokens are (their writes are audited with the row hashes).
OPERATIONAL_TABLES = frozenset({"web_sessions", "web_login_attempts"})
_INFO_KEY = "hostcap_audit"
_PENDING_KEY = "hostcap_audit_pending_head"


def current_actor() -> str:
    """Who is writing: ``HOSTCAP_ACTOR`` or the operating-system user."""
    explicit = setting("actor")
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


def clinical_tables() -> list[Table]:
    """Every table whose rows the audit covers (all but the audit log and sign-in state)."""
    return [
        t
        for name, t in sorted(Base.metadata.tables.items())
        if name not in AUDIT_TABLES | OPERATIONAL_TABLES
    ]


# -- the context a store gives its sessions ---------------------------------------------------


@dataclass
class AuditContext:
    """The audit key and head files of one store (shared by its sessions)."""

    files: AuditFiles
    check_external_head: bool = True
    keyed_since: int | None = None
    _key: bytes | None = field(default=None, repr=False)

    def key(self) -> bytes | None:
        if self._key is None:
            self._key = self.files.read_key()
        return self._key

    def key_for_write(self, session: Session) -> bytes:
        """The key; created now when missing and the store holds no keyed entry yet."""
        key = self.key()
        if key is not None:
            return key
        first = _first_keyed_seq(session)
        if first is not None:
            raise ConfigurationError(
                f"audit key file {str(self.files.key_path)!r} is missing, but the store's audit "
                f"entries are keyed from entry {first} on; expected the key this store was "
                "created with (copy it there, or point HOSTCAP_AUDIT_KEY_FILE at it). Nothing "
                "was written."
            )
        self._key = self.files.create_key()
        return self._key

    def after_commit(self, session: Session) -> None:
        pending = session.info.pop(_PENDING_KEY, None)
        if pending is None or not self.check_external_head:
            return
        seq, hash_, keyed_since, kid = pending
        self.keyed_since = keyed_since
        try:
            self.files.advance_head(seq, hash_, keyed_since=keyed_since, key=kid)
        except OSError as exc:
            raise ConfigurationError(
                f"the write was committed (audit entry {seq}), but the audit head file "
                f"{str(self.files.head_path)!r} could not be updated ({exc}); expected a "
                "writable file beside the audit key. `hostcap audit --verify` will report the "
                "lag until the next write updates it."
            ) from None


def audit_context(session: Session) -> AuditContext:
    ctx = session.info.get(_INFO_KEY)
    if not isinstance(ctx, AuditContext):
        raise RuntimeError("audited writes need a session from Store (it carries the audit key)")
    return ctx


def after_commit(session: Session) -> None:
    """SQLAlchemy ``after_commit`` hook: move the head file forward to what was committed."""
    ctx = session.info.get(_INFO_KEY)
    if isinstance(ctx, AuditContext):
        ctx.after_commit(session)
    else:
        session.info.pop(_PENDING_KEY, None)


def after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def row_hasher(session: Session) -> RowHasher:
    """Row hashes under the store's key (created if this is the store's first keyed write)."""
    return RowHasher(audit_context(session).key_for_write(session))


def _first_keyed_seq(session: Session) -> int | None:
    return session.execute(
        select(AuditEntryRow.seq)
        .where(AuditEntryRow.key_id.is_not(None))
        .order_by(AuditEntryRow.seq)
        .limit(1)
    ).scalar_one_or_none()


# -- entries ----------------------------------------------------------------------------------


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The unkeyed sha256 of entries written before keyed hashing (legacy)."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(canonical_json(fields).encode())
    return digest.hexdigest()


def keyed_entry_hash(key: bytes, prev_hash: str, fields: dict[str, Any]) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    mac.update(prev_hash.encode())
    mac.update(canonical_json(fields).encode())
    return mac.hexdigest()


def entry_fields(row: AuditEntryRow) -> dict[str, Any]:
    fields = {
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
    if row.key_id is not None:
        fields["key_id"] = row.key_id
        fields["row_hashes"] = row.row_hashes
    return fields


@dataclass(frozen=True)
class HashedRows:
    """Rows a write created or changed with their hashes, ids ascending (a bulk insert)."""

    ids: Sequence[int]
    hashes: Sequence[str]


RowChanges = Mapping[str, "Iterable[tuple[int, str | None]] | HashedRows"]


def _id_ranges(ids: Sequence[int]) -> list[list[int]]:
    """Sorted ids as ``[[first, last], ...]`` runs (an import is usually one run)."""
    runs: list[list[int]] = []
    for i in ids:
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def _expand(runs: Iterable[Sequence[int]]) -> list[int]:
    out: list[int] = []
    for first, last in runs:
        out.extend(range(int(first), int(last) + 1))
    return out


def _rows_text(rows: RowChanges | None) -> str | None:
    """``{table: {"ids": runs, "hashes": "<64 hex per id, in id order>", "removed": runs}}``."""
    if rows is None:
        return None
    out: dict[str, dict[str, Any]] = {}
    for table, pairs in sorted(rows.items()):
        if isinstance(pairs, HashedRows):
            ids_sorted = np.asarray(pairs.ids, dtype=np.int64)
            if len(ids_sorted) > 1 and not bool((np.diff(ids_sorted) > 0).all()):
                raise ValueError("HashedRows ids must be ascending")
            breaks = np.flatnonzero(np.diff(ids_sorted) != 1)
            starts = np.concatenate(([0], breaks + 1)).tolist()
            ends = np.concatenate((breaks, [len(ids_sorted) - 1])).tolist()
            values = ids_sorted.tolist()
            out[table] = (
                {
                    "ids": [[values[a], values[b]] for a, b in zip(starts, ends, strict=True)],
                    "hashes": "".join(pairs.hashes),
                }
                if values
                else {}
            )
            continue
        items = list(pairs)
        ids = np.fromiter((int(i) for i, _ in items), dtype=np.int64, count=len(items))
        order = np.argsort(ids, kind="stable").tolist()
        present = [items[k] for k in order if items[k][1] is not None]
        removed = [int(items[k][0]) for k in order if items[k][1] is None]
        entry: dict[str, Any] = {}
        if present:
            entry["ids"] = _id_ranges([int(i) for i, _ in present])
            entry["hashes"] = "".join(str(h) for _, h in present)
        if removed:
            entry["removed"] = _id_ranges(removed)
        out[table] = entry
    return json.dumps(out, sort_keys=True, separators=(",", ":"))


def row_changes(text: str) -> dict[str, tuple[dict[int, str], list[int]]]:
    """What :func:`_rows_text` wrote: per table, {id: hash} and removed ids."""
    out: dict[str, tuple[dict[int, str], list[int]]] = {}
    data = cast(dict[str, dict[str, Any]], json.loads(text))
    for table, entry in data.items():
        ids = _expand(entry.get("ids", []))
        hashes = str(entry.get("hashes", ""))
        if len(hashes) != 64 * len(ids):
            raise ValueError(f"{table}: {len(ids)} ids but {len(hashes)} hash characters")
        present = {i: hashes[64 * k : 64 * k + 64] for k, i in enumerate(ids)}
        out[table] = (present, _expand(entry.get("removed", [])))
    return out


def _hash_in_entry(entry: Mapping[str, Any], row_id: int) -> tuple[bool, str | None]:
    """Whether one table's part of an entry mentions ``row_id``, and its hash (None: removed)."""
    offset = 0
    for first, last in entry.get("ids", []):
        if first <= row_id <= last:
            k = offset + row_id - first
            return True, str(entry["hashes"])[64 * k : 64 * k + 64]
        offset += last - first + 1
    for first, last in entry.get("removed", []):
        if first <= row_id <= last:
            return True, None
    return False, None


def audited_row_hash(session: Session, table: str, row_id: int) -> tuple[bool, str | None]:
    """The hash the audit log last recorded for a row: (known, hash or None when removed).

    Walks keyed entries from the newest back to the one that last wrote the row (or to the
    baseline); ``known`` is false when the log cannot say (entries from before keyed hashing).
    """
    query = (
        select(AuditEntryRow.action, AuditEntryRow.row_hashes)
        .where(AuditEntryRow.key_id.is_not(None))
        .order_by(AuditEntryRow.seq.desc())
        .execution_options(yield_per=20)
    )
    marker = json.dumps(table)
    result = session.execute(query)
    try:
        for action, text in result:
            if text and marker in text:
                part = cast(dict[str, Any], json.loads(text)).get(table, {})
                mentioned, digest = _hash_in_entry(part, row_id)
                if mentioned:
                    return True, digest
            if action == "baseline":
                return True, None
    finally:
        result.close()  # a server-side cursor on PostgreSQL, left before its end
    # Never mentioned: unknown only if the log holds entries from before keyed hashing.
    legacy = session.execute(
        select(AuditEntryRow.seq).where(AuditEntryRow.key_id.is_(None)).limit(1)
    ).first()
    return legacy is None, None


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
    rows: RowChanges | None = None,
) -> AuditEntryRow:
    """Append one keyed entry inside the caller's transaction (it commits or rolls back with it).

    ``rows`` gives, per table, each row this write created or changed with its content hash
    (:class:`RowHasher`), or ``None`` as the hash for a row it removed.
    """
    ctx = audit_context(session)
    key = ctx.key_for_write(session)
    head = session.execute(
        select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHeadRow(id=1, seq=0, last_hash=GENESIS_HASH)
        session.add(head)
    pending = session.info.get(_PENDING_KEY)
    if pending is not None and pending[2] is not None:
        keyed_since = pending[2]
    elif head.seq == 0:
        keyed_since = 1
    elif ctx.keyed_since is not None:
        keyed_since = ctx.keyed_since
    else:
        keyed_since = _first_keyed_seq(session) or head.seq + 1
    kid = key_id(key)
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
        key_id=kid,
        row_hashes=_rows_text(rows),
    )
    row.hash = keyed_entry_hash(key, row.prev_hash, entry_fields(row))
    session.add(row)
    head.seq = row.seq
    head.last_hash = row.hash
    session.info[_PENDING_KEY] = (row.seq, row.hash, keyed_since, kid)
    return row
