"""Fuzzing CSV import with hypothesis: generated valid rows are stored exactly; a file with one
invalid row (from a list of named faults) is refused whole, naming that row, with nothing stored;
a file without one of its kind's required columns is refused naming the column. The audit
verifies (chain, head file, every stored row) after every case.

Covers every import kind (clients, labs, medications, questionnaires, food trials, episodes,
clinical findings, visits, interventions) on a real SQLite file and a real PostgreSQL database.
Valid rows are compared with what the import formats document: text NFKC-normalised and
stripped, choices lower-cased, units converted, zoned date-times stored in UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tests.pg_server import PostgresServer

from hostcap.clinical_store import Store
from hostcap.clinical_store.record_kinds import KINDS as RECORD_KINDS
from hostcap.clinical_store.record_kinds import ORGAN_SYSTEMS
from hostcap.errors import ValidationError
from hostcap.services.store import import_file

#: Examples per kind and test, per backend.
EXAMPLES = {"sqlite": 25, "postgres": 25}
_serial = itertools.count()
DAY0 = dt.date(2020, 1, 1)
THIS_YEAR = dt.date.today().year
EXISTING = "FUZZ-EXISTING"  # a client every store holds (clients faults reuse its code)


def _fuzz(backend: str) -> settings:
    # No shrinking: the store is shared by the module, so a failing case would be re-run
    # hundreds of times against a growing store (the generated files are small to read anyway).
    return settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


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
    #: The rows carry their own client_code (``{p}`` in it: a prefix unique to the file).
    own_code: bool = False


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


def _nfkc(text: str) -> str | None:
    """What the store keeps of a text: NFKC, stripped; None when nothing is left."""
    kept = unicodedata.normalize("NFKC", text).strip()
    return kept or None


def _fullwidth(text: str) -> str:
    """The full-width forms of ASCII letters, digits, '-' and '_' (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _case(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.capitalize()])


#: Free text with what NFKC folds (ligature, full-width, non-breaking space, combining accent,
#: superscript, ellipsis, half-width katakana) and what a CSV writer must quote (, " newline).
FREE_TEXT = st.lists(
    st.sampled_from(
        [
            *"abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.;:-'/()",
            *(",", '"', "\n", "\ufb01", "\uff21", "\uff11", "\u00a0", "e\u0301", "\u00b2"),
            *("\u2026", "\uff76", "é", "ß", "Ω"),
        ]
    ),
    max_size=60,
).map("".join)
BOOL_TEXT = st.sampled_from(["true", "false", "True", "FALSE", "yes", "no", "Y", "n", "1", "0"])
_TRUE = {"true", "yes", "y", "1"}


def _bool(text: str, default: bool = False) -> bool:
    return default if text.strip() == "" else text.strip().lower() in _TRUE


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str | list | dict) and pd.isna(value))


def _client_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    suffix = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    return st.fixed_dictionaries(
        {
            "suffix": suffix.map(lambda t: t[:20]),
            "wide": st.booleans(),
            "sex": st.sampled_from(["female", "male", "other"]).flatmap(_case),
            "year": st.integers(1900, THIS_YEAR),
            "year_as_float": st.booleans(),
            "demo": st.one_of(st.just(""), BOOL_TEXT),
        }
    ).map(
        lambda d: {
            "client_code": "{p}"
            + (_fullwidth if d["wide"] else str)(f"-{i}-{d['suffix']}")
            + (" " if d["wide"] else ""),
            "sex": d["sex"],
            "birth_year": f"{d['year']}.0" if d["year_as_float"] else str(d["year"]),
            "demo": d["demo"],
        }
    )


def _check_client(row: dict[str, str], stored: pd.Series) -> None:
    assert stored["code"] == _nfkc(row["client_code"])
    assert stored["sex"] == row["sex"].lower()
    assert stored["birth_year"] == int(float(row["birth_year"]))
    assert bool(stored["demo"]) is _bool(row["demo"])


#: Instruments with a plain sum as total: id, item count, lowest and highest answer.
INSTRUMENTS = {"fss": (9, 1, 7), "gsrs": (15, 1, 7), "mct": (5, 0, 4)}


def _questionnaire_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    day = DAY0 + dt.timedelta(days=i)

    def answered(name: str) -> st.SearchStrategy[dict[str, str]]:
        n, lo, hi = INSTRUMENTS[name]
        return st.fixed_dictionaries(
            {
                "instrument": _case(name),
                "answers": st.lists(st.integers(lo, hi), min_size=n, max_size=n),
                "sep": st.sampled_from([",", ";", ", ", " ; "]),
            }
        ).map(
            lambda d: {
                "instrument": d["instrument"],
                "answers": d["sep"].join(str(a) for a in d["answers"]),
                "date": day.isoformat(),
            }
        )

    return st.sampled_from(sorted(INSTRUMENTS)).flatmap(answered)


def _check_questionnaire(row: dict[str, str], stored: pd.Series) -> None:
    answers = [float(a) for a in row["answers"].replace(";", ",").split(",")]
    assert stored["instrument"] == row["instrument"].lower()
    assert stored["answers"] == answers
    assert stored["total"] == pytest.approx(sum(answers))
    if not _is_missing(stored["mean"]):
        assert stored["mean"] == pytest.approx(sum(answers) / len(answers))
    assert stored["answered_on"] == dt.date.fromisoformat(row["date"])


def _episode_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    # Two days apart at noon: an offset of up to ±11 h keeps every onset distinct in UTC.
    noon = dt.datetime(2020, 1, 1, 12, 0) + dt.timedelta(days=2 * i)
    offsets = st.one_of(
        st.just(""), st.just("Z"), st.integers(-11 * 4, 11 * 4).map(lambda q: _offset(q * 15))
    )
    return st.fixed_dictionaries(
        {
            "minute": st.integers(0, 59),
            "zone": offsets,
            "systems": st.lists(st.sampled_from(ORGAN_SYSTEMS), min_size=1, unique=True).flatmap(
                lambda xs: st.tuples(*(_case(x) for x in xs))
            ),
            "sep": st.sampled_from([";", "; ", ","]),
            "severity": st.integers(0, 10),
            "duration": st.one_of(st.just(""), _decimal(0, 10000, 1)),
            "treatment": FREE_TEXT,
            "emergency": st.one_of(st.just(""), BOOL_TEXT),
            "anaphylaxis": st.one_of(st.just(""), BOOL_TEXT),
            "notes": FREE_TEXT,
        }
    ).map(
        lambda d: {
            "onset_at": f"{noon + dt.timedelta(minutes=d['minute']):%Y-%m-%dT%H:%M}{d['zone']}",
            "organ_systems": d["sep"].join(d["systems"]),
            "severity": str(d["severity"]),
            "duration_minutes": d["duration"],
            "treatment": d["treatment"],
            "emergency_care": d["emergency"],
            "anaphylaxis": d["anaphylaxis"],
            "notes": d["notes"],
        }
    )


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _utc(text: str) -> dt.datetime:
    """The documented storage of a date-time: zoned ones in UTC (naive), naive ones as given."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        return when
    return when.astimezone(dt.UTC).replace(tzinfo=None)


def _check_episode(row: dict[str, str], stored: pd.Series) -> None:
    assert stored["onset_at"] == _utc(row["onset_at"])
    assert stored["organ_systems"] == [
        s.strip().lower() for s in row["organ_systems"].replace(",", ";").split(";")
    ]
    assert stored["severity"] == int(row["severity"])
    if row["duration_minutes"] == "":
        assert _is_missing(stored["duration_minutes"])
    else:
        assert stored["duration_minutes"] == float(row["duration_minutes"])
    for column in ("treatment", "notes"):
        got = None if _is_missing(stored[column]) else stored[column]
        assert got == _nfkc(row[column]), column
    assert bool(stored["emergency_care"]) is _bool(row["emergency_care"])
    assert bool(stored["anaphylaxis"]) is _bool(row["anaphylaxis"])


def _visit_row(i: int) -> st.SearchStrategy[dict[str, str]]:
    day = DAY0 + dt.timedelta(days=i)
    kinds = st.sampled_from(["baseline", "follow_up", "unscheduled", "final"]).flatmap(_case)
    return st.fixed_dictionaries(
        {
            "kind": st.one_of(st.just(""), kinds),
            "week": st.one_of(st.just(""), _decimal(-52, 520, 1)),
            "notes": FREE_TEXT,
        }
    ).map(
        lambda d: {
            "date": day.isoformat(),
            "visit_kind": d["kind"],
            "week": d["week"],
            "notes": d["notes"],
        }
    )


def _check_visit(row: dict[str, str], stored: pd.Series) -> None:
    assert stored["visit_date"] == dt.date.fromisoformat(row["date"])
    assert stored["kind"] == (row["visit_kind"].lower() or "follow_up")
    if row["week"] == "":
        assert _is_missing(stored["week"])
    else:
        assert stored["week"] == float(row["week"])
    assert (None if _is_missing(stored["notes"]) else stored["notes"]) == _nfkc(row["notes"])


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
    "clients": Kind(
        "clients",
        ("client_code", "sex", "birth_year", "demo"),
        _client_row,
        _check_client,
        {
            "birth year 1899": {"birth_year": "1899"},
            "birth year next year": {"birth_year": str(THIS_YEAR + 1)},
            "birth year not whole": {"birth_year": "1980.5"},
            "unknown sex": {"sex": "unknown"},
            "demo neither true nor false": {"demo": "maybe"},
            "empty code": {"client_code": ""},
            "code of 65 characters": {"client_code": "C" * 65},
            "code with a space": {"client_code": "C 01"},
            "code mixing Cyrillic and Latin": {"client_code": "\u0421yrillic-1"},
            "code already stored": {"client_code": EXISTING},
            "code like a stored one": {"client_code": EXISTING.lower()},
        },
        own_code=True,
    ),
    "questionnaires": Kind(
        "questionnaires",
        ("instrument", "answers", "date"),
        _questionnaire_row,
        _check_questionnaire,
        {
            "unknown instrument": {"instrument": "phq9x"},
            "instrument of 33 characters": {"instrument": "i" * 33},
            "answers not numbers": {"answers": "a;b;c"},
            "no answers": {"answers": ""},
            "too few answers": {"answers": "1;2"},
            "answers out of range": {"answers": ";".join(["9"] * 15)},
            "impossible date": {"date": "2021-02-30"},
            "before the birth year": {"date": "1960-06-01"},
        },
    ),
    "episodes": Kind(
        "episodes",
        (
            "onset_at",
            "organ_systems",
            "severity",
            "duration_minutes",
            "treatment",
            "emergency_care",
            "anaphylaxis",
            "notes",
        ),
        _episode_row,
        _check_episode,
        {
            "severity 11": {"severity": "11"},
            "severity not whole": {"severity": "2.5"},
            "unknown organ system": {"organ_systems": "skin;liver"},
            "no organ system": {"organ_systems": ""},
            "only separators": {"organ_systems": ";;"},
            "negative duration": {"duration_minutes": "-5"},
            "emergency care neither true nor false": {"emergency_care": "maybe"},
            "hour 25": {"onset_at": "2021-01-01T25:00"},
            "future": {"onset_at": "2099-01-01T00:00+02:00"},
            "before the birth year": {"onset_at": "1960-01-01T00:00"},
        },
    ),
    "visits": Kind(
        "visits",
        ("date", "visit_kind", "week", "notes"),
        _visit_row,
        _check_visit,
        {
            "week 521": {"week": "521"},
            "week -53": {"week": "-53"},
            "week not a number": {"week": "w4"},
            "unknown visit kind": {"visit_kind": "missed"},
            "future": {"date": "2099-01-01"},
            "impossible date": {"date": "2021-02-30"},
            "time of day in a date": {"date": "2020-01-01T10:00"},
        },
    ),
}


def test_every_import_kind_is_fuzzed() -> None:
    assert set(KINDS) == set(RECORD_KINDS)
    for name, kind in KINDS.items():
        declared = {c.name for c in RECORD_KINDS[name].columns}
        assert set(kind.header) | {"client_code"} <= declared, name


@dataclass
class Stores:
    """The stores of one backend, one per test and kind, created when first asked for."""

    backend: str
    folder: Path
    server: PostgresServer | None
    made: dict[str, Store]

    def __call__(self, kind: str) -> Store:
        if kind not in self.made:
            if self.server is None:
                url = f"sqlite:///{self.folder / f'{kind}.sqlite'}"
            else:
                url = self.server.create_database()
            store = Store(url, audit_key_file=self.folder / f"{kind}.audit-key")
            # Each store's audit key and head file in the module's folder, not the user's.
            store.init()
            store.add_client(EXISTING, sex="other", birth_year=1970)
            store.backend = self.backend  # type: ignore[attr-defined]
            self.made[kind] = store
        return self.made[kind]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend_stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stores]:
    """Per backend, a store per test and kind shared by that test's examples (audit keys in a
    temporary folder): a defect found in one test leaves the others' stores intact."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgres" else None
    stores = Stores(request.param, tmp_path_factory.mktemp(f"fuzz_{request.param}"), server, {})
    try:
        yield stores
    finally:
        for store in stores.made.values():
            url = store.url
            store.dispose()
            if server is not None:
                server.drop_database(url)


@pytest.fixture
def fuzz_store(backend_stores: Stores, request: pytest.FixtureRequest) -> Store:
    """The store of this test and kind (``name``) on this module's backend."""
    kind = request.node.callspec.params.get("name", "sample")
    return backend_stores(f"{request.node.originalname.removeprefix('test_')[:40]}-{kind}")


def _csv(path: Path, kind: Kind, code: str, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        if kind.own_code:
            writer.writerow(kind.header)
            for r in rows:
                writer.writerow([r[c].replace("{p}", code) for c in kind.header])
        else:
            writer.writerow(("client_code", *kind.header))
            for r in rows:
                writer.writerow((code, *(r[c] for c in kind.header)))
    return path


def _rows(kind: Kind) -> st.SearchStrategy[list[dict[str, str]]]:
    return st.integers(1, 12).flatmap(lambda n: st.tuples(*(kind.row(i) for i in range(n))))


def _new_client(store: Store) -> str:
    code = f"F{next(_serial):05d}"
    store.add_client(code, sex="female", birth_year=1970)
    return code


def _assert_verifies(store: Store) -> None:
    check = store.verify_audit()
    assert check.ok, [p.message for p in check.problems]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_generated_valid_rows_are_stored_exactly(
    name: str, fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kind = KINDS[name]
    folder = tmp_path_factory.mktemp(f"valid_{name}")

    @_fuzz(fuzz_store.backend)  # type: ignore[attr-defined]
    @given(rows=_rows(kind))
    def check(rows: tuple[dict[str, str], ...]) -> None:
        # A new client per case (its records cannot collide with earlier cases' keys); for
        # the clients kind a code prefix unique to the case.
        code = f"N{next(_serial):05d}" if kind.own_code else _new_client(fuzz_store)
        path = _csv(folder / f"{code}.csv", kind, code, list(rows))
        report = import_file(fuzz_store, name, path)
        assert report.inserted == len(rows)
        stored = fuzz_store.frame(name, code=None if kind.own_code else code)
        stored = stored.set_index("id").loc[list(report.ids)]
        expected = [{k: v.replace("{p}", code) for k, v in r.items()} for r in rows]
        for row, (_, got) in zip(expected, stored.iterrows(), strict=True):
            kind.check(row, got)
        _assert_verifies(fuzz_store)

    check()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_file_with_one_invalid_row_is_refused_whole_and_nothing_is_stored(
    name: str, fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kind = KINDS[name]
    folder = tmp_path_factory.mktemp(f"invalid_{name}")
    code = f"N{next(_serial):05d}" if kind.own_code else _new_client(fuzz_store)
    tried: list[str] = []

    def refused(rows: list[dict[str, str]], fault: str, where: int) -> None:
        tried.append(fault)
        broken = [dict(r) for r in rows]
        broken[where].update(kind.faults[fault])
        before = fuzz_store.row_counts()
        path = _csv(folder / "broken.csv", kind, code, broken)
        with pytest.raises(ValidationError) as info:
            import_file(fuzz_store, name, path)
        assert fuzz_store.row_counts() == before, fault
        named = {i.location.split(",")[0] for i in info.value.issues if i.severity == "error"}
        assert named == {f"row {where + 2}"}, (fault, info.value.report())
        assert "nothing was written" in str(info.value), fault
        _assert_verifies(fuzz_store)

    @_fuzz(fuzz_store.backend)  # type: ignore[attr-defined]
    @given(rows=_rows(kind), data=st.data())
    def check(rows: tuple[dict[str, str], ...], data: st.DataObject) -> None:
        fault = data.draw(st.sampled_from(sorted(kind.faults)), label="fault")
        where = data.draw(st.integers(0, len(rows) - 1), label="row")
        refused(list(rows), fault, where)

    check()
    # Every fault at least once, whatever was drawn: in a one-row file of the sample row.
    for fault in sorted(kind.faults):
        refused([SAMPLE[name]], fault, 0)
    print(f"{name} on {fuzz_store.backend}: {len(tried)} refused files")  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_file_without_a_required_column_is_refused_naming_it(
    name: str, fuzz_store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kind = KINDS[name]
    folder = tmp_path_factory.mktemp(f"missing_{name}")
    code = f"N{next(_serial):05d}" if kind.own_code else _new_client(fuzz_store)
    required = [c.name for c in RECORD_KINDS[name].columns if c.required]
    for column in required:
        header = ["client_code", *kind.header] if not kind.own_code else list(kind.header)
        assert column in header, (name, column)
        lines = [",".join(c for c in header if c != column)]
        path = folder / f"without_{column}.csv"
        path.write_text("\n".join(lines) + "\n" + _one_row(kind, code, header, column))
        before = fuzz_store.row_counts()
        with pytest.raises(ValidationError) as info:
            import_file(fuzz_store, name, path)
        assert f"column {column}" in info.value.report(), info.value.report()
        assert fuzz_store.row_counts() == before, column
    _assert_verifies(fuzz_store)


#: One valid row of each kind (the clients row's code is the case's own).
SAMPLE = {
    "clients": {"client_code": "{p}", "sex": "female", "birth_year": "1980", "demo": "false"},
    "labs": {
        "analyte": "tryptase",
        "value": "5",
        "unit": "ng/mL",
        "collected_at": "2020-01-01T09:00",
        "context": "baseline",
        "reference_low": "",
        "reference_high": "",
    },
    "meds": {
        "drug": "cetirizine",
        "dose": "10",
        "unit": "mg",
        "per_day": "1",
        "start": "2020-01-01",
        "end": "",
    },
    "interventions": {
        "intervention": "nicotinamide_riboside",
        "dose": "300",
        "unit": "mg/d",
        "start": "2020-01-01",
        "phase": "",
    },
    "food": {"food": "egg", "date": "2020-01-01", "reaction_grade": "0"},
    "findings": {"field": "findings.splenomegaly", "value": "false", "date": "2020-01-01"},
    "questionnaires": {"instrument": "mct", "answers": "1;2;3;4;0", "date": "2020-01-01"},
    "episodes": {
        "onset_at": "2020-01-01T12:00",
        "organ_systems": "skin",
        "severity": "3",
        "duration_minutes": "",
        "treatment": "",
        "emergency_care": "",
        "anaphylaxis": "",
        "notes": "",
    },
    "visits": {"date": "2020-01-01", "visit_kind": "baseline", "week": "0", "notes": ""},
}


def _one_row(kind: Kind, code: str, header: list[str], without: str) -> str:
    """The sample row of ``kind`` without the column ``without``."""
    values = {
        "client_code": code,
        **{k: v.replace("{p}", code) for k, v in SAMPLE[kind.name].items()},
    }
    return ",".join(values[c] for c in header if c != without) + "\n"


def test_the_sample_rows_are_valid(fuzz_store: Store, tmp_path: Path) -> None:
    """The rows the missing-column test starts from are accepted whole (checked, not written)."""
    code = _new_client(fuzz_store)
    for name, kind in KINDS.items():
        header = list(kind.header) if kind.own_code else ["client_code", *kind.header]
        path = tmp_path / f"{name}.csv"
        own = code + "x" if kind.own_code else code  # a new client's code, or the client's
        path.write_text(",".join(header) + "\n" + _one_row(kind, own, header, "-"))
        assert import_file(fuzz_store, name, path, dry_run=True).inserted == 1, name


@pytest.mark.parametrize("value", ["3.0", "100.0", "0.0", "-0.0"])
def test_a_finding_value_written_as_a_whole_float_is_stored_and_verifies(
    store: Store, value: str
) -> None:
    """``hs_crp_mg_l 3.0`` is valid; the store must keep it so that its row hash still matches.

    On SQLite the JSON column has NUMERIC affinity: the text ``3.0`` is stored as INTEGER 3, read
    back as 3, and audit --verify then reports the row as "changed outside hostcap".
    """
    store.add_client("A1", sex="female", birth_year=1970)
    store.add_one(
        "findings",
        {"client_code": "A1", "field": "hs_crp_mg_l", "value": value, "date": "2020-01-01"},
    )
    assert store.frame("findings")["value"].tolist() == [float(value)]
    _assert_verifies(store)
