"""Settings declared once, as data: name, environment variable, default, meaning.

Every setting here is documented in ``docs/settings.md``; a test checks that.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = [
    "SETTINGS",
    "Setting",
    "audit_key_file",
    "database_url",
    "default_database_url",
    "setting",
    "settings_markdown",
]


@dataclass(frozen=True)
class Setting:
    """One setting: its environment variable, its default and what it means."""

    name: str
    env: str
    default: str
    help: str

    def value(self) -> str:
        return os.environ.get(self.env) or self.default


def default_database_url() -> str:
    """SQLite file in the user data directory (created on first use)."""
    data_dir = Path(platformdirs.user_data_dir("hostcap", appauthor=False))
    return f"sqlite:///{data_dir / 'hostcap.sqlite'}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="database_url",
        env="HOSTCAP_DATABASE_URL",
        default="",
        help="SQLAlchemy URL of the clinical store; empty means a SQLite file in the user data "
        "directory. PostgreSQL: postgresql+psycopg://user@host/db",
    ),
    Setting(
        name="actor",
        env="HOSTCAP_ACTOR",
        default="",
        help="Name recorded as 'who' in the audit log; empty means the operating-system user.",
    ),
    Setting(
        name="audit_key_file",
        env="HOSTCAP_AUDIT_KEY_FILE",
        default="",
        help="File holding the store's audit key (HMAC-SHA256, created 0600 by `hostcap init`); "
        "the chain head is kept beside it in `FILE.head`. Empty means `STORE.audit-key` next to "
        "a SQLite file, or `audit/<hash of the URL>.key` in the user data directory for other "
        "URLs. One key per store; without it the store cannot be verified or written. "
        "`hostcap backup` puts a copy (0600) beside the backup; copy the key and the head file "
        "to every machine that writes to a shared PostgreSQL store.",
    ),
    Setting(
        name="solver_threads",
        env="HOSTCAP_SOLVER_THREADS",
        default="",
        help="Threads the batch integrator splits members over; empty means every CPU "
        "this process may use. Dask workers started by hostcap get 1.",
    ),
    Setting(
        name="solver_backend",
        env="HOSTCAP_SOLVER_BACKEND",
        default="auto",
        help="Batch integrator: `c` runs members in SIMD lanes of C compiled at first use "
        "(needs a C compiler), `numba` the numba-compiled loop, `auto` C when a compiler "
        "builds it, else numba. Both use the same method and agree to rounding.",
    ),
    Setting(
        name="kernel_cache",
        env="HOSTCAP_KERNEL_CACHE",
        default="",
        help="Folder for the generated solver modules and numba's compiled code; empty means "
        "`kernels` in the user cache directory.",
    ),
    Setting(
        name="web_session_hours",
        env="HOSTCAP_WEB_SESSION_HOURS",
        default="8",
        help="Web app: a sign-in ends this many hours after it began, however active.",
    ),
    Setting(
        name="web_idle_minutes",
        env="HOSTCAP_WEB_IDLE_MINUTES",
        default="30",
        help="Web app: a sign-in ends after this many minutes without a request.",
    ),
    Setting(
        name="web_analysis_dir",
        env="HOSTCAP_WEB_ANALYSIS_DIR",
        default="",
        help="Web app: folder for cohort analyses started from the research page; empty means "
        "`STORE.analyses` beside a SQLite store, or `analyses/` in the user data directory.",
    ),
    Setting(
        name="web_secure_cookies",
        env="HOSTCAP_WEB_SECURE_COOKIES",
        default="auto",
        help="Web app: mark cookies Secure — `auto` when the request came over https (or a "
        "proxy said so in X-Forwarded-Proto), `always`, or `never`.",
    ),
)


def setting(name: str) -> str:
    """The current value of the setting called ``name`` (its variable, else its default).

    The one way hostcap reads its environment: every setting is declared in :data:`SETTINGS`
    (and so documented in ``docs/settings.md``).
    """
    for declared in SETTINGS:
        if declared.name == name:
            return declared.value().strip()
    raise KeyError(f"undeclared setting {name!r}; declared: {', '.join(s.name for s in SETTINGS)}")


def database_url(explicit: str | None = None) -> str:
    """The store URL: an explicit value, else ``HOSTCAP_DATABASE_URL``, else the default file."""
    if explicit:
        return explicit
    return setting("database_url") or default_database_url()


def audit_key_file(url: str) -> Path:
    """Where the audit key of the store at ``url`` lives (``HOSTCAP_AUDIT_KEY_FILE`` or default).

    SQLite file ``X``: ``X.audit-key`` beside it. Any other URL: ``audit/<sha256 of the URL
    without its password, 16 hex>.key`` in the user data directory.
    """
    explicit = setting("audit_key_file")
    if explicit:
        return Path(explicit).expanduser()
    from sqlalchemy.engine import make_url  # settings stay importable without the store

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        database = Path(str(parsed.database)).expanduser()
        return database.with_name(database.name + ".audit-key")
    rendered = parsed.render_as_string(hide_password=True)
    digest = hashlib.sha256(rendered.encode()).hexdigest()[:16]
    data_dir = Path(platformdirs.user_data_dir("hostcap", appauthor=False))
    return data_dir / "audit" / f"{digest}.key"


def settings_markdown() -> str:
    """docs/settings.md, generated from ``SETTINGS`` (a test checks the file is current)."""
    lines = [
        "# Settings",
        "",
        "<!-- generated by hostcap.settings.settings_markdown; a test checks it is current -->",
        "",
        "| setting | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    for s in SETTINGS:
        lines.append(f"| {s.name} | `{s.env}` | {s.default or '(empty)'} | {s.help} |")
    return "\n".join(lines) + "\n"
