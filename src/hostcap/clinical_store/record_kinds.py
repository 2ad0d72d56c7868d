"""The kinds of tidy record the store accepts: their columns, their checks, their rows.

Each kind declares its columns once (``Column``); ``validate_records`` parses a frame of strings,
applies the kind's domain checks (catalog units, plausibility limits, dates after birth, known
drugs and instruments, duplicates) and returns rows ready to insert plus every issue found. The
single-record commands and the CSV import both go through here.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hostcap import catalog
from hostcap.clinical_store.columns import (
    Column,
    ColumnType,
    ParsedFrame,
    parse_columns,
    row_location,
)
from hostcap.clinical_store.finding_contract import finding_issue
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
from hostcap.errors import HostcapError, Issue, Severity, ValidationError, describe_value

__all__ = [
    "KINDS",
    "ORGAN_SYSTEMS",
    "ClientInfo",
    "RecordKind",
    "ValidatedRecords",
    "code_skeleton",
    "mixed_scripts",
    "parse_finding_value",
    "text_limits",
    "validate_records",
]

ORGAN_SYSTEMS = (
    "skin",
    "gastrointestinal",
    "cardiovascular",
    "respiratory",
    "naso_ocular",
    "neurological",
)
LAB_CONTEXTS = ("baseline", "acute", "routine")


@dataclass(frozen=True)
class ClientInfo:
    """What validation needs to know about an existing client."""

    id: int
    code: str
    birth_year: int


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
    """One kind of record: its table, columns, natural key, checks and row builder."""

    name: str
    table: type[Base]
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    check: CheckFn
    rows: RowsFn
    description: str
    needs_client: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def free_text_columns(self) -> tuple[str, ...]:
        """Columns declared ``free_text`` (stored under the same name in the table)."""
        return tuple(c.name for c in self.columns if c.free_text)


# ---------------------------------------------------------------------------------------------
# shared checks


def _check_clients(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    codes = parsed.frame["client_code"]
    unknown = (codes.notna() & ~codes.isin(list(clients))).to_numpy(dtype=bool)
    parsed.add(
        unknown,
        lambda i: Issue(
            location=row_location(i, "client_code", first_line=first_line),
            message=f"client_code {describe_value(codes.iat[i])} is not in the store; expected "
            "an existing client code (add it first with `hostcap client add`)",
            value=codes.iat[i],
            expected="an existing client code",
        ),
    )
    parsed.frame["client_id"] = codes.map({c: info.id for c, info in clients.items()})
    parsed.frame["birth_year"] = codes.map({c: info.birth_year for c, info in clients.items()})


def _check_not_before_birth(parsed: ParsedFrame, column: str, first_line: int) -> None:
    when = parsed.frame[column]
    years = parsed.frame["birth_year"]
    valid = when.notna() & years.notna()
    if not valid.any():
        return
    event_year = pd.Series(np.nan, index=when.index)
    event_year[valid] = pd.DatetimeIndex(when[valid]).year.astype(float)
    before = (valid & (event_year < years.astype(float))).to_numpy(dtype=bool)
    birth_years = years.to_numpy(dtype=float, na_value=np.nan)
    parsed.add(
        before,
        lambda i: Issue(
            location=row_location(i, column, first_line=first_line),
            message=f"{column} value {when.iat[i]:%Y-%m-%d} is before the client's birth year "
            f"{int(birth_years[i])}; expected a date on or after {int(birth_years[i])}-01-01",
            value=str(when.iat[i]),
            expected=f"a date on or after {int(birth_years[i])}-01-01",
        ),
    )


def _check_order(parsed: ParsedFrame, start: str, end: str, first_line: int) -> None:
    s, e = parsed.frame[start], parsed.frame[end]
    wrong = (s.notna() & e.notna() & (e < s)).to_numpy(dtype=bool)
    parsed.add(
        wrong,
        lambda i: Issue(
            location=row_location(i, end, first_line=first_line),
            message=f"{end} value {e.iat[i]:%Y-%m-%d} is before {start} {s.iat[i]:%Y-%m-%d}; "
            f"expected a date on or after {start}",
            value=str(e.iat[i]),
            expected=f"a date on or after {start}",
        ),
    )


def _catalog_lookup(
    parsed: ParsedFrame,
    column: str,
    resolve: Callable[[str], str],
    first_line: int,
) -> pd.Series:
    """Resolve each distinct value once (a 200k-row file has a handful of distinct ids)."""
    raw = parsed.frame[column]
    resolved: dict[str, str | None] = {}
    messages: dict[str, HostcapError] = {}
    for value in raw.dropna().unique():
        try:
            resolved[value] = resolve(value)
        except HostcapError as exc:
            resolved[value] = None
            messages[value] = exc
    ids = raw.map(resolved)
    failed = raw.notna() & ids.isna()
    parsed.add(
        failed.to_numpy(dtype=bool),
        lambda i: Issue(
            location=row_location(i, column, first_line=first_line),
            message=f"{column}: {messages[str(raw.iat[i])]}",
            value=raw.iat[i],
            expected=getattr(messages[str(raw.iat[i])], "expected", None),
        ),
    )
    return ids


def _common_rows(frame: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    """The columns to store, renamed ``src`` → ``dst``; the store converts types per column."""
    return pd.DataFrame({dst: frame[src] for src, dst in names.items()}, index=frame.index)


# ---------------------------------------------------------------------------------------------
# labs


def _check_labs(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "collected_at", first_line)
    frame = parsed.frame
    frame["analyte_id"] = _catalog_lookup(
        parsed, "analyte", lambda v: catalog.get_analyte(v).id, first_line
    )
    pairs = frame[["analyte_id", "unit"]].dropna().drop_duplicates()
    factors: dict[tuple[str, str], float] = {}
    canon_units: dict[tuple[str, str], str] = {}
    pair_errors: dict[tuple[str, str], ValidationError] = {}
    for analyte_id, unit in pairs.itertuples(index=False):
        try:
            factors[(analyte_id, unit)] = catalog.canonical_factor(analyte_id, unit)
            canon_units[(analyte_id, unit)] = catalog.get_analyte(analyte_id).canonical_unit
        except ValidationError as exc:
            pair_errors[(analyte_id, unit)] = exc
    keys = list(zip(frame["analyte_id"], frame["unit"], strict=True))
    factor = np.array([factors.get(k, np.nan) for k in keys], dtype=float)
    unit_bad = np.array([k in pair_errors for k in keys], dtype=bool)
    parsed.add(
        unit_bad,
        lambda i: Issue(
            location=row_location(i, "unit", first_line=first_line),
            message=str(pair_errors[keys[i]]),
            value=frame["unit"].iat[i],
            expected=pair_errors[keys[i]].expected,
        ),
    )
    entered = frame["value"].to_numpy(dtype=float, na_value=np.nan)
    canonical = entered * factor
    frame["canonical_value"] = canonical
    frame["canonical_unit"] = [canon_units.get(k) for k in keys]
    # Plausibility, vectorised per analyte; the catalog writes the message for offending rows.
    warnings: list[str | None] = [None] * len(frame)
    for analyte_id in frame["analyte_id"].dropna().unique():
        analyte = catalog.get_analyte(analyte_id)
        rows = (frame["analyte_id"] == analyte_id).to_numpy(dtype=bool) & ~np.isnan(canonical)
        lo_soft = analyte.soft_min if analyte.soft_min is not None else -np.inf
        hi_soft = analyte.soft_max if analyte.soft_max is not None else np.inf
        outside = rows & ((canonical < lo_soft) | (canonical > hi_soft))
        for i in np.flatnonzero(outside):
            for issue in catalog.check_plausibility(analyte, float(canonical[i])):
                located = Issue(
                    location=row_location(int(i), "value", first_line=first_line),
                    message=issue.message,
                    severity=issue.severity,
                    value=issue.value,
                    expected=issue.expected,
                )
                parsed.issues.append(located)
                if issue.severity == Severity.ERROR:
                    parsed.bad_rows[i] = True
                else:
                    warnings[i] = issue.message
    frame["warning"] = warnings
    low, high = frame["reference_low"], frame["reference_high"]
    reversed_range = (low.notna() & high.notna() & (low > high)).to_numpy(dtype=bool)
    parsed.add(
        reversed_range,
        lambda i: Issue(
            location=row_location(i, "reference_high", first_line=first_line),
            message=f"reference range {low.iat[i]:g}–{high.iat[i]:g} is reversed "
            f"(reference_low {low.iat[i]:g} > reference_high {high.iat[i]:g}); expected "
            "reference_low <= reference_high",
            value=f"{low.iat[i]:g}-{high.iat[i]:g}",
            expected="reference_low <= reference_high",
        ),
    )
    # An acute sample without its timing cannot be used for the consensus-1 1-4 h window.
    acute_untimed = ((frame["context"] == "acute") & frame["hours_after_onset"].isna()).to_numpy(
        dtype=bool
    )
    parsed.add(
        acute_untimed,
        lambda i: Issue(
            location=row_location(i, "hours_after_onset", first_line=first_line),
            message="acute sample without hours_after_onset: stored, but it cannot be checked "
            "against the 1–4 h sampling window of the MCAS criteria",
            severity=Severity.WARNING,
            expected="hours after episode onset",
        ),
    )


def _lab_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = _common_rows(
        frame,
        {
            "client_id": "client_id",
            "analyte_id": "analyte",
            "canonical_value": "value",
            "canonical_unit": "unit",
            "value": "value_as_entered",
            "unit": "unit_as_entered",
            "collected_at": "collected_at",
            "context": "context",
            "hours_after_onset": "hours_after_onset",
            "reference_low": "lab_reference_low",
            "reference_high": "lab_reference_high",
            "warning": "warning",
        },
    )
    return rows


# ---------------------------------------------------------------------------------------------
# dose limits (medications and interventions)


def _dose_limits(
    parsed: ParsedFrame,
    i: int,
    *,
    what: str,
    dose: float,
    soft: float,
    hard: float,
    unit: str,
    source: str,
    first_line: int,
) -> str | None:
    """Apply the catalog's two limits to one dose; returns the flag text when it is unusual.

    Above ``hard`` a dose is impossible (a slip of unit or decimal point): refused. Above
    ``soft`` (the documented maximum) it is possible but unusual: refused unless the user has
    confirmed it (``--confirm-unusual``), then stored with a warning and flagged in the audit.
    """
    where = row_location(i, "dose", first_line=first_line)
    if dose > hard:
        expected = f"at most {hard:g} {unit}"
        parsed.issues.append(
            Issue(
                where,
                f"{what} is above the hard limit {hard:g} {unit} (the documented maximum is "
                f"{soft:g} {unit}: {source}); expected {expected} — check the dose, the unit "
                "and the doses per day",
                value=dose,
                expected=expected,
                code="impossible_dose",
            )
        )
        parsed.bad_rows[i] = True
        return None
    if dose <= soft:
        return None
    message = f"{what} is above the documented maximum {soft:g} {unit} ({source})"
    if parsed.confirm_unusual:
        parsed.issues.append(
            Issue(
                where,
                f"{message}; stored as confirmed unusual",
                severity=Severity.WARNING,
                value=dose,
                expected=f"at most {soft:g} {unit}",
                code="unusual_dose",
            )
        )
        return f"confirmed unusual: {message}"
    parsed.issues.append(
        Issue(
            where,
            f"{message}; expected at most {soft:g} {unit}, or --confirm-unusual to store a "
            "higher dose you have checked",
            value=dose,
            expected=f"at most {soft:g} {unit} (or --confirm-unusual)",
            code="unusual_dose",
        )
    )
    parsed.bad_rows[i] = True
    return None


# ---------------------------------------------------------------------------------------------
# medications


def _check_meds(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "start", first_line)
    _check_order(parsed, "start", "end", first_line)
    frame = parsed.frame
    frame["drug_id"] = _catalog_lookup(
        parsed, "drug", lambda v: catalog.get_medication(v).id, first_line
    )
    daily: list[float | None] = []
    ddd: list[float | None] = []
    classes: list[str | None] = []
    unusual: list[str | None] = [None] * len(frame)
    for i, (drug_id, dose, unit, per_day) in enumerate(
        zip(frame["drug_id"], frame["dose"], frame["unit"], frame["per_day"], strict=True)
    ):
        if drug_id is None or unit is None or pd.isna(dose) or pd.isna(per_day):
            daily.append(None)
            ddd.append(None)
            classes.append(None)
            continue
        med = catalog.get_medication(drug_id)
        try:
            in_ddd_unit = catalog.convert_unit(float(dose), str(unit), med.ddd_unit)
        except ValidationError as exc:
            parsed.issues.append(
                Issue(
                    location=row_location(i, "unit", first_line=first_line),
                    message=f"unit {unit!r} cannot be converted to {med.ddd_unit} for {drug_id}: "
                    f"{exc}",
                    value=unit,
                    expected=f"a mass unit convertible to {med.ddd_unit}",
                )
            )
            parsed.bad_rows[i] = True
            daily.append(None)
            ddd.append(None)
            classes.append(None)
            continue
        total = in_ddd_unit * float(per_day)
        daily.append(total)
        ddd.append(total / med.ddd)
        classes.append(str(med.drug_class))
        unusual[i] = _dose_limits(
            parsed,
            i,
            what=f"daily dose of {med.id} {total:g} {med.ddd_unit}/d ({float(dose):g} {unit} x "
            f"{float(per_day):g}/day)",
            dose=total,
            soft=med.max_daily_dose,
            hard=med.hard_max_daily_dose,
            unit=f"{med.ddd_unit}/d",
            source=f"{med.max_daily_dose_note} [{med.max_daily_dose_citation}]",
            first_line=first_line,
        )
    frame["unusual"] = unusual
    frame["daily_dose"] = daily
    frame["ddd_per_day"] = ddd
    frame["drug_class"] = classes
    frame["ddd_unit"] = frame["drug_id"].map(
        lambda d: catalog.get_medication(d).ddd_unit if isinstance(d, str) else None
    )


def _med_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = _common_rows(
        frame,
        {
            "client_id": "client_id",
            "drug_id": "drug",
            "dose": "dose",
            "unit": "dose_unit",
            "per_day": "per_day",
            "daily_dose": "daily_dose",
            "ddd_per_day": "ddd_per_day",
            "drug_class": "drug_class",
            "start": "start_date",
            "end": "end_date",
            "rescue_doses_per_week": "rescue_doses_per_week",
            "unusual": "unusual",
        },
    )
    rows["rescue_doses_per_week"] = pd.to_numeric(rows["rescue_doses_per_week"]).fillna(0.0)
    return rows


# ---------------------------------------------------------------------------------------------
# questionnaires


def _parse_answers(text: str) -> list[float]:
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    return [float(p) for p in parts if p != ""]


def _check_questionnaires(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "date", first_line)
    frame = parsed.frame
    frame["instrument_id"] = _catalog_lookup(
        parsed, "instrument", lambda v: catalog.get_instrument(v).id, first_line
    )
    scores: list[Any] = []
    answers_out: list[list[float] | None] = []
    for i, (instrument_id, text) in enumerate(
        zip(frame["instrument_id"], frame["answers"], strict=True)
    ):
        if instrument_id is None or text is None:
            scores.append(None)
            answers_out.append(None)
            continue
        try:
            answers = _parse_answers(str(text))
        except ValueError:
            parsed.issues.append(
                Issue(
                    location=row_location(i, "answers", first_line=first_line),
                    message=f"answers value {describe_value(text)} is not a list of numbers; "
                    "expected comma-separated numbers, e.g. 5,6,4",
                    value=text,
                    expected="comma-separated numbers",
                )
            )
            parsed.bad_rows[i] = True
            scores.append(None)
            answers_out.append(None)
            continue
        try:
            scores.append(catalog.score_instrument(instrument_id, answers))
            answers_out.append(answers)
        except ValidationError as exc:
            for issue in exc.issues:
                parsed.issues.append(
                    Issue(
                        location=row_location(
                            i, issue.location or "answers", first_line=first_line
                        ),
                        message=issue.message,
                        value=issue.value,
                        expected=issue.expected,
                    )
                )
            parsed.bad_rows[i] = True
            scores.append(None)
            answers_out.append(None)
    frame["score"] = scores
    frame["answers_list"] = pd.Series(answers_out, index=frame.index, dtype=object)


def _questionnaire_rows(frame: pd.DataFrame) -> pd.DataFrame:
    scores = list(frame["score"])
    rows = _common_rows(
        frame,
        {
            "client_id": "client_id",
            "instrument_id": "instrument",
            "date": "answered_on",
            "answers_list": "answers",
        },
    )
    rows["total"] = [float(sc.total) for sc in scores]
    rows["mean"] = [None if sc.mean is None else float(sc.mean) for sc in scores]
    subscales: list[Any] = [{k: float(v) for k, v in sc.subscales.items()} for sc in scores]
    rows["subscales"] = subscales
    rows["interpretation"] = ["; ".join(sc.interpretation) or None for sc in scores]
    return rows


# ---------------------------------------------------------------------------------------------
# food trials, episodes, interventions


def _check_food(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "date", first_line)


def _food_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = _common_rows(
        frame,
        {
            "client_id": "client_id",
            "date": "trial_date",
            "food": "food",
            "dose": "dose",
            "dose_unit": "dose_unit",
            "reaction_grade": "reaction_grade",
            "notes": "notes",
        },
    )
    rows["food"] = rows["food"].astype(str).str.lower()
    return rows


VISIT_KINDS = ("baseline", "follow_up", "unscheduled", "final")


def _check_visits(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "date", first_line)


def _visit_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return _common_rows(
        frame,
        {
            "client_id": "client_id",
            "date": "visit_date",
            "week": "week",
            "visit_kind": "kind",
            "notes": "notes",
        },
    )


def _check_episodes(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "onset_at", first_line)
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
    rows = _common_rows(
        frame,
        {
            "client_id": "client_id",
            "onset_at": "onset_at",
            "duration_minutes": "duration_minutes",
            "organ_systems": "organ_systems",
            "severity": "severity",
            "treatment": "treatment",
            "emergency_care": "emergency_care",
            "anaphylaxis": "anaphylaxis",
            "notes": "notes",
        },
    )
    return rows


def _check_interventions(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "start", first_line)
    _check_order(parsed, "start", "end", first_line)
    frame = parsed.frame
    frame["intervention_id"] = _catalog_lookup(
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
        unusual[i] = _dose_limits(
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
    rows = _common_rows(
        frame,
        {
            "client_id": "client_id",
            "intervention_id": "intervention",
            "dose": "dose",
            "unit": "dose_unit",
            "start": "start_date",
            "end": "end_date",
            "phase": "phase",
            "unusual": "unusual",
        },
    )
    return rows


def _check_findings(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    _check_clients(parsed, clients, first_line)
    _check_not_before_birth(parsed, "date", first_line)
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


def parse_finding_value(text: Any) -> Any:
    """``true``/``false``/numbers/JSON lists as such; anything else stays text."""
    if text is None:
        return None
    raw = str(text).strip()
    lowered = raw.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _finding_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = _common_rows(
        frame,
        {
            "client_id": "client_id",
            "field": "field",
            "parsed_value": "value",
            "date": "recorded_on",
            "source": "source",
        },
    )
    return rows


# Letters that look like Latin ones (Cyrillic and Greek capitals and small letters): two codes
# that differ only by these would be two clients that no one can tell apart on a screen.
_CONFUSABLE = str.maketrans(
    "АВЕКМНОРСТУХаеорсухіјѕԁӏΑΒΕΖΗΙΚΜΝΟΡΤΥΧοιν",
    "ABEKMHOPCTYXaeopcyxijsdlABEZHIKMNOPTYXoiv",
)


def code_skeleton(code: str) -> str:
    """What ``code`` looks like: confusable letters mapped to Latin, case folded."""
    return code.translate(_CONFUSABLE).casefold()


def _script(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    try:
        return unicodedata.name(ch).split(" ")[0]
    except ValueError:
        return "UNKNOWN"


def mixed_scripts(text: str) -> list[str]:
    """The writing systems of the letters in ``text`` when there is more than one, else []."""
    scripts = sorted({s for s in map(_script, text) if s is not None})
    return scripts if len(scripts) > 1 else []


def _check_new_clients(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    codes = parsed.frame["client_code"]
    mixed = codes.map(lambda c: isinstance(c, str) and bool(mixed_scripts(c))).to_numpy(dtype=bool)
    parsed.add(
        mixed,
        lambda i: Issue(
            location=row_location(i, "client_code", first_line=first_line),
            message=f"client_code {describe_value(codes.iat[i])} mixes writing systems "
            f"({', '.join(mixed_scripts(str(codes.iat[i]))).lower()}); expected the letters of one "
            "script, e.g. Latin only",
            value=codes.iat[i],
            expected="letters of one script",
        ),
    )
    bad_code = codes.map(
        lambda c: (
            isinstance(c, str)
            and not (0 < len(c) <= 64 and c.replace("-", "").replace("_", "").isalnum())
        )
    ).to_numpy(dtype=bool)
    parsed.add(
        bad_code,
        lambda i: Issue(
            location=row_location(i, "client_code", first_line=first_line),
            message=f"client_code {describe_value(codes.iat[i])} is not a valid pseudonymous code; "
            "expected 1–64 letters, digits, '-' or '_'",
            value=codes.iat[i],
            expected="1–64 letters, digits, '-' or '_'",
        ),
    )


def _client_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = _common_rows(
        frame,
        {"client_code": "code", "sex": "sex", "birth_year": "birth_year", "demo": "demo"},
    )
    return rows


def _client_col() -> Column:
    return Column("client_code", ColumnType.TEXT, help="pseudonymous client code")


def _kinds() -> dict[str, RecordKind]:
    this_year = dt.date.today().year
    return {
        "clients": RecordKind(
            name="clients",
            table=ClientRow,
            columns=(
                _client_col(),
                Column("sex", ColumnType.CHOICE, choices=("female", "male", "other")),
                Column("birth_year", ColumnType.INT, minimum=1900, maximum=this_year),
                Column("demo", ColumnType.BOOL, required=False, default=False),
            ),
            key=("code",),
            check=_check_new_clients,
            rows=_client_rows,
            description="clients (pseudonymous code, sex, birth year)",
            needs_client=False,
        ),
        "labs": RecordKind(
            name="labs",
            table=LabResultRow,
            columns=(
                _client_col(),
                Column(
                    "analyte", ColumnType.TEXT, help="catalog id or LOINC code", label="Analyte"
                ),
                Column("value", ColumnType.FLOAT, label="Value"),
                Column(
                    "unit",
                    ColumnType.TEXT,
                    help="as reported; converted to the canonical unit",
                    label="Unit",
                ),
                Column(
                    "collected_at",
                    ColumnType.DATETIME,
                    label="Collected",
                    option="--collected",
                    help="YYYY-MM-DDTHH:MM",
                ),
                Column(
                    "context",
                    ColumnType.CHOICE,
                    required=False,
                    choices=LAB_CONTEXTS,
                    default="routine",
                    label="Context",
                ),
                Column(
                    "hours_after_onset",
                    ColumnType.FLOAT,
                    required=False,
                    minimum=0,
                    maximum=8760,
                    unit="h",
                    help="hours after the episode began (acute samples)",
                ),
                Column("reference_low", ColumnType.FLOAT, required=False),
                Column("reference_high", ColumnType.FLOAT, required=False),
            ),
            key=("client_id", "analyte", "collected_at"),
            check=_check_labs,
            rows=_lab_rows,
            description="laboratory results",
        ),
        "meds": RecordKind(
            name="meds",
            table=MedicationUseRow,
            columns=(
                _client_col(),
                Column("drug", ColumnType.TEXT, help="catalog medication id"),
                Column("dose", ColumnType.FLOAT, minimum=0.0001, maximum=100000),
                Column("unit", ColumnType.TEXT),
                Column(
                    "per_day", ColumnType.FLOAT, minimum=0.01, maximum=24, label="Doses per day"
                ),
                Column("start", ColumnType.DATE, help="YYYY-MM-DD"),
                Column("end", ColumnType.DATE, required=False),
                Column(
                    "rescue_doses_per_week",
                    ColumnType.FLOAT,
                    required=False,
                    minimum=0,
                    maximum=100,
                    option="--rescue-per-week",
                ),
            ),
            key=("client_id", "drug", "start_date"),
            check=_check_meds,
            rows=_med_rows,
            description="medication use (antihistamine load as daily dose / WHO DDD)",
        ),
        "questionnaires": RecordKind(
            name="questionnaires",
            table=QuestionnaireResponseRow,
            columns=(
                _client_col(),
                Column("instrument", ColumnType.TEXT, help="catalog instrument id"),
                Column("answers", ColumnType.TEXT, help="comma-separated item answers"),
                Column("date", ColumnType.DATE, help="YYYY-MM-DD"),
            ),
            key=("client_id", "instrument", "answered_on"),
            check=_check_questionnaires,
            rows=_questionnaire_rows,
            description="questionnaire responses (scored on entry)",
        ),
        "food": RecordKind(
            name="food",
            table=FoodTrialRow,
            columns=(
                _client_col(),
                Column("food", ColumnType.TEXT),
                Column("date", ColumnType.DATE),
                Column(
                    "reaction_grade", ColumnType.INT, minimum=0, maximum=3, help="0 none – 3 severe"
                ),
                Column("dose", ColumnType.FLOAT, required=False, minimum=0),
                Column("dose_unit", ColumnType.TEXT, required=False),
                Column("notes", ColumnType.TEXT, required=False, free_text=True),
            ),
            key=("client_id", "food", "trial_date"),
            check=_check_food,
            rows=_food_rows,
            description="food reintroduction trials (reaction grade 0 none – 3 severe)",
        ),
        "episodes": RecordKind(
            name="episodes",
            table=EpisodeRow,
            columns=(
                _client_col(),
                Column(
                    "onset_at",
                    ColumnType.DATETIME,
                    label="Onset",
                    option="--onset",
                    help="YYYY-MM-DDTHH:MM",
                ),
                Column(
                    "organ_systems",
                    ColumnType.LIST,
                    choices=ORGAN_SYSTEMS,
                    help="e.g. skin;gastrointestinal",
                ),
                Column("severity", ColumnType.INT, minimum=0, maximum=10, help="0–10"),
                Column("duration_minutes", ColumnType.FLOAT, required=False, minimum=0, unit="min"),
                Column("treatment", ColumnType.TEXT, required=False, free_text=True),
                Column("emergency_care", ColumnType.BOOL, required=False, default=False),
                Column("anaphylaxis", ColumnType.BOOL, required=False, default=False),
                Column("notes", ColumnType.TEXT, required=False, free_text=True),
            ),
            key=("client_id", "onset_at"),
            check=_check_episodes,
            rows=_episode_rows,
            description="episodes (severity 0–10 numeric rating)",
        ),
        "findings": RecordKind(
            name="findings",
            table=ClinicalFindingRow,
            columns=(
                _client_col(),
                Column(
                    "field",
                    ColumnType.TEXT,
                    help="assessment input path, e.g. findings.splenomegaly",
                ),
                Column("value", ColumnType.TEXT, help="true/false, a number, or text"),
                Column("date", ColumnType.DATE, help="YYYY-MM-DD"),
                Column(
                    "source",
                    ColumnType.TEXT,
                    required=False,
                    help="where it came from",
                    free_text=True,
                ),
            ),
            key=("client_id", "field", "recorded_on"),
            check=_check_findings,
            rows=_finding_rows,
            description="clinical findings used by assessments (history, examination, genetics)",
        ),
        "visits": RecordKind(
            name="visits",
            table=VisitRow,
            columns=(
                _client_col(),
                Column("date", ColumnType.DATE, help="YYYY-MM-DD"),
                Column(
                    "visit_kind",
                    ColumnType.CHOICE,
                    required=False,
                    choices=VISIT_KINDS,
                    default="follow_up",
                    label="Kind",
                    option="--kind",
                ),
                Column(
                    "week",
                    ColumnType.FLOAT,
                    required=False,
                    minimum=-52,
                    maximum=520,
                    help="planned week of the protocol (weeks since enrolment)",
                    unit="week",
                ),
                Column("notes", ColumnType.TEXT, required=False, free_text=True),
            ),
            key=("client_id", "visit_date"),
            check=_check_visits,
            rows=_visit_rows,
            description="visits (the protocol's contact points; missed visits are simply absent)",
        ),
        "interventions": RecordKind(
            name="interventions",
            table=InterventionUseRow,
            columns=(
                _client_col(),
                Column("intervention", ColumnType.TEXT, help="catalog intervention id"),
                Column("dose", ColumnType.FLOAT, minimum=0),
                Column("unit", ColumnType.TEXT),
                Column("start", ColumnType.DATE),
                Column("end", ColumnType.DATE, required=False),
                Column("phase", ColumnType.TEXT, required=False, free_text=True),
            ),
            key=("client_id", "intervention", "start_date"),
            check=_check_interventions,
            rows=_intervention_rows,
            description="protocol interventions (supplements, diet, probiotics)",
        ),
    }


KINDS: dict[str, RecordKind] = _kinds()


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


#: Input columns stored under another name (text lengths come from the stored column).
_STORED_AS = {
    ("clients", "client_code"): "code",
    ("labs", "unit"): "unit_as_entered",
    ("meds", "unit"): "dose_unit",
    ("interventions", "unit"): "dose_unit",
}


def text_limits(kind: RecordKind) -> dict[str, int]:
    """The longest text each input column of ``kind`` may hold: its table column's length."""
    table = kind.table.__table__
    limits: dict[str, int] = {}
    for col in kind.columns:
        if col.type != ColumnType.TEXT:
            continue
        stored = _STORED_AS.get((kind.name, col.name), col.name)
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
