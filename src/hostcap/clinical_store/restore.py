"""Restoring a SQLite store from a backup: verify first, keep the old store, swap atomically.

The backup is first copied to a private temporary file beside the store; that copy (the bytes
that will become the store, not the file that could still change) must pass SQLite's
``PRAGMA integrity_check``, be a hostcap store at a known migration, and pass the store's own
audit verification (:meth:`Store.verify_audit`). Only then is the current store checkpointed
out of WAL mode (which also proves no other process has it open), kept under a timestamped
name with mode 0600, and replaced by the copy in one rename. A refused backup leaves the store
exactly as it was.

PostgreSQL stores are restored with ``pg_restore``; this module refuses them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from hostcap.clinical_store.audit_files import AuditFiles, ExternalHead
from hostcap.clinical_store.engine import current_revision, head_revision
from hostcap.clinical_store.store import Store
from hostcap.errors import ConfigurationError, InputError, IntegrityError
from hostcap.output_files import PRIVATE_MODE, make_private, staged_file

__all__ = ["RestoreReport", "restore_sqlite_backup"]


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did: the store file, the kept old store (if any), the restored rows."""

    store: Path
    kept: Path | None
    rows: dict[str, int]
    audit_entries: int


def _sqlite_path(store: Store) -> Path:
    url = store.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise ConfigurationError(
            f"hostcap restore replaces SQLite store files; the store at {url!r} is "
            f"{url.get_backend_name()}: use pg_restore for PostgreSQL"
        )
    return Path(url.database).expanduser()


def _check_backup_file(backup: Path) -> None:
    if not backup.exists():
        raise InputError(
            f"BACKUP {str(backup)!r} does not exist; expected a backup file written by "
            "`hostcap backup`",
            field="BACKUP",
            value=str(backup),
            expected="an existing backup file",
        )
    if not backup.is_file():
        raise InputError(
            f"BACKUP {str(backup)!r} is not a file; expected a backup file written by "
            "`hostcap backup`",
            field="BACKUP",
            value=str(backup),
            expected="a backup file",
        )


def _verify_copy(copy: Path, backup: Path, store_key: Path) -> tuple[dict[str, int], int]:
    """Integrity check, migration and audit verification of the staged copy."""
    try:
        conn = sqlite3.connect(copy)  # our private copy: read-write, so it cleans up its WAL
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise IntegrityError(
            f"backup {str(backup)!r} is not a readable SQLite database ({exc}); nothing was "
            "restored"
        ) from None
    status = "; ".join(str(r[0]) for r in rows[:5])
    if status != "ok":
        raise IntegrityError(
            f"backup {str(backup)!r} failed SQLite's integrity check ({status}); nothing was "
            "restored"
        )
    # A backup written by `hostcap backup` has its key and head beside it: verify the copy
    # against both (a truncated backup is caught). An older backup is checked with the store's
    # key and its own chain only.
    key_file, beside = _backup_key_file(backup, store_key)
    candidate = Store(f"sqlite:///{copy}", audit_key_file=key_file, check_external_head=beside)
    try:
        revision = current_revision(candidate.engine)
        if revision is None:
            raise IntegrityError(
                f"backup {str(backup)!r} is not a hostcap store (no schema); nothing was restored"
            )
        if revision != head_revision():
            raise IntegrityError(
                f"backup {str(backup)!r} is at migration {revision}, this hostcap expects "
                f"{head_revision()}; restore it with the hostcap version that wrote it, then "
                "run `hostcap init` to upgrade. Nothing was restored"
            )
        check = candidate.verify_audit()
        if not check.ok:
            first = check.problems[0].message if check.problems else "unknown problem"
            raise IntegrityError(
                f"backup {str(backup)!r} fails audit verification ({len(check.problems)} "
                f"problem(s); first: {first}); nothing was restored"
            )
        return candidate.row_counts(), check.entries
    except sqlite3.DatabaseError as exc:  # pragma: no cover - integrity_check catches these
        raise IntegrityError(f"backup {str(backup)!r} cannot be read ({exc})") from None
    finally:
        candidate.dispose()


def _leave_wal_mode(path: Path) -> None:
    """Checkpoint the live store into its main file and leave WAL mode.

    Needs exclusive access, so it also refuses to swap a store another process has open; and
    it removes the ``-wal``/``-shm`` files, which must never meet the restored file.
    """
    try:
        conn = sqlite3.connect(path, timeout=5)
        try:
            conn.execute("PRAGMA journal_mode=DELETE").fetchall()
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(
            f"the store {str(path)!r} cannot be switched for the restore ({exc}); close every "
            "other hostcap process using it and try again. Nothing was restored"
        ) from None
    if str(mode).lower() != "delete":
        raise ConfigurationError(
            f"the store {str(path)!r} is in use by another process (journal mode stays "
            f"{mode}); close it and try again. Nothing was restored"
        )


def _keep_old(path: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    kept = path.with_name(f"{path.name}.before-restore-{stamp}")
    n = 1
    while os.path.lexists(kept):
        n += 1
        kept = path.with_name(f"{path.name}.before-restore-{stamp}-{n}")
    try:
        os.link(path, kept)  # the old store stays whole under the new name
    except OSError:
        shutil.copy2(path, kept, follow_symlinks=False)
    make_private(kept)
    return kept


def restore_sqlite_backup(store: Store, backup: Path, *, force: bool = False) -> RestoreReport:
    """Replace the SQLite store of ``store`` by ``backup`` after verifying the backup.

    Parameters
    ----------
    store
        The target store (disposed first: its pooled connections are closed before the file is
        replaced).
    backup
        A file written by ``hostcap backup``.
    force
        Required when the store file already exists; the old store is kept either way, as
        ``<store>.before-restore-<YYYYmmddTHHMMSS>`` with mode 0600.

    Raises
    ------
    ConfigurationError
        For a PostgreSQL store (use ``pg_restore``), or a store another process holds open.
    InputError
        For a missing backup, an existing store without ``force``, or an unusable store path.
    IntegrityError
        When the backup fails the integrity check, is not a current hostcap store, or fails
        audit verification; the store is left untouched.
    """
    path = _sqlite_path(store)
    backup = Path(backup).expanduser()
    _check_backup_file(backup)
    if path.exists() and backup.resolve() == path.resolve():
        raise InputError(
            f"BACKUP {str(backup)!r} is the store itself; expected a backup file",
            field="BACKUP",
            value=str(backup),
            expected="a backup file other than the store",
        )
    exists = path.exists() and path.stat().st_size > 0
    _check_same_key(store, backup)
    store.dispose()
    with staged_file(path, force=True, option="--database", private=True) as staged:
        if exists and not force:
            raise InputError(
                f"--database {str(path)!r} already exists; expected --force to replace it "
                "(the old store is kept beside it)",
                field="--database",
                value=str(path),
                expected="--force to replace the existing store",
            )
        try:
            with backup.open("rb") as source, staged.open("wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
                target.flush()
                os.fsync(target.fileno())
        except OSError as exc:
            raise InputError(
                f"BACKUP {str(backup)!r} cannot be read ({exc.strerror}); expected a readable "
                "backup file",
                field="BACKUP",
                value=str(backup),
                expected="a readable backup file",
            ) from None
        rows, entries = _verify_copy(staged, backup, store.audit.files.key_path)
        restored_head = _chain_head(staged)
        old_head = store.audit.files.read_head()
        kept = None
        if exists:
            _leave_wal_mode(path)
            kept = _keep_old(path)
        staged.chmod(PRIVATE_MODE)
    # staged_file has renamed the verified copy over the store in one step; the audit files
    # now follow it: the store keeps (or receives) the key, its head is the restored chain's,
    # and the kept old store gets the key and its own head beside it, so it still verifies.
    _settle_audit_files(store, backup, restored_head, kept, old_head)
    return RestoreReport(store=path, kept=kept, rows=rows, audit_entries=entries)


def _backup_key_file(backup: Path, store_key: Path) -> tuple[Path, bool]:
    beside = backup.with_name(backup.name + ".audit-key")
    return (beside, True) if beside.exists() else (store_key, False)


def _check_same_key(store: Store, backup: Path) -> None:
    """A backup keyed by another store's audit key cannot become this store's chain."""
    key_file, beside = _backup_key_file(backup, store.audit.files.key_path)
    if not beside:
        return
    store_key, backup_key = store.audit.files.read_key(), AuditFiles(key_file).read_key()
    if store_key is not None and backup_key is not None and store_key != backup_key:
        raise IntegrityError(
            f"backup {str(backup)!r} was written under another audit key ({str(key_file)!r}) "
            f"than this store's ({str(store.audit.files.key_path)!r}); expected a backup of "
            "this store. Restore it to a new path (--database) instead; nothing was restored"
        )


def _chain_head(path: Path) -> ExternalHead | None:
    conn = sqlite3.connect(path)
    try:
        last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        first = conn.execute("SELECT min(seq) FROM audit_log WHERE key_id IS NOT NULL").fetchone()
        keyed = conn.execute(
            "SELECT key_id FROM audit_log WHERE key_id IS NOT NULL ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    if last is None:
        return None
    return ExternalHead(
        seq=int(last[0]),
        hash=str(last[1]),
        keyed_since=None if first[0] is None else int(first[0]),
        key_id=None if keyed is None else str(keyed[0]),
    )


def _settle_audit_files(
    store: Store,
    backup: Path,
    restored_head: ExternalHead | None,
    kept: Path | None,
    old_head: ExternalHead | None,
) -> None:
    files = store.audit.files
    store_key = files.read_key()
    backup_key = AuditFiles(_backup_key_file(backup, files.key_path)[0]).read_key()
    if store_key is None and backup_key is not None:
        files.write_key(backup_key)
        store_key = backup_key
    if kept is not None and store_key is not None:
        kept_files = AuditFiles(kept.with_name(kept.name + ".audit-key"))
        kept_files.write_key(store_key)
        kept_files.replace_head(old_head)
    files.replace_head(restored_head)
