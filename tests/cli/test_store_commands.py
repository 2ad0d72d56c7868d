"""The store CLI contract, end to end on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostcap.cli.main import main


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    assert main(["init", "--database", url]) == 0
    return url


def test_the_documented_commands_work_in_order(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--database", db]
    assert main(["client", "add", "C001", "--sex", "female", "--birth-year", "1985", *d]) == 0
    assert (
        main(
            [
                "lab",
                "add",
                "C001",
                "--analyte",
                "tryptase",
                "--value",
                "12",
                "--unit",
                "ug/L",
                "--collected",
                "2026-01-05T09:00",
                "--context",
                "baseline",
                *d,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "lab",
                "add",
                "C001",
                "--analyte",
                "21582-2",
                "--value",
                "19",
                "--unit",
                "ng/mL",
                "--collected",
                "2026-02-05T11:00",
                "--context",
                "acute",
                "--hours-after-onset",
                "2",
                *d,
            ]
        )
        == 0
    )
    assert (
        main(
            [
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
                "2",
                "--start",
                "2026-01-05",
                *d,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "questionnaire",
                "add",
                "C001",
                "--instrument",
                "fss",
                "--answers",
                "5,6,4,5,6,5,4,6,5",
                "--date",
                "2026-01-05",
                *d,
            ]
        )
        == 0
    )
    labs = tmp_path / "labs.csv"
    labs.write_text(
        "client_code,analyte,value,unit,collected_at,context\nC001,hs_crp,2.1,mg/L,2026-01-05T09:00,baseline\n"
    )
    assert main(["import", "labs", str(labs), "--dry-run", *d]) == 0
    assert "Nothing was written" in capsys.readouterr().out
    assert main(["import", "labs", str(labs), *d]) == 0
    assert main(["client", "list", *d]) == 0
    assert main(["client", "show", "C001", *d]) == 0
    out = capsys.readouterr().out
    assert "C001" in out and "tryptase" in out and "h1_antihistamine" in out
    assert main(["export", "--out", str(tmp_path / "export"), *d]) == 0
    assert (tmp_path / "export" / "labs.csv").exists()
    assert main(["audit", "C001", *d]) == 0
    assert main(["audit", "--verify", *d]) == 0
    assert "audit chain intact" in capsys.readouterr().out
    assert main(["backup", str(tmp_path / "backup.sqlite"), *d]) == 0


def test_bad_input_exits_non_zero_with_one_line_naming_field_value_and_range(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--database", db]
    assert main(["client", "add", "C001", "--sex", "female", "--birth-year", "1985", *d]) == 0
    capsys.readouterr()
    rc = main(
        [
            "lab",
            "add",
            "C001",
            "--analyte",
            "tryptase",
            "--value",
            "-3",
            "--unit",
            "ng/mL",
            "--collected",
            "2026-01-05T09:00",
            *d,
        ]
    )
    assert rc != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "error: value: tryptase value -3 ng/mL is outside 0–2000 ng/mL"


def test_a_store_that_was_never_initialised_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["client", "list", "--database", f"sqlite:///{tmp_path / 'new.sqlite'}"])
    assert rc != 0
    assert "hostcap init" in capsys.readouterr().err


def test_a_failed_audit_verification_exits_non_zero(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    assert (
        main(["client", "add", "C001", "--sex", "female", "--birth-year", "1985", "--database", db])
        == 0
    )
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE audit_log SET actor = 'mallory'")
    assert main(["audit", "--verify", "--database", db]) != 0
    assert "altered" in capsys.readouterr().err


def test_every_record_kind_can_be_imported_from_the_command_line() -> None:
    from hostcap.cli.store_commands import ImportKind
    from hostcap.clinical_store import KINDS

    assert {k.value for k in ImportKind} == set(KINDS)


def test_visits_are_recorded_and_exported_as_days_since_enrolment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'v.sqlite'}"
    assert main(["init", "--database", url]) == 0
    assert (
        main(["client", "add", "V1", "--sex", "other", "--birth-year", "1990", "--database", url])
        == 0
    )
    args = ["visit", "add", "V1", "--date", "2026-01-05", "--kind", "baseline", "--week", "0"]
    assert main([*args, "--database", url]) == 0
    assert (
        main(["visit", "add", "V1", "--date", "2026-02-02", "--week", "4", "--database", url]) == 0
    )
    capsys.readouterr()
    assert main(["visit", "add", "V1", "--date", "2026-02-02", "--database", url]) != 0
    assert "already in the store" in capsys.readouterr().err
    assert main(["export", "--out", str(tmp_path / "x"), "--database", url]) == 0
    visits = (tmp_path / "x" / "visits.csv").read_text().splitlines()
    assert visits[0].startswith("client_pseudonym") and "visit_day" in visits[0]
    assert len(visits) == 3


def test_an_enrolment_keeps_its_phases_and_bad_phases_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hostcap.clinical_store import Store

    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    assert main(["init", "--database", url]) == 0
    assert (
        main(["client", "add", "E1", "--sex", "female", "--birth-year", "1980", "--database", url])
        == 0
    )
    bad = ["enrol", "E1", "--protocol", "p", "--start", "2026-01-05"]
    assert main([*bad, "--phase", "a:0:8", "--phase", "b:6:4", "--database", url]) != 0
    err = capsys.readouterr().err
    assert "phase 2 (b)" in err and "6.0" in err
    assert main([*bad, "--phase", "restore", "--database", url]) != 0
    assert "NAME:START_WEEK:END_WEEK" in capsys.readouterr().err
    good = [*bad, "--phase", "remove:0:4", "--phase", "restore:4:12", "--phenotype-label", "A"]
    assert main([*good, "--database", url]) == 0
    store = Store(url)
    try:
        (enrolment,) = store.enrolments("E1")
    finally:
        store.dispose()
    assert enrolment["phenotype_label"] == "A"
    assert [(p["name"], p["start_week"], p["end_week"]) for p in enrolment["phases"]] == [
        ("remove", 0.0, 4.0),
        ("restore", 4.0, 12.0),
    ]


def test_client_show_leads_with_the_referral_even_before_any_assessment_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hostcap.clinical_store import Store
    from hostcap.services.demo import record_demo_clients

    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    store = Store(url)
    try:
        store.init()
        record_demo_clients(store)
        assert store.assessments("DEMO-R1") == []
    finally:
        store.dispose()
    capsys.readouterr()
    assert main(["client", "show", "DEMO-R1", "--database", url]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("REFER FOR SPECIALIST WORK-UP")
    assert main(["client", "show", "DEMO-A1", "--database", url]) == 0
    assert "REFER FOR SPECIALIST" not in capsys.readouterr().out


def test_episode_signs_are_yes_no_or_not_recorded_and_reach_the_assessment(db: str) -> None:
    from hostcap.services.store import open_store, stored_input_data

    d = ["--database", db]
    assert main(["client", "add", "E1", "--sex", "female", "--birth-year", "1980", *d]) == 0
    onset = ["--organ-systems", "skin;gastrointestinal", "--severity", "6"]
    assert (
        main(
            [
                "episode",
                "add",
                "E1",
                "--onset",
                "2026-01-05T18:00",
                *onset,
                "--urticaria",
                "--no-syncope",
                "--trigger-identified",
                *d,
            ]
        )
        == 0
    )
    assert main(["episode", "add", "E1", "--onset", "2026-01-09T18:00", *onset, *d]) == 0
    store = open_store(db)
    episodes = store.frame("episodes", code="E1").sort_values("onset_at")
    first, second = episodes.iloc[0], episodes.iloc[1]
    assert (first["urticaria"], first["syncope"], first["trigger_identified"]) == (
        True,
        False,
        True,
    )
    assert first["angioedema"] is None and second["urticaria"] is None
    data, _ = stored_input_data(store, "E1")
    assert data["episodes"][0] | {"organ_systems": []} == {
        "organ_systems": [],
        "anaphylaxis": False,
        "urticaria": True,
        "syncope": False,
        "trigger_identified": True,
    }
    assert data["episodes"][1] == {
        "organ_systems": ["skin", "gastrointestinal"],
        "anaphylaxis": False,
    }
