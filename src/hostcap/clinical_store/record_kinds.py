"""The kinds of tidy record the store accepts: each declaration with its table, checks and rows.

What a record holds is declared once, in ``hostcap.record_fields``; here each kind gets its
table, its domain checks and its row builder. ``validate_records`` parses a frame of strings,
applies the kind's checks (catalog units, plausibility limits, dates after birth, known drugs and
instruments, duplicates) and returns rows ready to insert plus every issue found. The
single-record commands, the web forms, the CSV, FHIR and REDCap imports all go through here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap import catalog
from hostcap.clinical_decisions.finding_contract import finding_issue
from hostcap.clinical_store.client_codes import (
    check_new_clients,
    client_rows,
    code_skeleton,
    mixed_scripts,
)
from hostcap.clinical_store.columns import ParsedFrame, parse_columns, row_location
from hostcap.clinical_store.record_checks import (
    ClientInfo,
    catalog_lookup,
    check_clients,
    check_labs,
    check_meds,
    check_not_before_birth,
    check_order,
    check_questionnaires,
    dose_limits,
    lab_rows,
    med_rows,
    questionnaire_rows,
    stored_rows,
)
from hostcap.clinical_store.tables import (
    Base,
    ClientRow,
    ClinicalFindingRow,
    EpisodeRow,
    FoodTrialRow,
    InterventionUseRow,
    LabResultRow,
    MedicationUseRow,
    QuestionnaireResponseRow,
    VisitRow,
)
from hostcap.errors import Issue, Severity, describe_value
from hostcap.record_fields import (
    DECLARATIONS,
    LAB_CONTEXTS,
    ORGAN_SYSTEMS,
    VISIT_KINDS,
    Column,
    ColumnType,
    RecordDeclaration,
    parse_finding_value,
)

__all__ = [
    "KINDS",
    "LAB_CONTEXTS",
    "ORGAN_SYSTEMS",
    "VISIT_KINDS",
    "ClientInfo",
    "RecordKind",
    "ValidatedRecords",
    "code_skeleton",
    "mixed_scripts",
    "parse_finding_value",
    "text_limits",
    "validate_records",
]


@dataclass
class ValidatedRecords:
    """Rows ready to insert (``rows``: table columns, in file order) and every issue found."""

    kind: str
    rows: pd.DataFrame
    issues: list[Issue]
    n_input: int

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.WARNING]


CheckFn = Callable[[ParsedFrame, Mapping[str, ClientInfo], int], None]
RowsFn = Callable[[pd.DataFrame], pd.DataFrame]


@dataclass(frozen=True)
class RecordKind:
    """One kind of record: its declaration, table, domain checks and row builder."""

    declaration: RecordDeclaration
    table: type[Base]
    check: CheckFn
    rows: RowsFn

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def columns(self) -> tuple[Column, ...]:
        return self.declaration.columns

    @property
    def key(self) -> tuple[str, ...]:
        return self.declaration.key

    @property
    def description(self) -> str:
        return self.declaration.description

    @property
    def needs_client(self) -> bool:
        return self.declaration.needs_client

    @property
    def free_text_columns(self) -> tuple[str, ...]:
        """Columns declared ``free_text`` (stored under the same name in the table)."""
        return self.declaration.free_text_columns


# ---------------------------------------------------------------------------------------------
# food trials, episodes, interventions


def _check_food(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "date", first_line)


def _food_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = stored_rows(frame, DECLARATIONS["food"])
    rows["food"] = rows["food"].astype(str).str.lower()
    return rows


def _check_visits(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "date", first_line)


def _visit_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return stored_rows(frame, DECLARATIONS["visits"])


def _check_episodes(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "onset_at", first_line)
    systems = parsed.frame["organ_systems"]
    empty = systems.map(lambda s: not s).to_numpy(dtype=bool) & ~parsed.bad_rows
    parsed.add(
        empty,
        lambda i: Issue(
            location=row_location(i, "organ_systems", first_line=first_line),
            message="organ_systems is empty; expected at least one of " + ", ".join(ORGAN_SYSTEMS),
            value="",
            expected="one or more of " + ", ".join(ORGAN_SYSTEMS),
        ),
    )


def _episode_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = stored_rows(frame, DECLARATIONS["episodes"])
    return rows


def _check_interventions(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "start", first_line)
    check_order(parsed, "start", "end", first_line)
    frame = parsed.frame
    frame["intervention_id"] = catalog_lookup(
        parsed, "intervention", lambda v: catalog.get_intervention(v).id, first_line
    )
    expected_unit = frame["intervention_id"].map(
        lambda v: catalog.get_intervention(v).dose_unit if isinstance(v, str) else None
    )
    wrong = (
        expected_unit.notna() & frame["unit"].notna() & (expected_unit != frame["unit"])
    ).to_numpy(dtype=bool)
    parsed.add(
        wrong,
        lambda i: Issue(
            location=row_location(i, "unit", first_line=first_line),
            message=f"unit {frame['unit'].iat[i]!r} is not the dose unit of "
            f"{frame['intervention_id'].iat[i]}; expected {expected_unit.iat[i]}",
            value=frame["unit"].iat[i],
            expected=str(expected_unit.iat[i]),
        ),
    )
    unusual: list[str | None] = [None] * len(frame)
    for i, (iv_id, dose) in enumerate(zip(frame["intervention_id"], frame["dose"], strict=True)):
        if not isinstance(iv_id, str) or pd.isna(dose) or wrong[i]:
            continue
        entry = catalog.get_intervention(iv_id)
        unusual[i] = dose_limits(
            parsed,
            i,
            what=f"dose of {entry.id} {float(dose):g} {entry.dose_unit}",
            dose=float(dose),
            soft=entry.typical_max,
            hard=entry.hard_max,
            unit=entry.dose_unit,
            source=f"the catalog's typical range {entry.typical_min:g}-{entry.typical_max:g} "
            f"{entry.dose_unit} [{entry.citation}]",
            first_line=first_line,
        )
    frame["unusual"] = unusual


def _intervention_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = stored_rows(
        frame,
        DECLARATIONS["interventions"],
        {"intervention": "intervention_id", "unusual": "unusual"},
    )
    return rows


def _check_findings(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "date", first_line)
    # Every finding is one value of the assessment input contract: its field path must exist
    # there and its value must be what that field takes (checked once per distinct pair).
    frame = parsed.frame
    frame["parsed_value"] = frame["value"].map(parse_finding_value)
    found: list[Issue | None] = []
    for path, value, bad in zip(
        frame["field"], frame["parsed_value"], parsed.bad_rows.copy(), strict=True
    ):
        found.append(None if bad or path is None or value is None else finding_issue(path, value))
    parsed.add(
        np.array([f is not None for f in found], dtype=bool),
        lambda i: _located(found[i], i, first_line),
    )


def _located(issue: Issue | None, i: int, first_line: int) -> Issue:
    assert issue is not None
    return Issue(
        location=row_location(i, issue.location, first_line=first_line),
        message=issue.message,
        severity=issue.severity,
        value=issue.value,
        expected=issue.expected,
        code=issue.code,
    )


def _finding_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = stored_rows(frame, DECLARATIONS["findings"], {"value": "parsed_value"})
    return rows


def _kind(name: str, table: type[Base], check: CheckFn, rows: RowsFn) -> RecordKind:
    return RecordKind(DECLARATIONS[name], table, check, rows)


KINDS: dict[str, RecordKind] = {
    "clients": _kind("clients", ClientRow, check_new_clients, client_rows),
    "labs": _kind("labs", LabResultRow, check_labs, lab_rows),
    "meds": _kind("meds", MedicationUseRow, check_meds, med_rows),
    "questionnaires": _kind(
        "questionnaires", QuestionnaireResponseRow, check_questionnaires, questionnaire_rows
    ),
    "food": _kind("food", FoodTrialRow, _check_food, _food_rows),
    "episodes": _kind("episodes", EpisodeRow, _check_episodes, _episode_rows),
    "findings": _kind("findings", ClinicalFindingRow, _check_findings, _finding_rows),
    "visits": _kind("visits", VisitRow, _check_visits, _visit_rows),
    "interventions": _kind(
        "interventions", InterventionUseRow, _check_interventions, _intervention_rows
    ),
}


def validate_records(
    kind: RecordKind,
    raw: pd.DataFrame,
    clients: Mapping[str, ClientInfo],
    *,
    now: dt.datetime,
    first_line: int = 2,
    confirm_unusual: bool = False,
) -> ValidatedRecords:
    """Parse and check ``raw`` (strings) as ``kind``; rows only when there is no error at all.

    ``confirm_unusual`` stores doses above the documented maximum (soft limit) with a warning
    instead of refusing them; doses above the hard limit are refused either way.
    """
    parsed = parse_columns(raw, kind.columns, now=now, first_line=first_line)
    parsed.confirm_unusual = confirm_unusual
    # Row checks need every column; a missing or unknown column is reported on its own.
    structural = any(i.location.startswith("column ") for i in parsed.issues)
    if not structural:
        _check_lengths(kind, parsed, first_line)
        kind.check(parsed, clients, first_line)
    issues = sorted(parsed.issues, key=_issue_order)
    if any(i.severity == Severity.ERROR for i in issues):
        return ValidatedRecords(kind.name, pd.DataFrame(), issues, len(raw))
    return ValidatedRecords(kind.name, kind.rows(parsed.frame), issues, len(raw))


def text_limits(kind: RecordKind) -> dict[str, int]:
    """The longest text each input column of ``kind`` may hold: its table column's length."""
    table = kind.table.__table__
    limits: dict[str, int] = {}
    for col in kind.columns:
        if col.type != ColumnType.TEXT:
            continue
        stored = col.table_column
        if stored in table.c:
            length = getattr(table.c[stored].type, "length", None)
            if isinstance(length, int):
                limits[col.name] = length
    return limits


def _check_lengths(kind: RecordKind, parsed: ParsedFrame, first_line: int) -> None:
    # Declared once, in the table: SQLite would store a longer text silently and PostgreSQL
    # refuse it mid-transaction, so both are held to the declaration here.
    for name, limit in text_limits(kind).items():
        values = parsed.frame[name]
        lengths = values.map(lambda v: len(v) if isinstance(v, str) else 0)
        too_long = (lengths > limit).to_numpy(dtype=bool)
        parsed.add(
            too_long,
            lambda i, name=name, limit=limit, values=values: Issue(
                location=row_location(i, name, first_line=first_line),
                message=f"{name} value {describe_value(values.iat[i])} is "
                f"{len(values.iat[i])} characters long; expected at most {limit} characters",
                value=values.iat[i],
                expected=f"text of at most {limit} characters",
                code="too_long",
            ),
        )


def _issue_order(issue: Issue) -> tuple[int, str]:
    loc = issue.location
    if loc.startswith("row "):
        number = loc[4:].split(",")[0]
        return (int(number) if number.isdigit() else 0, loc)
    return (0, loc)
