"""The sections of a CARE case report, each from what the store holds (de-identified).

Each builder takes the client's records (dated as stored) and returns rows for one section of
:class:`~hostcap.reports.case_content.CaseReport`, with every date turned into weeks from the
protocol start; :func:`hostcap.reports.case_report.build_case_report` assembles them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from hostcap.outcome_analytics import get_measure
from hostcap.reports.case_content import CaseRecords
from hostcap.reports.document_rendering import format_number

__all__ = [
    "PERSPECTIVE_PREFIX",
    "age_band",
    "assessment_parts",
    "baseline_rows",
    "episode_rows",
    "figure_alt_text",
    "findings_rows",
    "free_text_notes",
    "intervention_rows",
    "is_present",
    "measure_label",
    "medication_rows",
    "model_fit_rows",
    "outcome_rows",
    "patient_perspective",
    "readable_id",
    "timeline_rows",
    "unit_words",
    "week_text",
    "weeks_from_start",
]

#: A visit note that starts with this (any case) records the patient's perspective (CARE 12).
PERSPECTIVE_PREFIX = "patient perspective:"


def age_band(age: int) -> str:
    """A 5-year age band (``"40–44"``); 90 and over as ``"90 or older"`` (Safe Harbor)."""
    if age >= 90:
        return "90 or older"
    low = max(0, age - age % 5)
    return f"{low}–{low + 4}"


def weeks_from_start(when: Any, start: dt.date) -> float:
    stamp = pd.Timestamp(when)
    return (stamp.normalize() - pd.Timestamp(start)).days / 7.0


def week_text(week: float) -> str:
    """``week 4``, ``week 2.3``, ``week −1.1`` (never a date)."""
    rounded = round(week, 1)
    text = format_number(rounded, 3) if rounded != 0 else "0"
    return "week " + text.replace("-", "−")


def measure_label(measure: str) -> tuple[str, str]:
    try:
        spec = get_measure(measure)
    except Exception:  # an unknown measure is shown by its id
        return measure, ""
    return spec.label, spec.unit


def _threshold_text(measure: str) -> str:
    spec = get_measure(measure)
    limit = spec.threshold()
    if spec.rule == "rcv":
        down, up = math.exp(-limit), math.exp(limit)
        return (
            f"reference change value: a change beyond ×{down:.2f} … ×{up:.2f} "
            f"(|ln ratio| > {limit:.3f})"
        )
    if spec.rule == "rci":
        unit = unit_words(spec.unit)
        return f"reliable change index: |change| > {format_number(limit)} {unit}".rstrip()
    unit = unit_words(spec.unit)
    return f"minimal important difference: |change| ≥ {format_number(limit)} {unit}".rstrip()


def readable_id(name: Any) -> str:
    """A stored id for reading: ``protocol.pattern_a`` → ``protocol pattern a``."""
    return str(name).replace("_", " ").replace(".", " ")


def _as_float(value: Any) -> float:
    return float(value)


def _dose(row: Any) -> str:
    return f"{format_number(row['dose'])} {row['dose_unit']} × {format_number(row['per_day'])}/day"


def unit_words(unit: str) -> str:
    """A unit for running text: score ranges ("0-10", "1-7") become "points"."""
    return "points" if re.fullmatch(r"\d+\s*-\s*\d+", unit.strip()) else unit


def is_present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _field_label(name: str) -> str:
    return (
        name.replace("history.", "").replace("findings.", "").replace("_", " ").replace(".", ": ")
    )


def findings_rows(
    frame: pd.DataFrame, start: dt.date, include_notes: bool
) -> tuple[list[dict[str, str]], str | None, list[dict[str, str]]]:
    rows: list[dict[str, str]] = []
    perspective: str | None = None
    notes: list[dict[str, str]] = []
    if frame.empty:
        return rows, perspective, notes
    newest = frame.sort_values(["recorded_on", "id"]).groupby("field", sort=True).tail(1)
    for _, row in newest.sort_values("field").iterrows():
        name = str(row["field"])
        value = row["value"]
        shown = "yes" if value is True else "no" if value is False else format_number(value)
        rows.append(
            {
                "finding": _field_label(name),
                "value": shown,
                "when": week_text(weeks_from_start(row["recorded_on"], start)),
            }
        )
    return rows, perspective, notes


def patient_perspective(visits: pd.DataFrame) -> str | None:
    """The newest visit note that starts with :data:`PERSPECTIVE_PREFIX`, without it."""
    if visits.empty or "notes" not in visits:
        return None
    found = None
    for text in visits.sort_values(["visit_date", "id"])["notes"]:
        if isinstance(text, str) and text.strip().lower().startswith(PERSPECTIVE_PREFIX):
            found = text.strip()[len(PERSPECTIVE_PREFIX) :].strip()
    return found


def baseline_rows(responders: pd.DataFrame) -> list[dict[str, str]]:
    out = []
    for _, row in responders.iterrows():
        label, unit = measure_label(str(row["measure"]))
        out.append(
            {
                "measure": label,
                "value": format_number(row["baseline"]),
                "unit": unit,
                "when": week_text(float(row["baseline_week"])),
            }
        )
    return out


#: A timeline event: (week, order among the events of a week, text).
Event = tuple[float, int, str]


def timeline_rows(records: CaseRecords, start: dt.date) -> list[dict[str, str]]:
    """CARE 7: every dated record as weeks from the protocol start, one row a week."""
    r = records.records
    events = [
        *_plan_events(records),
        *_visit_events(r["visits"], start),
        *_intervention_events(r["interventions"], start),
        *_medication_events(r["meds"], start),
        *_lab_events(r["labs"], start),
        *_questionnaire_events(r["questionnaires"], start),
        *_episode_events(r["episodes"], start),
        *_food_events(r["food"], start),
    ]
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    out: list[dict[str, str]] = []
    for week, _, text in events:
        label = week_text(week)
        if out and out[-1]["week"] == label:
            out[-1]["events"].append(text)  # type: ignore[attr-defined]
        else:
            out.append({"week": label, "events": [text]})  # type: ignore[dict-item]
    return out


def _event(week: float, order: int, text: str) -> Event:
    return (round(week, 1), order, text)


def _by_week(frame: pd.DataFrame, column: str, start: dt.date) -> pd.DataFrame:
    """``frame`` with ``w``: the weeks from ``start`` of ``column``, to one decimal."""
    return frame.assign(w=[round(weeks_from_start(t, start), 1) for t in frame[column]])


def _plan_events(records: CaseRecords) -> list[Event]:
    events = [_event(0.0, 0, f"protocol start: {readable_id(records.protocol)}")]
    for name, a, b in records.phases:
        text = f"phase “{readable_id(name)}” begins (planned to week {format_number(b)})"
        events.append(_event(float(a), 1, text))
    return events


def _visit_events(visits: pd.DataFrame, start: dt.date) -> list[Event]:
    return [
        _event(
            weeks_from_start(row["visit_date"], start),
            2,
            f"visit ({str(row['kind']).replace('_', ' ')})",
        )
        for _, row in visits.iterrows()
    ]


def _intervention_events(interventions: pd.DataFrame, start: dt.date) -> list[Event]:
    events = []
    for _, row in interventions.iterrows():
        name = str(row["intervention"]).replace("_", " ")
        events.append(
            _event(
                weeks_from_start(row["start_date"], start),
                3,
                f"starts {name} {format_number(row['dose'])} {row['dose_unit']}",
            )
        )
        if is_present(row["end_date"]):
            events.append(_event(weeks_from_start(row["end_date"], start), 3, f"stops {name}"))
    return events


def _medication_events(meds: pd.DataFrame, start: dt.date) -> list[Event]:
    events = []
    for _, row in meds.iterrows():
        events.append(
            _event(
                weeks_from_start(row["start_date"], start),
                4,
                f"medication {row['drug']} {_dose(row)}",
            )
        )
        if is_present(row["end_date"]):
            ended = f"medication {row['drug']} ended"
            events.append(_event(weeks_from_start(row["end_date"], start), 4, ended))
    return events


def _lab_events(labs: pd.DataFrame, start: dt.date) -> list[Event]:
    if not len(labs):
        return []
    events = []
    for (week, _), part in _by_week(labs, "collected_at", start).groupby(
        ["w", "context"], sort=True
    ):
        values = ", ".join(
            f"{readable_id(a)} {format_number(v)} {u}"
            for a, v, u in zip(part["analyte"], part["value"], part["unit"], strict=True)
        )
        context = str(part["context"].iloc[0])
        events.append(_event(_as_float(week), 5, f"labs ({context}): {values}"))
    return events


def _questionnaire_events(questionnaires: pd.DataFrame, start: dt.date) -> list[Event]:
    if not len(questionnaires):
        return []
    return [
        _event(
            _as_float(week),
            6,
            "questionnaires: "
            + ", ".join(
                f"{readable_id(i)} {format_number(t)}"
                for i, t in zip(part["instrument"], part["total"], strict=True)
            ),
        )
        for week, part in _by_week(questionnaires, "answered_on", start).groupby("w", sort=True)
    ]


def _episode_flags(row: Any) -> list[str]:
    """``anaphylaxis`` and/or ``emergency care``, where the episode record says so."""
    return [
        f
        for f, on in (
            ("anaphylaxis", row["anaphylaxis"]),
            ("emergency care", row["emergency_care"]),
        )
        if on
    ]


def _episode_events(episodes: pd.DataFrame, start: dt.date) -> list[Event]:
    events = []
    for _, row in episodes.iterrows():
        flags = _episode_flags(row)
        events.append(
            _event(
                weeks_from_start(row["onset_at"], start),
                7,
                f"episode, severity {row['severity']}/10, "
                f"{', '.join(map(str, row['organ_systems']))}"
                + (f" ({', '.join(flags)})" if flags else ""),
            )
        )
    return events


def _food_events(food: pd.DataFrame, start: dt.date) -> list[Event]:
    if not len(food):
        return []
    return [
        _event(
            _as_float(week),
            8,
            "food trials: "
            + ", ".join(
                f"{f} ({'tolerated' if int(g) == 0 else f'reaction grade {int(g)}'})"
                for f, g in zip(part["food"], part["reaction_grade"], strict=True)
            ),
        )
        for week, part in _by_week(food, "trial_date", start).groupby("w", sort=True)
    ]


def assessment_parts(
    assessment: Mapping[str, Any] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str, list[dict[str, Any]]]:
    """CARE 8 from the stored assessment: criteria sets, phenotype label (HYPOTHESIS), plan
    note and plan phases (all empty without an assessment)."""
    if assessment is None:
        return [], None, "", []
    result = assessment["result"]
    plan = result.get("plan") or {}
    note = " ".join(
        s for s in (plan.get("statement", ""), plan.get("conventional_therapy", "")) if s
    )
    return _criteria(result), _phenotype(result), note, _plan_phases(plan)


def _criteria(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    criteria = []
    for key, crit in result.get("criteria", {}).items():
        criteria.append(
            {
                "id": key,
                "title": crit.get("title", key),
                "status": str(crit.get("status", "")).replace("_", " "),
                "contested": bool(crit.get("contested")),
                "items": [
                    {
                        "id": item.get("id", ""),
                        "description": item.get("description", ""),
                        "status": str(item.get("status", "")).replace("_", " "),
                        "missing": ", ".join(item.get("missing") or []),
                    }
                    for item in crit.get("items", [])
                ],
                "missing": ", ".join(crit.get("missing") or []),
            }
        )
    return criteria


def _phenotype(result: Mapping[str, Any]) -> dict[str, Any] | None:
    phen = result.get("phenotype")
    phenotype = None
    if phen:
        phenotype = {
            "label": phen.get("label"),
            "scores": ", ".join(
                f"{k} {format_number(v)}" for k, v in sorted((phen.get("scores") or {}).items())
            ),
            "statement": phen.get("statement", ""),
            "contributions": [
                {
                    "phenotype": c.get("phenotype", ""),
                    "feature": c.get("feature", ""),
                    "value": format_number(c.get("value"))
                    if not isinstance(c.get("value"), bool)
                    else ("yes" if c.get("value") else "no"),
                    "contribution": format_number(c.get("contribution")),
                }
                for c in phen.get("contributions", [])
            ],
        }
    return phenotype


def _plan_phases(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": p.get("name", ""),
            "weeks": f"{format_number(p.get('start_week'))}–{format_number(p.get('end_week'))}",
            "interventions": "; ".join(
                f"{i.get('name', i.get('intervention'))} "
                f"{format_number(i.get('low'))}–{format_number(i.get('high'))} {i.get('unit', '')}"
                for i in p.get("interventions", [])
            ),
        }
        for p in plan.get("phases", [])
    ]


def intervention_rows(frame: pd.DataFrame, start: dt.date) -> list[dict[str, str]]:
    """CARE 9: the recorded interventions, from and to weeks from the protocol start."""
    return [
        {
            "intervention": str(row["intervention"]).replace("_", " "),
            "dose": f"{format_number(row['dose'])} {row['dose_unit']}",
            "from": week_text(weeks_from_start(row["start_date"], start)),
            "to": week_text(weeks_from_start(row["end_date"], start))
            if is_present(row["end_date"])
            else "ongoing",
        }
        for _, row in frame.sort_values(["start_date", "intervention"]).iterrows()
    ]


def medication_rows(frame: pd.DataFrame, start: dt.date) -> list[dict[str, str]]:
    out = []
    for _, row in frame.sort_values(["start_date", "drug"]).iterrows():
        out.append(
            {
                "drug": str(row["drug"]),
                "class": str(row["drug_class"]).replace("_", " "),
                "dose": _dose(row),
                "ddd": format_number(row["ddd_per_day"]),
                "from": week_text(weeks_from_start(row["start_date"], start)),
                "to": week_text(weeks_from_start(row["end_date"], start))
                if is_present(row["end_date"])
                else "continued",
            }
        )
    return out


def outcome_rows(responders: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for _, row in responders.iterrows():
        measure = str(row["measure"])
        label, unit = measure_label(measure)
        out.append(
            {
                "measure": measure,
                "label": label,
                "unit": unit,
                "baseline": float(row["baseline"]),
                "baseline_week": week_text(float(row["baseline_week"])),
                "last": float(row["last"]),
                "last_week": week_text(float(row["last_week"]))
                if is_present(row["last_week"])
                else "–",
                "change": float(row["change"]),
                "verdict": str(row["reliable_change"]),
                "threshold": _threshold_text(measure),
            }
        )
    return out


def episode_rows(
    episodes: pd.DataFrame, food: pd.DataFrame, start: dt.date
) -> tuple[list[dict[str, str]], list[str]]:
    rows = []
    adverse = []
    if len(episodes):
        weeks = [weeks_from_start(t, start) for t in episodes["onset_at"]]
        frame = episodes.assign(week=weeks)
        before = frame.loc[frame["week"] < 0]
        during = frame.loc[frame["week"] >= 0]
        for name, part in (
            ("before the protocol start", before),
            ("during and after the protocol", during),
        ):
            rows.append(
                {
                    "period": name,
                    "episodes": str(len(part)),
                    "median severity": format_number(part["severity"].median())
                    if len(part)
                    else "–",
                    "anaphylaxis": str(int(part["anaphylaxis"].sum())),
                    "emergency care": str(int(part["emergency_care"].sum())),
                }
            )
        for _, row in during.iterrows():
            if row["anaphylaxis"] or row["emergency_care"]:
                adverse.append(
                    f"{week_text(float(row['week']))}: episode with "
                    + " and ".join(_episode_flags(row))
                    + f", severity {row['severity']}/10"
                )
    if len(food):
        reactions = food.loc[(food["reaction_grade"] >= 2)]
        for _, row in reactions.iterrows():
            week = weeks_from_start(row["trial_date"], start)
            if week >= 0:
                adverse.append(
                    f"{week_text(week)}: food trial ({row['food']}) with reaction grade "
                    f"{int(row['reaction_grade'])}"
                )
    if not adverse:
        adverse.append(
            "none recorded (no episode with anaphylaxis or emergency care, and no food-trial "
            "reaction of grade 2 or more, after the protocol start)"
        )
    return rows, adverse


def free_text_notes(records: CaseRecords, start: dt.date) -> list[dict[str, str]]:
    r = records.records
    notes: list[dict[str, str]] = []
    if records.enrolment_notes:
        notes.append({"where": "enrolment", "text": records.enrolment_notes})
    for kind, column, when in (
        ("visits", "notes", "visit_date"),
        ("episodes", "notes", "onset_at"),
        ("episodes", "treatment", "onset_at"),
        ("food", "notes", "trial_date"),
        ("findings", "source", "recorded_on"),
        ("interventions", "phase", "start_date"),
    ):
        frame = r[kind]
        if column not in frame:
            continue
        for text, stamp in zip(frame[column], frame[when], strict=True):
            if isinstance(text, str) and text.strip():
                if text.strip().lower().startswith(PERSPECTIVE_PREFIX):
                    continue  # shown as the patient's perspective
                notes.append(
                    {
                        "where": f"{kind} {column}, {week_text(weeks_from_start(stamp, start))}",
                        "text": text,
                    }
                )
    return notes


def model_fit_rows(table: pd.DataFrame | None) -> list[dict[str, str]]:
    if table is None or table.empty:
        return []
    return [
        {
            "variant": str(row["variant"]),
            "parameters": str(int(row["n_parameters"])),
            "observations": str(int(row["n_observations"])),
            "AIC": format_number(row["aic"], 4),
            "ΔAIC": format_number(row["delta_aic"], 3),
            "held-out error": format_number(row["lvo_rmse"], 3),
            "converged": "yes" if bool(row["converged"]) else "no",
        }
        for _, row in table.iterrows()
    ]


def figure_alt_text(measurements: pd.DataFrame) -> str:
    if measurements.empty:
        return "No measurements to plot."
    parts = []
    for measure, part in measurements.groupby("measure", sort=True):
        label = measure_label(str(measure))[0]
        first, last = part.iloc[0], part.iloc[-1]
        parts.append(
            f"{label}: {format_number(first['value'])} at {week_text(float(first['week']))} "
            f"to {format_number(last['value'])} at {week_text(float(last['week']))} "
            f"({len(part)} values)"
        )
    return (
        "Line charts of each measure against weeks from the protocol start. "
        + "; ".join(parts)
        + "."
    )
