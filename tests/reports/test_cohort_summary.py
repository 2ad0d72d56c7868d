"""The cohort summary and its files rendered from results alone (no store, no service)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from hostcap.outcome_analytics import frames_from_records
from hostcap.reports import (
    CohortAnalysis,
    cohort_summary_markdown,
    discovery_document,
    summary_figures,
    variant_table,
)


def _analysis() -> CohortAnalysis:
    people = pd.DataFrame(
        {
            "client": ["P1"],
            "sex": ["female"],
            "birth_year": [1980],
            "demo": [True],
            "enrolment_id": [1],
            "protocol": ["essay_8_16"],
            "started_on": [dt.date(2025, 1, 6)],
            "phenotype_label": ["B"],
        }
    )
    observations = pd.DataFrame(
        {
            "client": ["P1"],
            "measure": ["tryptase"],
            "date": [pd.Timestamp(2025, 1, 6)],
            "value": [5.0],
        }
    )
    frames = frames_from_records(people, pd.DataFrame(), observations)
    return CohortAnalysis(
        frames=frames,
        responders=pd.DataFrame(),
        composite=pd.DataFrame(),
        times=pd.DataFrame(),
        order=None,
        order_by_phenotype={},
        order_comparisons={},
        order_notes=[],
        km_table=pd.DataFrame(),
        km_by_phenotype=pd.DataFrame(),
        fits=[],
        discovery=None,
        discovery_reason="not run: too few clients",
        timelines=None,
        variants=None,
        variant_note="no numbers: per-client fits were not requested (max_fit_clients = 0)",
    )


def test_a_summary_without_follow_up_says_what_was_not_run_and_invents_nothing() -> None:
    text = cohort_summary_markdown(_analysis(), "sqlite:///x.sqlite", {"summary.md": Path("s")})
    assert text.startswith("# Cohort analysis\n")
    assert "**1 of 1 clients are demo or synthetic**" in text
    assert "1 enrolled client(s), 1 with measurements, 1 measurement(s) of 1 measure(s)." in text
    assert "| tryptase | rcv |" in text
    assert "No measurements to assess." in text
    assert "No follow-up after week 0: no time-to-improvement analysis." in text
    assert "Phenotype discovery not run: too few clients." in text
    assert "no numbers: per-client fits were not requested (max_fit_clients = 0)." in text
    assert text.endswith("## Files\n\n- `summary.md`\n")


def test_the_files_beside_the_summary_say_why_they_hold_no_numbers() -> None:
    analysis = _analysis()
    assert discovery_document(analysis) == {"status": "not run: too few clients"}
    table = variant_table(analysis)
    assert len(table) == 1 and table["note"].iloc[0].startswith("no numbers")
    names = [name for name, _ in summary_figures(analysis)]
    assert names == ["spaghetti_tryptase.png", "forest_mixed_models.png", "variant_comparison.png"]
