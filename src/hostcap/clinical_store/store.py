"""The clinical store: one object per database, one transaction per call.

Every write is validated through ``record_kinds`` (units to canonical, hard limits rejected, soft
limits stored with a warning, dates neither in the future nor before birth, duplicates refused
unless replacing explicitly) and audited in the same transaction, so a failed call leaves the
store exactly as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
import stat
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import (
    Date,
    DateTime,
    Engine,
    Table,
    delete,
    event,
    func,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from hostcap import __version__
from hostcap.clinical_store.audit import (
    AuditContext,
    HashedRows,
    after_commit,
    after_rollback,
    append_audit,
    audited_row_hash,
    clinical_tables,
    row_hasher,
)
from hostcap.clinical_store.audit_files import AuditFiles, key_id
from hostcap.clinical_store.audit_verification import AuditVerification, verify_chain
from hostcap.clinical_store.bulk_insert import bulk_insert, python_values
from hostcap.clinical_store.corrections import correctable_fields, input_values
from hostcap.clinical_store.engine import (
    create_store_engine,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from hostcap.clinical_store.record_kinds import (
    KINDS,
    ClientInfo,
    RecordKind,
    ValidatedRecords,
    code_skeleton,
    validate_records,
)
from hostcap.clinical_store.tables import (
    AssessmentRow,
    AuditEntryRow,
    Base,
    ClientIdentityRow,
    ClientRow,
    ConsentRow,
    EnrolmentRow,
    ProtocolPhaseRow,
)
from hostcap.errors import (
    ConfigurationError,
    DuplicateError,
    IntegrityError,
    Issue,
    NotFoundError,
    Severity,
    ValidationError,
    describe_value,
)
from hostcap.output_files import staged_file
from hostcap.record_fields import PHENOTYPE_LABELS
from hostcap.settings import audit_key_file as audit_key_path

__all__ = ["ImportReport", "Store", "row_to_dict"]


@dataclass(frozen=True)
class ImportReport:
    """What an import (or a single add) did, or would do with ``dry_run``."""

    kind: str
    rows_read: int
    inserted: int
    replaced: int
    dry_run: bool
    batch: str | None
    warnings: tuple[Issue, ...] = ()
    ids: tuple[int, ...] = field(default=(), repr=False)


def row_to_dict(row: Base) -> dict[str, Any]:
    """A table row as a plain dict of its columns."""
    mapper = inspect(type(row))
    return {c.key: getattr(row, c.key) for c in mapper.column_attrs}


def _table(spec: RecordKind) -> Table:
    return cast(Table, spec.table.__table__)


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _phase_issues(phases: Sequence[tuple[str, float, float]]) -> list[Issue]:
    issues: list[Issue] = []
    previous_end: float | None = None
    for i, (name, start, end) in enumerate(phases, start=1):
        where = f"phase {i} ({name})"
        if not str(name).strip():
            issues.append(
                Issue(where, "phase name is empty; expected a name", value=name, expected="a name")
            )
        if not 0 <= start < end <= 520:
            issues.append(
                Issue(
                    where,
                    f"phase weeks {start}–{end} are not a forward interval; expected "
                    "0 <= start_week < end_week <= 520",
                    value=f"{start}-{end}",
                    expected="0 <= start_week < end_week <= 520",
                )
            )
        if previous_end is not None and start < previous_end:
            issues.append(
                Issue(
                    where,
                    f"phase starts at week {start}, before the previous phase ends (week "
                    f"{previous_end}); expected phases in order without overlap",
                    value=start,
                    expected=f">= {previous_end}",
                )
            )
        previous_end = end
    return issues


def _normal_text(value: str) -> str:
    """Text as the store keeps it (NFKC, stripped), for looking a stored value up."""
    return unicodedata.normalize("NFKC", value).strip()


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_code_text(code: str) -> None:
    try:
        str(code).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError.single(
            "client_code",
            code,
            "a client code in UTF-8 text",
            message=f"value {describe_value(code)} is not valid UTF-8 text; expected a client "
            "code in UTF-8 text",
        ) from None


def _text_issue(where: str, value: str | None, limit: int, *, required: bool) -> Issue | None:
    if value is None or not str(value).strip():
        if not required:
            return None
        return Issue(where, f"{where} is empty; expected a name", value=value, expected="a name")
    if len(value) > limit:
        return Issue(
            where,
            f"{where} value {describe_value(value)} is {len(value)} characters long; expected "
            f"at most {limit} characters",
            value=value,
            expected=f"text of at most {limit} characters",
        )
    return None


def _known_phenotype_labels() -> tuple[str, ...]:
    return PHENOTYPE_LABELS


def _strip_row(issues: Sequence[Issue]) -> list[Issue]:
    """Single-record commands speak of fields, not of file rows."""
    out = []
    for i in issues:
        loc = i.location
        if loc.startswith("row ") and ", " in loc:
            loc = loc.split(", ", 1)[1]
        elif loc.startswith("row "):
            loc = ""
        out.append(Issue(loc, i.message, i.severity, i.value, i.expected, i.code))
    return out


def _key_values(series: pd.Series) -> pd.Series:
    """Key values comparable across the file and the database (dates/times to datetime64)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    if series.dtype == object:
        sample = series.dropna()
        if not sample.empty and isinstance(sample.iat[0], dt.date | pd.Timestamp):
            return pd.to_datetime(series)
    return series


def _duplicate_issues(
    spec: RecordKind, rows: pd.DataFrame, existing: pd.Series, *, replace: bool
) -> list[Issue]:
    """Rows repeating an earlier row's key, and (unless replacing) keys already stored."""
    issues: list[Issue] = []
    if rows.empty:
        return issues
    shown_keys = [k for k in spec.key if k != "client_id"]
    label = ", ".join(shown_keys)

    def shown(i: int) -> str:
        return ", ".join(str(rows[k].iat[i]) for k in shown_keys)

    keys = rows[list(spec.key)].copy()
    for k in spec.key:
        keys[k] = _key_values(keys[k])
    repeated = keys.duplicated(keep="first").to_numpy()
    if repeated.any():
        first_of = keys.reset_index(drop=True).groupby(list(spec.key), sort=False).ngroup()
        first_row = pd.Series(np.arange(len(keys))).groupby(first_of.to_numpy()).transform("min")
        for i in (int(j) for j in np.flatnonzero(repeated)):
            issues.append(
                Issue(
                    location=f"row {i + 2}",
                    message=f"duplicate {spec.name} record ({label} = {shown(i)}) repeats row "
                    f"{int(first_row.to_numpy()[i]) + 2}; expected one row per {label}",
                    value=shown(i),
                    expected=f"one row per {label}",
                    code="duplicate_in_file",
                )
            )
    if not replace:
        for i in (int(j) for j in np.flatnonzero(existing.notna().to_numpy())):
            issues.append(
                Issue(
                    location=f"row {i + 2}",
                    message=f"{spec.name} record ({label} = {shown(i)}) is already in the store; "
                    "expected a new record (use --replace to overwrite it explicitly)",
                    value=shown(i),
                    expected="a new record, or --replace",
                    code="duplicate",
                )
            )
    return issues


def enrolment_fields(
    protocol: str, phenotype_label: str | None, phases: Sequence[tuple[str, float, float]]
) -> tuple[str, str | None, list[tuple[str, float, float]], list[Issue]]:
    """An enrolment's text normalised (NFKC, trimmed, the label's canonical case) and every
    problem with it: a missing or too long protocol, long phase names, an unknown phenotype
    label, phases empty, reversed or overlapping. One check for single and bulk enrolment."""
    protocol = unicodedata.normalize("NFKC", str(protocol)).strip()
    label = (
        None
        if phenotype_label is None or not str(phenotype_label).strip()
        else unicodedata.normalize("NFKC", str(phenotype_label)).strip()
    )
    named = [
        (unicodedata.normalize("NFKC", str(n)).strip(), start, end) for n, start, end in phases
    ]
    issues = _phase_issues(named)
    checks = [
        _text_issue("protocol", protocol, 100, required=True),
        *(
            _text_issue(f"phase {i} name", name, 100, required=False)
            for i, (name, _, _) in enumerate(named, start=1)
        ),
    ]
    issues.extend(i for i in checks if i is not None)
    if label is not None:
        known = _known_phenotype_labels()
        canonical = {k.lower(): k for k in known}
        if label.lower() in canonical:
            label = canonical[label.lower()]
        else:
            issues.append(
                Issue(
                    "phenotype_label",
                    f"phenotype_label {describe_value(label)} is not a phenotype label; "
                    f"expected one of {', '.join(known)}",
                    value=label,
                    expected="one of " + ", ".join(known),
                )
            )
    return protocol, label, named, issues


class Store:
    """A clinical store at ``url`` (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        url: str,
        *,
        audit_key_file: Path | None = None,
        check_external_head: bool = True,
    ) -> None:
        self.url = url
        self.engine: Engine = create_store_engine(url)
        key_file = audit_key_file or audit_key_path(url)
        self.audit = AuditContext(AuditFiles(key_file), check_external_head=check_external_head)
        self._sessions = sessionmaker(
            self.engine, expire_on_commit=False, info={"hostcap_audit": self.audit}
        )
        event.listen(self._sessions, "after_commit", after_commit)
        event.listen(self._sessions, "after_rollback", after_rollback)

    # -- lifecycle -----------------------------------------------------------------------------

    def init(self) -> str:
        """Create the schema or upgrade it to the newest migration; returns the revision.

        Also creates the audit key (0600) when missing and, for a store written before keyed
        hashing, records a keyed baseline of every stored row after its old entries verify.

        Raises
        ------
        ConfigurationError
            When the database is empty but the head file beside the key records entries (the
            store that was here was emptied or removed), or the store's key is missing.
        IntegrityError
            When the entries written before keyed hashing do not verify (no baseline is
            recorded over tampered data).
        """
        fresh = current_revision(self.engine) is None
        if fresh:
            recorded = self.audit.files.read_head()
            if recorded is not None and recorded.seq > 0:
                raise ConfigurationError(
                    f"the database at {self.engine.url!r} is empty, but the audit head file "
                    f"{str(self.audit.files.head_path)!r} records {recorded.seq} entries of a "
                    "store that was here: it was emptied or removed. Restore it from a backup; "
                    "if it was removed on purpose, move that head file and its key aside first."
                )
        upgrade_to_head(self.engine)
        revision = current_revision(self.engine)
        assert revision is not None
        self._baseline()
        self._make_files_private()
        return revision

    def _make_files_private(self) -> None:
        """A SQLite store made before files were created 0600 is tightened to 0600 at ``init``
        (with its -wal and -shm files): clinical data are never world-readable."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return
        database = Path(str(url.database)).expanduser()
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) & 0o077:
                path.chmod(0o600)

    def _baseline(self) -> None:
        """Create the key if missing; baseline the data of a store with only legacy entries."""
        with self.transaction() as session:
            self.audit.key_for_write(session)
            legacy = session.execute(
                select(func.count(), func.max(AuditEntryRow.seq)).where(
                    AuditEntryRow.key_id.is_(None)
                )
            ).one()
            keyed = session.execute(
                select(func.count()).where(AuditEntryRow.key_id.is_not(None))
            ).scalar_one()
            if not legacy[0] or keyed:
                return
            check = verify_chain(session, check_data=False)
            if not check.ok:
                raise IntegrityError(
                    f"the {legacy[0]} audit entries written before keyed hashing do not verify "
                    f"({check.problems[0].message}); no baseline of the data was recorded. "
                    "Inspect with `hostcap audit --verify`."
                )
            hasher = row_hasher(session)
            rows = {
                t.name: sorted(hasher.hash_stored(session, t).items()) for t in clinical_tables()
            }
            append_audit(
                session,
                action="baseline",
                entity="store",
                entity_id=None,
                client_code=None,
                after={
                    "legacy_entries": int(legacy[0]),
                    "rows": {name: len(pairs) for name, pairs in rows.items()},
                    "note": "hashes of the stored rows at the upgrade to keyed audit hashing",
                },
                rows=rows,
            )

    def ensure_ready(self) -> None:
        """Raise ``ConfigurationError`` unless the store is at the newest migration."""
        revision = current_revision(self.engine)
        head = head_revision()
        if revision != head:
            state = "empty" if revision is None else f"at migration {revision}"
            raise ConfigurationError(
                f"the store at {self.engine.url!r} is {state}; expected migration {head}. "
                "Run `hostcap init` to create or upgrade it."
            )

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One transaction: commits on success, rolls back everything on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    # -- clients -------------------------------------------------------------------------------

    def _client_infos(
        self, session: Session, codes: Sequence[str] | None = None
    ) -> dict[str, ClientInfo]:
        query = select(ClientRow.id, ClientRow.code, ClientRow.birth_year)
        if codes is not None:
            # A code that is not valid text is refused by validation; never send it to the driver.
            wanted = sorted({_normal_text(c) for c in codes if isinstance(c, str) and _is_text(c)})
            if not wanted:
                return {}
            query = query.where(ClientRow.code.in_(wanted)) if len(wanted) < 5000 else query
        return {
            code: ClientInfo(id=cid, code=code, birth_year=by)
            for cid, code, by in session.execute(query)
        }

    def _confusable_codes(self, session: Session, rows: pd.DataFrame) -> list[Issue]:
        """New codes that look like a stored one, or like another in the same file."""
        seen: dict[str, str] = {
            code_skeleton(str(c)): str(c) for c in session.execute(select(ClientRow.code)).scalars()
        }
        issues = []
        for i, code in enumerate(rows["code"]):
            twin = seen.get(code_skeleton(str(code)))
            if twin is not None and twin != code:
                issues.append(
                    Issue(
                        location=f"row {i + 2}, client_code",
                        message=f"client_code {code!r} looks the same as the stored client "
                        f"{twin!r} (letters from another script or another case); expected a "
                        "code that cannot be mistaken for an existing one",
                        value=code,
                        expected="a code distinct from every stored code",
                        code="confusable",
                    )
                )
            seen.setdefault(code_skeleton(str(code)), str(code))
        return issues

    def client(self, session: Session, code: str) -> ClientRow:
        _check_code_text(code)
        code = _normal_text(code)
        row = session.execute(select(ClientRow).where(ClientRow.code == code)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(
                f"client_code {code!r} is not in the store; expected an existing client code "
                "(see `hostcap client list`)"
            )
        return row

    def add_client(
        self,
        code: str,
        *,
        sex: str,
        birth_year: int | str,
        demo: bool = False,
        identity: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Add one client; identifying details (if any) go to their own table."""
        report = self.add_one(
            "clients",
            {"client_code": code, "sex": sex, "birth_year": str(birth_year), "demo": str(demo)},
            actor=actor,
        )
        if identity:
            allowed = {"full_name", "date_of_birth", "email", "phone", "address"}
            unknown = sorted(set(identity) - allowed)
            if unknown:
                raise ValidationError.single(
                    "identity", unknown, "fields among " + ", ".join(sorted(allowed))
                )
            limits = {"full_name": 200, "email": 200, "phone": 64}
            too_long = [
                issue
                for key, limit in limits.items()
                if isinstance(identity.get(key), str)
                and (issue := _text_issue(key, identity[key], limit, required=False)) is not None
            ]
            if too_long:
                raise ValidationError(too_long, context="identity: nothing was written")
            with self.transaction() as session:
                client = self.client(session, code)
                row = ClientIdentityRow(client_id=client.id, **dict(identity))
                session.add(row)
                session.flush()
                append_audit(
                    session,
                    action="create",
                    entity="client_identities",
                    entity_id=row.id,
                    client_code=code,
                    after={"fields": sorted(identity)},  # never the identifying values themselves
                    actor=actor,
                    rows=_stored_hashes(session, ClientIdentityRow, [row.id]),
                )
        with self.reading() as session:
            return row_to_dict(self.client(session, code)) | {"ids": report.ids}

    def list_clients(self) -> list[dict[str, Any]]:
        with self.reading() as session:
            rows = session.execute(select(ClientRow).order_by(ClientRow.code)).scalars()
            return [row_to_dict(r) for r in rows]

    # -- records -------------------------------------------------------------------------------

    def add_one(
        self,
        kind: str,
        values: Mapping[str, str | None],
        *,
        replace: bool = False,
        actor: str | None = None,
        confirm_unusual: bool = False,
    ) -> ImportReport:
        """Validate and store one record given as strings (what a command line provides)."""
        raw = pd.DataFrame([{k: v for k, v in values.items() if v is not None}], dtype="string")
        try:
            report = self.add_records(
                kind,
                raw,
                replace=replace,
                actor=actor,
                single=True,
                confirm_unusual=confirm_unusual,
            )
            return dataclasses.replace(report, warnings=tuple(_strip_row(report.warnings)))
        except ValidationError as exc:
            raise ValidationError(_strip_row(exc.issues)) from None

    def validate(
        self,
        kind: str,
        raw: pd.DataFrame,
        *,
        session: Session | None = None,
        confirm_unusual: bool = False,
    ) -> ValidatedRecords:
        """Check ``raw`` without writing (what ``--dry-run`` reports)."""
        spec = self._kind(kind)

        def run(s: Session) -> ValidatedRecords:
            codes = list(raw["client_code"].dropna()) if "client_code" in raw else []
            clients = self._client_infos(s, codes) if spec.needs_client else {}
            checked = validate_records(
                spec, raw, clients, now=_now(), confirm_unusual=confirm_unusual
            )
            if spec.name == "clients" and not checked.rows.empty:
                checked.issues.extend(self._confusable_codes(s, checked.rows))
            return checked

        if session is not None:
            return run(session)
        with self.reading() as s:
            return run(s)

    def add_records(
        self,
        kind: str,
        raw: pd.DataFrame,
        *,
        replace: bool = False,
        dry_run: bool = False,
        actor: str | None = None,
        source: str | None = None,
        source_sha256: str | None = None,
        single: bool = False,
        confirm_unusual: bool = False,
    ) -> ImportReport:
        """Validate every row, then write all of them in one transaction, or none.

        Raises
        ------
        ValidationError
            Listing every problem (with its row) when any row is bad; nothing is written.
        DuplicateError
            For a single record whose key is already stored (and ``replace`` is false).
        """
        spec = self._kind(kind)
        with self.transaction() as session:
            checked = self.validate(kind, raw, session=session, confirm_unusual=confirm_unusual)
            rows = checked.rows
            issues = list(checked.issues)
            existing = self._existing(session, spec, rows)
            issues.extend(_duplicate_issues(spec, rows, existing, replace=replace))
            errors = [i for i in issues if i.severity == Severity.ERROR]
            if errors:
                if single and all(i.code == "duplicate" for i in errors):
                    first = errors[0]
                    raise DuplicateError(
                        first.message,
                        field=first.location,
                        value=first.value,
                        expected=first.expected,
                    )
                raise ValidationError(
                    errors if single else issues,
                    context="" if single else f"{kind} import: nothing was written",
                )
            warnings = tuple(i for i in issues if i.severity == Severity.WARNING)
            replaced_ids = sorted({int(v) for v in existing.dropna()}) if replace else []
            if dry_run:
                session.rollback()
                return ImportReport(
                    kind, len(raw), len(rows), len(replaced_ids), True, None, warnings
                )
            if replaced_ids:
                self._replace(session, spec, replaced_ids, actor=actor)
            batch = None if single else uuid.uuid4().hex[:16]
            ids, hashes = self._insert(session, spec, rows, batch=batch)
            self._audit_insert(
                session,
                spec,
                rows,
                ids,
                hashes,
                batch=batch,
                single=single,
                actor=actor,
                source=source,
                source_sha256=source_sha256,
                replaced=len(replaced_ids),
            )
            return ImportReport(
                kind, len(raw), len(ids), len(replaced_ids), False, batch, warnings, tuple(ids)
            )

    def add_record_sets(
        self,
        sets: Sequence[tuple[str, pd.DataFrame]],
        *,
        skip_stored: bool = False,
        dry_run: bool = False,
        actor: str | None = None,
        source: str | None = None,
        source_sha256: str | None = None,
    ) -> list[ImportReport]:
        """Validate and write several kinds in ONE transaction: all of them, or nothing.

        ``sets`` are (kind, frame of strings) in the order to write them (clients first, so
        that later kinds find them). Each frame goes through the same validation as
        :meth:`add_records`. With ``skip_stored``, a row whose natural key is already stored
        with the same values is skipped (importing the same file twice adds nothing); one whose
        stored values differ is an error naming both.

        Raises
        ------
        ValidationError
            Listing every problem of every kind (locations prefixed with the kind); nothing is
            written.
        """
        reports: list[ImportReport] = []
        problems: list[Issue] = []
        with self.transaction() as session:
            for kind, raw in sets:
                spec = self._kind(kind)
                checked = self.validate(kind, raw, session=session)
                rows = checked.rows
                issues = list(checked.issues)
                existing = self._existing(session, spec, rows)
                if skip_stored and not rows.empty:
                    same, differing = self._compare_stored(session, spec, rows, existing)
                    issues.extend(differing)
                    keep = ~same
                    rows = rows[keep]
                    existing = existing[keep]
                # Rows skipped above: name the remaining ones by their line in the input.
                positions = [int(p) for p in raw.index.get_indexer(rows.index)]
                for issue in _duplicate_issues(spec, rows, existing, replace=False):
                    row = int(issue.location.split()[1]) - 2
                    issues.append(dataclasses.replace(issue, location=f"row {positions[row] + 2}"))
                errors = [i for i in issues if i.severity == Severity.ERROR]
                warnings = tuple(i for i in issues if i.severity == Severity.WARNING)
                if errors:
                    problems.extend(
                        Issue(
                            f"{kind} {i.location}".strip(),
                            i.message,
                            i.severity,
                            i.value,
                            i.expected,
                            i.code,
                        )
                        for i in errors
                    )
                    continue
                if rows.empty:
                    reports.append(ImportReport(kind, len(raw), 0, 0, dry_run, None, warnings))
                    continue
                # A dry run writes too (rolled back below), so that later kinds are validated
                # against the clients written by earlier ones.
                batch = uuid.uuid4().hex[:16]
                ids, hashes = self._insert(session, spec, rows, batch=batch)
                self._audit_insert(
                    session,
                    spec,
                    rows,
                    ids,
                    hashes,
                    batch=batch,
                    single=False,
                    actor=actor,
                    source=source,
                    source_sha256=source_sha256,
                    replaced=0,
                )
                reports.append(
                    ImportReport(
                        kind,
                        len(raw),
                        len(ids),
                        0,
                        dry_run,
                        None if dry_run else batch,
                        warnings,
                        () if dry_run else tuple(ids),
                    )
                )
            if problems:
                raise ValidationError(problems, context="import: nothing was written")
            if dry_run:
                session.rollback()
        return reports

    def _compare_stored(
        self, session: Session, spec: RecordKind, rows: pd.DataFrame, existing: pd.Series
    ) -> tuple[np.ndarray, list[Issue]]:
        """Which rows are stored already with the same values, and an error for each row whose
        key is stored with other values."""
        same = np.zeros(len(rows), dtype=bool)
        issues: list[Issue] = []
        stored_ids = existing.to_numpy(dtype=float)
        wanted = sorted({int(v) for v in stored_ids if not np.isnan(v)})
        if not wanted:
            return same, issues
        table = _table(spec)
        stored: dict[int, Any] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            for row in session.execute(select(table).where(table.c.id.in_(chunk))).mappings():
                stored[int(row["id"])] = row
        # As entered (``ng/ml``, ``10``) may be spelt differently for the same stored value:
        # the canonical value and unit beside them are compared instead.
        ignored = {"id", "import_batch", "warning", "unusual", "created_at"}
        ignored |= {"value_as_entered", "unit_as_entered"}
        for i, record_id in enumerate(stored_ids):
            if np.isnan(record_id):
                continue
            before = stored[int(record_id)]
            after = python_values(rows.iloc[i])
            differing = [
                name
                for name, value in after.items()
                if name in table.c
                and name not in ignored
                and _comparable(value) != _comparable(before[name])
            ]
            if not differing:
                same[i] = True
                continue
            name = differing[0]
            issues.append(
                Issue(
                    location=f"row {i + 2}, {name}",
                    message=f"{spec.name} record {int(record_id)} is stored with {name} "
                    f"{describe_value(before[name])}, the import has "
                    f"{describe_value(after[name])}; expected the stored value (correct the "
                    "stored record with `hostcap record correct` first if the import is right)",
                    value=after[name],
                    expected=str(before[name]),
                    code="differs_from_stored",
                )
            )
        return same, issues

    def _kind(self, kind: str) -> RecordKind:
        try:
            return KINDS[kind]
        except KeyError:
            raise ValidationError.single(
                "kind", kind, "one of " + ", ".join(sorted(KINDS))
            ) from None

    def _existing(self, session: Session, spec: RecordKind, rows: pd.DataFrame) -> pd.Series:
        """For each row, the id of a stored record with the same natural key (NaN if none)."""
        if rows.empty:
            return pd.Series(dtype="float64")
        table = _table(spec)
        key_cols = [table.c[k] for k in spec.key]
        first = spec.key[0]
        wanted = sorted({v for v in rows[first] if v is not None})
        query = select(table.c.id, *key_cols).where(key_cols[0].in_(wanted))
        stored = pd.DataFrame(session.execute(query).all(), columns=["id", *spec.key])
        if stored.empty:
            return pd.Series(np.nan, index=rows.index)
        keys = rows[list(spec.key)].copy()
        for k in spec.key:
            keys[k] = _key_values(keys[k])
            stored[k] = _key_values(stored[k])
        merged = keys.reset_index().merge(stored, on=list(spec.key), how="left")
        return pd.Series(merged["id"].to_numpy(dtype=float), index=rows.index)

    def _replace(
        self, session: Session, spec: RecordKind, ids: list[int], *, actor: str | None
    ) -> None:
        table = _table(spec)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            befores = session.execute(select(table).where(table.c.id.in_(chunk))).mappings().all()
            for before in befores:
                append_audit(
                    session,
                    action="replace",
                    entity=table.name,
                    entity_id=before["id"],
                    client_code=None,
                    before=dict(before),
                    actor=actor,
                    rows={table.name: [(int(before["id"]), None)]},
                )
            session.execute(delete(table).where(table.c.id.in_(chunk)))

    def _insert(
        self, session: Session, spec: RecordKind, rows: pd.DataFrame, *, batch: str | None
    ) -> tuple[list[int], list[str]]:
        """Insert ``rows``; their ids and content hashes (for the audit), in row order."""
        table = _table(spec)
        if rows.empty:
            return [], []
        rows = rows.copy()
        if "import_batch" in table.c:
            rows["import_batch"] = batch
        if spec.name == "clients":
            rows["created_at"] = _now()
        # Key order keeps the unique index's B-tree writes local (3-5x faster on big files).
        if len(rows) > 1:
            keys = rows[list(spec.key)].reset_index(drop=True)
            perm = keys.sort_values(list(spec.key), kind="stable").index.to_numpy()
        else:
            perm = np.arange(len(rows))
        written = bulk_insert(session.connection(), table, rows.iloc[perm])
        inserted = np.asarray(written.ids, dtype=np.int64)
        stored = written.values
        by_row = np.empty(len(rows), dtype=np.int64)
        by_row[perm] = inserted
        hashed = row_hasher(session).hash_columns(table, inserted.tolist(), stored)
        hashes = [""] * len(rows)
        for position, digest in zip(perm.tolist(), hashed, strict=True):
            hashes[position] = digest
        return [int(i) for i in by_row], hashes

    def _audit_insert(
        self,
        session: Session,
        spec: RecordKind,
        rows: pd.DataFrame,
        ids: list[int],
        hashes: list[str],
        *,
        batch: str | None,
        single: bool,
        actor: str | None,
        source: str | None,
        source_sha256: str | None,
        replaced: int,
    ) -> None:
        table = _table(spec)
        codes = self._codes_by_id(session) if spec.needs_client else {}
        if single:
            for row_id, digest, (_, row) in zip(ids, hashes, rows.iterrows(), strict=True):
                after = python_values(row)
                code = codes.get(int(after["client_id"])) if spec.needs_client else after["code"]
                append_audit(
                    session,
                    action="create",
                    entity=table.name,
                    entity_id=row_id,
                    client_code=code,
                    after=after,
                    actor=actor,
                    rows={table.name: [(row_id, digest)]},
                )
            return
        client_codes = (
            sorted({codes.get(int(c), "") for c in rows["client_id"].unique()})
            if spec.needs_client
            else sorted(str(c) for c in rows["code"])
        )
        append_audit(
            session,
            action="import",
            entity=table.name,
            entity_id=batch,
            client_code=client_codes[0] if len(client_codes) == 1 else None,
            after={
                "kind": spec.name,
                "rows": len(ids),
                "replaced": replaced,
                "first_id": min(ids) if ids else None,
                "last_id": max(ids) if ids else None,
                "batch": batch,
                "source": source,
                "source_sha256": source_sha256,
                "clients": client_codes[:200],
                "confirmed_unusual": [
                    row_id
                    for row_id, flag in zip(ids, rows["unusual"], strict=True)
                    if isinstance(flag, str)
                ]
                if "unusual" in rows
                else [],
            },
            actor=actor,
            rows={table.name: _in_id_order(ids, hashes)},
        )

    def _codes_by_id(self, session: Session) -> dict[int, str]:
        return {int(i): str(c) for i, c in session.execute(select(ClientRow.id, ClientRow.code))}

    # -- corrections -----------------------------------------------------------------------------

    def _unaudited_change(
        self, session: Session, spec: RecordKind, record_id: int, *, accept: bool
    ) -> dict[str, Any] | None:
        """Refuse to correct or delete a row that no longer matches its audited hash.

        A correction would otherwise hide a change made outside hostcap. With ``accept`` the
        mismatch is returned, to be kept in the audit entry, instead.
        """
        table = _table(spec)
        found = row_hasher(session).hash_stored(session, table, [record_id]).get(record_id)
        known, audited = audited_row_hash(session, table.name, record_id)
        if not known or audited == found:
            return None
        if not accept:
            raise IntegrityError(
                f"{spec.name} record {record_id} was changed outside hostcap since it was last "
                "audited (its stored values do not match the audit log), and a correction would "
                "hide that; expected an audited record. See `hostcap audit --verify`; to change "
                "it anyway and record the mismatch, add --accept-unaudited-change."
            )
        return {"audited_hash": audited, "found_hash": found}

    def _stored_record(
        self, session: Session, spec: RecordKind, record_id: int
    ) -> tuple[dict[str, Any], str]:
        table = _table(spec)
        found = session.execute(
            select(table).where(table.c.id == record_id).with_for_update()
        ).mappings()
        old = found.one_or_none()
        if old is None:
            raise NotFoundError(
                f"{spec.name} record {record_id} is not in the store; expected the id of a "
                f"stored {spec.name} record (ids are shown when a record is stored and in the "
                "audit log)"
            )
        if spec.needs_client:
            code = session.execute(
                select(ClientRow.code).where(ClientRow.id == old["client_id"])
            ).scalar_one()
        else:
            code = str(old["code"])
        return dict(old), str(code)

    def correct_record(
        self,
        kind: str,
        record_id: int,
        changes: Mapping[str, str],
        *,
        reason: str,
        actor: str | None = None,
        accept_unaudited_change: bool = False,
    ) -> dict[str, Any]:
        """Change fields of a stored record, validated as on insert, audited with the reason.

        The record's input is rebuilt from the stored row, each field of ``changes`` set to its
        value (an empty value clears an optional field) and the whole record validated again
        by the same code an insert uses; the row keeps its id. The audit entry holds the old
        row, the new one, the reason and the new content hash. Returns the row before and
        after (``{"before": ..., "after": ...}``).

        Raises
        ------
        ValidationError
            For an unknown kind or field, an empty reason, or a value the kind refuses.
        NotFoundError
            When no record of ``kind`` has ``record_id``.
        DuplicateError
            When the change would give the record the key of another stored record.
        IntegrityError
            When the stored row no longer matches its audited hash (changed outside hostcap),
            unless ``accept_unaudited_change``; the mismatch is then kept in the audit entry.
        """
        spec = self._kind(kind)
        why = _reason(reason)
        fields = correctable_fields(spec)
        if not changes:
            raise ValidationError.single("--field", "", "at least one field to correct")
        for field_name in changes:
            if field_name not in fields:
                raise ValidationError.single(
                    "--field", field_name, f"a field of {kind} records: " + ", ".join(fields)
                )
        table = _table(spec)
        with self.transaction() as session:
            old, code = self._stored_record(session, spec, record_id)
            mismatch = self._unaudited_change(
                session, spec, record_id, accept=accept_unaudited_change
            )
            values = input_values(spec, old, code)
            previous = {f: values.get(f) for f in changes}
            for field_name, value in changes.items():
                values[field_name] = value if value.strip() else None
            raw = pd.DataFrame(
                [{k: v for k, v in values.items() if v is not None or k in changes}],
                dtype="string",
            )
            checked = self.validate(kind, raw, session=session)
            if checked.errors:
                raise ValidationError(
                    _strip_row(checked.errors),
                    context=f"{kind} record {record_id}: nothing was changed",
                )
            existing = self._existing(session, spec, checked.rows)
            other = existing.iloc[0] if len(existing) else np.nan
            if pd.notna(other) and int(other) != record_id:
                shown = ", ".join(f"{f} = {v!r}" for f, v in changes.items())
                raise DuplicateError(
                    f"{shown} would give {kind} record {record_id} the key of stored record "
                    f"{int(other)}; expected values that keep the record unique",
                    field=", ".join(changes),
                    value=", ".join(changes.values()),
                    expected="values that keep the record unique",
                )
            new = _column_typed(table, python_values(checked.rows.iloc[0]))
            session.execute(update(table).where(table.c.id == record_id).values(**new))
            after = dict(
                session.execute(select(table).where(table.c.id == record_id)).mappings().one()
            )
            append_audit(
                session,
                action="correct",
                entity=table.name,
                entity_id=record_id,
                client_code=code,
                before=old,
                after={
                    "changes": dict(changes),
                    "previous": previous,
                    "reason": why,
                    "row": after,
                }
                | ({"unaudited_change": mismatch} if mismatch else {}),
                actor=actor,
                rows=_stored_hashes(session, table, [record_id]),
            )
            return {"before": old, "after": after}

    def delete_record(
        self,
        kind: str,
        record_id: int,
        *,
        reason: str,
        actor: str | None = None,
        accept_unaudited_change: bool = False,
    ) -> dict[str, Any]:
        """Delete a stored record; the audit entry keeps its values and the reason.

        A client is deleted only when no record refers to it (its identifying details, if any,
        go with it, and only their field names are audited). Returns the deleted row.

        Raises
        ------
        ValidationError
            For an unknown kind, an empty reason, or a client that still has records.
        NotFoundError
            When no record of ``kind`` has ``record_id``.
        IntegrityError
            When the stored row no longer matches its audited hash, unless
            ``accept_unaudited_change`` (the mismatch is then kept in the audit entry).
        """
        spec = self._kind(kind)
        why = _reason(reason)
        table = _table(spec)
        with self.transaction() as session:
            old, code = self._stored_record(session, spec, record_id)
            mismatch = self._unaudited_change(
                session, spec, record_id, accept=accept_unaudited_change
            )
            removed: dict[str, list[tuple[int, str | None]]] = {table.name: [(record_id, None)]}
            after: dict[str, Any] = {"reason": why}
            if mismatch:
                after["unaudited_change"] = mismatch
            if spec.name == "clients":
                self._refuse_client_with_records(session, record_id, code)
                identity = session.execute(
                    select(ClientIdentityRow).where(ClientIdentityRow.client_id == record_id)
                ).scalar_one_or_none()
                if identity is not None:
                    held = [
                        k
                        for k in ("full_name", "date_of_birth", "email", "phone", "address")
                        if getattr(identity, k) is not None
                    ]
                    after["identity_fields_deleted"] = held  # never the values themselves
                    removed["client_identities"] = [(identity.id, None)]
                    session.delete(identity)
                    session.flush()
            session.execute(delete(table).where(table.c.id == record_id))
            append_audit(
                session,
                action="delete",
                entity=table.name,
                entity_id=record_id,
                client_code=code,
                before=old,
                after=after,
                actor=actor,
                rows=removed,
            )
            return old

    def _refuse_client_with_records(self, session: Session, client_id: int, code: str) -> None:
        held: list[str] = []
        for table in clinical_tables():
            if "client_id" not in table.c or table.name == "client_identities":
                continue
            n = session.execute(
                select(func.count()).select_from(table).where(table.c.client_id == client_id)
            ).scalar_one()
            if n:
                held.append(f"{table.name} {n}")
        if held:
            raise ValidationError.single(
                "ID",
                client_id,
                "a client with no records; delete its records first",
                message=f"client {code} (id {client_id}) still has records ({', '.join(held)}); "
                "expected a client with no records: delete or correct those first",
            )

    # -- reading ---------------------------------------------------------------------------------

    def frame(self, kind: str, *, code: str | None = None) -> pd.DataFrame:
        """Stored records of ``kind`` as a frame with a ``client_code`` column."""
        spec = self._kind(kind)
        table = _table(spec)
        with self.reading() as session:
            if spec.needs_client:
                query = select(ClientRow.code.label("client_code"), table).join(
                    ClientRow, ClientRow.id == table.c.client_id
                )
                if code is not None:
                    query = query.where(ClientRow.code == code)
                query = query.order_by(ClientRow.code, table.c.id)
            else:
                query = select(table).order_by(table.c.id)
                if code is not None:
                    query = query.where(table.c.code == code)
            result = session.execute(query)
            return pd.DataFrame(result.mappings().all(), columns=list(result.keys()))

    def enrolment_start(self, session: Session, client_id: int) -> dt.date | None:
        return session.execute(
            select(func.min(EnrolmentRow.started_on)).where(EnrolmentRow.client_id == client_id)
        ).scalar_one()

    def add_enrolment(
        self,
        code: str,
        *,
        protocol: str,
        started_on: dt.date,
        phenotype_label: str | None = None,
        phases: Sequence[tuple[str, float, float]] = (),
        actor: str | None = None,
    ) -> int:
        """Enrol a client in a protocol; ``phases`` are (name, start_week, end_week), in order.

        Raises
        ------
        ValidationError
            For a future start, a start before the birth year, or phases that are empty,
            reversed or overlapping (every problem listed; nothing is written).
        """
        protocol, phenotype_label, phases, phase_issues = enrolment_fields(
            protocol, phenotype_label, phases
        )
        if phase_issues:
            raise ValidationError(phase_issues, context="enrolment: nothing was written")
        if started_on > dt.date.today():
            raise ValidationError.single(
                "started_on", started_on.isoformat(), "a date not in the future"
            )
        with self.transaction() as session:
            client = self.client(session, code)
            if started_on.year < client.birth_year:
                raise ValidationError.single(
                    "started_on", started_on.isoformat(), f"a date in or after {client.birth_year}"
                )
            same = session.execute(
                select(EnrolmentRow.id).where(
                    EnrolmentRow.client_id == client.id,
                    EnrolmentRow.protocol == protocol,
                    EnrolmentRow.started_on == started_on,
                )
            ).first()
            if same is not None:
                raise DuplicateError(
                    f"{code} is already enrolled in {protocol!r} from {started_on} (enrolment "
                    f"{same[0]}); expected a new protocol or start date",
                    field="enrolment",
                    value=f"{code}, {protocol}, {started_on}",
                    expected="a new (client, protocol, start) enrolment",
                )
            row = EnrolmentRow(
                client_id=client.id,
                protocol=protocol,
                started_on=started_on,
                phenotype_label=phenotype_label,
            )
            session.add(row)
            session.flush()
            for name, start_week, end_week in phases:
                session.add(
                    ProtocolPhaseRow(
                        enrolment_id=row.id,
                        name=name,
                        start_week=float(start_week),
                        end_week=float(end_week),
                    )
                )
            session.flush()
            phase_ids = session.execute(
                select(ProtocolPhaseRow.id).where(ProtocolPhaseRow.enrolment_id == row.id)
            ).scalars()
            append_audit(
                session,
                action="create",
                entity="enrolments",
                entity_id=row.id,
                client_code=code,
                after=row_to_dict(row) | {"phases": [list(p) for p in phases]},
                actor=actor,
                rows=_stored_hashes(session, EnrolmentRow, [row.id])
                | _stored_hashes(session, ProtocolPhaseRow, list(phase_ids)),
            )
            return row.id

    def enrolments(self, code: str) -> list[dict[str, Any]]:
        """A client's enrolments, oldest first, each with its phases."""
        with self.reading() as session:
            client = self.client(session, code)
            rows = session.execute(
                select(EnrolmentRow)
                .where(EnrolmentRow.client_id == client.id)
                .order_by(EnrolmentRow.started_on, EnrolmentRow.id)
            ).scalars()
            out = []
            for row in rows:
                phases = session.execute(
                    select(ProtocolPhaseRow)
                    .where(ProtocolPhaseRow.enrolment_id == row.id)
                    .order_by(ProtocolPhaseRow.start_week)
                ).scalars()
                out.append(row_to_dict(row) | {"phases": [row_to_dict(p) for p in phases]})
            return out

    # -- assessments ----------------------------------------------------------------------------

    def save_assessment(
        self,
        code: str,
        *,
        input_json: dict[str, Any],
        result_json: dict[str, Any],
        rulebook_version: str,
        rulebook_sha256: str,
        triage_level: str,
        actor: str | None = None,
        skipped: Sequence[str] = (),
    ) -> int:
        """Store an assessment exactly as produced, with the rulebook version and hash.

        ``skipped`` names stored values the input had to leave out; the audit entry keeps them.
        """
        with self.transaction() as session:
            client = self.client(session, code)
            row = AssessmentRow(
                client_id=client.id,
                created_at=_now(),
                rulebook_version=rulebook_version,
                rulebook_sha256=rulebook_sha256,
                package_version=__version__,
                triage_level=triage_level,
                input=input_json,
                result=result_json,
            )
            session.add(row)
            session.flush()
            append_audit(
                session,
                action="create",
                entity="assessments",
                entity_id=row.id,
                client_code=code,
                after={
                    "rulebook_version": rulebook_version,
                    "rulebook_sha256": rulebook_sha256,
                    "triage_level": triage_level,
                }
                | ({"skipped_stored_values": list(skipped)} if skipped else {}),
                actor=actor,
                rows=_stored_hashes(session, AssessmentRow, [row.id]),
            )
            return row.id

    def assessments(self, code: str) -> list[dict[str, Any]]:
        with self.reading() as session:
            client = self.client(session, code)
            rows = session.execute(
                select(AssessmentRow)
                .where(AssessmentRow.client_id == client.id)
                .order_by(AssessmentRow.id)
            ).scalars()
            return [row_to_dict(r) for r in rows]

    # -- consents --------------------------------------------------------------------------------

    #: The uses of a client's data a consent can cover.
    CONSENT_SCOPES: tuple[str, ...] = ("case_report", "cohort_research")

    def add_consent(
        self,
        code: str,
        *,
        scope: str,
        consented_on: dt.date,
        withdrawn: bool = False,
        document_name: str | None = None,
        document_sha256: str | None = None,
        actor: str | None = None,
    ) -> int:
        """Record a consent (or, with ``withdrawn``, its withdrawal) for one scope; audited.

        Raises
        ------
        ValidationError
            For an unknown scope, a future date or a date before the birth year (nothing is
            written).
        """
        issues = []
        if scope not in self.CONSENT_SCOPES:
            issues.append(
                Issue(
                    location="scope",
                    message=f"scope {scope!r} is not known",
                    value=scope,
                    expected=" or ".join(self.CONSENT_SCOPES),
                )
            )
        if consented_on > dt.date.today():
            issues.append(
                Issue(
                    location="date",
                    message=f"date {consented_on.isoformat()} is in the future",
                    value=consented_on.isoformat(),
                    expected="a date not in the future",
                )
            )
        if document_name is not None and (
            issue := _text_issue("document", document_name, 255, required=False)
        ):
            issues.append(issue)
        if issues:
            raise ValidationError(issues, context="consent: nothing was written")
        with self.transaction() as session:
            client = self.client(session, code)
            if consented_on.year < client.birth_year:
                raise ValidationError.single(
                    "date", consented_on.isoformat(), f"a date in or after {client.birth_year}"
                )
            row = ConsentRow(
                client_id=client.id,
                scope=scope,
                consented_on=consented_on,
                withdrawn=withdrawn,
                document_name=document_name,
                document_sha256=document_sha256,
                recorded_at=_now(),
            )
            session.add(row)
            session.flush()
            append_audit(
                session,
                action="create",
                entity="consents",
                entity_id=row.id,
                client_code=client.code,
                after=row_to_dict(row),
                actor=actor,
                rows=_stored_hashes(session, ConsentRow, [row.id]),
            )
            return row.id

    def consents(self, code: str) -> list[dict[str, Any]]:
        """A client's consent records, oldest first (by date, then by entry)."""
        with self.reading() as session:
            client = self.client(session, code)
            rows = session.execute(
                select(ConsentRow)
                .where(ConsentRow.client_id == client.id)
                .order_by(ConsentRow.consented_on, ConsentRow.id)
            ).scalars()
            return [row_to_dict(r) for r in rows]

    def consented_codes(self, scope: str) -> set[str]:
        """Codes of the clients whose newest ``scope`` consent record is not a withdrawal."""
        with self.reading() as session:
            rows = session.execute(
                select(ClientRow.code, ConsentRow.withdrawn)
                .join(ClientRow, ClientRow.id == ConsentRow.client_id)
                .where(ConsentRow.scope == scope)
                .order_by(ConsentRow.consented_on, ConsentRow.id)
            ).all()
        standing: dict[str, bool] = {}
        for code, withdrawn in rows:
            standing[str(code)] = not withdrawn
        return {code for code, ok in standing.items() if ok}

    # -- audit -----------------------------------------------------------------------------------

    def audit_entries(
        self, code: str | None = None, *, limit: int | None = None
    ) -> list[dict[str, Any]]:
        with self.reading() as session:
            query = select(AuditEntryRow).order_by(AuditEntryRow.seq)
            if code is not None:
                query = query.where(AuditEntryRow.client_code == code)
            if limit is not None:
                query = query.limit(limit)
            return [row_to_dict(r) for r in session.execute(query).scalars()]

    def record_audit(
        self,
        *,
        action: str,
        entity: str,
        entity_id: str | int | None = None,
        client_code: str | None = None,
        after: Any = None,
        actor: str | None = None,
    ) -> None:
        """Audit an action that is not a write (e.g. an identified export)."""
        with self.transaction() as session:
            append_audit(
                session,
                action=action,
                entity=entity,
                entity_id=entity_id,
                client_code=client_code,
                after=after,
                actor=actor,
            )

    def verify_audit(self) -> AuditVerification:
        """Verify the audit chain, its head outside the database and every stored row."""
        with self.reading() as session:
            return verify_chain(session)

    # -- backup ----------------------------------------------------------------------------------

    def backup(self, path: Path, *, force: bool = False) -> dict[str, int]:
        """SQLite online backup to ``path``, then verified: integrity, row counts, audit chain.

        The copy is written to a private (0600) temporary file beside ``path``, verified, and
        only then renamed to ``path``; an existing file is replaced only with ``force``, and a
        symbolic link at ``path`` is refused (see :mod:`hostcap.output_files`).
        """
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or not url.database:
            raise ConfigurationError(
                f"hostcap backup copies SQLite stores; the store at {url!r} is "
                f"{url.get_backend_name()}: use pg_dump for PostgreSQL"
            )
        with staged_file(
            Path(path), force=force, option="PATH", private=True, make_parents=True
        ) as staged:
            source = sqlite3.connect(url.database)
            target = sqlite3.connect(staged)
            try:
                with target:
                    source.backup(target)
            finally:
                source.close()
                target.close()
            try:
                counts = self.verify_backup(staged)
            except IntegrityError as exc:
                message = str(exc).replace(str(staged), str(path))
                raise IntegrityError(f"{message}; the copy was not kept") from None
        self._install_backup_key(Path(path))
        return counts

    def _install_backup_key(self, path: Path) -> None:
        """Key and head beside the copy (0600), so that the copy verifies where it lies."""
        key = self.audit.key()
        if key is None:
            return
        files = AuditFiles(path.with_name(path.name + ".audit-key"))
        files.write_key(key)
        with sqlite3.connect(path) as conn:
            last = conn.execute(
                "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            first = conn.execute(
                "SELECT min(seq) FROM audit_log WHERE key_id IS NOT NULL"
            ).fetchone()
        conn.close()
        if last is not None:
            files.advance_head(int(last[0]), str(last[1]), keyed_since=first[0], key=key_id(key))

    def verify_backup(self, path: Path) -> dict[str, int]:
        """Open the copy as a store and check it matches this one."""
        # The copy is checked with this store's key; its head is its own (writes may have
        # followed the backup here).
        copy = Store(
            f"sqlite:///{Path(path).resolve()}",
            audit_key_file=self.audit.files.key_path,
            check_external_head=False,
        )
        try:
            with copy.engine.connect() as conn:
                status = conn.exec_driver_sql("PRAGMA integrity_check").scalar_one()
            if status != "ok":
                raise_integrity(f"backup {path} failed SQLite's integrity check: {status}")
            counts = copy.row_counts()
            mine = self.row_counts()
            if counts != mine:
                raise_integrity(f"backup {path} row counts {counts} differ from the store {mine}")
            check = copy.verify_audit()
            if not check.ok:
                raise_integrity(f"backup {path} audit chain is broken: {check.problems[0].message}")
            return counts
        finally:
            copy.dispose()

    def row_counts(self) -> dict[str, int]:
        with self.reading() as session:
            return {
                name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in sorted(Base.metadata.tables.items())
            }


def _in_id_order(ids: Sequence[int], hashes: Sequence[str]) -> HashedRows:
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    return HashedRows(
        np.asarray(ids, dtype=np.int64)[order].tolist(), [hashes[i] for i in order.tolist()]
    )


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError.single(
            "--reason", reason or "", "a non-empty reason (it is kept in the audit log)"
        )
    return text


def _column_typed(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` restricted to ``table``'s columns, dates as dates (not midnight datetimes)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in table.c or name == "id":
            continue
        column_type = table.c[name].type
        if (
            isinstance(value, dt.datetime)
            and isinstance(column_type, Date)
            and not isinstance(column_type, DateTime)
        ):
            value = value.date()
        out[name] = value
    return out


def _comparable(value: Any) -> Any:
    """A value as compared between an import and the store (dates as timestamps, numbers to
    12 significant digits, missing as None)."""
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, dt.date | pd.Timestamp):
        return pd.Timestamp(value)
    if isinstance(value, int | float | np.number):
        return float(f"{float(value):.12g}")
    return value


def _stored_hashes(
    session: Session, table: type[Base] | Table, ids: Sequence[int]
) -> dict[str, list[tuple[int, str | None]]]:
    """Content hashes of rows as stored now (read back in this transaction), for the audit."""
    core = cast(Table, getattr(table, "__table__", table))
    hashes = row_hasher(session).hash_stored(session, core, ids)
    return {core.name: sorted(hashes.items())}


def raise_integrity(message: str) -> None:
    raise IntegrityError(message)
