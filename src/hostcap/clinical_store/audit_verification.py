"""Verification of the audit log: every entry hash, the external head, and every live row's
content hash against the hash the log last recorded for it (see :mod:`audit`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from hostcap.clinical_store.audit import (
    GENESIS_HASH,
    audit_context,
    clinical_tables,
    entry_fields,
    entry_hash,
    keyed_entry_hash,
    row_changes,
)
from hostcap.clinical_store.audit_files import AuditFiles, ExternalHead, key_id
from hostcap.clinical_store.row_hash import RowHasher
from hostcap.clinical_store.tables import AuditEntryRow, AuditHeadRow

__all__ = ["AuditProblem", "AuditVerification", "verify_chain"]


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
        if entry_hash(row.prev_hash, entry_fields(row)) != row.hash:
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
        elif keyed_entry_hash(self.key, row.prev_hash, entry_fields(row)) != row.hash:
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
                changes = row_changes(row.row_hashes)
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
