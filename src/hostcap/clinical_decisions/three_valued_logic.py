"""Three-valued (Kleene) logic: ``True`` met, ``False`` not met, ``None`` not known.

Missing data is never "not met". Every criterion is built from these operators so that removing
an input can only move a result towards ``None``, never from ``None`` to ``True``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

__all__ = ["Tri", "at_least", "k_and", "k_count", "k_or", "status_of", "strictly_above"]

Tri = bool | None
Status = Literal["met", "not_met", "indeterminate"]


def k_and(*values: Tri) -> Tri:
    """False if any is False; True if all are True; otherwise unknown."""
    if any(v is False for v in values):
        return False
    if all(v is True for v in values):
        return True
    return None


def k_or(*values: Tri) -> Tri:
    """True if any is True; False if all are False; otherwise unknown."""
    if any(v is True for v in values):
        return True
    if all(v is False for v in values):
        return False
    return None


def k_count(values: Iterable[Tri], needed: int) -> Tri:
    """Whether at least ``needed`` of ``values`` are True (unknown while it could go either way)."""
    items = list(values)
    known = sum(1 for v in items if v is True)
    possible = known + sum(1 for v in items if v is None)
    if known >= needed:
        return True
    if possible < needed:
        return False
    return None


def strictly_above(value: float | None, threshold: float) -> Tri:
    """``value > threshold``, unknown when the value is missing."""
    return None if value is None else value > threshold


def at_least(value: float | None, threshold: float) -> Tri:
    """``value >= threshold``, unknown when the value is missing."""
    return None if value is None else value >= threshold


def status_of(value: Tri) -> Status:
    """The output word for a three-valued result."""
    return "indeterminate" if value is None else ("met" if value else "not_met")
