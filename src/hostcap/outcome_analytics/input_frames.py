"""The input contract of the outcome analytics: two tidy frames, checked before any analysis.

``measurements`` — one row per observation:

========  =====  ================================================================
column    type   meaning
========  =====  ================================================================
client    str    pseudonymous client code
measure   str    a measure id (``tryptase``, ``hs_crp``, ``symptom_load`` …; see
                 :data:`hostcap.outcome_analytics.MEASURES`)
week      float  weeks since enrolment (negative before the protocol starts)
value     float  the observed value in the measure's unit
phase     str    optional: the protocol phase the observation falls in
========  =====  ================================================================

``clients`` — one row per client: ``client`` (str), ``phenotype`` (the rule-based label: ``A``,
``B``, ``C``, ``mixed`` or ``insufficient_data``), ``protocol`` (str); optional ``sex``,
``age_years`` and any numeric baseline features used by phenotype discovery.

Baseline is the last observation at week ≤ 0 or, when a client has none at or before week 0,
the first observation (the earliest visit stands in for a pre-protocol value; a baseline taken
after the protocol has started biases change towards zero, which is conservative).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hostcap.errors import Issue, ValidationError, describe_value

__all__ = [
    "CLIENT_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "PHENOTYPE_LABELS",
    "baseline_rows",
    "validate_clients",
    "validate_measurements",
]

MEASUREMENT_COLUMNS: tuple[str, ...] = ("client", "measure", "week", "value")
CLIENT_COLUMNS: tuple[str, ...] = ("client", "phenotype", "protocol")
#: Rule-based phenotype labels (hypothesis labels, docs/evidence.md#hostcap_phenotype_hypothesis).
PHENOTYPE_LABELS: tuple[str, ...] = ("A", "B", "C", "mixed", "insufficient_data")


def _missing_columns(frame: pd.DataFrame, required: Sequence[str], name: str) -> list[Issue]:
    return [
        Issue(
            location=f"{name}.{col}",
            message=f"column {col!r} is missing; got columns {sorted(map(str, frame.columns))}",
            value=sorted(map(str, frame.columns)),
            expected=f"a {name} frame with columns {', '.join(required)}",
        )
        for col in required
        if col not in frame.columns
    ]


def _numeric_issues(frame: pd.DataFrame, col: str, name: str) -> list[Issue]:
    """Every row of ``col`` that is not a finite number (first five shown, all counted)."""
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if not bad.any():
        return []
    rows = np.flatnonzero(bad)
    shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
    first = frame[col].iloc[rows[0]]
    return [
        Issue(
            location=f"{name}.{col}",
            message=f"column {col!r} has {len(rows)} value(s) that are not finite numbers "
            f"(rows {shown}; first {describe_value(first)}); expected a finite float",
            value=first,
            expected="a finite float",
        )
    ]


def _text_issues(frame: pd.DataFrame, col: str, name: str) -> list[Issue]:
    values = frame[col]
    bad = values.isna().to_numpy() | (values.astype("string").str.strip() == "").to_numpy(
        dtype=bool, na_value=True
    )
    if not bad.any():
        return []
    rows = np.flatnonzero(bad)
    return [
        Issue(
            location=f"{name}.{col}",
            message=f"column {col!r} is empty in {len(rows)} row(s) (first row {rows[0]}, "
            f"value {describe_value(values.iloc[rows[0]])}); expected a non-empty string",
            value=values.iloc[rows[0]],
            expected="a non-empty string",
        )
    ]


def validate_measurements(
    measurements: pd.DataFrame, *, known_measures: Sequence[str] | None = None
) -> pd.DataFrame:
    """Check the ``measurements`` frame and return a clean copy (typed, sorted).

    Parameters
    ----------
    measurements
        The tidy frame described in the module docstring.
    known_measures
        When given, every ``measure`` must be one of these.

    Returns
    -------
    pandas.DataFrame
        Columns ``client`` (str), ``measure`` (str), ``week`` (float), ``value`` (float) and
        ``phase`` (str) when present, sorted by client, measure and week.

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, non-numeric or non-finite weeks and values,
        empty client codes, unknown measures, duplicate (client, measure, week) rows.
    """
    if not isinstance(measurements, pd.DataFrame):
        raise ValidationError.single(
            "measurements", type(measurements).__name__, "a pandas DataFrame"
        )
    issues = _missing_columns(measurements, MEASUREMENT_COLUMNS, "measurements")
    if issues:
        raise ValidationError(issues, context="measurements")
    issues += _text_issues(measurements, "client", "measurements")
    issues += _text_issues(measurements, "measure", "measurements")
    issues += _numeric_issues(measurements, "week", "measurements")
    issues += _numeric_issues(measurements, "value", "measurements")
    if known_measures is not None:
        unknown = sorted(set(measurements["measure"].dropna().astype(str)) - set(known_measures))
        if unknown:
            issues.append(
                Issue(
                    location="measurements.measure",
                    message=f"measure value(s) {unknown} are not known; expected one of "
                    f"{', '.join(sorted(known_measures))}",
                    value=unknown,
                    expected="one of " + ", ".join(sorted(known_measures)),
                )
            )
    if issues:
        raise ValidationError(issues, context="measurements")
    columns = list(MEASUREMENT_COLUMNS) + (["phase"] if "phase" in measurements.columns else [])
    clean = measurements.loc[:, columns].copy()
    clean["client"] = clean["client"].astype(str)
    clean["measure"] = clean["measure"].astype(str)
    clean["week"] = pd.to_numeric(clean["week"]).astype(float)
    clean["value"] = pd.to_numeric(clean["value"]).astype(float)
    if "phase" in clean.columns:
        clean["phase"] = clean["phase"].fillna("none").astype(str)
    dup = clean.duplicated(["client", "measure", "week"], keep=False)
    if dup.any():
        first = clean.loc[dup].iloc[0]
        raise ValidationError(
            [
                Issue(
                    location="measurements.week",
                    message=f"{int(dup.sum())} rows repeat a (client, measure, week); first "
                    f"client {first['client']!r}, measure {first['measure']!r}, week "
                    f"{first['week']}; expected one value per client, measure and week",
                    value=(first["client"], first["measure"], float(first["week"])),
                    expected="one value per (client, measure, week)",
                )
            ],
            context="measurements",
        )
    return clean.sort_values(["client", "measure", "week"], kind="stable").reset_index(drop=True)


def validate_clients(clients: pd.DataFrame) -> pd.DataFrame:
    """Check the ``clients`` frame and return a clean copy.

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, empty or repeated client codes, phenotype labels
        outside :data:`PHENOTYPE_LABELS`, a non-numeric ``age_years``.
    """
    if not isinstance(clients, pd.DataFrame):
        raise ValidationError.single("clients", type(clients).__name__, "a pandas DataFrame")
    issues = _missing_columns(clients, CLIENT_COLUMNS, "clients")
    if issues:
        raise ValidationError(issues, context="clients")
    issues += _text_issues(clients, "client", "clients")
    issues += _text_issues(clients, "protocol", "clients")
    labels = clients["phenotype"].astype("string")
    bad = ~labels.isin(PHENOTYPE_LABELS).to_numpy(dtype=bool, na_value=True)
    if bad.any():
        first = clients["phenotype"].iloc[int(np.flatnonzero(bad)[0])]
        issues.append(
            Issue(
                location="clients.phenotype",
                message=f"phenotype value {describe_value(first)} (and {int(bad.sum()) - 1} "
                f"more) is not a rule-based label; expected one of {', '.join(PHENOTYPE_LABELS)}",
                value=first,
                expected="one of " + ", ".join(PHENOTYPE_LABELS),
            )
        )
    if "age_years" in clients.columns:
        ages = clients["age_years"]
        present = clients.loc[ages.notna()]
        issues += _numeric_issues(present, "age_years", "clients")
    dup = clients["client"].astype(str).duplicated()
    if dup.any():
        first = clients["client"].loc[dup].iloc[0]
        issues.append(
            Issue(
                location="clients.client",
                message=f"client value {describe_value(first)} appears more than once; "
                "expected one row per client",
                value=first,
                expected="unique client codes",
            )
        )
    if issues:
        raise ValidationError(issues, context="clients")
    clean = clients.copy()
    clean["client"] = clean["client"].astype(str)
    clean["phenotype"] = clean["phenotype"].astype(str)
    clean["protocol"] = clean["protocol"].astype(str)
    return clean.sort_values("client", kind="stable").reset_index(drop=True)


def baseline_rows(measurements: pd.DataFrame) -> pd.DataFrame:
    """The baseline observation per (client, measure): last at week ≤ 0, else the first.

    ``measurements`` must already be validated (sorted by client, measure, week).
    """
    pre = measurements.loc[measurements["week"] <= 0]
    last_pre = pre.groupby(["client", "measure"], sort=True).tail(1)
    first_any = measurements.groupby(["client", "measure"], sort=True).head(1)
    have = pd.MultiIndex.from_frame(last_pre[["client", "measure"]])
    first_index = pd.MultiIndex.from_frame(first_any[["client", "measure"]])
    fallback = first_any.loc[~first_index.isin(have)]
    out = pd.concat([last_pre, fallback])
    return out.sort_values(["client", "measure"], kind="stable").reset_index(drop=True)
