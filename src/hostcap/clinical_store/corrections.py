"""Corrections of stored records: a stored row back to the input it was validated from.

``hostcap record correct KIND ID --field F --value V`` rebuilds the record's input (the columns
of its record kind, as strings), replaces one field and validates the whole record again with
the same ``validate_records`` every insert goes through, so a correction can store nothing an
insert would refuse. ``INPUT_COLUMNS`` says, per kind, which stored column holds each input
column (from the record-kind declarations).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from typing import Any

from hostcap.clinical_store.record_kinds import RecordKind
from hostcap.errors import ValidationError
from hostcap.record_fields import DECLARATIONS

__all__ = ["INPUT_COLUMNS", "correctable_fields", "input_values"]

# kind -> {input column: stored column}, from the declarations; client_code comes from the client.
INPUT_COLUMNS: dict[str, dict[str, str]] = {
    name: declaration.input_columns for name, declaration in DECLARATIONS.items()
}


def correctable_fields(spec: RecordKind) -> list[str]:
    """The input columns of ``spec`` a correction may change (every one but the client)."""
    return [c.name for c in spec.columns if c.name != "client_code"]


def _as_text(kind: str, name: str, value: Any) -> str | None:
    """A stored value written as the input text that parses back to it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind == "findings" and name == "value":
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        separator = ";" if kind == "episodes" else ","
        return separator.join(repr(v) if isinstance(v, float) else str(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def input_values(
    spec: RecordKind, stored: Mapping[str, Any], client_code: str
) -> dict[str, str | None]:
    """The input of kind ``spec`` that a stored row was validated from, as strings."""
    mapping = INPUT_COLUMNS.get(spec.name)
    if mapping is None:
        raise ValidationError.single(
            "KIND", spec.name, "one of " + ", ".join(sorted(INPUT_COLUMNS))
        )
    values: dict[str, str | None] = {"client_code": client_code}
    for column, stored_column in mapping.items():
        values[column] = _as_text(spec.name, column, stored.get(stored_column))
    return values
