"""Store services: the assessment input built from stored records, the demo, client overview."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from hostcap.clinical_store import Store
from hostcap.services.demo import DEMO_CLIENTS, record_demo_clients
from hostcap.services.store import assessment_input_data, client_overview


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One demo store for the module: these tests only read (a second demo run adds nothing)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite'}")
    store.init()
    record_demo_clients(store)
    yield store
    store.dispose()


def test_demo_clients_are_recorded_once_and_labelled(demo_store: Store) -> None:
    record_demo_clients(demo_store)  # a second run adds nothing
    clients = demo_store.list_clients()
    assert [c["code"] for c in clients] == sorted(c.code for c in DEMO_CLIENTS)
    assert all(c["demo"] for c in clients)
    assert demo_store.verify_audit().ok


def test_assessment_input_takes_labs_episodes_questionnaires_and_findings(
    demo_store: Store,
) -> None:
    data = assessment_input_data(demo_store, "DEMO-A1")
    assert data["sex"] == "female"
    assert data["age_years"] == dt.date.today().year - 1988
    assert data["tryptase"]["baseline_ng_ml"] == [6.2, 5.9]  # oldest first, µg/L = ng/mL
    event = data["tryptase"]["events"][0]
    assert event["acute_ng_ml"] == 11.8 and event["hours_after_onset"] == 2.0
    # The nearest baseline (day -13) was drawn 162 h after the day -20 episode resolved.
    assert event["baseline_ng_ml"] == 5.9
    assert event["baseline_hours_after_resolution"] == pytest.approx(162.0)
    assert data["history"]["antibiotic_courses_2y"] == 4
    assert data["history"]["food_reactions_count"] == 2
    assert data["questionnaires"]["gsrs_mean"] == pytest.approx(71 / 15)
    assert data["hs_crp_mg_l"] == 1.8
    assert data["episodes"][0]["organ_systems"] == ["skin", "gastrointestinal"]


def test_nothing_is_guessed_for_what_the_store_does_not_hold(demo_store: Store) -> None:
    data = assessment_input_data(demo_store, "DEMO-C1")
    assert "bone_marrow" not in data and "kit_d816v" not in data
    assert "events" not in data["tryptase"]


def test_client_overview_reports_medication_load_per_class(demo_store: Store) -> None:
    overview = client_overview(demo_store, "DEMO-A1")
    assert overview["antihistamine_load_ddd"]["h1_antihistamine"] == pytest.approx(2.0)
    assert overview["antihistamine_load_ddd"]["h2_antihistamine"] == pytest.approx(1.0)
    assert overview["food_trials"] == {"trialled": 4, "tolerated": 2}
