"""A small real store holding every record kind with every field filled, for the interop tests."""

from __future__ import annotations

import datetime as dt

from hostcap.clinical_store import Store

#: The day every record is dated from (in the past, after the birth years).
DAY0 = dt.date.today() - dt.timedelta(days=90)
#: Identifying text that must never appear in a de-identified export.
SECRET_NOTE = "call Jane Roe on 555-0199"


def day(offset: int) -> str:
    return (DAY0 + dt.timedelta(days=offset)).isoformat()


def fill_store(store: Store, codes: tuple[str, ...] = ("IO-001", "IO-002")) -> None:
    """Two clients (one a demo client) with each record kind, every optional field set once."""
    for n, code in enumerate(codes):
        store.add_one(
            "clients",
            {
                "client_code": code,
                "sex": ("female", "male")[n % 2],
                "birth_year": str(1980 + n),
                "demo": "true" if n else "false",
            },
        )
        store.add_one(
            "visits",
            {
                "client_code": code,
                "date": day(0),
                "visit_kind": "baseline",
                "week": "0",
                "notes": SECRET_NOTE,
            },
        )
        store.add_one("visits", {"client_code": code, "date": day(28), "week": "4"})
        store.add_one(
            "labs",
            {
                "client_code": code,
                "analyte": "tryptase",
                "value": "6.5",
                "unit": "ng/ml",
                "collected_at": f"{day(0)}T08:30",
                "context": "baseline",
                "reference_low": "0",
                "reference_high": "11.4",
            },
        )
        store.add_one(
            "labs",
            {
                "client_code": code,
                "analyte": "21582-2",
                "value": "14.25",
                "unit": "ug/L",
                "collected_at": f"{day(10)}T14:05",
                "context": "acute",
                "hours_after_onset": "2.5",
            },
        )
        store.add_one(
            "labs",
            {
                "client_code": code,
                "analyte": "hs_crp",
                "value": "0.31",
                "unit": "mg/dL",
                "collected_at": f"{day(28)}T09:00",
            },
        )
        store.add_one(
            "meds",
            {
                "client_code": code,
                "drug": "cetirizine",
                "dose": "10",
                "unit": "mg",
                "per_day": "2",
                "start": day(0),
                "end": day(60),
                "rescue_doses_per_week": "1.5",
            },
        )
        store.add_one(
            "meds",
            {
                "client_code": code,
                "drug": "famotidine",
                "dose": "20",
                "unit": "mg",
                "per_day": "0.5",
                "start": day(5),
            },
        )
        store.add_one(
            "interventions",
            {
                "client_code": code,
                "intervention": "nicotinamide_riboside",
                "dose": "300",
                "unit": "mg/d",
                "start": day(0),
                "end": day(28),
                "phase": "phase 1 with Dr Smith",
            },
        )
        store.add_one(
            "interventions",
            {
                "client_code": code,
                "intervention": "butyrate_producer_probiotic",
                "dose": "1000000000",
                "unit": "CFU/d",
                "start": day(28),
            },
        )
        store.add_one(
            "questionnaires",
            {
                "client_code": code,
                "instrument": "fss",
                "answers": "5,6,4,5,6,5,4,5,6",
                "date": day(0),
            },
        )
        store.add_one(
            "questionnaires",
            {
                "client_code": code,
                "instrument": "active_stand",
                "answers": "118.5,76,120,78.5",
                "date": day(1),
            },
        )
        store.add_one(
            "episodes",
            {
                "client_code": code,
                "onset_at": f"{day(10)}T11:35",
                "organ_systems": "skin;gastrointestinal",
                "severity": "6",
                "duration_minutes": "95",
                "treatment": "extra cetirizine",
                "emergency_care": "false",
                "anaphylaxis": "false",
                "notes": SECRET_NOTE,
            },
        )
        store.add_one(
            "episodes",
            {
                "client_code": code,
                "onset_at": f"{day(40)}T20:00",
                "organ_systems": "respiratory",
                "severity": "0",
            },
        )
        store.add_one(
            "food",
            {
                "client_code": code,
                "food": "Tomato",
                "date": day(12),
                "reaction_grade": "2",
                "dose": "50",
                "dose_unit": "g",
                "notes": SECRET_NOTE,
            },
        )
        store.add_one(
            "food", {"client_code": code, "food": "egg", "date": day(20), "reaction_grade": "0"}
        )
        store.add_one(
            "findings",
            {
                "client_code": code,
                "field": "findings.splenomegaly",
                "value": "false",
                "date": day(0),
                "source": "exam by Dr Smith",
            },
        )
        store.add_one(
            "findings",
            {
                "client_code": code,
                "field": "history.antibiotic_courses_2y",
                "value": "3",
                "date": day(0),
            },
        )
        store.add_one(
            "findings",
            {
                "client_code": code,
                "field": "bone_marrow.infiltration_pct",
                "value": "2.5",
                "date": day(1),
            },
        )
