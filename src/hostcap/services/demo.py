"""The demo (``hostcap demo`` / ``make run``): clearly labelled demonstration clients.

Four invented clients (codes ``DEMO-…``, flagged ``demo`` in the store) resembling the essay's
patterns A, B and C and one with clonal-disease red flags, recorded through the same validated
store API as real data. Dates are relative to today so that none lies in the future.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hostcap.clinical_store import Store

__all__ = ["DEMO_CLIENTS", "DemoClient", "record_demo_clients"]


@dataclass(frozen=True)
class DemoClient:
    code: str
    sex: str
    birth_year: int
    resembles: str
    labs: tuple[
        tuple[str, float, str, int, str, float | None], ...
    ]  # analyte, value, unit, day, context, h
    meds: tuple[tuple[str, float, str, float, int], ...]  # drug, dose, unit, per_day, start day
    questionnaires: tuple[tuple[str, str, int], ...]  # instrument, answers, day
    food: tuple[tuple[str, int, int], ...]  # food, reaction grade, day
    episodes: tuple[tuple[int, int, str, int, float], ...]  # day, hour, systems, severity, minutes
    findings: tuple[tuple[str, str], ...]  # field, value


DEMO_CLIENTS: tuple[DemoClient, ...] = (
    DemoClient(
        code="DEMO-A1",
        sex="female",
        birth_year=1988,
        resembles="pattern A (gut-dominant)",
        labs=(
            ("tryptase", 6.2, "ng/mL", -30, "baseline", None),
            ("tryptase", 5.9, "ug/L", -13, "baseline", None),
            ("tryptase", 11.8, "ng/mL", -20, "acute", 2.0),
            ("hs_crp", 1.8, "mg/L", 0, "routine", None),
            ("haemoglobin", 13.1, "g/dL", 0, "routine", None),
            ("platelets", 260, "10*9/L", 0, "routine", None),
        ),
        meds=(("cetirizine", 10, "mg", 2, -90), ("famotidine", 20, "mg", 2, -60)),
        questionnaires=(
            ("gsrs", "5,5,6,5,4,5,6,5,5,4,5,6,4,3,3", 0),
            ("fss", "4,4,3,4,5,4,3,4,4", 0),
            ("mct", "2,2,1,2,2", 0),
        ),
        food=(("egg", 0, 7), ("tomato", 2, 14), ("aged cheese", 3, 21), ("rice", 0, 28)),
        episodes=((-20, 12, "skin;gastrointestinal", 6, 180), (-5, 12, "gastrointestinal", 4, 90)),
        findings=(
            ("history.antibiotic_courses_2y", "4"),
            ("symptom_pattern", "episodic"),
            ("response_to_mediator_therapy", "true"),
        ),
    ),
    DemoClient(
        code="DEMO-B1",
        sex="male",
        birth_year=1979,
        resembles="pattern B (systemic NAD+ collapse)",
        labs=(
            ("tryptase", 7.4, "ng/mL", 0, "baseline", None),
            ("hs_crp", 4.8, "mg/L", -21, "routine", None),
            ("hs_crp", 0.52, "mg/dL", 0, "routine", None),
            ("haemoglobin", 14.2, "g/dL", 0, "routine", None),
        ),
        meds=(("fexofenadine", 180, "mg", 1, -120), ("montelukast", 10, "mg", 1, -45)),
        questionnaires=(
            ("fss", "6,7,6,6,7,6,6,7,6", 0),
            ("gsrs", "3,2,3,3,2,3,2,3,2,2,3,2,2,2,2", 0),
            ("mct", "1,1,2,1,1", 0),
        ),
        food=(("wheat", 1, 7), ("egg", 0, 14)),
        episodes=((-14, 9, "skin;respiratory;neurological;cardiovascular", 7, 240),),
        findings=(("history.cfs_or_fibromyalgia", "true"), ("symptom_pattern", "mixed")),
    ),
    DemoClient(
        code="DEMO-C1",
        sex="female",
        birth_year=1995,
        resembles="pattern C (CNS/autonomic)",
        labs=(
            ("tryptase", 4.1, "ng/mL", 0, "baseline", None),
            ("hs_crp", 0.9, "mg/L", 0, "routine", None),
        ),
        meds=(("levocetirizine", 5, "mg", 1, -200), ("ketotifen", 1, "mg", 2, -30)),
        questionnaires=(
            ("fss", "5,5,4,5,5,4,5,5,4", 0),
            ("gsrs", "2,2,3,2,2,3,2,2,2,3,2,2,2,2,2", 0),
            ("mct", "2,1,2,2,1", 0),
        ),
        food=(("chocolate", 1, 10),),
        episodes=((-10, 15, "neurological;cardiovascular;skin", 5, 120),),
        findings=(
            ("history.cognitive_complaints", "true"),
            ("history.orthostatic_hr_rise_bpm", "38"),
            ("history.beighton_score", "6"),
            ("history.hEDS", "true"),
            ("symptom_pattern", "episodic"),
        ),
    ),
    DemoClient(
        code="DEMO-R1",
        sex="female",
        birth_year=1961,
        resembles="red flags for clonal disease (refer)",
        labs=(
            ("tryptase", 24.0, "ng/mL", -180, "baseline", None),
            ("tryptase", 31.5, "ng/mL", 0, "baseline", None),
            ("hs_crp", 2.2, "mg/L", 0, "routine", None),
            ("haemoglobin", 12.4, "g/dL", 0, "routine", None),
        ),
        meds=(("cetirizine", 10, "mg", 1, -365),),
        questionnaires=(("fss", "4,5,4,4,5,4,4,5,4", 0),),
        food=(),
        episodes=((-40, 20, "skin;cardiovascular", 7, 60),),
        findings=(
            ("findings.splenomegaly", "true"),
            ("findings.monomorphic_skin_lesions", "true"),
            ("kit_d816v", "not_tested"),
        ),
    ),
)


def _day(day0: dt.date, offset: int) -> dt.date:
    return day0 + dt.timedelta(days=offset)


def _rows(client: DemoClient, day0: dt.date) -> Iterator[tuple[str, dict[str, str | None]]]:
    code = client.code
    for analyte, value, unit, day, context, hours in client.labs:
        when = dt.datetime.combine(_day(day0, day), dt.time(9, 0))
        if hours is not None:
            when = when.replace(hour=14)
        yield (
            "labs",
            {
                "client_code": code,
                "analyte": analyte,
                "value": str(value),
                "unit": unit,
                "collected_at": when.strftime("%Y-%m-%dT%H:%M"),
                "context": context,
                "hours_after_onset": None if hours is None else str(hours),
            },
        )
    for drug, dose, unit, per_day, start in client.meds:
        yield (
            "meds",
            {
                "client_code": code,
                "drug": drug,
                "dose": str(dose),
                "unit": unit,
                "per_day": str(per_day),
                "start": _day(day0, start).isoformat(),
            },
        )
    for instrument, answers, day in client.questionnaires:
        yield (
            "questionnaires",
            {
                "client_code": code,
                "instrument": instrument,
                "answers": answers,
                "date": _day(day0, day).isoformat(),
            },
        )
    for food, grade, day in client.food:
        yield (
            "food",
            {
                "client_code": code,
                "food": food,
                "date": _day(day0, day).isoformat(),
                "reaction_grade": str(grade),
            },
        )
    for day, hour, systems, severity, minutes in client.episodes:
        onset = dt.datetime.combine(_day(day0, day), dt.time(hour, 0))
        yield (
            "episodes",
            {
                "client_code": code,
                "onset_at": onset.strftime("%Y-%m-%dT%H:%M"),
                "organ_systems": systems,
                "severity": str(severity),
                "duration_minutes": str(minutes),
            },
        )
    for finding_field, finding_value in client.findings:
        yield (
            "findings",
            {
                "client_code": code,
                "field": finding_field,
                "value": finding_value,
                "date": day0.isoformat(),
                "source": "demo",
            },
        )


def record_demo_clients(store: Store, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Record the demo clients (skipping any already present); returns a line per client."""
    today = today or dt.date.today()
    # Day 0 (enrolment) lies 35 days ago, so that the food trials after it are in the past.
    day0 = today - dt.timedelta(days=35)
    existing = {c["code"] for c in store.list_clients()}
    summary = []
    for client in DEMO_CLIENTS:
        if client.code not in existing:
            store.add_client(client.code, sex=client.sex, birth_year=client.birth_year, demo=True)
            store.add_enrolment(client.code, protocol="demo", started_on=day0)
            for kind, values in _rows(client, day0):
                store.add_one(kind, values)
        summary.append({"code": client.code, "resembles": client.resembles})
    return summary
