"""``hostcap consent add`` and ``hostcap report case|cohort`` through the real CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.services.analytics_store import build_store

from hostcap.cli.main import main


@pytest.fixture
def url(tmp_path: Path) -> str:
    address = f"sqlite:///{tmp_path / 'store.sqlite'}"
    build_store(address, n_clients=6).dispose()
    return address


def test_report_case_refuses_without_consent_then_writes_with_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "case"
    assert main(["report", "case", "S01", "--out", str(out), "--database", url]) == 2
    err = capsys.readouterr().err
    assert "no case_report consent" in err and "nothing was written" in err
    assert "Traceback" not in err and not out.exists()
    day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    rc = main(["consent", "add", "S01", "--scope", "case_report", "--date", day, "--database", url])
    assert rc == 0, capsys.readouterr().err
    assert "case_report consent recorded" in capsys.readouterr().out
    rc = main(["report", "case", "S01", "--out", str(out), "--format", "html", "--database", url])
    assert rc == 0, capsys.readouterr().err
    assert (out / "case-report.html").is_file() and not (out / "case-report.pdf").exists()
    assert (out / "care-checklist.csv").is_file()


def test_consent_add_names_a_bad_scope_and_a_bad_date(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        ["consent", "add", "S01", "--scope", "marketing", "--date", "2025-01-01", "--database", url]
    )
    assert rc == 2
    assert "scope 'marketing'" in capsys.readouterr().err
    rc = main(
        [
            "consent",
            "add",
            "S01",
            "--scope",
            "case_report",
            "--date",
            "01/02/2025",
            "--database",
            url,
        ]
    )
    assert rc == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_report_cohort_needs_consent_for_real_clients(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pack"
    rc = main(["report", "cohort", "--out", str(out), "--database", url, "--no-progress"])
    assert rc == 2
    assert "cohort_research consent" in capsys.readouterr().err
    assert not out.exists()
    day = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    for code in ("S00", "S01", "S02", "S03", "S04"):
        args = ["consent", "add", code, "--scope", "cohort_research", "--date", day]
        assert main([*args, "--database", url]) == 0
    args = ["report", "cohort", "--out", str(out), "--format", "html"]
    rc = main([*args, "--max-fit-clients", "0", "--database", url, "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "article.html" in printed and "article.pdf" not in printed
    methods = (out / "methods.md").read_text(encoding="utf-8")
    assert "cohort-research consent (real clients only): 1." in methods
    assert "Enrolled and analysed: 5; synthetic or demo clients among them: 0." in methods
    assert "SYNTHETIC" not in (out / "article.html").read_text(encoding="utf-8")
