"""Opening a store: engines for SQLite (WAL, foreign keys) and PostgreSQL, and migrations."""

from __future__ import annotations

import os
import stat
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import NullPool, QueuePool

from hostcap.errors import ConfigurationError

__all__ = [
    "READ_ONLY",
    "create_store_engine",
    "current_revision",
    "head_revision",
    "upgrade_to_head",
]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is switched off so that every write transaction can
    # start with BEGIN IMMEDIATE (see _sqlite_begin): two writers then queue instead of one
    # failing mid-transaction, and the audit chain head is read under the write lock.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk imports touch large indexes
    cursor.close()


#: Execution option of a read-only transaction (``Store.reading``): a plain (deferred) BEGIN,
#: so readers run side by side on WAL snapshots instead of queueing for the write lock.
READ_ONLY = "hostcap_read_only"


def _sqlite_begin(conn: Any) -> None:
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _prepare_sqlite_file(path: Path) -> None:
    """Refuse a folder or a link as the database file; create a missing one with mode 0600.

    SQLite would otherwise create it with ``0644 & ~umask`` (world-readable clinical data);
    its ``-wal`` and ``-shm`` files copy the database file's mode.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ConfigurationError(
            f"SQLite database path {str(path)!r} cannot be inspected ({exc.strerror}); "
            "expected a file path"
        ) from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise ConfigurationError(
                f"SQLite database path {str(path)!r} is a folder; expected a file path such "
                f"as sqlite:///{path / 'hostcap.sqlite'}"
            )
        if stat.S_ISLNK(info.st_mode) and not path.exists():
            raise ConfigurationError(
                f"SQLite database path {str(path)!r} is a dangling symbolic link; expected a "
                "database file or a new path (hostcap never creates a file through a link)"
            )
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return  # another process created it meanwhile
    except OSError as exc:
        raise ConfigurationError(
            f"SQLite database file {str(path)!r} cannot be created ({exc.strerror}); expected "
            "a path in a writable folder"
        ) from None
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and immediate transactions.

    Raises
    ------
    ConfigurationError
        If the URL cannot be parsed or names a driver that is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"database URL {url!r} is not a valid SQLAlchemy URL; expected e.g. "
            "sqlite:///path/store.sqlite or postgresql+psycopg://user@host/db"
        ) from exc
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _prepare_sqlite_file(Path(parsed.database).expanduser())
                # A pool: opening a connection and setting its pragmas cost ~1 ms, and a web
                # page makes dozens of store calls. Pragmas are per connection (the connect
                # event), BEGIN IMMEDIATE per write transaction (the begin event), as before;
                # ``Store.dispose`` (and a restore) closes the pooled connections.
                engine = create_engine(parsed, poolclass=QueuePool, pool_size=8, max_overflow=32)
            else:
                engine = create_engine(parsed, poolclass=NullPool)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        elif parsed.get_backend_name() == "postgresql":
            engine = create_engine(parsed, pool_pre_ping=True)
        else:
            raise ConfigurationError(
                f"database URL scheme {parsed.drivername!r} is not supported; expected sqlite or "
                "postgresql"
            )
    except NoSuchModuleError as exc:
        raise ConfigurationError(f"database driver for {url!r} is not installed: {exc}") from exc
    return engine


def _alembic_config(engine: Engine) -> Config:
    cfg = Config()
    location = resources.files("hostcap.clinical_store") / "migrations"
    cfg.set_main_option("script_location", str(location))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this version of hostcap."""
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("hostcap.clinical_store") / "migrations")
    )
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the store is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Create the schema or upgrade it to the newest migration."""
    command.upgrade(_alembic_config(engine), "head")
