"""Assessments through the clinical store: built from stored records, saved with the rulebook
version and hash, shown again unchanged after the rulebook changes, assessed in bulk, and
carried as safety lines on every view of a client.

A real SQLite store on disk and the real CLI; nothing is mocked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hostcap import __version__
from hostcap.cli.main import main
from hostcap.clinical_decisions import load_rulebook
from hostcap.clinical_store import Store
from hostcap.clinical_store.tables import ClinicalFindingRow
from hostcap.errors import NotFoundError
from hostcap.services.assessment import assess_stored_client, assess_stored_clients
from hostcap.services.assessment_reports import (
    client_safety_banner,
    format_summary,
    stored_assessments,
)
from hostcap.services.demo import DEMO_CLIENTS, record_demo_clients

PHENOTYPE_YAML = (
    Path(__file__).parents[2] / "src/hostcap/clinical_decisions/rulebook/phenotype.yaml"
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = Store(url)
    store.init()
    try:
        yield url, store
    finally:
        store.dispose()


def _finding(store: Store, code: str, field: str, value: str, days_ago: int = 0) -> None:
    day = dt.date.today() - dt.timedelta(days=days_ago)
    store.add_one(
        "findings",
        {"client_code": code, "field": field, "value": value, "date": day.isoformat()},
    )


def _client(store: Store, code: str, findings: dict[str, str] | None = None) -> None:
    store.add_client(code, sex="female", birth_year=1985)
    for field, value in (findings or {}).items():
        _finding(store, code, field, value, days_ago=10)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _practice_file(tmp_path: Path) -> Path:
    """A practice file that changes the rulebook (one phenotype weight), hence its hash."""
    rules = yaml.safe_load(PHENOTYPE_YAML.read_text(encoding="utf-8"))["rules"]
    antibiotics = next(r for r in rules if r["id"] == "phenotype.a.antibiotics")
    extra = {"name": "practice", "version": "2", "rules": [antibiotics | {"weight": 0.5}]}
    path = tmp_path / "practice.yaml"
    path.write_text(yaml.safe_dump(extra), encoding="utf-8")
    return path


def test_assess_code_saves_the_result_with_rulebook_version_hash_and_package_version(
    db: tuple[str, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = db
    _client(store, "P-1", {"history.antibiotic_courses_2y": "5", "findings.splenomegaly": "true"})
    rc, out, err = _run(
        capsys, "assess", "P-1", "--database", url, "--format", "json", "--no-trajectory"
    )
    assert rc == 0
    printed = json.loads(out)
    assert printed["triage"]["level"] == "referral"
    saved = stored_assessments(store, "P-1")
    assert len(saved) == 1
    row = saved[0]
    book = load_rulebook()
    assert (row.rulebook_version, row.rulebook_sha256) == (book.version, book.sha256)
    assert row.package_version == __version__
    assert row.triage_level == "referral"
    assert row.result == printed
    assert row.input["history"] == {"antibiotic_courses_2y": 5}
    assert row.input["findings"] == {"splenomegaly": True}
    assert f"saved as assessment #{row.id}" in err


def test_stored_assessments_are_shown_unchanged_after_the_rulebook_changes(
    db: tuple[str, Store], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = db
    _client(
        store, "P-2", {"history.antibiotic_courses_2y": "4", "history.food_reactions_count": "3"}
    )
    rc, first_out, _ = _run(
        capsys, "assess", "P-2", "--database", url, "--format", "json", "--no-trajectory"
    )
    assert rc == 0
    first = json.loads(first_out)
    practice = _practice_file(tmp_path)
    rc, second_out, _ = _run(
        capsys,
        "assess",
        "P-2",
        "--database",
        url,
        "--format",
        "json",
        "--no-trajectory",
        "--rulebook-extra",
        str(practice),
    )
    assert rc == 0
    second = json.loads(second_out)
    # The changed rulebook gives a different result and a different stamp...
    assert second["rulebook"]["sha256"] != first["rulebook"]["sha256"]
    assert second["rulebook"]["version"].endswith("+practice.2")
    assert second["phenotype"]["contributions"] != first["phenotype"]["contributions"]
    # ...and the history shows both exactly as they were made, whichever rulebook is current.
    for current in ([], ["--rulebook-extra", str(practice)]):
        rc, out, _ = _run(
            capsys, "assess", "P-2", "--history", "--database", url, "--format", "json", *current
        )
        assert rc == 0
        history = json.loads(out)
        assert [h["result"] for h in history] == [first, second]
        assert [h["rulebook_sha256"] for h in history] == [
            first["rulebook"]["sha256"],
            second["rulebook"]["sha256"],
        ]
        assert all(h["package_version"] == __version__ for h in history)
    rc, text, _ = _run(capsys, "assess", "P-2", "--history", "--database", url)
    assert rc == 0
    assert text.count("### assessment #") == 2
    assert "the rulebook has changed since" in text  # the practice-file assessment
    assert "shown as stored, not re-assessed" in text


def test_history_of_an_unknown_client_names_the_code(
    db: tuple[str, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = db
    rc, _, err = _run(capsys, "assess", "NOBODY", "--history", "--database", url)
    assert rc != 0 and "NOBODY" in err


def test_an_invalid_finding_is_refused_when_written_and_nothing_is_stored(
    db: tuple[str, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = db
    _client(store, "P-3")
    rc, out, err = _run(
        capsys,
        "finding", "add", "P-3", "--field", "findings.splenomegaly", "--value", "maybe",
        "--date", dt.date.today().isoformat(), "--database", url,
    )  # fmt: skip
    assert rc != 0 and out == ""
    assert "findings.splenomegaly" in err and "maybe" in err and "true or false" in err
    assert store.frame("findings").empty


def test_assess_stored_clients_assesses_and_saves_every_demo_client(
    db: tuple[str, Store],
) -> None:
    _, store = db
    record_demo_clients(store)
    summaries = assess_stored_clients(store, with_trajectory=False)
    assert [s.code for s in summaries] == sorted(c.code for c in DEMO_CLIENTS)
    by_code = {s.code: s for s in summaries}
    assert all(s.error is None for s in summaries)
    assert {by_code[c].phenotype_label for c in ("DEMO-A1", "DEMO-B1", "DEMO-C1")} == {
        "A",
        "B",
        "C",
    }
    assert by_code["DEMO-R1"].triage_level in {"referral", "urgent_referral"}
    for s in summaries:
        saved = stored_assessments(store, s.code)
        assert [row.id for row in saved] == [s.assessment_id]
        assert set(s.criteria) == {
            "consensus_1",
            "consensus_2",
            "who_2022_sm",
            "icc_2022_sm",
            "b_findings",
            "c_findings",
            "rema",
            "nicas",
            "hat",
        }
        text = format_summary(s)
        assert text.startswith(f"{s.code}: triage ") and "hypothesis" in text
    # Without saving, nothing more is stored.
    assess_stored_clients(store, ["DEMO-A1"], save=False, with_trajectory=False)
    assert len(stored_assessments(store, "DEMO-A1")) == 1


def _legacy_finding(store: Store, code: str, field: str, value: object) -> None:
    """A finding stored before values were checked (written around the validation)."""
    with store.transaction() as session:
        client = store.client(session, code)
        session.add(
            ClinicalFindingRow(
                client_id=client.id, field=field, value=value, recorded_on=dt.date.today()
            )
        )


def test_one_clients_bad_data_never_stops_the_loop(db: tuple[str, Store]) -> None:
    _, store = db
    _client(store, "P-4")
    _legacy_finding(store, "P-4", "kit_d816v", "perhaps")
    _client(store, "P-5")
    summaries = assess_stored_clients(store, ["P-4", "NOBODY", "P-5"], with_trajectory=False)
    assert [s.code for s in summaries] == ["P-4", "NOBODY", "P-5"]
    skipped, unknown, good = summaries
    # The bad stored value is skipped and named; the triage runs on the rest.
    assert skipped.error is None and skipped.triage_level == "routine"
    assert any("kit_d816v" in n and "perhaps" in n for n in skipped.notes)
    assert "kit_d816v = 'perhaps'" in format_summary(skipped)
    assert unknown.error is not None and "NOBODY" in unknown.error
    assert good.error is None and good.triage_level == "routine" and not good.notes
    assert "NOT ASSESSED" in format_summary(unknown)


def test_a_mistyped_legacy_finding_never_blocks_triage_and_is_named(
    db: tuple[str, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = db
    _client(store, "P-14", {"findings.splenomegaly": "true"})
    _legacy_finding(store, "P-14", "history.antibiotic_course_2y", 3)
    _legacy_finding(store, "P-14", "history.cfs_or_fibromyalgia", "banana")
    banner = client_safety_banner(store, "P-14")
    assert banner[0].startswith("REFER FOR SPECIALIST WORK-UP")
    notes = [line for line in banner if line.startswith("NOTE:")]
    assert len(notes) == 2
    assert any("history.antibiotic_course_2y" in n and "3" in n for n in notes)
    assert any("history.cfs_or_fibromyalgia" in n and "banana" in n for n in notes)
    rc, out, err = _run(capsys, "assess", "P-14", "--database", url, "--no-trajectory")
    assert rc == 0, err
    assert "banana" in out and "history.antibiotic_course_2y" in err
    saved = [e for e in store.audit_entries("P-14") if e["entity"] == "assessments"]
    assert "banana" in json.loads(saved[-1]["after"])["skipped_stored_values"][1]


def test_assess_all_exits_non_zero_when_a_client_could_not_be_assessed(
    db: tuple[str, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = db
    _client(store, "P-15")
    _client(store, "P-16")
    with store.transaction() as session:
        store.client(session, "P-16").sex = "unknown"  # a client row no contract accepts
    rc, out, err = _run(capsys, "assess", "--all", "--database", url, "--no-trajectory")
    assert rc != 0
    assert "P-15: triage ROUTINE" in out and "P-16: NOT ASSESSED" in out
    assert "1 of 2 clients could not be assessed (P-16)" in err


def test_assess_all_prints_triage_criteria_and_phenotype_for_each_client(
    db: tuple[str, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    url, store = db
    _client(store, "P-6", {"findings.hepatomegaly": "true"})
    _client(store, "P-7", {"history.antibiotic_courses_2y": "4"})
    rc, out, _ = _run(capsys, "assess", "--all", "--database", url, "--no-trajectory")
    assert rc == 0
    assert "P-6: triage REFERRAL (safety.referral.organomegaly)" in out, out
    assert "P-7: triage ROUTINE" in out
    assert "consensus_1 indeterminate" in out and "phenotype (hypothesis" in out
    rc, out, _ = _run(
        capsys, "assess", "--all", "--database", url, "--no-trajectory", "--format", "json"
    )
    rows = json.loads(out)
    assert [r["code"] for r in rows] == ["P-6", "P-7"]
    assert all(r["phenotype_hypothesis"] is True for r in rows)
    assert len(stored_assessments(store, "P-6")) == 2


def test_safety_banner_is_empty_only_when_no_safety_rule_fired(db: tuple[str, Store]) -> None:
    _, store = db
    _client(store, "P-8", {"history.antibiotic_courses_2y": "2"})
    assert client_safety_banner(store, "P-8") == []
    _client(store, "P-9", {"findings.splenomegaly": "true", "kit_d816v": "positive"})
    banner = client_safety_banner(store, "P-9")
    assert banner and all(line.startswith("REFER FOR SPECIALIST WORK-UP") for line in banner)
    assert any("safety.referral.organomegaly" in line for line in banner)
    assert any("KIT D816V" in line for line in banner)


def test_safety_banner_carries_the_latest_assessments_reasons_after_the_data_changes(
    db: tuple[str, Store],
) -> None:
    _, store = db
    _client(store, "P-10", {"findings.splenomegaly": "true"})
    saved = assess_stored_client(store, "P-10")
    assert saved.result.triage.level == "referral"
    # A newer examination no longer finds splenomegaly: live triage is routine, but the
    # referral from the last assessment stays on every view until a new assessment is made.
    _finding(store, "P-10", "findings.splenomegaly", "false", days_ago=0)
    banner = client_safety_banner(store, "P-10")
    assert len(banner) == 1
    assert "safety.referral.organomegaly" in banner[0]
    assert f"from assessment #{saved.assessment_id}" in banner[0]
    assess_stored_client(store, "P-10")
    assert client_safety_banner(store, "P-10") == []


CURRENT_ANAPHYLAXIS = {
    "current_episode.onset_minutes_ago": "15",
    "current_episode.skin_mucosal": "true",
    "current_episode.respiratory_compromise": "true",
}


def test_an_episode_recorded_days_ago_is_history_not_a_live_emergency(
    db: tuple[str, Store],
) -> None:
    _, store = db
    _client(store, "P-13", CURRENT_ANAPHYLAXIS)  # recorded ten days ago
    assert not any(line.startswith("EMERGENCY") for line in client_safety_banner(store, "P-13"))
    for field, value in CURRENT_ANAPHYLAXIS.items():
        _finding(store, "P-13", field, value, days_ago=0)
    assert client_safety_banner(store, "P-13")[0].startswith("EMERGENCY")


def test_safety_banner_puts_a_live_emergency_first(db: tuple[str, Store]) -> None:
    _, store = db
    _client(store, "P-11", {"findings.splenomegaly": "true"})
    for field, value in CURRENT_ANAPHYLAXIS.items():
        _finding(store, "P-11", field, value, days_ago=0)
    banner = client_safety_banner(store, "P-11")
    assert banner[0].startswith("EMERGENCY")
    assert "Call emergency services" in banner[0]
    assert any(line.startswith("EMERGENCY:") and "WAO" in line for line in banner[1:])


def test_safety_banner_says_when_triage_could_not_run(db: tuple[str, Store]) -> None:
    _, store = db
    _client(store, "P-12")
    with store.transaction() as session:
        store.client(session, "P-12").sex = "unknown"  # nothing to skip: the client row itself
    banner = client_safety_banner(store, "P-12")
    assert len(banner) == 1
    assert banner[0].startswith("SAFETY TRIAGE COULD NOT RUN")
    assert "hostcap assess P-12" in banner[0]


def test_safety_banner_of_an_unknown_client_is_an_error(db: tuple[str, Store]) -> None:
    _, store = db
    with pytest.raises(NotFoundError):
        client_safety_banner(store, "NOBODY")
