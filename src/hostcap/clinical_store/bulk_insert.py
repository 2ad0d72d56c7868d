"""Fast, typed bulk inserts: one ``executemany`` (SQLite) or one ``COPY`` (PostgreSQL).

Rows arrive as a frame of table columns; each column is converted once, by its SQLAlchemy type,
to what the driver stores (SQLite: the same text formats SQLAlchemy itself writes, so the ORM
reads them back unchanged; PostgreSQL: Python objects for COPY). This is what lets a 200,000-row
import run at the speed of the database rather than of per-row Python objects.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import JSON, Boolean, Connection, Date, DateTime, Float, Integer, Table

__all__ = ["bulk_insert", "python_values"]


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
        return [
            None if m else json.dumps(v, sort_keys=True)
            for v, m in zip(series, missing, strict=True)
        ]
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


def bulk_insert(conn: Connection, table: Table, rows: pd.DataFrame) -> dict[str, list[Any]]:
    """Insert every row of ``rows`` (columns named as in ``table``) in one statement.

    Returns the inserted values column by column in their SQLite storage form (the form the
    audit's row hashes are computed over, whatever the backend).
    """
    if rows.empty:
        return {}
    dialect = conn.dialect.name
    columns = [c for c in rows.columns if c in table.c]
    converted = [_column_values(rows[c], table.c[c].type, dialect) for c in columns]
    tuples = list(zip(*converted, strict=True))
    names = ", ".join(columns)
    if dialect == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None, "a PostgreSQL connection always has a driver connection"
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for record in tuples:
                copy.write_row(record)
        return {c: _column_values(rows[c], table.c[c].type, "sqlite") for c in columns}
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", tuples)
    return dict(zip(columns, converted, strict=True))
