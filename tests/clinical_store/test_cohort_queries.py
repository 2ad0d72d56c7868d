"""The cohort analysis's store query on a real SQLite file: which record becomes which row."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tests.services.analytics_store import START, build_store

from hostcap.clinical_store import cohort_records


def test_records_become_rows_per_measure_with_acute_samples_left_out(tmp_path: Path) -> None:
    store = build_store(f"sqlite:///{tmp_path / 'c.sqlite'}", n_clients=3)
    store.add_client("NOENROL", sex="female", birth_year=1990)
    try:
        records = cohort_records(store)
    finally:
        store.dispose()
    assert records.n_acute_left_out == 3  # one acute tryptase per client
    assert list(records.observations.columns) == ["client", "measure", "date", "value"]
    assert set(records.observations["measure"]) == {
        "tryptase",
        "hs_crp",
        "symptom_load",
        "fss_mean",
        "food_tolerance",
        "antihistamine_ddd",
    }
    people = records.people.set_index("client")
    assert pd.isna(people.loc["NOENROL", "started_on"])
    assert people.loc["S00", "started_on"] == START
    assert sorted(records.phases["name"].unique()) == ["restore", "stabilise"]


def test_food_tolerance_is_the_share_of_trialled_foods_last_tolerated(tmp_path: Path) -> None:
    store = build_store(f"sqlite:///{tmp_path / 'c.sqlite'}", n_clients=1)
    try:
        rows = cohort_records(store).observations
    finally:
        store.dispose()
    food = rows.loc[rows["measure"] == "food_tolerance"].sort_values("date")
    # tomato not tolerated (day -10), egg tolerated (day 20), tomato tolerated (day 50)
    assert food["value"].tolist() == [0.0, 0.5, 1.0]


def test_antihistamine_load_is_summed_at_each_observation_date(tmp_path: Path) -> None:
    store = build_store(f"sqlite:///{tmp_path / 'c.sqlite'}", n_clients=1)
    try:
        rows = cohort_records(store).observations
    finally:
        store.dispose()
    ddd = rows.loc[rows["measure"] == "antihistamine_ddd"].set_index("date")["value"]
    days = (ddd.index - pd.Timestamp(START)).days
    # cetirizine 20 mg/d (2 DDD) throughout; famotidine 40 mg/d (1 DDD) until day 40
    assert set(ddd[days <= 40]) == {3.0}
    assert set(ddd[days > 40]) == {2.0}
