"""Tidy CSV export, de-identified by default.

De-identified (the default): clients are known only by their pseudonymous code; identifying
details are not read at all; every date becomes a whole number of days since the client's
enrolment (or, without an enrolment, since the client's first recorded event); birth year becomes
age at that anchor, with ages over 89 shown as 90 (HIPAA Safe Harbor). Treat relative days as an
Expert-Determination/IRB decision, not automatically Safe Harbor (45 CFR 164.514(b)(2) lists
all date elements except the year).

Identified (``identified=True``): real dates and the identity table as well; the caller audits it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from hostcap.clinical_store.store import Store
from hostcap.clinical_store.tables import ClientIdentityRow, ClientRow, EnrolmentRow

__all__ = ["EXPORT_FILES", "export_tidy"]

EXPORT_FILES = {
    "clients": "clients.csv",
    "labs": "labs.csv",
    "meds": "medications.csv",
    "questionnaires": "questionnaires.csv",
    "food": "food_trials.csv",
    "episodes": "episodes.csv",
    "interventions": "interventions.csv",
    "findings": "findings.csv",
    "visits": "visits.csv",
}
_DROP = {"id", "client_id", "import_batch"}
_DATE_COLUMNS = {
    "collected_at",
    "start_date",
    "end_date",
    "answered_on",
    "trial_date",
    "onset_at",
    "recorded_on",
    "visit_date",
}


def _day_column(column: str) -> str:
    """``collected_at`` → ``collected_day``, ``start_date`` → ``start_day``."""
    for suffix in ("_at", "_on", "_date"):
        if column.endswith(suffix):
            return column.removesuffix(suffix) + "_day"
    return column + "_day"


def _flatten(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _anchors(store: Store, frames: dict[str, pd.DataFrame]) -> dict[str, dt.date]:
    anchors: dict[str, dt.date] = {}
    with store.reading() as session:
        rows = session.execute(
            select(ClientRow.code, EnrolmentRow.started_on).join(
                EnrolmentRow, EnrolmentRow.client_id == ClientRow.id
            )
        ).all()
    for code, started in rows:
        if code not in anchors or started < anchors[code]:
            anchors[code] = started
    enrolled = set(anchors)
    # Without an enrolment, day 0 is the client's first recorded event.
    for frame in frames.values():
        for column in _DATE_COLUMNS & set(frame.columns):
            firsts = pd.to_datetime(frame[column]).groupby(frame["client_code"]).min()
            for key, first in firsts.items():
                code = str(key)
                if pd.isna(first) or code in enrolled:
                    continue
                day = pd.Timestamp(first).date()
                if code not in anchors or day < anchors[code]:
                    anchors[code] = day
    return anchors


def export_tidy(store: Store, out_dir: Path, *, identified: bool = False) -> list[Path]:
    """Write one tidy CSV per kind into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = {kind: store.frame(kind) for kind in EXPORT_FILES if kind != "clients"}
    anchors = _anchors(store, frames)
    written: list[Path] = []

    clients = store.frame("clients")
    table = pd.DataFrame({"client_code": clients.get("code", pd.Series(dtype=str))})
    table["sex"] = clients.get("sex")
    anchor_years = [anchors.get(c, dt.date.today()).year for c in table["client_code"]]
    ages = [y - b for y, b in zip(anchor_years, clients.get("birth_year", []), strict=True)]
    table["age_at_day0"] = [min(a, 90) for a in ages]
    table["demo"] = clients.get("demo")
    if identified:
        table["birth_year"] = clients.get("birth_year")
        table["day0_date"] = [anchors.get(c) for c in table["client_code"]]
        with store.reading() as session:
            ident = session.execute(
                select(
                    ClientRow.code,
                    ClientIdentityRow.full_name,
                    ClientIdentityRow.date_of_birth,
                    ClientIdentityRow.email,
                    ClientIdentityRow.phone,
                    ClientIdentityRow.address,
                ).join(ClientIdentityRow, ClientIdentityRow.client_id == ClientRow.id)
            ).all()
        ident_frame = pd.DataFrame(
            ident,
            columns=["client_code", "full_name", "date_of_birth", "email", "phone", "address"],
        )
        table = table.merge(ident_frame, on="client_code", how="left")
    path = out_dir / EXPORT_FILES["clients"]
    table.to_csv(path, index=False)
    written.append(path)

    for kind, frame in frames.items():
        columns = [c for c in frame.columns if c not in _DROP]
        out = frame[columns].copy()
        for column in columns:
            if out[column].dtype == object:
                out[column] = out[column].map(_flatten)
        for column in sorted(_DATE_COLUMNS & set(columns)):
            stamps = pd.to_datetime(out[column])
            day0 = pd.to_datetime(out["client_code"].map(lambda c: anchors.get(c)))
            days = (stamps.dt.normalize() - day0).dt.days
            day_name = _day_column(column)
            out.insert(list(out.columns).index(column), day_name, days.astype("Int64"))
            if not identified:
                out = out.drop(columns=[column])
        path = out_dir / EXPORT_FILES[kind]
        out.to_csv(path, index=False)
        written.append(path)
    return written
