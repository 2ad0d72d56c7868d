"""The domain checks and stored rows of labs, medications and questionnaires, and the checks
every kind shares (known client, dates after birth, ordered dates, catalog lookups).

Each check adds its issues to the parsed frame; each row builder maps the parsed fields to
their declared table columns (``hostcap.record_fields``) plus what the store derives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hostcap import catalog
from hostcap.clinical_store.columns import ParsedFrame, row_location
from hostcap.errors import HostcapError, Issue, Severity, ValidationError, describe_value
from hostcap.record_fields import DECLARATIONS, RecordDeclaration


@dataclass(frozen=True)
class ClientInfo:
    """What validation needs to know about an existing client."""

    id: int
    code: str
    birth_year: int


# ---------------------------------------------------------------------------------------------
# shared checks


def check_clients(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
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


def check_not_before_birth(parsed: ParsedFrame, column: str, first_line: int) -> None:
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


def check_order(parsed: ParsedFrame, start: str, end: str, first_line: int) -> None:
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


def catalog_lookup(
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


def stored_rows(
    frame: pd.DataFrame, declaration: RecordDeclaration, computed: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The table columns of one kind's rows: each field under its declared table column, the
    client's id, and ``computed`` (table column → parsed column) for what the store derives."""
    columns: dict[str, Any] = {}
    if declaration.needs_client:
        columns["client_id"] = frame["client_id"]
    for col in declaration.columns:
        if col.name == "client_code" and declaration.needs_client:
            continue
        columns[col.table_column] = frame[col.name]
    for table_column, parsed_column in (computed or {}).items():
        columns[table_column] = frame[parsed_column]
    return pd.DataFrame(columns, index=frame.index)


# ---------------------------------------------------------------------------------------------
# labs


def check_labs(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "collected_at", first_line)
    frame = parsed.frame
    frame["analyte_id"] = catalog_lookup(
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


def lab_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = stored_rows(
        frame,
        DECLARATIONS["labs"],
        {
            "analyte": "analyte_id",
            "value": "canonical_value",
            "unit": "canonical_unit",
            "warning": "warning",
        },
    )
    return rows


# ---------------------------------------------------------------------------------------------
# dose limits (medications and interventions)


def dose_limits(
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


def check_meds(parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "start", first_line)
    check_order(parsed, "start", "end", first_line)
    frame = parsed.frame
    frame["drug_id"] = catalog_lookup(
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
        unusual[i] = dose_limits(
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


def med_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = stored_rows(
        frame,
        DECLARATIONS["meds"],
        {
            "drug": "drug_id",
            "daily_dose": "daily_dose",
            "ddd_per_day": "ddd_per_day",
            "drug_class": "drug_class",
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


def check_questionnaires(
    parsed: ParsedFrame, clients: Mapping[str, ClientInfo], first_line: int
) -> None:
    check_clients(parsed, clients, first_line)
    check_not_before_birth(parsed, "date", first_line)
    frame = parsed.frame
    frame["instrument_id"] = catalog_lookup(
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


def questionnaire_rows(frame: pd.DataFrame) -> pd.DataFrame:
    scores = list(frame["score"])
    rows = stored_rows(
        frame,
        DECLARATIONS["questionnaires"],
        {"instrument": "instrument_id", "answers": "answers_list"},
    )
    rows["total"] = [float(sc.total) for sc in scores]
    rows["mean"] = [None if sc.mean is None else float(sc.mean) for sc in scores]
    subscales: list[Any] = [{k: float(v) for k, v in sc.subscales.items()} for sc in scores]
    rows["subscales"] = subscales
    rows["interpretation"] = ["; ".join(sc.interpretation) or None for sc in scores]
    return rows
