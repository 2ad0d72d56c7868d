"""The store itself: its engine, audit context, schema lifecycle and transactions, and how a
client and a record kind are looked up. The write, correction and reading methods build on it."""

from __future__ import annotations

import contextlib
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    Engine,
    bindparam,
    event,
    func,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from hostcap.clinical_store.audit import (
    AuditContext,
    after_commit,
    after_rollback,
    append_audit,
    clinical_tables,
    row_hasher,
)
from hostcap.clinical_store.audit_files import AuditFiles
from hostcap.clinical_store.audit_verification import verify_chain
from hostcap.clinical_store.engine import (
    READ_ONLY,
    create_store_engine,
    current_revision,
    head_revision,
    upgrade_to_head,
)
from hostcap.clinical_store.record_kinds import (
    KINDS,
    ClientInfo,
    RecordKind,
    code_skeleton,
)
from hostcap.clinical_store.store_rows import (
    check_code_text,
    is_text,
    normal_text,
)
from hostcap.clinical_store.tables import (
    AuditEntryRow,
    ClientRow,
)
from hostcap.errors import (
    ConfigurationError,
    IntegrityError,
    Issue,
    NotFoundError,
    ValidationError,
)
from hostcap.settings import audit_key_file as audit_key_path

__all__ = ["StoreBase"]


@dataclass
class _Snapshot:
    """One read transaction shared by every reading inside ``StoreBase.snapshot``."""

    session: Session
    frames: dict[tuple[str, str | None], pd.DataFrame] = field(default_factory=dict)
    clients: dict[str, ClientRow] = field(default_factory=dict)


#: ``StoreBase.client``'s query, built once (building a select costs more than running it).
_CLIENT_BY_CODE = select(ClientRow).where(ClientRow.code == bindparam("code"))


class StoreBase:
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
        self._snapshot: ContextVar[_Snapshot | None] = ContextVar(
            f"hostcap_store_snapshot_{id(self)}", default=None
        )
        self._write_lock: AbstractContextManager[Any] = (
            threading.RLock()
            if self.engine.url.get_backend_name() == "sqlite"
            else contextlib.nullcontext()
        )

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
        """One transaction: commits on success, rolls back everything on any error.

        On SQLite the writers of this process queue on a lock first: SQLite's busy handler
        polls with sleeps of up to 100 ms, a lock hands over at once (other processes still
        wait in the busy handler, as before)."""
        with self._write_lock, self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: on SQLite a deferred transaction (a WAL snapshot, readers do
        not queue behind each other or a writer); writes go through :meth:`transaction`.

        Inside :meth:`snapshot`, every reading shares the snapshot's one session."""
        shared = self._snapshot.get()
        if shared is not None:
            yield shared.session
            return
        with self._sessions() as session:
            session.connection(execution_options={READ_ONLY: True})
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction for everything read inside (in this thread or task): a page
        sees one consistent state of the store, read over one connection, and a record kind's
        frame is read once (:meth:`frames_read`). Writes still go through :meth:`transaction`
        and are not seen until the snapshot ends: read what you write after it."""
        if self._snapshot.get() is not None:
            yield
            return
        with self.reading() as session:
            token = self._snapshot.set(_Snapshot(session))
            try:
                yield
            finally:
                self._snapshot.reset(token)

    def frames_read(self) -> dict[tuple[str, str | None], pd.DataFrame] | None:
        """The frames read in the current :meth:`snapshot` by (kind, code); None outside one."""
        shared = self._snapshot.get()
        return None if shared is None else shared.frames

    # -- look-ups -------------------------------------------------------------------------------

    def _client_infos(
        self, session: Session, codes: Sequence[str] | None = None
    ) -> dict[str, ClientInfo]:
        query = select(ClientRow.id, ClientRow.code, ClientRow.birth_year)
        if codes is not None:
            # A code that is not valid text is refused by validation; never send it to the driver.
            wanted = sorted({normal_text(c) for c in codes if isinstance(c, str) and is_text(c)})
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
        check_code_text(code)
        code = normal_text(code)
        shared = self._snapshot.get()
        if shared is not None and session is shared.session and code in shared.clients:
            return shared.clients[code]  # the same row the session's identity map holds
        row = session.execute(_CLIENT_BY_CODE, {"code": code}).scalar_one_or_none()
        if shared is not None and session is shared.session and row is not None:
            shared.clients[code] = row
        if row is None:
            raise NotFoundError(
                f"client_code {code!r} is not in the store; expected an existing client code "
                "(see `hostcap client list`)"
            )
        return row

    def _kind(self, kind: str) -> RecordKind:
        try:
            return KINDS[kind]
        except KeyError:
            raise ValidationError.single(
                "kind", kind, "one of " + ", ".join(sorted(KINDS))
            ) from None
