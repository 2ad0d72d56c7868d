"""Every bad input a person can give, through the real CLI (a subprocess) on a real store.

Each case must exit non-zero with a one-line message naming the field or value, never print a
traceback, and leave every table's row count unchanged. The table of outcomes (tried / refused
cleanly / stored wrongly / tracebacks) is printed by ``pytest -s`` for the issue's closing note.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostcap.clinical_store import Store

SRC = Path(__file__).resolve().parents[2] / "src"
TODAY = dt.date.today().isoformat()


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str | bytes, ...]
    needles: tuple[str, ...]
    database: bool = True


def _hostcap(args: Sequence[str | bytes], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONPATH=str(SRC), COLUMNS="200")
    code = "from hostcap.cli.main import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, env=env, cwd=cwd, timeout=300
    )


def _write(folder: Path, name: str, text: str) -> str:
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def _cases(folder: Path) -> list[Case]:
    long_food = "x" * 101
    dup_yaml = _write(folder, "dup.yaml", "sex: female\nage_years: 30\nsex: male\n")
    dup_rules = _write(folder, "dup_rules.yaml", "rules: []\nrules: []\n")
    dup_protocol = _write(folder, "dup_protocol.yaml", "id: p\nphenotype: A\nid: q\nphases: []\n")
    bool_age = _write(folder, "bool_age.json", '{"sex": "female", "age_years": true}')
    text_age = _write(folder, "text_age.json", '{"sex": "female", "age_years": "34"}')
    yes_bool = _write(
        folder,
        "yes_bool.json",
        '{"sex": "female", "age_years": 34, "history": {"cfs_or_fibromyalgia": "yes"}}',
    )
    csv = {
        "labs": (
            "client_code,analyte,value,unit,collected_at,context,reference_low,reference_high\n"
            "C001,tryptase,5,ng/mL,2026-01-02T09:00,baseline,20,5\n"
        ),
        "meds": (
            "client_code,drug,dose,unit,per_day,start\nC001,cetirizine,100000,mg,24,2026-01-01\n"
        ),
        "interventions": (
            "client_code,intervention,dose,unit,start\n"
            "C001,nicotinamide_riboside,1e9,mg/d,2026-01-01\n"
        ),
        "food": f"client_code,food,date,reaction_grade\nC001,{long_food},2026-01-01,0\n",
        "findings": (
            "client_code,field,value,date\nC001,history.antibiotic_course_2y,3,2026-01-01\n"
        ),
        "clients": "client_code,sex,birth_year\nC\u0421X1,female,1980\n",
    }
    imports = [
        Case(
            f"import {kind}",
            ("import", kind, _write(folder, f"bad_{kind}.csv", text)),
            (needle,),
        )
        for kind, text, needle in [
            (k, v, n)
            for (k, v), n in zip(
                csv.items(),
                ["reference_high", "hard limit", "3000", "101 characters", "antibiotic", "mixes"],
                strict=True,
            )
        ]
    ]
    lab = ("lab", "add", "C001", "--analyte", "tryptase", "--value", "5", "--unit", "ng/mL")
    return [
        Case(
            "finding: misspelt field",
            (
                "finding",
                "add",
                "C001",
                "--field",
                "history.antibiotic_course_2y",
                "--value",
                "3",
                "--date",
                TODAY,
            ),
            ("history.antibiotic_course_2y", "antibiotic_courses_2y"),
        ),
        Case(
            "finding: banana for yes/no",
            (
                "finding",
                "add",
                "C001",
                "--field",
                "history.cfs_or_fibromyalgia",
                "--value",
                "banana",
                "--date",
                TODAY,
            ),
            ("'banana'", "history.cfs_or_fibromyalgia", "true or false"),
        ),
        Case(
            "finding: 3 for a bool",
            (
                "finding",
                "add",
                "C001",
                "--field",
                "findings.splenomegaly",
                "--value",
                "3",
                "--date",
                TODAY,
            ),
            ("value 3", "findings.splenomegaly", "true or false"),
        ),
        Case(
            "finding: sex is the client's",
            ("finding", "add", "C001", "--field", "sex", "--value", "male", "--date", TODAY),
            ("'sex'",),
        ),
        Case(
            "finding: kit_d816v perhaps",
            (
                "finding",
                "add",
                "C001",
                "--field",
                "kit_d816v",
                "--value",
                "perhaps",
                "--date",
                TODAY,
            ),
            ("'perhaps'", "kit_d816v", "positive"),
        ),
        Case(
            "assess --input: age_years true",
            ("assess", "--input", bool_age, "--no-trajectory"),
            ("age_years", "True"),
            database=False,
        ),
        Case(
            "assess --input: age_years '34'",
            ("assess", "--input", text_age, "--no-trajectory"),
            ("age_years", "'34'"),
            database=False,
        ),
        Case(
            "assess --input: 'yes' for a bool",
            ("assess", "--input", yes_bool, "--no-trajectory"),
            ("history.cfs_or_fibromyalgia", "'yes'"),
            database=False,
        ),
        Case(
            "med: cetirizine 100000 mg x 24",
            (
                "med",
                "add",
                "C001",
                "--drug",
                "cetirizine",
                "--dose",
                "100000",
                "--unit",
                "mg",
                "--per-day",
                "24",
                "--start",
                "2026-01-01",
            ),
            ("cetirizine", "hard limit 400 mg/d"),
        ),
        Case(
            "med: unusual without --confirm-unusual",
            (
                "med",
                "add",
                "C001",
                "--drug",
                "cetirizine",
                "--dose",
                "10",
                "--unit",
                "mg",
                "--per-day",
                "6",
                "--start",
                "2026-01-01",
            ),
            ("60 mg/d", "--confirm-unusual"),
        ),
        Case(
            "intervention: NR 1e9 mg/d",
            (
                "intervention",
                "add",
                "C001",
                "--intervention",
                "nicotinamide_riboside",
                "--dose",
                "1e9",
                "--unit",
                "mg/d",
                "--start",
                "2026-01-01",
            ),
            ("nicotinamide_riboside", "3000 mg/d"),
        ),
        Case(
            "intervention: unusual without --confirm-unusual",
            (
                "intervention",
                "add",
                "C001",
                "--intervention",
                "nicotinamide_riboside",
                "--dose",
                "2000",
                "--unit",
                "mg/d",
                "--start",
                "2026-01-01",
            ),
            ("2000 mg/d", "--confirm-unusual"),
        ),
        Case(
            "lab: reference range reversed",
            (
                *lab,
                "--collected",
                "2026-01-03T09:00",
                "--reference-low",
                "20",
                "--reference-high",
                "5",
            ),
            ("reference_low 20 > reference_high 5",),
        ),
        Case(
            "lab: zoned time in the future",
            (*lab, "--collected", f"{dt.date.today().year + 1}-01-12T09:00Z"),
            ("collected_at", "future"),
        ),
        Case(
            "lab: not a date-time",
            (*lab, "--collected", "yesterday"),
            ("'yesterday'", "date-time"),
        ),
        Case(
            "lab: non-UTF-8 client code",
            (
                "lab",
                "add",
                b"C\xff01",
                "--analyte",
                "tryptase",
                "--value",
                "5",
                "--unit",
                "ng/mL",
                "--collected",
                "2026-01-03T09:00",
            ),
            ("UTF-8",),
        ),
        Case(
            "enrol: empty protocol",
            ("enrol", "C001", "--protocol", " ", "--start", "2026-01-01"),
            ("protocol is empty",),
        ),
        Case(
            "enrol: phenotype label Z",
            (
                "enrol",
                "C001",
                "--protocol",
                "p2",
                "--start",
                "2026-01-01",
                "--phenotype-label",
                "Z",
            ),
            ("'Z'", "A, B, C"),
        ),
        Case(
            "enrol: the same enrolment again",
            ("enrol", "C001", "--protocol", "p1", "--start", "2026-01-01"),
            ("already enrolled", "p1"),
        ),
        Case(
            "enrol: 101-character protocol",
            ("enrol", "C001", "--protocol", "p" * 101, "--start", "2026-01-01"),
            ("101 characters",),
        ),
        Case(
            "food: 101-character name",
            (
                "food",
                "add",
                "C001",
                "--food",
                long_food,
                "--date",
                "2026-01-01",
                "--reaction-grade",
                "0",
            ),
            ("food", "101 characters", "at most 100"),
        ),
        Case(
            "client: Cyrillic look-alike of C001",
            ("client", "add", "\u0421001", "--sex", "female", "--birth-year", "1980"),
            ("'\u0421001'", "'C001'"),
        ),
        Case(
            "client: mixed scripts",
            ("client", "add", "C\u0421X1", "--sex", "female", "--birth-year", "1980"),
            ("mixes", "cyrillic, latin"),
        ),
        Case(
            "client: non-UTF-8 bytes",
            ("client", "add", b"C\xff02", "--sex", "female", "--birth-year", "1980"),
            ("UTF-8",),
        ),
        Case("client show: non-UTF-8 bytes", ("client", "show", b"C\xff01"), ("UTF-8",)),
        Case(
            "population --seed -1",
            ("population", "--seed", "-1"),
            ("--seed",),
            database=False,
        ),
        Case(
            "database: a folder as the SQLite file",
            ("client", "list", "--database", f"sqlite:///{folder}"),
            ("is a folder", "expected a file path"),
            database=False,
        ),
        Case(
            "database: unreachable PostgreSQL",
            ("client", "list", "--database", "postgresql://someone:secret@127.0.0.1:9/none"),
            ("cannot open the store", "127.0.0.1"),
            database=False,
        ),
        Case(
            "YAML: duplicate key in an assessment input",
            ("assess", "--input", dup_yaml, "--no-trajectory"),
            ("duplicate key 'sex' at line 3",),
            database=False,
        ),
        Case(
            "YAML: duplicate key in a practice rulebook file",
            ("rules", "check", "--rulebook-extra", dup_rules),
            ("duplicate key 'rules'",),
            database=False,
        ),
        Case(
            "YAML: duplicate key in a protocol",
            ("simulate", "--protocol", dup_protocol, "--weeks", "1", "--out", str(folder / "o")),
            ("duplicate key 'id'",),
            database=False,
        ),
        *imports,
    ]


@dataclass
class Outcome:
    case: Case
    refused: bool
    clean: bool
    changed: bool
    traceback: bool
    message: str


def _run_case(case: Case, url: str, folder: Path) -> Outcome:
    store = Store(url)
    before = store.row_counts()
    args = (*case.args, "--database", url) if case.database else case.args
    proc = _hostcap(args, folder)
    after = store.row_counts()
    store.dispose()
    err = proc.stderr.decode("utf-8", "replace")
    lines = [line for line in err.splitlines() if "rror" in line]
    message = lines[0] if lines else err.strip()
    clean = (
        proc.returncode != 0
        and bool(lines)
        and all(n in message for n in case.needles)
        and "secret" not in err
    )
    return Outcome(
        case=case,
        refused=proc.returncode != 0,
        clean=clean,
        changed=before != after,
        traceback="Traceback" in err,
        message=message,
    )


@pytest.fixture
def populated(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    store.init()
    store.add_client("C001", sex="female", birth_year=1985)
    store.add_enrolment("C001", protocol="p1", started_on=dt.date(2026, 1, 1))
    store.dispose()
    yield url


def _table(outcomes: Sequence[Outcome]) -> str:
    tried = len(outcomes)
    clean = sum(o.clean and not o.changed and not o.traceback for o in outcomes)
    wrong = sum(o.changed for o in outcomes)
    tracebacks = sum(o.traceback for o in outcomes)
    return (
        f"bad inputs tried {tried} / refused cleanly {clean} / stored wrongly {wrong} / "
        f"tracebacks {tracebacks}"
    )


def test_every_bad_input_is_refused_with_one_line_and_nothing_stored(
    populated: str, tmp_path: Path
) -> None:
    outcomes = [_run_case(case, populated, tmp_path) for case in _cases(tmp_path)]
    print("\n" + _table(outcomes))
    bad = [
        f"{o.case.name}: rc-nonzero={o.refused} clean={o.clean} changed={o.changed} "
        f"traceback={o.traceback}: {o.message}"
        for o in outcomes
        if not o.clean or o.changed or o.traceback
    ]
    assert bad == [], "\n".join(bad)


PG_CASES = {
    "finding: misspelt field",
    "finding: banana for yes/no",
    "med: cetirizine 100000 mg x 24",
    "intervention: NR 1e9 mg/d",
    "lab: reference range reversed",
    "lab: non-UTF-8 client code",
    "enrol: phenotype label Z",
    "enrol: the same enrolment again",
    "enrol: 101-character protocol",
    "food: 101-character name",
    "client: Cyrillic look-alike of C001",
    "client: non-UTF-8 bytes",
    "client show: non-UTF-8 bytes",
    "import food",
    "import meds",
}


@pytest.mark.postgres
def test_the_same_bad_inputs_are_refused_on_postgresql(
    postgres_server: object, tmp_path: Path
) -> None:
    url = postgres_server.create_database()  # type: ignore[attr-defined]
    try:
        store = Store(url)
        store.init()
        store.add_client("C001", sex="female", birth_year=1985)
        store.add_enrolment("C001", protocol="p1", started_on=dt.date(2026, 1, 1))
        store.dispose()
        cases = [c for c in _cases(tmp_path) if c.name in PG_CASES]
        assert len(cases) == len(PG_CASES)
        outcomes = [_run_case(case, url, tmp_path) for case in cases]
        print("\nPostgreSQL: " + _table(outcomes))
        bad = [
            f"{o.case.name}: clean={o.clean} changed={o.changed} traceback={o.traceback}: "
            f"{o.message}"
            for o in outcomes
            if not o.clean or o.changed or o.traceback
        ]
        assert bad == [], "\n".join(bad)
    finally:
        postgres_server.drop_database(url)  # type: ignore[attr-defined]
