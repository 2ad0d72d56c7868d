"""A small real SQLite store with known records, for the cohort-analysis service tests."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd

from hostcap.clinical_store import Store

#: Enrolment start of every client: far enough back that every record lies in the past.
START = dt.date.today() - dt.timedelta(days=120)
#: Visit days relative to the enrolment start.
DAYS = (-7, 14, 28, 56, 84)
PHENOTYPES = ("A", "B", "C")


def _day(offset: int) -> str:
    return (START + dt.timedelta(days=offset)).isoformat()


def build_store(url: str, n_clients: int = 12, *, seed: int = 0) -> Store:
    """Clients ``S00``…: tryptase falls ~4 %/week in phenotype A, 1 %/week in B, 0 in C.

    Every client also has one acute tryptase (left out of trends), hs-CRP, a symptom diary
    (symptom_load), FSS, two antihistamines (cetirizine throughout, famotidine stopped on day
    40), nicotinamide riboside 300 mg/d for four weeks then 600 mg/d, food trials (tomato not
    tolerated on day −10 but tolerated on day 50; egg tolerated on day 20) and a protocol
    with two phases.
    """
    rng = np.random.default_rng(seed)
    store = Store(url)
    store.init()
    labs, questionnaires, meds, food, interventions = [], [], [], [], []
    for i in range(n_clients):
        code = f"S{i:02d}"
        phenotype = PHENOTYPES[i % 3]
        store.add_client(code, sex="female" if i % 2 else "male", birth_year=1980 + i)
        store.add_enrolment(
            code,
            protocol="essay_8_16",
            started_on=START,
            phenotype_label=phenotype,
            phases=(("stabilise", 0.0, 4.0), ("restore", 4.0, 16.0)),
        )
        slope = {"A": -0.04, "B": -0.01, "C": 0.0}[phenotype]
        level = math.log(6.0) + rng.normal(0, 0.3)
        for day in DAYS:
            week = max(day, 0) / 7
            tryptase = math.exp(level + slope * week + rng.normal(0, 0.08))
            when = f"{_day(day)}T09:00"
            labs.append((code, "tryptase", f"{tryptase:.3f}", "ng/mL", when, "routine"))
            crp = math.exp(math.log(2.0) + rng.normal(0, 0.4))
            labs.append((code, "hs_crp", f"{crp:.3f}", "mg/L", when, "routine"))
            ratings = np.clip(np.round(6 + slope * 25 * week + rng.normal(0, 0.7, 6)), 0, 10)
            questionnaires.append(
                (code, "symptom_diary", ",".join(str(int(r)) for r in ratings), _day(day))
            )
            fss = np.clip(np.round(5 + rng.normal(0, 0.8, 9)), 1, 7)
            questionnaires.append((code, "fss", ",".join(str(int(r)) for r in fss), _day(day)))
        labs.append((code, "tryptase", "25.0", "ng/mL", f"{_day(30)}T14:00", "acute"))
        meds.append((code, "cetirizine", "10", "mg", "2", _day(-200), ""))
        meds.append((code, "famotidine", "20", "mg", "2", _day(-200), _day(40)))
        interventions.append(
            (code, "nicotinamide_riboside", "300", "mg/d", _day(0), _day(27), "stabilise")
        )
        interventions.append(
            (code, "nicotinamide_riboside", "600", "mg/d", _day(28), "", "restore")
        )
        food.append((code, "tomato", _day(-10), "2"))
        food.append((code, "egg", _day(20), "0"))
        food.append((code, "tomato", _day(50), "0"))
    store.add_records(
        "labs",
        pd.DataFrame(
            labs, columns=["client_code", "analyte", "value", "unit", "collected_at", "context"]
        ).astype("string"),
    )
    store.add_records(
        "questionnaires",
        pd.DataFrame(
            questionnaires, columns=["client_code", "instrument", "answers", "date"]
        ).astype("string"),
    )
    med_frame = pd.DataFrame(
        meds, columns=["client_code", "drug", "dose", "unit", "per_day", "start", "end"]
    ).astype("string")
    store.add_records("meds", med_frame.replace("", pd.NA))
    store.add_records(
        "food",
        pd.DataFrame(food, columns=["client_code", "food", "date", "reaction_grade"]).astype(
            "string"
        ),
    )
    store.add_records(
        "interventions",
        pd.DataFrame(
            interventions,
            columns=["client_code", "intervention", "dose", "unit", "start", "end", "phase"],
        )
        .astype("string")
        .replace("", pd.NA),
    )
    return store
