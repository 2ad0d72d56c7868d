"""Settings declared once, as data: name, environment variable, default, meaning.

Every setting here is documented in ``docs/settings.md``; a test checks that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

__all__ = ["SETTINGS", "Setting", "database_url", "default_database_url"]


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
)


def database_url(explicit: str | None = None) -> str:
    """The store URL: an explicit value, else ``HOSTCAP_DATABASE_URL``, else the default file."""
    if explicit:
        return explicit
    return os.environ.get("HOSTCAP_DATABASE_URL") or default_database_url()
