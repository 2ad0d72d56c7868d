"""The decision model's rule-based phenotype label of each synthetic client at baseline.

The truth file carries both the TRUE phenotype (what generated the client) and the label the
packaged rulebook gives from what a practitioner would have on enrolment day: the intake
findings, the week-0 labs and questionnaires, and the pre-enrolment episode diary (with any
acute tryptase drawn during it). Comparing the two shows how well the hypothesis labels recover
the generating phenotype; it is not a validation of the labels (both sides are hypotheses).

The input is built the way ``hostcap.services.store.assessment_input_data`` builds it from stored
records, restricted to what is known on day 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from hostcap.catalog import score_instrument
from hostcap.clinical_decisions import assess, load_rulebook
from hostcap.clinical_store.record_kinds import parse_finding_value

__all__ = ["baseline_inputs", "rule_based_labels"]

_SCORES = {
    "gsrs": ("gsrs_mean", "mean"),
    "fss": ("fss_mean", "mean"),
    "compass31": ("compass31_total", "total"),
    "mct": ("mct_total", "total"),
}


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def baseline_inputs(
    records: Mapping[str, pd.DataFrame], truth_clients: pd.DataFrame
) -> dict[str, dict[str, Any]]:
    """Assessment input (plain data) per client from what is known on enrolment day."""
    clients = truth_clients.set_index("client_code")
    inputs: dict[str, dict[str, Any]] = {
        str(code): {"sex": str(row["sex"]), "age_years": int(row["age"])}
        for code, row in clients.iterrows()
    }
    enrolled = {str(c): str(d) for c, d in clients["enrolled_on"].items()}

    for code, field, value in zip(
        records["findings"]["client_code"],
        records["findings"]["field"],
        records["findings"]["value"],
        strict=True,
    ):
        _set(inputs[str(code)], str(field), parse_finding_value(value))

    labs = records["labs"]
    day0 = labs["collected_at"].str[:10] <= labs["client_code"].map(enrolled)
    for code, analyte, value, context, hours in zip(
        labs["client_code"][day0],
        labs["analyte"][day0],
        labs["value"][day0].astype(float),
        labs["context"][day0],
        labs["hours_after_onset"][day0],
        strict=True,
    ):
        data = inputs[str(code)]
        if analyte == "hs_crp":
            data["hs_crp_mg_l"] = float(value)
        elif context == "acute" and not pd.isna(hours):
            event = {"acute_ng_ml": float(value), "hours_after_onset": float(hours)}
            data.setdefault("tryptase", {}).setdefault("events", []).append(event)
        elif context == "baseline":
            data.setdefault("tryptase", {}).setdefault("baseline_ng_ml", []).append(float(value))
    for data in inputs.values():
        tryptase = data.get("tryptase", {})
        baselines = tryptase.get("baseline_ng_ml", [])
        for event in tryptase.get("events", []):
            if baselines:
                event["baseline_ng_ml"] = baselines[-1]

    questionnaires = records["questionnaires"]
    first = questionnaires["date"] == questionnaires["client_code"].map(enrolled)
    for code, instrument, answers in zip(
        questionnaires["client_code"][first],
        questionnaires["instrument"][first],
        questionnaires["answers"][first],
        strict=True,
    ):
        if instrument not in _SCORES:
            continue
        key, column = _SCORES[str(instrument)]
        score = score_instrument(str(instrument), [float(a) for a in str(answers).split(",")])
        _set(inputs[str(code)], f"questionnaires.{key}", float(getattr(score, column)))

    episodes = records["episodes"]
    before = episodes["onset_at"].str[:10] < episodes["client_code"].map(enrolled)
    for code, systems in zip(
        episodes["client_code"][before], episodes["organ_systems"][before], strict=True
    ):
        inputs[str(code)].setdefault("episodes", []).append(
            {"organ_systems": str(systems).split(";"), "anaphylaxis": False}
        )
    return inputs


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
