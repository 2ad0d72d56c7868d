"""What interop needs to know about a record kind's fields, and records in their input form.

The mappings never hard-code a field list: they are handed each kind's field declarations (the
``Column`` objects of ``clinical_store.record_kinds``, passed in by the services) and read their
name, type, choices, limits, label, unit, help and whether they hold free text. A record travels
in its *input form*: one dict per record, field name → text, exactly what ``hostcap import``
reads from a tidy CSV and what the store validates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol

__all__ = [
    "KIND_ORDER",
    "FieldSpec",
    "KindFields",
    "Record",
    "Records",
    "as_aware",
    "as_local",
    "number_text",
]


class FieldSpec(Protocol):
    """The declared properties of one field (``clinical_store.columns.Column`` has them all)."""

    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def required(self) -> bool: ...
    @property
    def minimum(self) -> float | None: ...
    @property
    def maximum(self) -> float | None: ...
    @property
    def choices(self) -> tuple[str, ...]: ...
    @property
    def help(self) -> str: ...
    @property
    def free_text(self) -> bool: ...
    @property
    def unit(self) -> str: ...
    @property
    def display_label(self) -> str: ...


#: Record kind → its fields, in declaration order (``client_code`` first).
KindFields = Mapping[str, Sequence[FieldSpec]]
#: One record in input form: field name → text (None where empty).
Record = Mapping[str, str | None]
#: Record kind → its records.
Records = Mapping[str, Sequence[Record]]

#: The order kinds are written in (clients first: every other kind refers to them).
KIND_ORDER = (
    "clients",
    "visits",
    "labs",
    "meds",
    "interventions",
    "questionnaires",
    "episodes",
    "food",
    "findings",
)


def number_text(value: float) -> str:
    """A number as input text: whole numbers without a fraction, others to 12 digits."""
    number = float(value)
    if number.is_integer():
        return str(int(number))
    return f"{number:.12g}"


def as_aware(naive: dt.datetime, zone: dt.tzinfo | None) -> dt.datetime:
    """A stored (clinic-local, naive) time with its offset; ``zone`` None is the system's."""
    return naive.replace(tzinfo=zone) if zone is not None else naive.astimezone()


def as_local(aware: dt.datetime, zone: dt.tzinfo | None) -> dt.datetime:
    """A time with an offset as the clinic's local naive time (what the store holds)."""
    if aware.tzinfo is None:
        return aware
    local = aware.astimezone(zone) if zone is not None else aware.astimezone()
    return local.replace(tzinfo=None)
