"""Every validation message form that the declared column constraints generate."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from hostcap.clinical_store.columns import Column, ColumnType, parse_columns
from hostcap.errors import Severity

NOW = dt.datetime(2026, 6, 1, 12, 0)


def _parse(column: Column, values: list[str | None]) -> list[str]:
    raw = pd.DataFrame({column.name: pd.array(values, dtype="string")})
    parsed = parse_columns(raw, [column], now=NOW)
    return [str(i) for i in parsed.issues if i.severity == Severity.ERROR]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            Column("value", ColumnType.FLOAT),
            "abc",
            "row 2, value: value value 'abc' is not a number; expected a number",
        ),
        (
            Column("grade", ColumnType.INT, minimum=0, maximum=3),
            "1.5",
            "row 2, grade: grade value '1.5' is not a whole number; expected a whole number "
            "from 0 to 3",
        ),
        (
            Column("grade", ColumnType.INT, minimum=0, maximum=3),
            "4",
            "row 2, grade: grade value '4' is too large; expected a whole number from 0 to 3",
        ),
        (
            Column("dose", ColumnType.FLOAT, minimum=0),
            "-1",
            "row 2, dose: dose value '-1' is too small; expected a number ≥ 0",
        ),
        (
            Column("date", ColumnType.DATE),
            "2026-02-30",
            "row 2, date: date value '2026-02-30' is not a valid date; expected a date YYYY-MM-DD",
        ),
        (
            Column("date", ColumnType.DATE),
            "2027-01-01",
            "row 2, date: date value '2027-01-01' is in the future (now is 2026-06-01T12:00); "
            "expected a date YYYY-MM-DD",
        ),
        (
            Column("collected_at", ColumnType.DATETIME),
            "yesterday",
            "row 2, collected_at: collected_at value 'yesterday' is not a valid date-time; "
            "expected a date-time YYYY-MM-DDTHH:MM",
        ),
        (
            Column("context", ColumnType.CHOICE, choices=("baseline", "acute", "routine")),
            "fasting",
            "row 2, context: context value 'fasting' is not allowed; expected one of baseline, "
            "acute, routine",
        ),
        (
            Column("emergency_care", ColumnType.BOOL),
            "maybe",
            "row 2, emergency_care: emergency_care value 'maybe' is not true or false; expected "
            "true or false",
        ),
        (
            Column("organ_systems", ColumnType.LIST, choices=("skin", "respiratory")),
            "skin;liver",
            "row 2, organ_systems: organ_systems value 'skin;liver' names an item that is not "
            "allowed; expected a ';'-separated list of skin, respiratory",
        ),
        (
            Column("food", ColumnType.TEXT),
            None,
            "row 2, food: food is empty; expected text",
        ),
    ],
)
def test_each_constraint_writes_a_message_naming_field_value_and_expectation(
    column: Column, value: str | None, message: str
) -> None:
    assert _parse(column, [value]) == [message]


def test_every_bad_row_is_reported_not_only_the_first() -> None:
    column = Column("value", ColumnType.FLOAT, minimum=0)
    messages = _parse(column, ["1", "x", "-2", "3", "y"])
    assert sorted(m.split(":")[0] for m in messages) == [
        "row 3, value",
        "row 4, value",
        "row 6, value",
    ]


def test_unknown_and_missing_columns_are_errors_for_every_row() -> None:
    raw = pd.DataFrame({"valeu": pd.array(["1"], dtype="string")})
    parsed = parse_columns(raw, [Column("value", ColumnType.FLOAT)], now=NOW)
    messages = [str(i) for i in parsed.issues]
    assert "column valeu: unknown column 'valeu'; expected columns: value" in messages
    assert "column value: required column 'value' is missing" in messages
    assert parsed.bad_rows.all()


def test_optional_blank_values_take_the_declared_default() -> None:
    column = Column(
        "context",
        ColumnType.CHOICE,
        required=False,
        choices=("routine", "acute"),
        default="routine",
    )
    raw = pd.DataFrame({"context": pd.array([None, "ACUTE"], dtype="string")})
    parsed = parse_columns(raw, [column], now=NOW)
    assert parsed.issues == []
    assert list(parsed.frame["context"]) == ["routine", "acute"]
