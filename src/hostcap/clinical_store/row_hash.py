"""Content hashes of stored rows, so that the audit log covers the data and not only itself.

A row's canonical text is the JSON array ``["<table>", {"id": <id>, "<column>": <value>, ...}]``
with the other columns in name order and NULL columns left out (so that adding a nullable column
in a later migration changes no hash). Each value is written in one storage form whatever the
backend: dates ``YYYY-MM-DD``, date-times ``YYYY-MM-DD HH:MM:SS.ffffff``, booleans 0/1, JSON
columns as their :func:`json_storage_text`, numbers as Python writes them. That is the
form :mod:`bulk_insert` already computes for SQLite, so a 200,000-row import hashes the values
it has just written without reading them back; single writes and ``audit --verify`` read rows
through SQLAlchemy and convert them with :func:`storage_value`. Tests on both backends check
that the two paths agree.

The hash is HMAC-SHA256 of the canonical text under the store's audit key: a row hash in the
audit log then tells nothing about the values to someone without the key (the identity table's
rows included), and cannot be recomputed for an edited row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, Integer, RowMapping, Table, select
from sqlalchemy.orm import Session

__all__ = ["RowHasher", "json_storage_text", "storage_value"]

_encode_text = json.encoder.encode_basestring_ascii


def _whole_numbers_as_int(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole_numbers_as_int(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_numbers_as_int(v) for k, v in value.items()}
    return value


def json_storage_text(value: Any) -> str:
    """A JSON column's value as the text hostcap writes and hashes: sorted keys, and a whole
    number written as an integer (``3.0`` → ``3``).

    SQLite gives a column declared JSON numeric affinity, so the text ``3.0`` is stored, and
    read back, as the integer 3; writing whole numbers as integers makes what is written, what
    is stored and what is hashed the same on both backends.
    """
    return json.dumps(_whole_numbers_as_int(value), sort_keys=True)


def storage_value(value: Any, column_type: Any) -> Any:
    """``value`` as read through SQLAlchemy, in the storage form the hash is computed over."""
    if value is None:
        return None
    if isinstance(column_type, JSON):
        return json_storage_text(value)
    if isinstance(column_type, DateTime):
        if isinstance(value, dt.datetime):
            return value.isoformat(sep=" ", timespec="microseconds")
        return str(value)
    if isinstance(column_type, Date):
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if isinstance(column_type, Boolean):
        return int(bool(value))
    if isinstance(column_type, Integer):
        return int(value)
    if isinstance(column_type, Float):
        return float(value)
    return str(value)


def _encoded(values: Sequence[Any]) -> list[str] | None:
    """Each value as JSON (``""`` for NULL); None when the column is all NULL.

    A column holds one storage type (text, int or float); text and int columns repeat few
    distinct values in bulk imports, so each distinct value is encoded once.
    """
    sample = next((v for v in values if v is not None), None)
    if sample is None:
        return None
    if isinstance(sample, float):
        if None in values or 0.0 in values:  # NULLs, or -0.0 to write as 0.0
            return ["" if v is None else repr(float(v) + 0.0) for v in values]
        return list(map(repr, values))
    if isinstance(sample, str) and None not in values and len(set(values[:1000])) > 500:
        return list(map(_encode_text, values))  # mostly distinct (times): no cache
    encoded: dict[Any, str] = {None: ""}
    for v in set(values):
        if isinstance(v, str):
            encoded[v] = _encode_text(v)
        elif isinstance(v, float):
            encoded[v] = repr(v + 0.0)
        elif v is not None:  # int and bool (0/1)
            encoded[v] = repr(int(v))
    return list(map(encoded.__getitem__, values))


class RowHasher:
    """HMAC-SHA256 row hashes under one key."""

    def __init__(self, key: bytes) -> None:
        block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def mac(self, message: bytes) -> str:
        """HMAC-SHA256(key, message) as hex (RFC 2104, with the pads hashed once)."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def hash_columns(
        self, table: Table, ids: Sequence[int], columns: Mapping[str, Sequence[Any]]
    ) -> list[str]:
        """Hashes of rows given column-wise in storage form (columns absent count as NULL)."""
        names = sorted(c.name for c in table.c if c.name != "id" and c.name in columns)
        template = "[" + _encode_text(table.name) + ',{{"id":{}'
        parts: list[list[str]] = []
        for name in names:
            encoded = _encoded(columns[name])
            if encoded is None:  # NULL everywhere: left out
                continue
            prefix = "," + _encode_text(name) + ":"
            if "" in encoded:  # some NULLs: the name goes with each value
                template += "{}"
                parts.append(["" if e == "" else prefix + e for e in encoded])
            else:
                template += prefix.replace("{", "{{").replace("}", "}}") + "{}"
                parts.append(encoded)
        template += "}}]"
        inner, outer = self._inner, self._outer
        out: list[str] = []
        append = out.append
        for text in map(template.format, ids, *parts):
            h = inner.copy()
            h.update(text.encode())
            o = outer.copy()
            o.update(h.digest())
            append(o.hexdigest())
        return out

    def hash_rows(self, table: Table, rows: Iterable[RowMapping]) -> dict[int, str]:
        """Hashes of rows read through SQLAlchemy (each a mapping of every column), by id."""
        materialised = list(rows)
        if not materialised:
            return {}
        ids = [int(r["id"]) for r in materialised]
        columns = {
            c.name: [storage_value(r[c.name], c.type) for r in materialised]
            for c in table.c
            if c.name != "id"
        }
        return dict(zip(ids, self.hash_columns(table, ids, columns), strict=True))

    def hash_stored(
        self, session: Session, table: Table, ids: Sequence[int] | None = None
    ) -> dict[int, str]:
        """Hashes of the stored rows of ``table`` (all of them, or those with ``ids``)."""
        out: dict[int, str] = {}
        if ids is None:
            result = session.execute(
                select(table).order_by(table.c.id).execution_options(yield_per=20_000)
            )
            for chunk in result.mappings().partitions(20_000):
                out.update(self.hash_rows(table, chunk))
            return out
        wanted = sorted({int(i) for i in ids})
        for start in range(0, len(wanted), 500):
            chunk_ids = wanted[start : start + 500]
            rows = session.execute(select(table).where(table.c.id.in_(chunk_ids))).mappings()
            out.update(self.hash_rows(table, rows))
        return out
