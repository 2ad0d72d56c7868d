"""What the store's writes share: the import report, row conversions, the text, phase and
duplicate checks, and the audited row hashes they record."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import (
    Date,
    DateTime,
    Table,
    inspect,
)
from sqlalchemy.orm import Session

from hostcap.clinical_store.audit import (
    HashedRows,
    row_hasher,
)
from hostcap.clinical_store.record_kinds import (
    RecordKind,
)
from hostcap.clinical_store.tables import (
    Base,
)
from hostcap.errors import (
    IntegrityError,
    Issue,
    ValidationError,
    describe_value,
)
from hostcap.record_fields import PHENOTYPE_LABELS


@dataclass(frozen=True)
class ImportReport:
    """What an import (or a single add) did, or would do with ``dry_run``."""

    kind: str
    rows_read: int
    inserted: int
    replaced: int
    dry_run: bool
    batch: str | None
    warnings: tuple[Issue, ...] = ()
    ids: tuple[int, ...] = field(default=(), repr=False)


def row_to_dict(row: Base) -> dict[str, Any]:
    """A table row as a plain dict of its columns."""
    mapper = inspect(type(row))
    return {c.key: getattr(row, c.key) for c in mapper.column_attrs}


def table_of(spec: RecordKind) -> Table:
    return cast(Table, spec.table.__table__)


def now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def phase_issues(phases: Sequence[tuple[str, float, float]]) -> list[Issue]:
    issues: list[Issue] = []
    previous_end: float | None = None
    for i, (name, start, end) in enumerate(phases, start=1):
        where = f"phase {i} ({name})"
        if not str(name).strip():
            issues.append(
                Issue(where, "phase name is empty; expected a name", value=name, expected="a name")
            )
        if not 0 <= start < end <= 520:
            issues.append(
                Issue(
                    where,
                    f"phase weeks {start}–{end} are not a forward interval; expected "
                    "0 <= start_week < end_week <= 520",
                    value=f"{start}-{end}",
                    expected="0 <= start_week < end_week <= 520",
                )
            )
        if previous_end is not None and start < previous_end:
            issues.append(
                Issue(
                    where,
                    f"phase starts at week {start}, before the previous phase ends (week "
                    f"{previous_end}); expected phases in order without overlap",
                    value=start,
                    expected=f">= {previous_end}",
                )
            )
        previous_end = end
    return issues


def normal_text(value: str) -> str:
    """Text as the store keeps it (NFKC, stripped), for looking a stored value up."""
    return unicodedata.normalize("NFKC", value).strip()


def is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_code_text(code: str) -> None:
    try:
        str(code).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError.single(
            "client_code",
            code,
            "a client code in UTF-8 text",
            message=f"value {describe_value(code)} is not valid UTF-8 text; expected a client "
            "code in UTF-8 text",
        ) from None


def text_issue(where: str, value: str | None, limit: int, *, required: bool) -> Issue | None:
    if value is None or not str(value).strip():
        if not required:
            return None
        return Issue(where, f"{where} is empty; expected a name", value=value, expected="a name")
    if len(value) > limit:
        return Issue(
            where,
            f"{where} value {describe_value(value)} is {len(value)} characters long; expected "
            f"at most {limit} characters",
            value=value,
            expected=f"text of at most {limit} characters",
        )
    return None


def strip_row(issues: Sequence[Issue]) -> list[Issue]:
    """Single-record commands speak of fields, not of file rows."""
    out = []
    for i in issues:
        loc = i.location
        if loc.startswith("row ") and ", " in loc:
            loc = loc.split(", ", 1)[1]
        elif loc.startswith("row "):
            loc = ""
        out.append(Issue(loc, i.message, i.severity, i.value, i.expected, i.code))
    return out


def key_values(series: pd.Series) -> pd.Series:
    """Key values comparable across the file and the database (dates/times to datetime64)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    if series.dtype == object:
        sample = series.dropna()
        if not sample.empty and isinstance(sample.iat[0], dt.date | pd.Timestamp):
            return pd.to_datetime(series)
    return series


def duplicate_issues(
    spec: RecordKind, rows: pd.DataFrame, existing: pd.Series, *, replace: bool
) -> list[Issue]:
    """Rows repeating an earlier row's key, and (unless replacing) keys already stored."""
    issues: list[Issue] = []
    if rows.empty:
        return issues
    shown_keys = [k for k in spec.key if k != "client_id"]
    label = ", ".join(shown_keys)

    def shown(i: int) -> str:
        return ", ".join(str(rows[k].iat[i]) for k in shown_keys)

    keys = rows[list(spec.key)].copy()
    for k in spec.key:
        keys[k] = key_values(keys[k])
    repeated = keys.duplicated(keep="first").to_numpy()
    if repeated.any():
        first_of = keys.reset_index(drop=True).groupby(list(spec.key), sort=False).ngroup()
        first_row = pd.Series(np.arange(len(keys))).groupby(first_of.to_numpy()).transform("min")
        for i in (int(j) for j in np.flatnonzero(repeated)):
            issues.append(
                Issue(
                    location=f"row {i + 2}",
                    message=f"duplicate {spec.name} record ({label} = {shown(i)}) repeats row "
                    f"{int(first_row.to_numpy()[i]) + 2}; expected one row per {label}",
                    value=shown(i),
                    expected=f"one row per {label}",
                    code="duplicate_in_file",
                )
            )
    if not replace:
        for i in (int(j) for j in np.flatnonzero(existing.notna().to_numpy())):
            issues.append(
                Issue(
                    location=f"row {i + 2}",
                    message=f"{spec.name} record ({label} = {shown(i)}) is already in the store; "
                    "expected a new record (use --replace to overwrite it explicitly)",
                    value=shown(i),
                    expected="a new record, or --replace",
                    code="duplicate",
                )
            )
    return issues


def enrolment_fields(
    protocol: str, phenotype_label: str | None, phases: Sequence[tuple[str, float, float]]
) -> tuple[str, str | None, list[tuple[str, float, float]], list[Issue]]:
    """An enrolment's text normalised (NFKC, trimmed, the label's canonical case) and every
    problem with it: a missing or too long protocol, long phase names, an unknown phenotype
    label, phases empty, reversed or overlapping. One check for single and bulk enrolment."""
    protocol = unicodedata.normalize("NFKC", str(protocol)).strip()
    label = (
        None
        if phenotype_label is None or not str(phenotype_label).strip()
        else unicodedata.normalize("NFKC", str(phenotype_label)).strip()
    )
    named = [
        (unicodedata.normalize("NFKC", str(n)).strip(), start, end) for n, start, end in phases
    ]
    issues = phase_issues(named)
    checks = [
        text_issue("protocol", protocol, 100, required=True),
        *(
            text_issue(f"phase {i} name", name, 100, required=False)
            for i, (name, _, _) in enumerate(named, start=1)
        ),
    ]
    issues.extend(i for i in checks if i is not None)
    if label is not None:
        known = PHENOTYPE_LABELS
        canonical = {k.lower(): k for k in known}
        if label.lower() in canonical:
            label = canonical[label.lower()]
        else:
            issues.append(
                Issue(
                    "phenotype_label",
                    f"phenotype_label {describe_value(label)} is not a phenotype label; "
                    f"expected one of {', '.join(known)}",
                    value=label,
                    expected="one of " + ", ".join(known),
                )
            )
    return protocol, label, named, issues


def in_id_order(ids: Sequence[int], hashes: Sequence[str]) -> HashedRows:
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    return HashedRows(
        np.asarray(ids, dtype=np.int64)[order].tolist(), [hashes[i] for i in order.tolist()]
    )


def reason_text(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError.single(
            "--reason", reason or "", "a non-empty reason (it is kept in the audit log)"
        )
    return text


def column_typed(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` restricted to ``table``'s columns, dates as dates (not midnight datetimes)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in table.c or name == "id":
            continue
        column_type = table.c[name].type
        if (
            isinstance(value, dt.datetime)
            and isinstance(column_type, Date)
            and not isinstance(column_type, DateTime)
        ):
            value = value.date()
        out[name] = value
    return out


def comparable(value: Any) -> Any:
    """A value as compared between an import and the store (dates as timestamps, numbers to
    12 significant digits, missing as None)."""
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, dt.date | pd.Timestamp):
        return pd.Timestamp(value)
    if isinstance(value, int | float | np.number):
        return float(f"{float(value):.12g}")
    return value


def stored_hashes(
    session: Session, table: type[Base] | Table, ids: Sequence[int]
) -> dict[str, list[tuple[int, str | None]]]:
    """Content hashes of rows as stored now (read back in this transaction), for the audit."""
    core = cast(Table, getattr(table, "__table__", table))
    hashes = row_hasher(session).hash_stored(session, core, ids)
    return {core.name: sorted(hashes.items())}


def raise_integrity(message: str) -> None:
    raise IntegrityError(message)
