"""Look interventions up in ``hostcap.catalog``: what the plan and the rulebook checks need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hostcap.catalog import get_intervention
from hostcap.errors import NotFoundError, UnknownIdError

__all__ = ["InterventionInfo", "lookup_intervention"]


@dataclass(frozen=True)
class InterventionInfo:
    """What the plan and the checks need to know about one intervention id."""

    id: str
    found: bool | None  # always True or False since the catalog ships with the package
    name: str
    prescription: bool | None
    unit: str | None
    typical_range: tuple[float, float] | None = None


def _get(item: Any, *names: str) -> Any:
    for name in names:
        value = getattr(item, name, None)
        if value is None and isinstance(item, dict):
            value = item.get(name)
        if value is not None:
            return value
    return None


def lookup_intervention(intervention_id: str) -> InterventionInfo:
    """The catalog's entry for ``intervention_id`` (``found=False`` if the catalog lacks it)."""
    try:
        item = get_intervention(intervention_id)
    except (LookupError, UnknownIdError, NotFoundError):
        return InterventionInfo(intervention_id, False, intervention_id, None, None)
    prescription = _get(item, "prescription")
    return InterventionInfo(
        id=intervention_id,
        found=True,
        name=str(_get(item, "name", "label") or intervention_id),
        prescription=None if prescription is None else bool(prescription),
        unit=_get(item, "unit", "dose_unit"),
        typical_range=(
            (float(_get(item, "typical_min")), float(_get(item, "typical_max")))
            if _get(item, "typical_min") is not None and _get(item, "typical_max") is not None
            else None
        ),
    )
