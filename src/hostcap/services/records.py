"""The record kinds as the faces see them: one declaration per kind, read by CLI, web and exports.

Each kind's fields come from its declaration in ``clinical_store.record_kinds`` (name, type,
label, unit, help, choices, limits); a face builds its options, form inputs or mapping from
these and hands the values back as strings to the store's one validating path.
"""

from __future__ import annotations

from collections.abc import Mapping

from hostcap.clinical_store.columns import Column, ColumnType
from hostcap.clinical_store.record_kinds import KINDS, RecordKind

__all__ = ["Column", "ColumnType", "RecordKind", "record_fields", "record_kind", "record_kinds"]


def record_kinds() -> Mapping[str, RecordKind]:
    """Every record kind the store accepts, by name (``labs``, ``meds``, ``episodes`` …)."""
    return KINDS


def record_kind(name: str) -> RecordKind:
    """One record kind by name; :class:`KeyError` names the kinds there are."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(
            f"record kind {name!r} is unknown; expected one of {', '.join(KINDS)}"
        ) from None


def record_fields(name: str) -> tuple[Column, ...]:
    """The fields a person enters for one record of ``name`` (the client code first)."""
    return record_kind(name).columns
