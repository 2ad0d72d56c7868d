"""Consent records on SQLite and PostgreSQL: audited, append-only, newest record decides."""

from __future__ import annotations

import datetime as dt

import pytest

from hostcap.clinical_store import Store
from hostcap.errors import NotFoundError, ValidationError


def test_consent_records_are_audited_and_the_newest_decides(store: Store) -> None:
    store.add_client("C1", sex="female", birth_year=1980)
    store.add_client("C2", sex="male", birth_year=1975)
    store.add_consent("C1", scope="cohort_research", consented_on=dt.date(2025, 1, 2))
    store.add_consent("C2", scope="cohort_research", consented_on=dt.date(2025, 1, 2))
    store.add_consent(
        "C2", scope="cohort_research", consented_on=dt.date(2025, 2, 1), withdrawn=True
    )
    assert store.consented_codes("cohort_research") == {"C1"}
    assert store.consented_codes("case_report") == set()
    assert [r["withdrawn"] for r in store.consents("C2")] == [False, True]
    check = store.verify_audit()
    assert check.ok, check.problems
    assert sum(e["entity"] == "consents" for e in store.audit_entries()) == 3


def test_bad_consents_are_refused_naming_each_problem(store: Store) -> None:
    store.add_client("C1", sex="female", birth_year=1980)
    future = dt.date.today() + dt.timedelta(days=3)
    with pytest.raises(ValidationError) as caught:
        store.add_consent("C1", scope="marketing", consented_on=future)
    locations = {i.location for i in caught.value.issues}
    assert locations == {"scope", "date"}
    with pytest.raises(ValidationError, match="1980"):
        store.add_consent("C1", scope="case_report", consented_on=dt.date(1970, 1, 1))
    with pytest.raises(NotFoundError):
        store.add_consent("NOPE", scope="case_report", consented_on=dt.date(2025, 1, 1))
    assert store.consents("C1") == []
