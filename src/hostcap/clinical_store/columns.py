"""Declared column constraints for tidy records, and a vectorised parser that checks them.

One declaration per column (type, required, range, choices) generates both the parsing and the
error messages, so that a single ``hostcap lab add`` and a 200,000-row import are checked by the
same code and say the same thing: ``row 12: value 'abc' is not a number; expected a number``.

Text is normalised to Unicode NFKC and stripped; text that is not valid UTF-8 is refused. A
date-time with a time zone (``2026-01-12T09:00+05:00``, ``…Z``) is converted to UTC and stored
without its zone; a date-time without one is stored as given (the clinic's local time), as
before, and checked against the local clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.errors import Issue, Severity, describe_value
from hostcap.record_fields import Column, ColumnType

__all__ = ["Column", "ColumnType", "ParsedFrame", "parse_columns", "row_location"]


_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


@dataclass
class ParsedFrame:
    """Parsed columns (``frame``), every issue found, and which rows are bad."""

    frame: pd.DataFrame
    issues: list[Issue]
    bad_rows: np.ndarray
    #: The user has checked values above a soft limit (``--confirm-unusual``): store them, flagged.
    confirm_unusual: bool = False

    def add(self, mask: np.ndarray | pd.Series, make: object) -> None:
        """Record an issue for each row where ``mask`` is true; ``make(i)`` builds it."""
        arr = np.asarray(mask, dtype=bool)
        if not arr.any():
            return
        for i in np.flatnonzero(arr):
            issue = make(int(i))  # type: ignore[operator]
            self.issues.append(issue)
            if issue.severity == Severity.ERROR:
                self.bad_rows[i] = True


def row_location(index: int, column: str | None = None, *, first_line: int = 2) -> str:
    """``row N`` is the line in the file (the header is line 1), so users can find it."""
    row = index + first_line
    return f"row {row}, {column}" if column else f"row {row}"


def _text(series: pd.Series) -> pd.Series:
    # Arrow-backed strings: strip, compare and parse run in C++ rather than per Python object.
    # NFKC folds compatibility forms (full-width "Ｃ００１", ligatures) into their plain forms, so
    # that what looks the same is stored the same.
    return series.astype("string[pyarrow]").str.normalize("NFKC").str.strip()


def _undecodable(values: np.ndarray) -> np.ndarray:
    """Which values are text that is not valid Unicode (bytes that were not UTF-8 on input)."""
    texts = [v for v in values if isinstance(v, str)]
    try:
        "\x00".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return np.zeros(len(values), dtype=bool)

    def bad(v: object) -> bool:
        try:
            str(v).encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    return np.array([isinstance(v, str) and bad(v) for v in values], dtype=bool)


#: A date-time that names its offset from UTC (``Z``, ``+05:00``, ``-0330``).
_ZONED = r"(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


def _parse_datetimes(
    text: pd.Series, *, now: dt.datetime
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Parsed date-times (time-zone-aware ones converted to UTC, naive ones kept as given),
    which failed to parse, and which lie in the future."""
    zoned = np.asarray(text.str.contains(_ZONED, regex=True, na=False), dtype=bool)
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if (~zoned).any():
        parsed[~zoned] = pd.to_datetime(text[~zoned], format="ISO8601", errors="coerce")
    if zoned.any():
        aware = pd.to_datetime(text[zoned], format="ISO8601", errors="coerce", utc=True)
        parsed[zoned] = aware.dt.tz_convert(None)
    parsed = parsed.astype("datetime64[ns]")
    unparsed = np.asarray(parsed.isna(), dtype=bool)
    stamps = parsed.to_numpy(dtype="datetime64[ns]")
    local_now = np.datetime64(now.replace(microsecond=0))
    utc_now = np.datetime64(dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0))
    future = ~unparsed & np.where(zoned, stamps > utc_now, stamps > local_now)
    return parsed, unparsed, future


def parse_columns(
    raw: pd.DataFrame,
    columns: Sequence[Column],
    *,
    now: dt.datetime,
    first_line: int = 2,
) -> ParsedFrame:
    """Parse and check every declared column of ``raw`` (all values as strings).

    Returns every issue found (never only the first) and a frame of typed columns; rows with an
    error are marked in ``bad_rows``. Unknown columns are reported as errors too, so that a typo
    in a header is not silently dropped.
    """
    n = len(raw)
    out = ParsedFrame(frame=pd.DataFrame(index=raw.index), issues=[], bad_rows=np.zeros(n, bool))
    known = {c.name for c in columns}
    for extra in [c for c in raw.columns if c not in known]:
        out.issues.append(
            Issue(
                location=f"column {extra}",
                message=f"unknown column {extra!r}; expected columns: "
                + ", ".join(c.name for c in columns),
                value=extra,
                expected=", ".join(c.name for c in columns),
            )
        )
        out.bad_rows[:] = True
    for col in columns:
        if col.name not in raw.columns:
            if col.required:
                out.issues.append(
                    Issue(
                        location=f"column {col.name}",
                        message=f"required column {col.name!r} is missing",
                        value=None,
                        expected=col.expected,
                    )
                )
                out.bad_rows[:] = True
            out.frame[col.name] = pd.Series([col.default] * n, index=raw.index, dtype=object)
            continue
        _parse_one(raw[col.name], col, out, now=now, first_line=first_line)
    return out


def _issue(col: Column, i: int, value: object, message: str, first_line: int) -> Issue:
    return Issue(
        location=row_location(i, col.name, first_line=first_line),
        message=message,
        value=value,
        expected=col.expected,
    )


def _parse_one(
    series: pd.Series, col: Column, out: ParsedFrame, *, now: dt.datetime, first_line: int
) -> None:
    raw_values = series.to_numpy(dtype=object)
    undecodable = _undecodable(raw_values)
    if undecodable.any():
        out.add(
            undecodable,
            lambda i: _issue(
                col,
                i,
                raw_values[i],
                f"{col.name} value {describe_value(raw_values[i])} is not valid UTF-8 text; "
                f"expected {col.expected} in UTF-8",
                first_line,
            ),
        )
        series = series.astype(object).where(~undecodable, None)
    text = _text(series)
    blank = np.asarray(text.isna() | (text == ""), dtype=bool) & ~undecodable
    if col.required:
        out.add(
            blank,
            lambda i: _issue(
                col, i, None, f"{col.name} is empty; expected {col.expected}", first_line
            ),
        )

    def bad(mask: np.ndarray, what: str) -> None:
        out.add(
            mask & ~blank,
            lambda i: _issue(
                col,
                i,
                raw_values[i],
                f"{col.name} value {describe_value(raw_values[i])} {what}; expected {col.expected}",
                first_line,
            ),
        )

    if col.type in (ColumnType.FLOAT, ColumnType.INT):
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        bad(np.isnan(arr), "is not a number")
        if col.type == ColumnType.INT:
            bad(~np.isnan(arr) & (np.floor(arr) != arr), "is not a whole number")
        finite = ~np.isnan(arr)
        if col.minimum is not None:
            bad(finite & (arr < col.minimum), "is too small")
        if col.maximum is not None:
            bad(finite & (arr > col.maximum), "is too large")
        out.frame[col.name] = values
    elif col.type == ColumnType.DATETIME:
        parsed, unparsed, future = _parse_datetimes(text, now=now)
        bad(unparsed & ~undecodable, "is not a valid date-time")
        bad(future, f"is in the future (now is {now:%Y-%m-%dT%H:%M})")
        out.frame[col.name] = parsed
    elif col.type == ColumnType.DATE:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):  # pragma: no cover - a zoned date
            parsed = parsed.dt.tz_convert(None)
        unparsed = np.asarray(parsed.isna(), dtype=bool)
        bad(unparsed & ~undecodable, "is not a valid date")
        has_time = text.str.contains(r"[T ]\d", regex=True, na=False).to_numpy(dtype=bool)
        bad(has_time & ~unparsed, "has a time of day")
        limit = np.datetime64(now.replace(microsecond=0))
        future = ~unparsed & (parsed.to_numpy(dtype="datetime64[ns]") > limit)
        bad(future, f"is in the future (now is {now:%Y-%m-%dT%H:%M})")
        out.frame[col.name] = parsed
    elif col.type == ColumnType.BOOL:
        lowered = text.str.lower()
        is_true = lowered.isin(_TRUE).to_numpy(dtype=bool)
        is_false = lowered.isin(_FALSE).to_numpy(dtype=bool)
        bad(~is_true & ~is_false, "is not true or false")
        values_b = pd.Series(np.where(is_true, True, False), index=series.index, dtype=object)
        values_b[blank] = col.default
        out.frame[col.name] = values_b
    elif col.type == ColumnType.CHOICE:
        lowered = text.str.lower()
        bad(~lowered.isin(col.choices).to_numpy(dtype=bool), "is not allowed")
        out.frame[col.name] = lowered.astype(object).where(~blank, col.default)
    elif col.type == ColumnType.LIST:
        lists = [
            [p.strip().lower() for p in str(v).replace(",", ";").split(";") if p.strip()]
            if not b
            else []
            for v, b in zip(raw_values, blank, strict=True)
        ]
        if col.choices:
            allowed = set(col.choices)
            wrong = np.array([any(p not in allowed for p in parts) for parts in lists], bool)
            bad(wrong, "names an item that is not allowed")
        out.frame[col.name] = pd.Series(lists, index=series.index, dtype=object)
    else:
        out.frame[col.name] = text.astype(object).where(~blank, col.default)
