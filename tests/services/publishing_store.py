"""A synthetic cohort of 20 clients with identities, assessments and consents, for the
publishing tests (a real SQLite store; nothing mocked)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from hostcap.clinical_store import Store
from hostcap.clinical_store.tables import (
    AssessmentRow,
    ClientIdentityRow,
    ClientRow,
    ClinicalFindingRow,
    ConsentRow,
    EnrolmentRow,
    EpisodeRow,
    FoodTrialRow,
    InterventionUseRow,
    LabResultRow,
    MedicationUseRow,
    QuestionnaireResponseRow,
    VisitRow,
)
from hostcap.services.assessment import assess_stored_clients
from hostcap.services.synthesis import synthesize_cohort

N_CLIENTS = 20
SEED = 7
#: Names with accents, apostrophes and hyphens: the identifier search must find none of them.
NAMES = (
    "Zoë D'Arcy-Ñúñez",
    "Ólafur O'Shaughnessy",
    "Marie-Thérèse L'Hôpital",
    "Björn Þórðarson",
    "Siobhán Ní Dhúbhghaill",
    "François-Xavier Dupré",
    "Łucja Wójcik-Żmuda",
    "Seán Ó Súilleabháin",
    "Anaïs d'Estaing",
    "Jürgen Müller-Lüdenscheidt",
)


def build_cohort(folder: Path) -> Store:
    """20 synthetic clients (seed 7), assessed; every client with a full identity."""
    url = f"sqlite:///{folder / 'cohort.sqlite'}"
    synthesize_cohort(url, N_CLIENTS, SEED, truth_out=folder / "truth.json")
    store = Store(url)
    store.init()
    assess_stored_clients(store, with_trajectory=False)
    with store.transaction() as session:
        clients = session.execute(select(ClientRow).order_by(ClientRow.code)).scalars().all()
        for i, client in enumerate(clients):
            name = NAMES[i % len(NAMES)] + ("" if i < len(NAMES) else " Jr")
            session.add(
                ClientIdentityRow(
                    client_id=client.id,
                    full_name=name,
                    date_of_birth=dt.date(client.birth_year, 1 + i % 12, 1 + i),
                    email=f"client.{i}.o'neil@example.org",
                    phone=f"+44 20 7946 0{i:03d}",
                    address=f"{i + 1} Rue de l'Église, Saint-Étienne",
                )
            )
    return store


def codes(store: Store) -> list[str]:
    return [str(c["code"]) for c in store.list_clients()]


def set_visit_note(store: Store, code: str, text: str) -> None:
    """Put ``text`` in the first visit note of ``code`` (free text the report must guard)."""
    with store.transaction() as session:
        client = store.client(session, code)
        first = (
            session.execute(
                select(VisitRow.id).where(VisitRow.client_id == client.id).order_by(VisitRow.id)
            )
            .scalars()
            .first()
        )
        session.execute(update(VisitRow).where(VisitRow.id == first).values(notes=text))


def identifiers(store: Store, code: str) -> list[str]:
    """Every identifier and every date the store holds for ``code``, as strings to search."""
    found: list[str] = [code]
    dates: set[dt.date] = set()
    with store.reading() as session:
        client = store.client(session, code)
        identity = session.execute(
            select(ClientIdentityRow).where(ClientIdentityRow.client_id == client.id)
        ).scalar_one()
        found += [identity.full_name or "", identity.email or "", identity.phone or ""]
        found += [identity.address or ""]
        found += [part for part in (identity.full_name or "").split() if len(part) >= 4]
        if identity.date_of_birth is not None:
            dates.add(identity.date_of_birth)
        dates.add(client.created_at.date())
        columns: list[Any] = [
            EnrolmentRow.started_on,
            EnrolmentRow.ended_on,
            VisitRow.visit_date,
            LabResultRow.collected_at,
            MedicationUseRow.start_date,
            MedicationUseRow.end_date,
            QuestionnaireResponseRow.answered_on,
            FoodTrialRow.trial_date,
            EpisodeRow.onset_at,
            ConsentRow.consented_on,
            ClinicalFindingRow.recorded_on,
            InterventionUseRow.start_date,
            InterventionUseRow.end_date,
            AssessmentRow.created_at,
        ]
        for column in columns:
            table = column.class_
            for value in session.execute(
                select(column).where(table.client_id == client.id)
            ).scalars():
                if value is not None:
                    dates.add(value.date() if isinstance(value, dt.datetime) else value)
    for day in sorted(dates):
        found += [
            day.isoformat(),
            day.strftime("%d/%m/%Y"),
            day.strftime("%m/%d/%Y"),
            day.strftime("%d.%m.%Y"),
            day.strftime("%Y/%m/%d"),
            day.strftime("%d %B %Y"),
            day.strftime("%B %d, %Y"),
        ]
    return [f for f in found if f]
