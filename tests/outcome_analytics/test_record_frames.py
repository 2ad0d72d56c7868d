"""From a store's cohort records to the analytics frames: weeks, same-day values, phases."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from hostcap.outcome_analytics import frames_from_records, validate_measurements

START = dt.date(2025, 1, 6)


def _people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client": ["P1", "P2"],
            "sex": ["female", "male"],
            "birth_year": [1980, 1990],
            "demo": [True, True],
            "enrolment_id": [1, None],
            "protocol": ["essay_8_16", None],
            "started_on": [START, None],
            "phenotype_label": ["A", None],
        }
    )


def _rows(*rows: tuple[str, str, int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [(c, m, pd.Timestamp(START) + pd.Timedelta(days=d), v) for c, m, d, v in rows],
        columns=["client", "measure", "date", "value"],
    )


def test_same_day_laboratory_values_combine_by_geometric_mean_and_weeks_count_from_enrolment() -> (
    None
):
    observations = _rows(
        ("P1", "tryptase", -7, 4.0),
        ("P1", "tryptase", 14, 2.0),
        ("P1", "tryptase", 14, 8.0),
        ("P1", "symptom_load", 14, 2.0),
        ("P1", "symptom_load", 14, 4.0),
    )
    phases = pd.DataFrame(
        {"enrolment_id": [1], "name": ["stabilise"], "start_week": [0.0], "end_week": [4.0]}
    )
    frames = frames_from_records(_people(), phases, observations, n_acute_left_out=2)
    m = frames.measurements.set_index(["measure", "week"])["value"]
    assert m[("tryptase", 2.0)] == pytest.approx(4.0)  # sqrt(2 * 8)
    assert m[("symptom_load", 2.0)] == pytest.approx(3.0)
    assert m[("tryptase", -1.0)] == 4.0
    assert list(frames.measurements["phase"]) == ["1_phase", "0_before", "1_phase"]
    validate_measurements(frames.measurements)
    assert frames.notes == (
        "1 client(s) without an enrolment were left out (no enrolment start, so no week 0)",
        "2 acute-context lab sample(s) were left out of the trends",
    )
    client = frames.clients.iloc[0]
    assert (client["client"], client["phenotype"], client["age_years"]) == ("P1", "A", 45.0)
    assert client["baseline_ln_tryptase"] == pytest.approx(math.log(4.0))


def test_unknown_phenotype_labels_are_treated_as_insufficient_data_and_noted() -> None:
    people = _people().assign(phenotype_label=["Z", None])
    frames = frames_from_records(people, pd.DataFrame(), _rows(("P1", "hs_crp", 0, 1.0)))
    assert frames.clients["phenotype"].tolist() == ["insufficient_data"]
    assert any("['Z'] are not rule-based labels" in n for n in frames.notes)
    assert "phase" not in frames.measurements.columns
