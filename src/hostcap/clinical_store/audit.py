"""Append-only, keyed, hash-chained audit log that covers the stored data.

Every entry's ``hash`` is HMAC-SHA256, under the store's audit key (a file outside the database,
see :mod:`audit_files`), over the previous entry's hash and the canonical JSON of the entry's
fields. Every write records, in the same entry, the content hash of each row it created,
changed or removed (``row_hashes``: ``{table: {"ids": [[first, last], ...], "hashes": "<64 hex
per id, in id order>", "removed": [[first, last], ...]}}``; a bulk import records all of its
rows in one entry). Corrections and deletions refuse a row that no longer matches the hash the
log last recorded for it (:func:`audited_row_hash`), so they cannot hide a change made outside
hostcap. ``verify_chain`` then

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

from hostcap.clinical_store.audit_files import AuditFiles, ExternalHead, key_id
from hostcap.clinical_store.row_hash import RowHasher
from hostcap.clinical_store.tables import AuditEntryRow, AuditHeadRow, Base
from hostcap.errors import ConfigurationError
from hostcap.settings import setting

__all__ = [
    "AUDIT_TABLES",
    "GENESIS_HASH",
    "AuditContext",
    "AuditProblem",
    "AuditVerification",
    "HashedRows",
    "append_audit",
    "audit_context",
    "audited_row_hash",
    "canonical_json",
    "clinical_tables",
    "current_actor",
    "entry_hash",
    "keyed_entry_hash",
    "row_hasher",
    "verify_chain",
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


def _entry_fields(row: AuditEntryRow) -> dict[str, Any]:
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


def _row_changes(text: str) -> dict[str, tuple[dict[int, str], list[int]]]:
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
    row.hash = keyed_entry_hash(key, row.prev_hash, _entry_fields(row))
    session.add(row)
    head.seq = row.seq
    head.last_hash = row.hash
    session.info[_PENDING_KEY] = (row.seq, row.hash, keyed_since, kid)
    return row


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditProblem:
    """One thing that does not verify. ``seq`` is the entry (0 for a data row's problem)."""

    seq: int
    message: str
    table: str | None = None
    ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class AuditVerification:
    """Result of walking the chain and the data: ``ok`` when every check agrees.

    ``notes`` say what was verified how (legacy entries, a head file that lags behind).
    """

    entries: int
    problems: tuple[AuditProblem, ...]
    head_hash: str
    notes: tuple[str, ...] = ()
    rows_checked: int = 0
    legacy_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _ranges(ids: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def _row_problems(table: str, ids: Sequence[int], what: str) -> list[AuditProblem]:
    problems = []
    for low, high in _ranges(ids):
        label = f"row {low}" if low == high else f"rows {low}–{high}"
        problems.append(
            AuditProblem(
                0,
                f"{table} {label}: {what} outside hostcap",
                table=table,
                ids=tuple(range(low, high + 1)) if high - low < 10_000 else (low, high),
            )
        )
    return problems


@dataclass
class _Walk:
    """State while walking the entries in order."""

    key: bytes | None
    kid: str | None
    external: ExternalHead | None
    problems: list[AuditProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    expected: dict[str, dict[int, str]] = field(default_factory=dict)
    prev: str = GENESIS_HASH
    expected_seq: int = 1
    count: int = 0
    legacy: list[int] = field(default_factory=list)
    first_keyed: int | None = None
    last_keyed: int | None = None
    baseline: int | None = None
    hash_at_external: str | None = None
    last_seq: int = 0

    def entry(self, row: AuditEntryRow) -> None:
        self.count += 1
        if row.seq != self.expected_seq:
            self.problems.append(
                AuditProblem(
                    row.seq, f"entry {self.expected_seq} is missing (next found is {row.seq})"
                )
            )
        if row.prev_hash != self.prev:
            self.problems.append(
                AuditProblem(row.seq, f"entry {row.seq} does not link to the entry before it")
            )
        if row.key_id is None:
            self._legacy(row)
        else:
            self._keyed(row)
        if self.external is not None and row.seq == self.external.seq:
            self.hash_at_external = row.hash
        self.prev = row.hash
        self.expected_seq = row.seq + 1
        self.last_seq = row.seq

    def _legacy(self, row: AuditEntryRow) -> None:
        since = self.external.keyed_since if self.external is not None else None
        if self.first_keyed is not None or (since is not None and row.seq >= since):
            self.problems.append(
                AuditProblem(
                    row.seq,
                    f"entry {row.seq} carries no keyed hash although keyed hashing began at "
                    f"entry {self.first_keyed or since}: it was rewritten or inserted without "
                    "the audit key",
                )
            )
        else:
            self.legacy.append(row.seq)
        if entry_hash(row.prev_hash, _entry_fields(row)) != row.hash:
            self.problems.append(
                AuditProblem(row.seq, f"entry {row.seq} was altered after it was written")
            )

    def _keyed(self, row: AuditEntryRow) -> None:
        if self.first_keyed is None:
            self.first_keyed = row.seq
        self.last_keyed = row.seq
        if self.key is None:
            pass  # reported once, after the walk
        elif row.key_id != self.kid:
            self.problems.append(
                AuditProblem(
                    row.seq,
                    f"entry {row.seq} was written with another audit key (key id {row.key_id}; "
                    f"the key file holds {self.kid})",
                )
            )
        elif keyed_entry_hash(self.key, row.prev_hash, _entry_fields(row)) != row.hash:
            self.problems.append(
                AuditProblem(
                    row.seq,
                    f"entry {row.seq} was altered after it was written, or its chain was "
                    "recomputed without the audit key",
                )
            )
        if row.action == "baseline":
            self.expected = {}
            self.baseline = row.seq
        if row.row_hashes:
            try:
                changes = _row_changes(row.row_hashes)
            except (ValueError, TypeError, AttributeError, KeyError):
                self.problems.append(
                    AuditProblem(row.seq, f"entry {row.seq} holds unreadable row hashes")
                )
                return
            for table, (present, removed) in changes.items():
                known = self.expected.setdefault(table, {})
                for row_id in removed:
                    known.pop(row_id, None)
                known.update(present)


def verify_chain(session: Session, *, check_data: bool = True) -> AuditVerification:
    """Verify the chain, the head kept outside the database and (``check_data``) every row."""
    ctx = audit_context(session)
    key = ctx.key()
    external = ctx.files.read_head() if ctx.check_external_head else None
    walk = _Walk(key=key, kid=None if key is None else key_id(key), external=external)
    query = select(AuditEntryRow).order_by(AuditEntryRow.seq).execution_options(yield_per=500)
    for row in session.execute(query).scalars():
        walk.entry(row)
        session.expunge(row)
    problems, notes = walk.problems, walk.notes
    key_path = str(ctx.files.key_path)
    # Head inside the database.
    head = session.get(AuditHeadRow, 1)
    if head is not None and (head.last_hash != walk.prev or head.seq != walk.expected_seq - 1):
        problems.append(
            AuditProblem(
                head.seq, "the chain head does not match the last entry (entries were removed)"
            )
        )
    if head is None and walk.count:
        problems.append(AuditProblem(0, "the chain head is missing"))
    # The key.
    if walk.first_keyed is not None and key is None:
        problems.append(
            AuditProblem(
                walk.first_keyed,
                f"audit key file {key_path!r} is missing: entries {walk.first_keyed}–"
                f"{walk.last_keyed} are keyed and cannot be verified without it (copy the "
                "store's key there, or point HOSTCAP_AUDIT_KEY_FILE at it)",
            )
        )
    # Head outside the database.
    if ctx.check_external_head:
        _check_external(walk, ctx.files, key)
    # Legacy entries.
    if walk.legacy:
        span = _span(walk.legacy)
        if walk.baseline is not None:
            notes.append(
                f"entries {span} predate keyed hashing: verified with their unkeyed sha256; the "
                f"stored data is checked against the baseline of entry {walk.baseline} (rows "
                "changed before that baseline cannot be detected)"
            )
        elif check_data:
            problems.append(
                AuditProblem(
                    walk.legacy[0],
                    f"entries {span} predate keyed hashing and no baseline of the data has "
                    "been recorded, so the stored data cannot be checked; run `hostcap init`",
                )
            )
        else:
            notes.append(f"entries {span} predate keyed hashing")
    rows_checked = 0
    if check_data and key is not None and (not walk.legacy or walk.baseline is not None):
        rows_checked = _check_rows(session, RowHasher(key), walk.expected, problems)
    return AuditVerification(
        entries=walk.count,
        problems=tuple(problems),
        head_hash=walk.prev,
        notes=tuple(notes),
        rows_checked=rows_checked,
        legacy_entries=len(walk.legacy),
    )


def _span(seqs: Sequence[int]) -> str:
    return f"{seqs[0]}–{seqs[-1]}" if len(seqs) > 1 else str(seqs[0])


def _check_external(walk: _Walk, files: AuditFiles, key: bytes | None) -> None:
    external = walk.external
    head_path = str(files.head_path)
    if external is None:
        if walk.first_keyed is not None:
            walk.problems.append(
                AuditProblem(
                    walk.last_seq,
                    f"audit head file {head_path!r} is missing: the store holds keyed entries, "
                    "so it should record the newest one (it is written beside the audit key "
                    "after every write); removed newest entries cannot be ruled out",
                )
            )
        return
    if external.seq > walk.last_seq:
        if walk.count == 0:
            message = (
                f"the audit log is empty, but the head recorded outside the database "
                f"({head_path}) is entry {external.seq}: the log was emptied"
            )
        else:
            message = (
                f"entries {walk.last_seq + 1}–{external.seq} are missing: the log ends at entry "
                f"{walk.last_seq} but the head recorded outside the database ({head_path}) is "
                f"entry {external.seq} (the newest entries were removed)"
            )
        walk.problems.append(AuditProblem(external.seq, message))
    elif walk.hash_at_external != external.hash:
        walk.problems.append(
            AuditProblem(
                external.seq,
                f"entry {external.seq} differs from the head recorded outside the database "
                f"({head_path}): the chain was rewritten",
            )
        )
    elif external.seq < walk.last_seq:
        walk.notes.append(
            f"entries {external.seq + 1}–{walk.last_seq} were written after the head file was "
            "last updated here (by another machine, or a write interrupted before updating it); "
            "their keyed hashes verify"
        )
    if key is not None and external.key_id is not None and external.key_id != key_id(key):
        walk.problems.append(
            AuditProblem(
                external.seq,
                f"the head file {head_path!r} was written under another audit key (key id "
                f"{external.key_id}; the key file holds {key_id(key)})",
            )
        )


def _check_rows(
    session: Session,
    hasher: RowHasher,
    expected: dict[str, dict[int, str]],
    problems: list[AuditProblem],
) -> int:
    checked = 0
    for table in clinical_tables():
        live = hasher.hash_stored(session, table)
        checked += len(live)
        known = expected.get(table.name, {})
        changed = [i for i, h in live.items() if i in known and known[i] != h]
        added = [i for i in live if i not in known]
        removed = [i for i in known if i not in live]
        problems.extend(_row_problems(table.name, changed, "changed"))
        problems.extend(_row_problems(table.name, added, "added"))
        problems.extend(_row_problems(table.name, removed, "removed"))
    unknown = sorted(set(expected) - {t.name for t in clinical_tables()})
    for name in unknown:
        if expected[name]:
            problems.append(
                AuditProblem(0, f"table {name} holds audited rows but is not in the schema")
            )
    return checked
