"""Every input-validation message names the column, the value received and what was expected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hostcap.errors import ValidationError
from hostcap.outcome_analytics import (
    MEASURES,
    baseline_rows,
    responder_table,
    validate_clients,
    validate_measurements,
)


def _measurements(**changes: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "client": ["c1", "c1", "c2"],
        "measure": ["tryptase", "tryptase", "hs_crp"],
        "week": [0.0, 8.0, 0.0],
        "value": [5.0, 4.0, 2.0],
    }
    base.update(changes)
    return pd.DataFrame(base)


def _clients(**changes: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        "client": ["c1", "c2"],
        "phenotype": ["A", "B"],
        "protocol": ["essay_8_16", "essay_8_16"],
    }
    base.update(changes)
    return pd.DataFrame(base)


def _message(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(ValidationError) as info:
        call(*args, **kwargs)
    return info.value.report()


def test_missing_column_names_it_and_lists_what_was_given() -> None:
    message = _message(validate_measurements, _measurements().drop(columns="week"))
    assert "measurements.week" in message
    assert "'week' is missing" in message
    assert "['client', 'measure', 'value']" in message


def test_non_numeric_week_names_column_row_value_and_expectation() -> None:
    message = _message(validate_measurements, _measurements(week=[0.0, "eight", 0.0]))
    assert "measurements.week" in message
    assert "rows 1" in message and "'eight'" in message
    assert "expected a finite float" in message


def test_non_finite_value_is_refused() -> None:
    message = _message(validate_measurements, _measurements(value=[5.0, np.inf, 2.0]))
    assert "measurements.value" in message and "inf" in message and "finite float" in message


def test_empty_client_code_is_named() -> None:
    message = _message(validate_measurements, _measurements(client=["c1", " ", "c2"]))
    assert "measurements.client" in message and "' '" in message
    assert "expected a non-empty string" in message


def test_unknown_measure_lists_the_known_ones() -> None:
    message = _message(responder_table, _measurements(measure=["tryptase", "tryptase", "crp"]))
    assert "measurements.measure" in message and "['crp']" in message
    assert all(m in message for m in MEASURES)


def test_repeated_client_measure_week_is_refused_with_the_first_repeat() -> None:
    message = _message(validate_measurements, _measurements(week=[0.0, 0.0, 0.0]))
    assert "measurements.week" in message and "'c1'" in message and "'tryptase'" in message
    assert "expected one value per client, measure and week" in message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        validate_measurements(_measurements(week=[0.0, "x", 0.0], value=[None, 1.0, 2.0]))
    locations = {issue.location for issue in info.value.issues}
    assert locations == {"measurements.week", "measurements.value"}


def test_phenotype_outside_the_rule_labels_is_named_with_the_allowed_labels() -> None:
    message = _message(validate_clients, _clients(phenotype=["A", "D"]))
    assert "clients.phenotype" in message and "'D'" in message
    assert "A, B, C, mixed, insufficient_data" in message


def test_repeated_client_and_bad_age_are_named() -> None:
    message = _message(validate_clients, _clients(client=["c1", "c1"], age_years=[30.0, "old"]))
    assert "clients.client" in message and "'c1'" in message and "one row per client" in message
    assert "clients.age_years" in message and "'old'" in message


def test_a_frame_is_required() -> None:
    message = _message(validate_measurements, [("c1", "tryptase", 0.0, 1.0)])
    assert "measurements" in message and "list" in message and "a pandas DataFrame" in message


def test_baseline_falls_back_to_the_first_visit_when_none_is_at_or_before_week_zero() -> None:
    data = validate_measurements(
        pd.DataFrame(
            {"client": "c1", "measure": "tryptase", "week": [1.0, 4.0, 8.0], "value": [6, 5, 4]}
        )
    )
    row = baseline_rows(data).iloc[0]
    assert (row["week"], row["value"]) == (1.0, 6.0)
