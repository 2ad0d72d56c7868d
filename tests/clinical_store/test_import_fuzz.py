"""Fuzzing CSV import with hypothesis: generated valid rows are stored exactly; a file with one
invalid row (from a list of named faults) is refused whole, naming that row, with nothing stored.

Covers labs, medications, interventions, food trials and clinical findings on a real SQLite file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostcap.clinical_store import Store
from hostcap.errors import ValidationError
from hostcap.services.store import import_file

FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_serial = itertools.count()
DAY0 = dt.date(2020, 1, 1)


def _decimal(lo: float, hi: float, places: int = 2) -> st.SearchStrategy[str]:
    return st.integers(int(lo * 10**places), int(hi * 10**places)).map(
        lambda n: f"{n / 10**places:.{places}f}"
    )


NAME = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"),
    min_size=1,
    max_size=100,
).filter(lambda s: s.strip() != "" and "," not in s)


@dataclass(frozen=True)
class Kind:
    name: str
    header: tuple[str, ...]
    row: Callable[[int], st.SearchStrategy[dict[str, str]]]
    check: Callable[[dict[str, str], pd.Series], None]
    faults: dict[str, dict[str, str]]  # fault name -> {column: bad value}


def _lab_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    when = dt.datetime(2020, 1, 1, 0, 0) + dt.timedelta(hours=i)
    return st.fixed_dictionaries(
        {
            "analyte_unit": st.sampled_from(
                [("tryptase", "ng/mL"), ("tryptase", "ug/L"), ("hs_crp", "mg/L")]
            ),
            "value": _decimal(0.5, 150),
            "context": st.sampled_from(["baseline", "routine"]),
            "low": st.one_of(st.just(""), _decimal(0, 5)),
            "width": _decimal(0, 20),
        }
    ).map(
        lambda d: {
            "analyte": d["analyte_unit"][0],
            "value": d["value"],
            "unit": d["analyte_unit"][1],
            "collected_at": when.strftime("%Y-%m-%dT%H:%M"),
            "context": d["context"],
            "reference_low": d["low"],
            "reference_high": ""
            if d["low"] == ""
            else f"{float(d['low']) + float(d['width']):.2f}",
        }
    )


def _check_lab(row: dict[str, str], stored: pd.Series) -> None:
    assert stored["analyte"] == row["analyte"]
    assert stored["value_as_entered"] == float(row["value"])
    assert stored["unit_as_entered"] == row["unit"]
    assert stored["collected_at"] == dt.datetime.fromisoformat(row["collected_at"])
    assert stored["context"] == row["context"]
    for column in ("reference_low", "reference_high"):
        value = stored[f"lab_{column}"]
        if row[column] == "":
            assert value is None or math.isnan(value)
        else:
            assert value == float(row[column])


def _med_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    start = DAY0 + dt.timedelta(days=i)
    return st.fixed_dictionaries(
        {
            "drug_dose": st.sampled_from(
                [
                    ("cetirizine", "10", "1"),
                    ("cetirizine", "10", "4"),
                    ("famotidine", "20", "2"),
                    ("montelukast", "10", "1"),
                    ("fexofenadine", "180", "2"),
                ]
            ),
            "days": st.one_of(st.none(), st.integers(0, 400)),
        }
    ).map(
        lambda d: {
            "drug": d["drug_dose"][0],
            "dose": d["drug_dose"][1],
            "unit": "mg",
            "per_day": d["drug_dose"][2],
            "start": start.isoformat(),
            "end": "" if d["days"] is None else (start + dt.timedelta(days=d["days"])).isoformat(),
        }
    )


def _check_med(row: dict[str, str], stored: pd.Series) -> None:
    assert (stored["drug"], stored["dose_unit"]) == (row["drug"], row["unit"])
    assert stored["dose"] == float(row["dose"]) and stored["per_day"] == float(row["per_day"])
    assert stored["daily_dose"] == pytest.approx(float(row["dose"]) * float(row["per_day"]))
    assert stored["start_date"] == dt.date.fromisoformat(row["start"])
    end = stored["end_date"]
    assert (end is None or pd.isna(end)) if row["end"] == "" else end.isoformat() == row["end"]


def _intervention_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    start = DAY0 + dt.timedelta(days=i)
    return st.fixed_dictionaries(
        {
            "iv": st.sampled_from(["nicotinamide_riboside", "nicotinamide_mononucleotide"]),
            "dose": st.integers(250, 1000),
            "phase": st.one_of(st.just(""), NAME),
        }
    ).map(
        lambda d: {
            "intervention": d["iv"],
            "dose": str(d["dose"]),
            "unit": "mg/d",
            "start": start.isoformat(),
            "phase": d["phase"],
        }
    )


def _check_intervention(row: dict[str, str], stored: pd.Series) -> None:
    assert stored["intervention"] == row["intervention"]
    assert (stored["dose"], stored["dose_unit"]) == (float(row["dose"]), row["unit"])
    assert stored["start_date"] == dt.date.fromisoformat(row["start"])
    assert (stored["phase"] or "") == row["phase"].strip()


def _food_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    day = DAY0 + dt.timedelta(days=i)
    return st.fixed_dictionaries({"food": NAME, "grade": st.integers(0, 3)}).map(
        lambda d: {"food": d["food"], "date": day.isoformat(), "reaction_grade": str(d["grade"])}
    )


def _check_food(row: dict[str, str], stored: pd.Series) -> None:
    assert stored["food"] == row["food"].strip().lower()
    assert stored["trial_date"] == dt.date.fromisoformat(row["date"])
    assert stored["reaction_grade"] == int(row["reaction_grade"])


FINDING_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "history.antibiotic_courses_2y": st.integers(0, 100),
    "findings.splenomegaly": st.booleans(),
    "kit_d816v": st.sampled_from(["positive", "negative", "not_tested"]),
    "hs_crp_mg_l": st.integers(0, 100000).map(lambda n: n / 100),
    "history.orthostatic_hr_rise_bpm": st.integers(-100, 250),
}


def _finding_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    day = DAY0 + dt.timedelta(days=i)
    return st.sampled_from(sorted(FINDING_VALUES)).flatmap(
        lambda field: FINDING_VALUES[field].map(
            lambda v: {
                "field": field,
                "value": ("true" if v else "false") if isinstance(v, bool) else str(v),
                "date": day.isoformat(),
            }
        )
    )


def _check_finding(row: dict[str, str], stored: pd.Series) -> None:
    assert stored["field"] == row["field"]
    text = row["value"]
    expected: Any = {"true": True, "false": False}.get(text, text)
    if row["field"] != "kit_d816v" and not isinstance(expected, bool):
        expected = float(text)
    assert stored["value"] == expected
    assert stored["recorded_on"] == dt.date.fromisoformat(row["date"])


KINDS = {
    "labs": Kind(
        "labs",
        ("analyte", "value", "unit", "collected_at", "context", "reference_low", "reference_high"),
        _lab_row,
        _check_lab,
        {
            "not a number": {"value": "abc"},
            "negative tryptase": {"value": "-3"},
            "unknown unit": {"unit": "furlongs"},
            "impossible date": {"collected_at": "2021-13-01T00:00"},
            "future": {"collected_at": "2099-01-01T00:00Z"},
            "unknown context": {"context": "sometimes"},
            "reversed reference range": {"reference_low": "20", "reference_high": "5"},
            "analyte too long": {"analyte": "x" * 65},
        },
    ),
    "meds": Kind(
        "meds",
        ("drug", "dose", "unit", "per_day", "start", "end"),
        _med_row,
        _check_med,
        {
            "zero dose": {"dose": "0"},
            "too many doses a day": {"per_day": "30"},
            "unknown drug": {"drug": "unobtainium"},
            "unknown unit": {"unit": "furlongs"},
            "above the hard limit": {"dose": "5000"},
            "end before start": {"end": "2019-12-31"},
            "unit too long": {"unit": "m" * 17},
        },
    ),
    "interventions": Kind(
        "interventions",
        ("intervention", "dose", "unit", "start", "phase"),
        _intervention_row,
        _check_intervention,
        {
            "1e9 mg/d": {"dose": "1e9"},
            "unusual, not confirmed": {"dose": "2500"},
            "wrong unit": {"unit": "g/d"},
            "phase too long": {"phase": "p" * 101},
        },
    ),
    "food": Kind(
        "food",
        ("food", "date", "reaction_grade"),
        _food_row,
        _check_food,
        {
            "grade 4": {"reaction_grade": "4"},
            "name of 101 characters": {"food": "f" * 101},
            "future": {"date": "2099-01-01"},
        },
    ),
    "findings": Kind(
        "findings",
        ("field", "value", "date"),
        _finding_row,
        _check_finding,
        {
            "misspelt field": {"field": "history.antibiotic_course_2y"},
            "banana": {"value": "banana"},
            "time of day in a date": {"date": "2020-01-01T10:00"},
        },
    ),
}


@pytest.fixture(scope="module")
def fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'store.sqlite'}")
    store.init()
    try:
        yield store
    finally:
        store.dispose()


def _csv(path: Path, kind: Kind, code: str, rows: list[dict[str, str]]) -> Path:
    lines = [",".join(("client_code", *kind.header))]
    lines += [",".join((code, *(r[c] for c in kind.header))) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(kind: Kind) -> st.SearchStrategy[list[dict[str, str]]]:
    return st.integers(1, 12).flatmap(lambda n: st.tuples(*(kind.row(i) for i in range(n))))


def _new_client(store: Store) -> str:
    code = f"F{next(_serial):05d}"
    store.add_client(code, sex="female", birth_year=1970)
    return code


@pytest.mark.parametrize("name", sorted(KINDS))
def test_generated_valid_rows_are_stored_exactly(
    name: str, fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kind = KINDS[name]
    folder = tmp_path_factory.mktemp(f"valid_{name}")

    @FUZZ
    @given(rows=_rows(kind))
    def check(rows: tuple[dict[str, str], ...]) -> None:
        code = _new_client(fuzz_store)
        path = _csv(folder / f"{code}.csv", kind, code, list(rows))
        report = import_file(fuzz_store, name, path)
        assert report.inserted == len(rows)
        stored = fuzz_store.frame(name, code=code).set_index("id").loc[list(report.ids)]
        for row, (_, got) in zip(rows, stored.iterrows(), strict=True):
            kind.check(row, got)

    check()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_file_with_one_invalid_row_is_refused_whole_and_nothing_is_stored(
    name: str, fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kind = KINDS[name]
    folder = tmp_path_factory.mktemp(f"invalid_{name}")
    code = _new_client(fuzz_store)

    @FUZZ
    @given(rows=_rows(kind), data=st.data())
    def check(rows: tuple[dict[str, str], ...], data: st.DataObject) -> None:
        fault = data.draw(st.sampled_from(sorted(kind.faults)), label="fault")
        where = data.draw(st.integers(0, len(rows) - 1), label="row")
        broken = [dict(r) for r in rows]
        broken[where].update(kind.faults[fault])
        before = fuzz_store.row_counts()
        path = _csv(folder / "broken.csv", kind, code, broken)
        with pytest.raises(ValidationError) as info:
            import_file(fuzz_store, name, path)
        assert fuzz_store.row_counts() == before, fault
        assert f"row {where + 2}" in info.value.report(), (fault, info.value.report())

    check()
