"""Store services: the assessment input built from stored records, the demo, client overview."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

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


def _tryptase(code: str, value: str, when: str, context: str, hours: str | None = None) -> dict:
    row = {
        "client_code": code,
        "analyte": "tryptase",
        "value": value,
        "unit": "ng/mL",
        "collected_at": when,
        "context": context,
    }
    if hours is not None:
        row["hours_after_onset"] = hours
    return row


def test_a_baseline_drawn_before_the_event_is_entered_as_a_pre_event_baseline(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.init()
    store.add_client("P1", sex="female", birth_year=1980)
    store.add_one("labs", _tryptase("P1", "4", "2026-06-01T09:00", "baseline"))
    # The event began at 10:00 on 10 June; the acute sample 30 minutes later.
    store.add_one("labs", _tryptase("P1", "20", "2026-06-10T10:30", "acute", "0.5"))
    store.add_one(
        "episodes",
        {
            "client_code": "P1",
            "onset_at": "2026-06-10T10:00",
            "organ_systems": "skin;cardiovascular",
            "severity": "7",
            "duration_minutes": "90",
        },
    )
    event = assessment_input_data(store, "P1")["tryptase"]["events"][0]
    assert event["baseline_ng_ml"] == 4.0
    assert event["baseline_hours_after_resolution"] == pytest.approx(-217.0)
    store.dispose()


def test_a_baseline_within_24_h_of_an_earlier_episode_stays_invalid(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.init()
    store.add_client("P2", sex="female", birth_year=1980)
    store.add_one(
        "episodes",
        {
            "client_code": "P2",
            "onset_at": "2026-06-01T08:00",
            "organ_systems": "skin",
            "severity": "4",
            "duration_minutes": "60",
        },
    )
    store.add_one("labs", _tryptase("P2", "4", "2026-06-01T19:00", "baseline"))
    store.add_one("labs", _tryptase("P2", "20", "2026-06-10T10:30", "acute", "0.5"))
    event = assessment_input_data(store, "P2")["tryptase"]["events"][0]
    # 10 h after the earlier episode resolved: not a clean baseline, whatever came later.
    assert event["baseline_hours_after_resolution"] == pytest.approx(10.0)
    store.dispose()
