"""Three-valued (Kleene) logic: ``True`` met, ``False`` not met, ``None`` not known.

Missing data is never "not met". Every criterion is built from these operators so that removing
an input can only move a result towards ``None``, never from ``None`` to ``True``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

__all__ = [
    "Tri",
    "at_least",
    "decided",
    "k_and",
    "k_count",
    "k_or",
    "status_of",
    "strictly_above",
    "strictly_below",
]

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


def decided(rule: Callable[[Sequence[bool]], bool], values: Sequence[Tri]) -> Tri:
    """Evaluate a yes/no ``rule`` over items some of which are unknown, exactly.

    The result is ``True`` or ``False`` as soon as every way of filling in the unknown items
    gives that answer, and unknown only while the missing items could still change it. Kleene
    operators nested over shared items can stay unknown where the answer is already fixed; this
    enumerates the completions instead (criteria have at most a handful of items).

    Examples
    --------
    >>> who = lambda v: (v[0] and sum(v[1:]) >= 1) or sum(v[1:]) >= 3
    >>> decided(who, [False, False, False, True, None])   # no major, at most 2 minors
    False
    >>> decided(who, [None, True, False, False, False]) is None
    True
    """
    unknown = [i for i, v in enumerate(values) if v is None]
    answers: set[bool] = set()
    for fill in itertools.product((False, True), repeat=len(unknown)):
        filled = [bool(v) for v in values]
        for i, guess in zip(unknown, fill, strict=True):
            filled[i] = guess
        answers.add(bool(rule(filled)))
        if len(answers) > 1:
            return None
    return answers.pop()


def strictly_below(value: float | None, threshold: float) -> Tri:
    """``value < threshold``, unknown when the value is missing."""
    return None if value is None else value < threshold


def strictly_above(value: float | None, threshold: float) -> Tri:
    """``value > threshold``, unknown when the value is missing."""
    return None if value is None else value > threshold


def at_least(value: float | None, threshold: float) -> Tri:
    """``value >= threshold``, unknown when the value is missing."""
    return None if value is None else value >= threshold


def status_of(value: Tri) -> Status:
    """The output word for a three-valued result."""
    return "indeterminate" if value is None else ("met" if value else "not_met")
