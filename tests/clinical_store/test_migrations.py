"""Migrations from empty, and the shipped migration matching the table definitions."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hostcap.clinical_store import Store, head_revision
from hostcap.clinical_store.engine import current_revision
from hostcap.clinical_store.tables import Base
from hostcap.errors import ConfigurationError


def test_init_creates_the_schema_from_empty_at_the_newest_migration(store_url: str) -> None:
    store = Store(store_url)
    try:
        assert current_revision(store.engine) is None
        assert store.init() == head_revision()
        assert store.init() == head_revision()  # idempotent upgrade
        assert set(store.row_counts()) == set(Base.metadata.tables)
    finally:
        store.dispose()


def test_migrated_schema_matches_the_table_definitions(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_an_uninitialised_store_says_to_run_init(store_url: str) -> None:
    store = Store(store_url)
    try:
        with pytest.raises(ConfigurationError, match="Run `hostcap init`"):
            store.ensure_ready()
    finally:
        store.dispose()


def test_a_malformed_database_url_is_named() -> None:
    with pytest.raises(ConfigurationError, match="not a valid SQLAlchemy URL"):
        Store("not a url::")
