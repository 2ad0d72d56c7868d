"""What a CARE case report is made from (:class:`CaseRecords`) and what it holds
(:class:`CaseReport`), and the CARE items it answers.

:mod:`hostcap.reports.case_report` says what is de-identified and how.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["CARE_ITEMS", "CaseRecords", "CaseReport"]

#: CARE 2013 items: (number, item, section id in the report).
CARE_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("1", "Title", "title"),
    ("2", "Keywords", "keywords"),
    ("3", "Abstract", "abstract"),
    ("4", "Introduction", "introduction"),
    ("5", "Patient information", "patient-information"),
    ("6", "Clinical findings", "clinical-findings"),
    ("7", "Timeline", "timeline"),
    ("8", "Diagnostic assessment", "diagnostic-assessment"),
    ("9", "Therapeutic intervention", "therapeutic-intervention"),
    ("10", "Follow-up and outcomes", "follow-up-and-outcomes"),
    ("11", "Discussion", "discussion"),
    ("12", "Patient perspective", "patient-perspective"),
    ("13", "Informed consent", "informed-consent"),
)


@dataclass(frozen=True)
class CaseRecords:
    """What a case report is made from (read by the service, identifying fields excluded).

    Attributes
    ----------
    sex, birth_year, demo
        From the client record (never the code).
    protocol, started_on, phenotype_label, phases
        The first enrolment; ``phases`` are ``(name, start_week, end_week)``.
    records
        The client's stored records by kind (``labs``, ``meds``, ``questionnaires``, ``food``,
        ``episodes``, ``interventions``, ``findings``, ``visits``), dated as stored.
    enrolment_notes
        The enrolment's free-text note, if any.
    assessment
        The newest stored assessment (``result``, ``rulebook_version``, ``rulebook_sha256``,
        ``package_version``), or ``None``.
    responders
        The client's rows of :func:`hostcap.outcome_analytics.responder_table`.
    measurements
        The client's rows of the analytics ``measurements`` frame (``measure, week, value``).
    model_fit
        :func:`hostcap.mechanistic_model.compare_variants` for this client, or ``None``.
    model_note
        How the fit was made, or why there is none.
    reference_keys
        Citation keys of exactly the rules, criteria, instruments and thresholds used.
    versions
        ``hostcap`` version and the like, for the provenance line.
    safety
        The client's safety banner (emergency, specialist referral), de-identified; shown
        before anything else.
    """

    sex: str
    birth_year: int
    demo: bool
    protocol: str
    started_on: dt.date
    phenotype_label: str | None
    phases: Sequence[tuple[str, float, float]]
    records: Mapping[str, pd.DataFrame]
    enrolment_notes: str | None
    assessment: Mapping[str, Any] | None
    responders: pd.DataFrame
    measurements: pd.DataFrame
    model_fit: pd.DataFrame | None
    model_note: str
    reference_keys: Sequence[str]
    versions: Mapping[str, str]
    safety: Sequence[str] = ()


@dataclass
class CaseReport:
    """The de-identified content of a case report, section by section (CARE order)."""

    title: str
    keywords: list[str]
    synthetic: bool
    abstract: list[str]
    introduction: list[str]
    patient: dict[str, str]
    findings: list[dict[str, str]]
    baseline: list[dict[str, str]]
    timeline: list[dict[str, str]]
    criteria: list[dict[str, Any]]
    phenotype: dict[str, Any] | None
    phases: list[dict[str, Any]]
    interventions: list[dict[str, str]]
    medications: list[dict[str, str]]
    plan_note: str
    outcomes: list[dict[str, Any]]
    episodes: list[dict[str, str]]
    adverse_events: list[str]
    discussion: list[str]
    model_fit: list[dict[str, str]]
    model_note: str
    perspective: str | None
    consent: str
    references: list[str]
    provenance: list[str]
    notes: list[dict[str, str]] = field(default_factory=list)
    notes_left_out: int = 0
    figure_alt: str = ""
    assessment_available: bool = True
    perspective_recorded: bool = False
    safety: list[str] = field(default_factory=list)
