"""One function from a client's records to the assessment input, as known on one day."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from hostcap.clinical_decisions.record_input import ClientRecords, assessment_input


def _labs(*rows: tuple[str, float, str, str, float | None]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "analyte": a,
                "value": v,
                "collected_at": pd.Timestamp(t),
                "context": c,
                "hours_after_onset": h,
            }
            for a, v, t, c, h in rows
        ]
    )


def test_an_acute_tryptase_is_paired_with_the_nearest_baseline_not_the_latest() -> None:
    records = ClientRecords(
        sex="female",
        birth_year=1980,
        labs=_labs(
            ("tryptase", 5.0, "2026-01-05T09:00", "baseline", None),
            ("tryptase", 19.0, "2026-01-10T12:00", "acute", 2.0),
            ("tryptase", 9.0, "2026-06-01T09:00", "baseline", None),
        ),
    )
    data, notes = assessment_input(records, dt.date(2026, 7, 1))
    assert notes == []
    [event] = data["tryptase"]["events"]
    assert event["baseline_ng_ml"] == 5.0  # 5 days away, not the June value
    assert data["tryptase"]["baseline_ng_ml"] == [5.0, 9.0]
    assert data["age_years"] == 46


def test_blood_counts_and_crp_come_from_the_newest_lab_values() -> None:
    records = ClientRecords(
        sex="male",
        birth_year=1970,
        labs=_labs(
            ("haemoglobin", 13.0, "2026-01-05T09:00", "routine", None),
            ("haemoglobin", 9.5, "2026-03-05T09:00", "routine", None),
            ("platelets", 80.0, "2026-03-05T09:00", "routine", None),
            ("hs_crp", 4.2, "2026-03-05T09:00", "routine", None),
        ),
    )
    data, _ = assessment_input(records, dt.date(2026, 4, 1))
    assert data["blood_counts"] == {"haemoglobin_g_dl": 9.5, "platelets_10e9_l": 80.0}
    assert data["hs_crp_mg_l"] == 4.2


def test_nothing_recorded_after_as_of_is_used() -> None:
    records = ClientRecords(
        sex="female",
        birth_year=1990,
        labs=_labs(
            ("tryptase", 5.0, "2026-01-05T09:00", "baseline", None),
            ("hs_crp", 12.0, "2026-02-05T09:00", "routine", None),
        ),
        findings=pd.DataFrame(
            {
                "field": ["findings.splenomegaly"],
                "value": [True],
                "recorded_on": [pd.Timestamp("2026-02-01")],
            }
        ),
    )
    data, _ = assessment_input(records, dt.date(2026, 1, 31))
    assert "hs_crp_mg_l" not in data
    assert "findings" not in data
    assert data["tryptase"] == {"baseline_ng_ml": [5.0]}
    later, _ = assessment_input(records, dt.date(2026, 2, 5))
    assert later["hs_crp_mg_l"] == 12.0 and later["findings"] == {"splenomegaly": True}


def test_a_current_episode_finding_counts_only_on_its_own_day() -> None:
    findings = pd.DataFrame(
        {
            "field": ["current_episode.syncope"],
            "value": [True],
            "recorded_on": [pd.Timestamp("2026-03-01")],
        }
    )
    records = ClientRecords(sex="female", birth_year=1990, findings=findings)
    same_day, _ = assessment_input(records, dt.date(2026, 3, 1))
    assert same_day["current_episode"] == {"syncope": True}
    next_day, _ = assessment_input(records, dt.date(2026, 3, 2))
    assert "current_episode" not in next_day


def test_a_finding_the_contract_refuses_is_skipped_with_a_note_naming_it() -> None:
    findings = pd.DataFrame(
        {
            "field": ["findings.splenomegaly", "findings.splenomegaly"],
            "value": [False, "banana"],
            "recorded_on": [pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")],
        }
    )
    records = ClientRecords(sex="female", birth_year=1990, findings=findings)
    data, notes = assessment_input(records, dt.date(2026, 3, 1))
    assert data["findings"] == {"splenomegaly": False}
    [note] = notes
    assert "findings.splenomegaly" in note.message and "banana" in note.message
