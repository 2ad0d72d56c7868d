"""Case-report rendering from data alone: age bands, weeks, numbers, figures, checklist."""

from __future__ import annotations

import datetime as dt
import hashlib

import pandas as pd
import pytest

from hostcap.reports import (
    CARE_ITEMS,
    CaseRecords,
    age_band,
    build_case_report,
    care_checklist,
    case_figure,
    case_report_html,
    figure_svg,
    format_number,
)
from hostcap.reports.case_report import week_text

START = dt.date(2024, 3, 4)
KINDS = ("labs", "meds", "questionnaires", "food", "episodes", "interventions", "findings")


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "0–4"),
        (42, "40–44"),
        (45, "45–49"),
        (89, "85–89"),
        (90, "90 or older"),
        (104, "90 or older"),
    ],
)
def test_ages_are_shown_in_five_year_bands_and_90_or_older(age: int, band: str) -> None:
    assert age_band(age) == band


def test_times_are_weeks_from_the_protocol_start() -> None:
    assert week_text(0.0) == "week 0"
    assert week_text(4.0) == "week 4"
    assert week_text(-1.14) == "week −1.1"


def test_numbers_read_as_people_write_them() -> None:
    assert format_number(5.6) == "5.6"
    assert format_number(12.0) == "12"
    assert format_number(float("nan")) == "–"
    assert format_number(float("inf")) == "not reached"
    assert format_number(4.4e9) == "4.4×10⁹"


def _records(visit_note: str | None = None) -> CaseRecords:
    empty = {kind: pd.DataFrame() for kind in KINDS}
    labs = pd.DataFrame(
        {
            "id": [1, 2],
            "analyte": ["tryptase", "tryptase"],
            "value": [8.0, 5.0],
            "unit": ["ng/mL", "ng/mL"],
            "collected_at": [pd.Timestamp(START), pd.Timestamp(START) + pd.Timedelta(weeks=12)],
            "context": ["baseline", "baseline"],
        }
    )
    visits = pd.DataFrame(
        {
            "id": [1],
            "visit_date": [START],
            "week": [0.0],
            "kind": ["baseline"],
            "notes": [visit_note],
        }
    )
    records = empty | {
        "labs": labs,
        "visits": visits,
        "meds": pd.DataFrame(
            columns=[
                "drug",
                "drug_class",
                "dose",
                "dose_unit",
                "per_day",
                "ddd_per_day",
                "start_date",
                "end_date",
            ]
        ),
        "interventions": pd.DataFrame(
            columns=["intervention", "dose", "dose_unit", "start_date", "end_date", "phase"]
        ),
        "episodes": pd.DataFrame(
            columns=[
                "onset_at",
                "severity",
                "organ_systems",
                "anaphylaxis",
                "emergency_care",
                "notes",
                "treatment",
            ]
        ),
        "food": pd.DataFrame(columns=["trial_date", "food", "reaction_grade", "notes"]),
        "findings": pd.DataFrame(columns=["id", "field", "value", "recorded_on", "source"]),
        "questionnaires": pd.DataFrame(columns=["answered_on", "instrument", "total"]),
    }
    responders = pd.DataFrame(
        {
            "client": ["x"],
            "measure": ["tryptase"],
            "baseline": [8.0],
            "last": [5.0],
            "change": [-3.0],
            "reliable_change": ["improved"],
            "responder": [True],
            "baseline_week": [0.0],
            "last_week": [12.0],
        }
    )
    return CaseRecords(
        sex="female",
        birth_year=1931,
        demo=False,
        protocol="protocol.pattern_a",
        started_on=START,
        phenotype_label="A",
        phases=[("barrier", 0.0, 4.0), ("substrate", 4.0, 16.0)],
        records=records,
        enrolment_notes=None,
        assessment=None,
        responders=responders,
        measurements=pd.DataFrame(
            {"measure": ["tryptase"] * 2, "week": [0.0, 12.0], "value": [8.0, 5.0]}
        ),
        model_fit=None,
        model_note="Not available.",
        reference_keys=["gagnier2013_care"],
        versions={"hostcap": "0.0-test"},
    )


def test_a_93_year_old_is_90_or_older_and_no_date_is_rendered() -> None:
    report = build_case_report(_records())
    page = case_report_html(report, {"measures": "figures/measures.svg"})
    assert "90 or older" in page
    assert START.isoformat() not in page and "1931" not in page and "2024" not in page
    assert "improved" in page and "week 12" in page


def test_checklist_marks_what_is_not_available() -> None:
    checklist = care_checklist(build_case_report(_records()))
    status = dict(zip(checklist["section"], checklist["status"], strict=True))
    assert len(checklist) == len(CARE_ITEMS)
    assert status["Diagnostic assessment"] == "not_available"  # no stored assessment
    assert status["Patient perspective"] == "not_available"
    assert status["Timeline"] == "present"


def test_patient_perspective_is_shown_only_with_notes_in_the_review_box() -> None:
    records = _records("Patient perspective: I can eat tomatoes again")
    plain = build_case_report(records)
    assert plain.perspective is None and plain.perspective_recorded
    assert "tomatoes" not in case_report_html(plain, {"measures": "m.svg"})
    shown = build_case_report(records, include_notes=True)
    page = case_report_html(shown, {"measures": "m.svg"})
    assert page.index("Check before sending") < page.index("I can eat tomatoes again")
    assert (
        care_checklist(shown).set_index("section").loc["Patient perspective", "status"] == "present"
    )


def test_figure_svg_is_reproducible_and_has_no_date() -> None:
    records = _records()
    first = figure_svg(case_figure(records.measurements, records.phases))
    second = figure_svg(case_figure(records.measurements, records.phases))
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert b"<dc:date>" not in first
