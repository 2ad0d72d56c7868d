"""The hash-chained audit log detects edits, deletions and reordering."""

from __future__ import annotations

import contextlib

from sqlalchemy import text

from hostcap.clinical_store import Store
from hostcap.errors import ValidationError


def _fill(store: Store) -> None:
    store.add_client("A1", sex="female", birth_year=1980)
    for day in (5, 6, 7):
        store.add_one(
            "labs",
            {
                "client_code": "A1",
                "analyte": "tryptase",
                "value": "5",
                "unit": "ng/mL",
                "collected_at": f"2026-01-0{day}T09:00",
            },
        )


def test_an_untouched_chain_verifies(store: Store) -> None:
    _fill(store)
    result = store.verify_audit()
    assert result.ok, result.problems
    assert result.entries == 4


def test_editing_an_audited_row_is_detected(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_log SET after = replace(after, '5.0', '50.0') WHERE seq = 2")
        )
    result = store.verify_audit()
    assert not result.ok
    assert any("entry 2 was altered" in p.message for p in result.problems)


def test_deleting_the_newest_entry_is_detected_by_the_head(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    result = store.verify_audit()
    assert any("chain head does not match" in p.message for p in result.problems)


def test_removing_a_middle_entry_breaks_the_link(store: Store) -> None:
    _fill(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    messages = [p.message for p in store.verify_audit().problems]
    assert any("entry 2 is missing" in m for m in messages)
    assert any("does not link" in m for m in messages)


def test_a_failed_write_leaves_no_audit_entry(store: Store) -> None:
    _fill(store)
    before = store.verify_audit().entries
    with contextlib.suppress(ValidationError):
        store.add_one(
            "labs",
            {
                "client_code": "A1",
                "analyte": "tryptase",
                "value": "-1",
                "unit": "ng/mL",
                "collected_at": "2026-01-09T09:00",
            },
        )
    assert store.verify_audit().entries == before
