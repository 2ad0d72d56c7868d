"""The clinical store: one object per database, one transaction per call.

Every write is validated through ``record_kinds`` (units to canonical, hard limits rejected, soft
limits stored with a warning, dates neither in the future nor before birth, duplicates refused
unless replacing explicitly) and audited in the same transaction, so a failed call leaves the
store exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Select,
    bindparam,
    func,
    select,
)
from sqlalchemy.orm import Session

from hostcap import __version__
from hostcap.clinical_store.audit import (
    append_audit,
)
from hostcap.clinical_store.audit_files import AuditFiles, key_id
from hostcap.clinical_store.audit_verification import AuditVerification, verify_chain
from hostcap.clinical_store.record_corrections import RecordCorrections
from hostcap.clinical_store.record_kinds import KINDS
from hostcap.clinical_store.store_rows import (
    ImportReport,
    enrolment_fields,
    now,
    raise_integrity,
    row_to_dict,
    stored_hashes,
    table_of,
    text_issue,
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
    ValidationError,
)
from hostcap.output_files import staged_file

__all__ = ["ImportReport", "Store", "row_to_dict"]


@functools.lru_cache(maxsize=64)
def _frame_query(kind: str, *, by_code: bool) -> Select[Any]:
    """The query of ``Store.frame`` for ``kind`` (the code a bound parameter), built once:
    building a select costs more than running it on one client's rows."""
    spec = KINDS[kind]
    table = table_of(spec)
    if spec.needs_client:
        query = select(ClientRow.code.label("client_code"), table).join(
            ClientRow, ClientRow.id == table.c.client_id
        )
        if by_code:
            query = query.where(ClientRow.code == bindparam("code"))
        return query.order_by(ClientRow.code, table.c.id)
    query = select(table).order_by(table.c.id)
    return query.where(table.c.code == bindparam("code")) if by_code else query


@functools.lru_cache(maxsize=64)
def _empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame([], columns=list(columns))


class Store(RecordCorrections):
    """A clinical store at ``url`` (SQLite file or PostgreSQL): clients, records, corrections,
    enrolments, assessments, consents, the audit log and backups."""

    # -- clients -------------------------------------------------------------------------------

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
                and (issue := text_issue(key, identity[key], limit, required=False)) is not None
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
                    rows=stored_hashes(session, ClientIdentityRow, [row.id]),
                )
        with self.reading() as session:
            return row_to_dict(self.client(session, code)) | {"ids": report.ids}

    def list_clients(self) -> list[dict[str, Any]]:
        with self.reading() as session:
            rows = session.execute(select(ClientRow).order_by(ClientRow.code)).scalars()
            return [row_to_dict(r) for r in rows]

    # -- reading ---------------------------------------------------------------------------------

    def frame(self, kind: str, *, code: str | None = None) -> pd.DataFrame:
        """Stored records of ``kind`` as a frame with a ``client_code`` column."""
        self._kind(kind)  # an unknown kind: ValidationError naming the kinds
        read = self.frames_read()  # inside a snapshot: each frame read once
        if read is not None and (kind, code) in read:
            return read[(kind, code)].copy()
        with self.reading() as session:
            query = _frame_query(kind, by_code=code is not None)
            result = session.execute(query, {"code": code} if code is not None else {})
            columns = list(result.keys())
            # Rows as tuples: pandas builds a frame from them several times faster than from
            # one mapping per row (same columns, same inferred dtypes).
            rows = [tuple(r) for r in result]
            # No rows (most kinds of most clients): a copy of the kind's empty frame, ~40x
            # cheaper than building one.
            frame = (
                pd.DataFrame(rows, columns=columns) if rows else _empty_frame(tuple(columns)).copy()
            )
        if read is not None:
            read[(kind, code)] = frame.copy()
        return frame

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
                rows=stored_hashes(session, EnrolmentRow, [row.id])
                | stored_hashes(session, ProtocolPhaseRow, list(phase_ids)),
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
                created_at=now(),
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
                rows=stored_hashes(session, AssessmentRow, [row.id]),
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
            issue := text_issue("document", document_name, 255, required=False)
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
                recorded_at=now(),
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
                rows=stored_hashes(session, ConsentRow, [row.id]),
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
