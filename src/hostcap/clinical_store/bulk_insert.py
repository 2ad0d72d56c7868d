"""Fast, typed bulk inserts: multi-row ``INSERT … RETURNING`` (SQLite) or ``COPY`` (PostgreSQL).

Rows arrive as a frame of table columns; each column is converted once, by its SQLAlchemy type,
to what the driver stores (SQLite: the same text formats SQLAlchemy itself writes, so the ORM
reads them back unchanged; PostgreSQL: Python objects for COPY). This is what lets a 200,000-row
import run at the speed of the database rather than of per-row Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Connection, Date, DateTime, Float, Integer, Table

from hostcap.clinical_store.row_hash import json_storage_text

__all__ = ["InsertedRows", "bulk_insert", "python_values"]

# SQLite's default bound-parameter limit (SQLITE_MAX_VARIABLE_NUMBER, since 3.32).
_SQLITE_MAX_VARIABLES = 32766


def _with_nulls(values: np.ndarray, missing: np.ndarray) -> list[Any]:
    """``values`` as a Python list with None where ``missing`` (one C-level pass when none)."""
    out: list[Any] = values.tolist()
    if missing.any():
        for i in np.flatnonzero(missing):
            out[i] = None
    return out


def _column_values(series: pd.Series, column_type: Any, dialect: str) -> list[Any]:
    missing = np.asarray(pd.isna(series), dtype=bool)
    if isinstance(column_type, JSON):
        return [None if m else json_storage_text(v) for v, m in zip(series, missing, strict=True)]
    if isinstance(column_type, DateTime):
        stamps = pd.to_datetime(series)
        if dialect == "sqlite":
            text = np.datetime_as_string(stamps.to_numpy(dtype="datetime64[us]"), unit="us")
            return _with_nulls(np.char.replace(text, "T", " "), missing)
        return [None if pd.isna(t) else t.to_pydatetime() for t in stamps]
    if isinstance(column_type, Date):
        days = pd.to_datetime(series)
        if dialect == "sqlite":
            text = np.datetime_as_string(days.to_numpy(dtype="datetime64[D]"), unit="D")
            return _with_nulls(text, missing)
        return [None if pd.isna(d) else d.date() for d in days]
    if isinstance(column_type, Boolean):
        flags = np.where(missing, False, series.to_numpy(dtype=object)).astype(bool)
        return _with_nulls(flags.astype(int) if dialect == "sqlite" else flags, missing)
    if isinstance(column_type, Integer):
        numbers = np.where(missing, 0, series.to_numpy(dtype=object)).astype("int64")
        return _with_nulls(numbers, missing)
    if isinstance(column_type, Float):
        return _with_nulls(pd.to_numeric(series).astype("float64").to_numpy(), missing)
    return _with_nulls(series.astype(str).to_numpy(dtype=object), missing)


def python_values(row: pd.Series) -> dict[str, Any]:
    """One row as plain Python values (None for missing), e.g. for the audit log."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, list | dict):
            out[str(key)] = value
        elif value is None or (not isinstance(value, str) and pd.isna(value)):
            out[str(key)] = None
        elif isinstance(value, pd.Timestamp):
            out[str(key)] = value.to_pydatetime()
        elif isinstance(value, np.generic):
            out[str(key)] = value.item()
        else:
            out[str(key)] = value
    return out


def _sequence_ids(conn: Connection, table: Table, n: int) -> list[int]:
    """``n`` fresh ids drawn from the table's own sequence (safe under concurrent writers)."""
    result = conn.exec_driver_sql(
        f"SELECT nextval(pg_get_serial_sequence('{table.name}', 'id')) "
        f"FROM generate_series(1, {int(n)})"
    )
    return sorted(int(i) for (i,) in result)


@dataclass(frozen=True)
class InsertedRows:
    """What :func:`bulk_insert` wrote: the new ids in row order, and the values column by column
    in their SQLite storage form (the form the audit's row hashes are computed over, whatever
    the backend)."""

    ids: list[int]
    values: dict[str, list[Any]]


def bulk_insert(conn: Connection, table: Table, rows: pd.DataFrame) -> InsertedRows:
    """Insert every row of ``rows`` (columns named as in ``table``); return ids and values.

    The ids come from the database itself, never from counting rows above an earlier maximum
    (which another writer's commit can enter): on PostgreSQL they are drawn from the table's
    sequence first and written by ``COPY``; on SQLite each multi-row ``INSERT`` returns them
    (``RETURNING``, SQLite >= 3.35). SQLite hands out rowids in VALUES order inside one
    statement, and its returned rows come in no promised order, so they are sorted.
    """
    if rows.empty:
        return InsertedRows([], {})
    dialect = conn.dialect.name
    columns = [c for c in rows.columns if c in table.c and c != "id"]
    converted = [_column_values(rows[c], table.c[c].type, dialect) for c in columns]
    tuples = list(zip(*converted, strict=True))
    if dialect == "postgresql":
        ids = _sequence_ids(conn, table, len(tuples))
        names = ", ".join(["id", *columns])
        raw = conn.connection.driver_connection
        assert raw is not None, "a PostgreSQL connection always has a driver connection"
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row_id, record in zip(ids, tuples, strict=True):
                copy.write_row((row_id, *record))
        return InsertedRows(
            ids, {c: _column_values(rows[c], table.c[c].type, "sqlite") for c in columns}
        )
    names = ", ".join(columns)
    row_marks = "(" + ", ".join("?" for _ in columns) + ")"
    per_statement = max(1, _SQLITE_MAX_VARIABLES // max(1, len(columns)))
    ids = []
    for start in range(0, len(tuples), per_statement):
        chunk = tuples[start : start + per_statement]
        sql = (
            f"INSERT INTO {table.name} ({names}) VALUES "
            + ", ".join([row_marks] * len(chunk))
            + " RETURNING id"
        )
        flat = [value for record in chunk for value in record]
        returned = sorted(int(i) for (i,) in conn.exec_driver_sql(sql, tuple(flat)))
        if len(returned) != len(chunk):  # pragma: no cover - the database broke its contract
            raise RuntimeError(f"{table.name}: {len(returned)} ids for {len(chunk)} rows")
        ids.extend(returned)
    return InsertedRows(ids, dict(zip(columns, converted, strict=True)))
