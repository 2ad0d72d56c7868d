"""The records the cohort analysis reads, one query per record kind, as tidy rows.

How the store's records become the analytics' measures (``client, measure, date, value``;
:func:`hostcap.outcome_analytics.frames_from_records` turns them into weeks, phases and the
``clients`` frame):

============================  ===============================================================
measure                       source
============================  ===============================================================
``tryptase``, ``hs_crp``      labs in the canonical unit (ng/mL, mg/L). Samples with context
                              ``acute`` are left out: they answer "was this episode mast-cell
                              mediated?" (consensus-1 criterion B), not "is the baseline
                              falling?" (docs/evidence.md#valent2012_mcas_criteria).
``fss_mean``, ``gsrs_mean``   questionnaires: the item mean the catalog scored on entry.
``compass31_total``,          questionnaires: the catalog's total.
``mct_total``
``symptom_load``              the ``symptom_diary`` questionnaire's total (mean of six 0–10
                              ratings), or a finding with field ``symptom_load`` (numeric).
``antihistamine_ddd``         at each date on which the client has any other observation or a
                              recorded visit: Σ ``ddd_per_day`` of H1 and H2 antihistamines
                              active that day (start ≤ date ≤ end, open end = ongoing). Only
                              clients with at least one medication record get this measure (no
                              record is not the same as "takes none").
``food_tolerance``            at each food-trial date: of the foods trialled so far, the share
                              whose most recent trial had reaction grade 0 (tolerated).
============================  ===============================================================

Rows are not combined here: several values of a measure on one day stay separate rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select

from hostcap.clinical_store.store import Store
from hostcap.clinical_store.tables import ClientRow, EnrolmentRow, ProtocolPhaseRow

__all__ = [
    "ANTIHISTAMINE_CLASSES",
    "LAB_MEASURES",
    "QUESTIONNAIRE_MEASURES",
    "CohortRecords",
    "cohort_records",
]

#: Questionnaire instrument → (measure, the score column it comes from).
QUESTIONNAIRE_MEASURES: Mapping[str, tuple[str, str]] = {
    "fss": ("fss_mean", "mean"),
    "gsrs": ("gsrs_mean", "mean"),
    "compass31": ("compass31_total", "total"),
    "mct": ("mct_total", "total"),
    "symptom_diary": ("symptom_load", "total"),
}
ANTIHISTAMINE_CLASSES: tuple[str, ...] = ("h1_antihistamine", "h2_antihistamine")
LAB_MEASURES: tuple[str, ...] = ("tryptase", "hs_crp")
ROW_COLUMNS: list[str] = ["client", "measure", "date", "value"]


@dataclass(frozen=True)
class CohortRecords:
    """What the cohort analysis reads from a store.

    Attributes
    ----------
    people
        One row per client, enrolled or not: ``client, sex, birth_year, demo, enrolment_id,
        protocol, started_on, phenotype_label`` of the client's first enrolment (empty when
        none).
    phases
        Every enrolment's protocol phases: ``enrolment_id, name, start_week, end_week``.
    observations
        ``client, measure, date, value`` (date normalised to midnight), one row per recorded
        value, in the order of the module docstring's table.
    n_acute_left_out
        Acute-context lab samples left out of the trends.
    """

    people: pd.DataFrame
    phases: pd.DataFrame
    observations: pd.DataFrame
    n_acute_left_out: int


def cohort_records(store: Store) -> CohortRecords:
    """Read every record the cohort analysis uses (see the module docstring for the rules)."""
    people, phases = _enrolments(store)
    labs, n_acute = _lab_rows(store)
    observed = _concat(
        [labs, _questionnaire_rows(store), _finding_rows(store), _food_rows(store)], ROW_COLUMNS
    )
    visits = store.frame("visits")
    visit_rows = (
        pd.DataFrame(
            {"client": visits["client_code"].astype(str), "date": _dates(visits["visit_date"])}
        )
        if len(visits)
        else pd.DataFrame()
    )
    visit_dates = _concat(
        [observed.loc[observed["measure"] != "food_tolerance"], visit_rows], ["client", "date"]
    ).drop_duplicates()
    observed = _concat([observed, _antihistamine_rows(store, visit_dates)], ROW_COLUMNS)
    return CohortRecords(people, phases, observed, n_acute)


def _enrolments(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First enrolment per client (all clients, enrolled or not) and its phases."""
    with store.reading() as session:
        rows = session.execute(
            select(
                ClientRow.code,
                ClientRow.sex,
                ClientRow.birth_year,
                ClientRow.demo,
                EnrolmentRow.id,
                EnrolmentRow.protocol,
                EnrolmentRow.started_on,
                EnrolmentRow.phenotype_label,
            )
            .join(EnrolmentRow, EnrolmentRow.client_id == ClientRow.id, isouter=True)
            .order_by(ClientRow.code, EnrolmentRow.started_on, EnrolmentRow.id)
        ).all()
        phases = session.execute(
            select(
                ProtocolPhaseRow.enrolment_id,
                ProtocolPhaseRow.name,
                ProtocolPhaseRow.start_week,
                ProtocolPhaseRow.end_week,
            ).order_by(ProtocolPhaseRow.enrolment_id, ProtocolPhaseRow.start_week)
        ).all()
    people = pd.DataFrame(
        [tuple(r) for r in rows],
        columns=[
            "client",
            "sex",
            "birth_year",
            "demo",
            "enrolment_id",
            "protocol",
            "started_on",
            "phenotype_label",
        ],
    )
    people = people.drop_duplicates("client", keep="first").reset_index(drop=True)
    phase_frame = pd.DataFrame(
        [tuple(p) for p in phases], columns=["enrolment_id", "name", "start_week", "end_week"]
    )
    return people, phase_frame


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.normalize()


def _lab_rows(store: Store) -> tuple[pd.DataFrame, int]:
    labs = store.frame("labs")
    if labs.empty:
        return pd.DataFrame(columns=["client", "measure", "date", "value"]), 0
    labs = labs.loc[labs["analyte"].isin(LAB_MEASURES)]
    acute = labs["context"] == "acute"
    kept = labs.loc[~acute]
    return (
        pd.DataFrame(
            {
                "client": kept["client_code"].astype(str),
                "measure": kept["analyte"].astype(str),
                "date": _dates(kept["collected_at"]),
                "value": kept["value"].astype(float),
            }
        ),
        int(acute.sum()),
    )


def _questionnaire_rows(store: Store) -> pd.DataFrame:
    frame = store.frame("questionnaires")
    parts = []
    for instrument, (measure, column) in QUESTIONNAIRE_MEASURES.items():
        rows = frame.loc[frame["instrument"] == instrument] if len(frame) else frame
        if rows.empty:
            continue
        values = pd.to_numeric(rows[column], errors="coerce")
        parts.append(
            pd.DataFrame(
                {
                    "client": rows["client_code"].astype(str),
                    "measure": measure,
                    "date": _dates(rows["answered_on"]),
                    "value": values.astype(float),
                }
            ).dropna(subset=["value"])
        )
    return _concat(parts, ["client", "measure", "date", "value"])


def _finding_rows(store: Store) -> pd.DataFrame:
    frame = store.frame("findings")
    if frame.empty:
        return _empty_rows()
    rows = frame.loc[frame["field"] == "symptom_load"]

    def number(value: Any) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    return pd.DataFrame(
        {
            "client": rows["client_code"].astype(str),
            "measure": "symptom_load",
            "date": _dates(rows["recorded_on"]),
            "value": [number(v) for v in rows["value"]],
        }
    ).dropna(subset=["value"])


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client": pd.Series(dtype=str),
            "measure": pd.Series(dtype=str),
            "date": pd.Series(dtype="datetime64[ns]"),
            "value": pd.Series(dtype=float),
        }
    )


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Concatenate the non-empty frames (pandas warns about empty ones), keeping ``columns``."""
    kept = [f.loc[:, columns] for f in frames if len(f)]
    if not kept:
        return _empty_rows().loc[:, columns]
    return pd.concat(kept, ignore_index=True)


def _food_rows(store: Store) -> pd.DataFrame:
    frame = store.frame("food")
    if frame.empty:
        return _empty_rows()
    frame = frame.assign(date=_dates(frame["trial_date"])).sort_values(
        ["client_code", "date", "id"], kind="stable"
    )
    out = []
    for client, trials in frame.groupby("client_code", sort=True):
        latest: dict[str, bool] = {}
        for date, day in trials.groupby("date", sort=True):
            for food, grade in zip(day["food"], day["reaction_grade"], strict=True):
                latest[str(food).strip().lower()] = int(grade) == 0
            out.append((str(client), "food_tolerance", date, sum(latest.values()) / len(latest)))
    return pd.DataFrame(out, columns=["client", "measure", "date", "value"])


def _antihistamine_rows(store: Store, visit_dates: pd.DataFrame) -> pd.DataFrame:
    meds = store.frame("meds")
    if meds.empty or visit_dates.empty:
        return _empty_rows()
    with_meds = set(meds["client_code"].astype(str))
    meds = meds.loc[meds["drug_class"].isin(ANTIHISTAMINE_CLASSES)].assign(
        start=_dates(meds["start_date"]),
        end=_dates(meds["end_date"]).fillna(pd.Timestamp.max.normalize()),
    )
    visits = visit_dates.loc[visit_dates["client"].isin(with_meds)]
    by_client = {str(c): rows for c, rows in meds.groupby("client_code", sort=False)}
    out = []
    for client, dates in visits.groupby("client", sort=True):
        rows = by_client.get(str(client))
        for date in sorted(dates["date"].unique()):
            if rows is None:
                total = 0.0
            else:
                active = (rows["start"] <= date) & (rows["end"] >= date)
                total = float(rows.loc[active, "ddd_per_day"].astype(float).sum())
            out.append((str(client), "antihistamine_ddd", pd.Timestamp(date), total))
    return pd.DataFrame(out, columns=["client", "measure", "date", "value"])
