"""``hostcap demo`` (the main job of ``make run``): safety first, assessed, labelled as demo."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostcap.cli.main import main


def test_the_demo_shows_referrals_first_assesses_everyone_and_simulates_each_phenotype(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    rc = main(["demo", "--out", str(tmp_path / "out"), "--database", url, "--skip-cohort"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "invented DEMONSTRATION data" in out
    # The red-flag client's view opens with the referral, before its records.
    r1 = out.split("DEMO-R1: resembles", 1)[1]
    assert r1.splitlines()[1].startswith("REFER FOR SPECIALIST WORK-UP")
    for code in ("DEMO-A1", "DEMO-B1", "DEMO-C1", "DEMO-R1"):
        assert f"{code}: triage" in out
    assert "phenotype (hypothesis, unvalidated)" in out
    assert out.count("saved as assessment #") == 4
    assert "audit chain: intact" in out
    for phenotype in "ABC":
        assert (tmp_path / "out" / "trajectories" / f"traj-{phenotype}.png").stat().st_size > 0


def test_a_cohort_too_small_to_analyse_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    rc = main(["demo", "--out", str(tmp_path / "o"), "--database", url, "--cohort-size", "5"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "--cohort-size" in err and "5" in err and "at least 20" in err
    assert not (tmp_path / "demo.sqlite").exists()


def test_a_negative_number_of_fitted_clients_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    rc = main(["demo", "--out", str(tmp_path / "o"), "--database", url, "--max-fit-clients", "-1"])
    assert rc != 0
    err = capsys.readouterr().err
    assert "--max-fit-clients" in err and "-1" in err and "≥ 0" in err
    assert not (tmp_path / "demo.sqlite").exists()
