"""The decision model's rule-based phenotype label of each synthetic client at baseline.

The truth file carries both the TRUE phenotype (what generated the client) and the label the
packaged rulebook gives from what a practitioner would have on enrolment day: the intake
findings, the week-0 labs and questionnaires, and the pre-enrolment episode diary (with any
acute tryptase drawn during it). Comparing the two shows how well the hypothesis labels recover
the generating phenotype; it is not a validation of the labels (both sides are hypotheses).

The input is built by the same function that builds it from a stored client's records
(``clinical_decisions.record_input.assessment_input``), as known on enrolment day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pandas as pd

from hostcap.catalog import score_instrument
from hostcap.clinical_decisions import assess, load_rulebook
from hostcap.clinical_decisions.record_input import ClientRecords, assessment_input
from hostcap.record_fields import parse_finding_value

__all__ = ["baseline_inputs", "client_records", "rule_based_labels"]


def _by_client(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {str(code): part for code, part in frame.groupby("client_code", sort=False)}


def _stored_labs(labs: pd.DataFrame) -> pd.DataFrame:
    # Synthetic values are generated in each analyte's canonical unit.
    return pd.DataFrame(
        {
            "analyte": labs["analyte"],
            "value": pd.to_numeric(labs["value"]),
            "collected_at": pd.to_datetime(labs["collected_at"]),
            "context": labs["context"],
            "hours_after_onset": pd.to_numeric(labs["hours_after_onset"], errors="coerce"),
        }
    )


def _stored_episodes(episodes: pd.DataFrame) -> pd.DataFrame:
    anaphylaxis = (
        episodes["anaphylaxis"].astype(str).str.lower().isin(["true", "1", "yes"])
        if "anaphylaxis" in episodes
        else pd.Series(False, index=episodes.index)
    )
    duration = (
        pd.to_numeric(episodes["duration_minutes"], errors="coerce")
        if "duration_minutes" in episodes
        else pd.Series(float("nan"), index=episodes.index)
    )
    return pd.DataFrame(
        {
            "onset_at": pd.to_datetime(episodes["onset_at"]),
            "duration_minutes": duration,
            "organ_systems": [str(s).split(";") for s in episodes["organ_systems"]],
            "anaphylaxis": anaphylaxis,
        }
    )


def _stored_questionnaires(questionnaires: pd.DataFrame) -> pd.DataFrame:
    scores = [
        score_instrument(str(instrument), [float(a) for a in str(answers).split(",")])
        for instrument, answers in zip(
            questionnaires["instrument"], questionnaires["answers"], strict=True
        )
    ]
    return pd.DataFrame(
        {
            "instrument": questionnaires["instrument"],
            "answered_on": pd.to_datetime(questionnaires["date"]),
            "total": [float(sc.total) for sc in scores],
            "mean": [None if sc.mean is None else float(sc.mean) for sc in scores],
        }
    )


def client_records(
    records: Mapping[str, pd.DataFrame], truth_clients: pd.DataFrame
) -> dict[str, ClientRecords]:
    """Each synthetic client's records in the stored form the assessment input is built from."""
    parts = {kind: _by_client(records[kind]) for kind in ("labs", "episodes", "findings")}
    parts["questionnaires"] = _by_client(records["questionnaires"])
    parts["food"] = _by_client(records["food"])
    out: dict[str, ClientRecords] = {}
    for _, row in truth_clients.iterrows():
        code = str(row["client_code"])
        client = ClientRecords(sex=str(row["sex"]), birth_year=int(row["birth_year"]))
        if code in parts["labs"]:
            client.labs = _stored_labs(parts["labs"][code])
        if code in parts["episodes"]:
            client.episodes = _stored_episodes(parts["episodes"][code])
        if code in parts["findings"]:
            found = parts["findings"][code]
            client.findings = pd.DataFrame(
                {
                    "field": found["field"],
                    "value": [parse_finding_value(v) for v in found["value"]],
                    "recorded_on": pd.to_datetime(found["date"]),
                }
            )
        if code in parts["questionnaires"]:
            client.questionnaires = _stored_questionnaires(parts["questionnaires"][code])
        if code in parts["food"]:
            food = parts["food"][code]
            client.food = pd.DataFrame(
                {
                    "food": food["food"],
                    "trial_date": pd.to_datetime(food["date"]),
                    "reaction_grade": pd.to_numeric(food["reaction_grade"]),
                }
            )
        out[code] = client
    return out


def baseline_inputs(
    records: Mapping[str, pd.DataFrame], truth_clients: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """Assessment input (plain data) per client from what is known on enrolment day."""
    enrolled = {
        str(c): dt.date.fromisoformat(str(d)[:10])
        for c, d in zip(truth_clients["client_code"], truth_clients["enrolled_on"], strict=True)
    }
    return {
        code: assessment_input(client, enrolled[code])[0]
        for code, client in client_records(records, truth_clients).items()
    }


def rule_based_labels(
    records: Mapping[str, pd.DataFrame], truth_clients: pd.DataFrame
) -> pd.DataFrame:
    """``client_code, rule_label, triage`` from the packaged rulebook at baseline."""
    rulebook = load_rulebook()
    rows = []
    for code, data in baseline_inputs(records, truth_clients).items():
        result = assess(data, rulebook)
        rows.append((code, str(result.phenotype.label), str(result.triage.level)))
    return pd.DataFrame(rows, columns=["client_code", "rule_label", "triage"])
