"""`hostcap audit --verify` covers the data; `hostcap record correct|delete` go through hostcap
(a real SQLite file; every error one line, never a traceback)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from hostcap.cli.main import main


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert main(["init", "--database", url]) == 0
    d = ["--database", url]
    assert main(["client", "add", "C001", "--sex", "female", "--birth-year", "1985", *d]) == 0
    for day, value in (("05", "5"), ("06", "6")):
        lab = ["--analyte", "tryptase", "--value", value, "--unit", "ng/mL"]
        assert main(["lab", "add", "C001", *lab, "--collected", f"2026-01-{day}T09:00", *d]) == 0
    return url


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return rc, out, err


def test_init_creates_the_audit_key_with_mode_0600(db: str) -> None:
    key = Path(db.removeprefix("sqlite:///") + ".audit-key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_verify_reports_a_lab_value_changed_with_sql_by_table_and_id(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = _run(capsys, "audit", "--verify", "--database", db)
    assert rc == 0 and "3 stored rows match" in out
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("update lab_results set value=1.2 where id=1")
        conn.execute("delete from lab_results where id=2")
    rc, _, err = _run(capsys, "audit", "--verify", "--database", db)
    assert rc == 4
    assert "audit: lab_results row 1: changed outside hostcap" in err
    assert "audit: lab_results row 2: removed outside hostcap" in err


def test_verify_without_the_key_says_so_in_one_line(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(db.removeprefix("sqlite:///") + ".audit-key").unlink()
    rc, _, err = _run(capsys, "audit", "--verify", "--database", db)
    assert rc == 4
    assert "audit key file" in err and "is missing" in err


def test_record_correct_and_delete_keep_the_audit_intact(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--database", db]
    rc, out, _ = _run(
        capsys,
        *("record", "correct", "labs", "1", "--field", "value", "--value", "7.5"),
        *("--reason", "transcription error", *d),
    )
    assert rc == 0 and "corrected labs record 1: value, value_as_entered" in out
    rc, out, _ = _run(capsys, "record", "delete", "labs", "2", "--reason", "entered twice", *d)
    assert rc == 0 and "deleted labs record 2" in out
    rc, out, _ = _run(capsys, "audit", "--verify", *d)
    assert rc == 0 and "audit chain intact: 5 entries" in out


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (("correct", "labs", "1", "--field", "value", "--value", "-3"), 2, "-3"),
        (("correct", "labs", "1", "--field", "vlue", "--value", "3"), 2, "analyte, value, unit"),
        (("correct", "lab", "1", "--field", "value", "--value", "3"), 2, "labs, meds"),
        (("correct", "labs", "9", "--field", "value", "--value", "3"), 3, "not in the store"),
        (("delete", "clients", "1"), 2, "still has records"),
        (("correct", "labs", "1", "--field", "value", "--field", "unit", "--value", "3"), 2, ""),
    ],
)
def test_a_bad_correction_is_one_line_naming_what_and_why(
    db: str,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    expected: str,
) -> None:
    rc, _, err = _run(capsys, "record", *args, "--reason", "because", "--database", db)
    assert rc == code
    assert expected in err
    assert len(err.strip().splitlines()) == 1


def test_a_correction_without_a_reason_is_refused(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ("record", "delete", "labs", "1", "--database", db)
    rc, _, err = _run(capsys, *base, "--reason", " ")
    assert rc == 2 and "--reason" in err and "non-empty reason" in err
    rc, _, _ = _run(capsys, *base)
    assert rc == 2


def test_a_record_changed_outside_hostcap_needs_an_explicit_flag_to_be_corrected(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        conn.execute("update lab_results set value=1.2 where id=1")
    fix = ("record", "correct", "labs", "1", "--field", "value", "--value", "5")
    rc, _, err = _run(capsys, *fix, "--reason", "restore", "--database", db)
    assert rc == 4 and "changed outside hostcap" in err and "--accept-unaudited-change" in err
    rc, _, _ = _run(
        capsys, *fix, "--reason", "restore", "--accept-unaudited-change", "--database", db
    )
    assert rc == 0
    rc, _, _ = _run(capsys, "audit", "--verify", "--database", db)
    assert rc == 0
