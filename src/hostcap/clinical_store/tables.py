"""SQLAlchemy 2 tables of the clinical store.

Identifying details live in ``client_identities`` only, so that de-identification is structural:
every other table knows a client by its pseudonymous ``clients.code`` (through ``client_id``).
Values are stored canonical (catalog unit) next to the value and unit as entered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AssessmentRow",
    "AuditEntryRow",
    "AuditHeadRow",
    "Base",
    "ClientIdentityRow",
    "ClientRow",
    "ClinicalFindingRow",
    "ConsentRow",
    "EnrolmentRow",
    "EpisodeRow",
    "FoodTrialRow",
    "InterventionUseRow",
    "LabResultRow",
    "MedicationUseRow",
    "ProtocolPhaseRow",
    "QuestionnaireResponseRow",
    "VisitRow",
    "WebApiTokenRow",
    "WebLoginAttemptRow",
    "WebSessionRow",
    "WebUserRow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


def _client_fk(*, index: bool = False) -> Mapped[int]:
    # Tables whose unique key starts with client_id need no index of their own on it: the
    # unique index serves lookups by client, and one index fewer makes bulk imports faster.
    return mapped_column(ForeignKey("clients.id", ondelete="RESTRICT"), index=index)


class ClientRow(Base):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    sex: Mapped[str] = mapped_column(String(8))
    birth_year: Mapped[int] = mapped_column(Integer)
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    identity: Mapped[ClientIdentityRow | None] = relationship(back_populates="client")


class ClientIdentityRow(Base):
    """Identifying details, if entered at all. Never exported unless ``--identified``."""

    __tablename__ = "client_identities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id"), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(Text)

    client: Mapped[ClientRow] = relationship(back_populates="identity")


class EnrolmentRow(Base):
    """A client's enrolment in a protocol (the day-0 anchor for de-identified dates)."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk(index=True)
    protocol: Mapped[str] = mapped_column(String(100))
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    phenotype_label: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)


class ProtocolPhaseRow(Base):
    __tablename__ = "protocol_phases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolments.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    start_week: Mapped[float] = mapped_column(Float)
    end_week: Mapped[float] = mapped_column(Float)


class VisitRow(Base):
    __tablename__ = "visits"
    __table_args__ = (UniqueConstraint("client_id", "visit_date", name="client_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    visit_date: Mapped[dt.date] = mapped_column(Date)
    week: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32), default="follow_up")
    notes: Mapped[str | None] = mapped_column(Text)


class LabResultRow(Base):
    __tablename__ = "lab_results"
    __table_args__ = (
        UniqueConstraint("client_id", "analyte", "collected_at", name="client_analyte_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    analyte: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    value_as_entered: Mapped[float] = mapped_column(Float)
    unit_as_entered: Mapped[str] = mapped_column(String(32))
    collected_at: Mapped[dt.datetime] = mapped_column(DateTime)
    context: Mapped[str] = mapped_column(String(16), default="routine")
    hours_after_onset: Mapped[float | None] = mapped_column(Float)
    lab_reference_low: Mapped[float | None] = mapped_column(Float)
    lab_reference_high: Mapped[float | None] = mapped_column(Float)
    warning: Mapped[str | None] = mapped_column(Text)
    import_batch: Mapped[str | None] = mapped_column(String(64))


class MedicationUseRow(Base):
    __tablename__ = "medication_uses"
    __table_args__ = (
        UniqueConstraint("client_id", "drug", "start_date", name="client_drug_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    drug: Mapped[str] = mapped_column(String(64))
    dose: Mapped[float] = mapped_column(Float)
    dose_unit: Mapped[str] = mapped_column(String(16))
    per_day: Mapped[float] = mapped_column(Float)
    daily_dose: Mapped[float] = mapped_column(Float)
    ddd_per_day: Mapped[float] = mapped_column(Float)
    drug_class: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    rescue_doses_per_week: Mapped[float] = mapped_column(Float, default=0.0)
    import_batch: Mapped[str | None] = mapped_column(String(64))


class QuestionnaireResponseRow(Base):
    __tablename__ = "questionnaire_responses"
    __table_args__ = (
        UniqueConstraint("client_id", "instrument", "answered_on", name="client_instrument_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    instrument: Mapped[str] = mapped_column(String(32))
    answered_on: Mapped[dt.date] = mapped_column(Date)
    answers: Mapped[list[Any]] = mapped_column(JSON)
    total: Mapped[float] = mapped_column(Float)
    mean: Mapped[float | None] = mapped_column(Float)
    subscales: Mapped[dict[str, Any]] = mapped_column(JSON)
    interpretation: Mapped[str | None] = mapped_column(Text)
    import_batch: Mapped[str | None] = mapped_column(String(64))


class FoodTrialRow(Base):
    __tablename__ = "food_trials"
    __table_args__ = (UniqueConstraint("client_id", "food", "trial_date", name="client_food_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    trial_date: Mapped[dt.date] = mapped_column(Date)
    food: Mapped[str] = mapped_column(String(100))
    dose: Mapped[float | None] = mapped_column(Float)
    dose_unit: Mapped[str | None] = mapped_column(String(16))
    reaction_grade: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)
    import_batch: Mapped[str | None] = mapped_column(String(64))


class EpisodeRow(Base):
    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("client_id", "onset_at", name="client_onset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    onset_at: Mapped[dt.datetime] = mapped_column(DateTime)
    duration_minutes: Mapped[float | None] = mapped_column(Float)
    organ_systems: Mapped[list[Any]] = mapped_column(JSON)
    severity: Mapped[int] = mapped_column(Integer)
    treatment: Mapped[str | None] = mapped_column(Text)
    emergency_care: Mapped[bool] = mapped_column(Boolean, default=False)
    anaphylaxis: Mapped[bool] = mapped_column(Boolean, default=False)
    urticaria: Mapped[bool | None] = mapped_column(Boolean)
    angioedema: Mapped[bool | None] = mapped_column(Boolean)
    pruritus: Mapped[bool | None] = mapped_column(Boolean)
    flushing: Mapped[bool | None] = mapped_column(Boolean)
    presyncope_or_syncope: Mapped[bool | None] = mapped_column(Boolean)
    syncope: Mapped[bool | None] = mapped_column(Boolean)
    hymenoptera_sting: Mapped[bool | None] = mapped_column(Boolean)
    trigger_identified: Mapped[bool | None] = mapped_column(Boolean)
    notes: Mapped[str | None] = mapped_column(Text)
    import_batch: Mapped[str | None] = mapped_column(String(64))


class InterventionUseRow(Base):
    __tablename__ = "intervention_uses"
    __table_args__ = (
        UniqueConstraint("client_id", "intervention", "start_date", name="client_iv_start"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    intervention: Mapped[str] = mapped_column(String(64))
    dose: Mapped[float] = mapped_column(Float)
    dose_unit: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    phase: Mapped[str | None] = mapped_column(String(100))


class ClinicalFindingRow(Base):
    """A dated clinical fact used by assessments (history, examination, genetics, marrow).

    ``field`` is a path in the assessment input (``history.antibiotic_courses_2y``,
    ``findings.splenomegaly``, ``kit_d816v``); ``value`` is its JSON value. The newest dated
    value of each field is the one an assessment uses.
    """

    __tablename__ = "clinical_findings"
    __table_args__ = (
        UniqueConstraint("client_id", "field", "recorded_on", name="client_field_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk()
    field: Mapped[str] = mapped_column(String(100))
    value: Mapped[Any] = mapped_column(JSON)
    recorded_on: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)
    import_batch: Mapped[str | None] = mapped_column(String(64))


class AssessmentRow(Base):
    """A stored assessment: input and result exactly as produced, with what produced them."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    rulebook_version: Mapped[str] = mapped_column(String(32))
    rulebook_sha256: Mapped[str] = mapped_column(String(64))
    package_version: Mapped[str] = mapped_column(String(32))
    triage_level: Mapped[str] = mapped_column(String(32))
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditEntryRow(Base):
    """Append-only audit log. ``hash`` = HMAC-SHA256 under the audit key (``key_id``) of
    prev_hash + canonical JSON of the entry; entries from before keyed hashing have no
    ``key_id`` and an unkeyed sha256. ``row_hashes``: the rows the write touched, with their
    content hashes (see ``clinical_store.audit``)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    client_code: Mapped[str | None] = mapped_column(String(64), index=True)
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
    row_hashes: Mapped[str | None] = mapped_column(Text)


class AuditHeadRow(Base):
    """One row holding the chain head; writers lock it so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class ConsentRow(Base):
    """A client's recorded consent for one use of their data (append-only).

    The newest record of a scope (by ``consented_on``, then ``id``) says whether the consent
    stands: a withdrawal is a new record with ``withdrawn`` true. ``document_name`` and
    ``document_sha256`` identify the signed form without storing it.
    """

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = _client_fk(index=True)
    scope: Mapped[str] = mapped_column(String(32))
    consented_on: Mapped[dt.date] = mapped_column(Date)
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False)
    document_name: Mapped[str | None] = mapped_column(String(255))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)


# -- web accounts (issue 14): who may use the web app, and how they are signed in ---------------


class WebUserRow(Base):
    """A person who signs in to the web app: a role and an argon2id password hash.

    Written only through audited calls (add, disable, role change), so the audit covers its rows.
    """

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class WebSessionRow(Base):
    """A signed-in browser: the sha256 of its cookie token (never the token), its CSRF token,
    when it expires and whether it was revoked. Operational state, not clinical data."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    address: Mapped[str | None] = mapped_column(String(64))


class WebLoginAttemptRow(Base):
    """One sign-in attempt (for the rate limit per username and per address)."""

    __tablename__ = "web_login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class WebApiTokenRow(Base):
    """An API token of a user: its sha256 only (the token is shown once, at creation)."""

    __tablename__ = "web_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
