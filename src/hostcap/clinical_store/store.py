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
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, delete, func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from hostcap import __version__
from hostcap.clinical_store.audit import (
    AuditVerification,
    append_audit,
    verify_chain,
)
from hostcap.clinical_store.bulk_insert import bulk_insert, python_values
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
    # The labels an assessment gives (hostcap.clinical_decisions), less its "suppressed" state.
    from typing import get_args

    from hostcap.clinical_decisions.assessment_result import PhenotypeResult

    labels = get_args(PhenotypeResult.model_fields["label"].annotation)
    return tuple(str(label) for label in labels if label != "suppressed")


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


class Store:
    """A clinical store at ``url`` (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_store_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # -- lifecycle -----------------------------------------------------------------------------

    def init(self) -> str:
        """Create the schema or upgrade it to the newest migration; returns the revision."""
        upgrade_to_head(self.engine)
        revision = current_revision(self.engine)
        assert revision is not None
        return revision

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
            ids = self._insert(session, spec, rows, batch=batch)
            self._audit_insert(
                session,
                spec,
                rows,
                ids,
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
                )
            session.execute(delete(table).where(table.c.id.in_(chunk)))

    def _insert(
        self, session: Session, spec: RecordKind, rows: pd.DataFrame, *, batch: str | None
    ) -> list[int]:
        table = _table(spec)
        if rows.empty:
            return []
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
        inserted = np.asarray(
            bulk_insert(session.connection(), table, rows.iloc[perm]), dtype=np.int64
        )
        by_row = np.empty(len(rows), dtype=np.int64)
        by_row[perm] = inserted
        return [int(i) for i in by_row]

    def _audit_insert(
        self,
        session: Session,
        spec: RecordKind,
        rows: pd.DataFrame,
        ids: list[int],
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
            for row_id, (_, row) in zip(ids, rows.iterrows(), strict=True):
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
        )

    def _codes_by_id(self, session: Session) -> dict[int, str]:
        return {int(i): str(c) for i, c in session.execute(select(ClientRow.id, ClientRow.code))}

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
        protocol = unicodedata.normalize("NFKC", str(protocol)).strip()
        phenotype_label = (
            None
            if phenotype_label is None or not str(phenotype_label).strip()
            else unicodedata.normalize("NFKC", str(phenotype_label)).strip()
        )
        phases = [
            (unicodedata.normalize("NFKC", str(n)).strip(), start, end) for n, start, end in phases
        ]
        phase_issues = _phase_issues(phases)
        checks = [
            _text_issue("protocol", protocol, 100, required=True),
            *(
                _text_issue(f"phase {i} name", name, 100, required=False)
                for i, (name, _, _) in enumerate(phases, start=1)
            ),
        ]
        phase_issues.extend(i for i in checks if i is not None)
        if phenotype_label is not None:
            known = _known_phenotype_labels()
            canonical = {label.lower(): label for label in known}
            if phenotype_label.lower() in canonical:
                phenotype_label = canonical[phenotype_label.lower()]
            else:
                phase_issues.append(
                    Issue(
                        "phenotype_label",
                        f"phenotype_label {describe_value(phenotype_label)} is not a phenotype "
                        f"label; expected one of {', '.join(known)}",
                        value=phenotype_label,
                        expected="one of " + ", ".join(known),
                    )
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
            append_audit(
                session,
                action="create",
                entity="enrolments",
                entity_id=row.id,
                client_code=code,
                after=row_to_dict(row) | {"phases": [list(p) for p in phases]},
                actor=actor,
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
        return counts

    def verify_backup(self, path: Path) -> dict[str, int]:
        """Open the copy as a store and check it matches this one."""
        copy = Store(f"sqlite:///{Path(path).resolve()}")
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


def raise_integrity(message: str) -> None:
    raise IntegrityError(message)
