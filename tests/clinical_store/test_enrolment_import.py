"""Many enrolments in one transaction, on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from hostcap.clinical_store import Store, add_enrolments
from hostcap.errors import ValidationError


@dataclass(frozen=True)
class _Enrolment:
    client_code: str
    started_on: dt.date
    phases: tuple[tuple[str, float, float], ...] = (("stabilise", 0, 4), ("restore", 4, 16))
    protocol: str = "essay_8_16"
    ended_on: dt.date | None = None
    phenotype_label: str = "A"
    notes: str = "synthetic"


START = dt.date.today() - dt.timedelta(days=30)


def _clients(store: Store) -> None:
    store.add_client("E1", sex="female", birth_year=1980)
    store.add_client("E2", sex="male", birth_year=1990)


def test_every_enrolment_and_its_phases_are_written_and_audited_once(store: Store) -> None:
    _clients(store)
    written = add_enrolments(
        store, [_Enrolment("E1", START), _Enrolment("E2", START)], source="test", actor="t"
    )
    assert written == 2
    enrolments = store.enrolments("E2")
    assert [e["protocol"] for e in enrolments] == ["essay_8_16"]
    assert [p["name"] for p in enrolments[0]["phases"]] == ["stabilise", "restore"]
    imports = [e for e in store.audit_entries() if e["entity"] == "enrolments"]
    assert [(e["action"], e["actor"]) for e in imports] == [("import", "t")]


def test_any_bad_enrolment_writes_none_and_every_problem_is_named(store: Store) -> None:
    _clients(store)
    bad = [
        _Enrolment("E1", START),
        _Enrolment("NOPE", START),
        _Enrolment("E2", dt.date.today() + dt.timedelta(days=3)),
        _Enrolment("E1", START, phases=(("a", 4, 2),)),
    ]
    with pytest.raises(ValidationError) as caught:
        add_enrolments(store, bad, source="test")
    issues = [(i.location, i.message) for i in caught.value.issues]
    assert len(issues) == 4, issues
    assert "'NOPE' is not in the store" in issues[0][1]
    assert issues[1][0] == "enrolment E2"
    assert "in the future or before the birth year" in issues[1][1]
    assert issues[2][0] == "enrolment E1: phase 1 (a)"
    assert "not a forward interval" in issues[2][1]
    # The same client, protocol and start twice in one file is refused as a duplicate.
    assert issues[3][0] == "enrolment E1"
    assert "already enrolled" in issues[3][1]
    assert store.enrolments("E1") == []


def test_an_enrolment_already_stored_is_refused_as_a_duplicate(store: Store) -> None:
    _clients(store)
    add_enrolments(store, [_Enrolment("E1", START)], source="test")
    with pytest.raises(ValidationError, match="already enrolled"):
        add_enrolments(store, [_Enrolment("E1", START), _Enrolment("E2", START)], source="x")
    assert store.enrolments("E2") == []
    assert store.verify_audit().ok
