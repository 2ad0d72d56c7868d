"""Corrections and deletions of stored records: audited with the old values and a reason, and
refused when the row no longer matches the hash the audit log last recorded for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    delete,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from hostcap.clinical_store.audit import (
    append_audit,
    audited_row_hash,
    clinical_tables,
    row_hasher,
)
from hostcap.clinical_store.bulk_insert import python_values
from hostcap.clinical_store.corrections import correctable_fields, input_values
from hostcap.clinical_store.record_kinds import (
    RecordKind,
)
from hostcap.clinical_store.record_writes import RecordWrites
from hostcap.clinical_store.store_rows import (
    column_typed,
    reason_text,
    stored_hashes,
    strip_row,
    table_of,
)
from hostcap.clinical_store.tables import (
    ClientIdentityRow,
    ClientRow,
)
from hostcap.errors import (
    DuplicateError,
    IntegrityError,
    NotFoundError,
    ValidationError,
)

__all__ = ["RecordCorrections"]


class RecordCorrections(RecordWrites):
    """Audited corrections and deletions."""

    # -- corrections -----------------------------------------------------------------------------

    def _unaudited_change(
        self, session: Session, spec: RecordKind, record_id: int, *, accept: bool
    ) -> dict[str, Any] | None:
        """Refuse to correct or delete a row that no longer matches its audited hash.

        A correction would otherwise hide a change made outside hostcap. With ``accept`` the
        mismatch is returned, to be kept in the audit entry, instead.
        """
        table = table_of(spec)
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
        table = table_of(spec)
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
        why = reason_text(reason)
        fields = correctable_fields(spec)
        if not changes:
            raise ValidationError.single("--field", "", "at least one field to correct")
        for field_name in changes:
            if field_name not in fields:
                raise ValidationError.single(
                    "--field", field_name, f"a field of {kind} records: " + ", ".join(fields)
                )
        table = table_of(spec)
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
                    strip_row(checked.errors),
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
            new = column_typed(table, python_values(checked.rows.iloc[0]))
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
                rows=stored_hashes(session, table, [record_id]),
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
        why = reason_text(reason)
        table = table_of(spec)
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
