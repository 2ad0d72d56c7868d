"""Conventional medications: ATC code, drug class and WHO defined daily dose (DDD).

hostcap records medications and derives a transparent medication-load measure from them; it
never suggests starting or stopping one ("discuss with the prescriber").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from enum import StrEnum
from functools import cache

from pydantic import Field

from hostcap.catalog.loading import CatalogModel, load_entries
from hostcap.errors import Issue, UnknownIdError, ValidationError

__all__ = [
    "CONVENTIONAL_CLASSES",
    "MEDICATION_HARD_LIMIT_FACTOR",
    "DrugClass",
    "Medication",
    "antihistamine_load",
    "get_medication",
    "medications",
]


class DrugClass(StrEnum):
    """Pharmacological class used for the per-class medication load."""

    H1_ANTIHISTAMINE = "h1_antihistamine"
    H2_ANTIHISTAMINE = "h2_antihistamine"
    MAST_CELL_STABILISER = "mast_cell_stabiliser"
    LEUKOTRIENE_ANTAGONIST = "leukotriene_antagonist"
    KIT_INHIBITOR = "kit_inhibitor"
    OTHER = "other"


#: The four classes of mediator-targeted therapy that ``antihistamine_load`` always reports.
CONVENTIONAL_CLASSES = (
    DrugClass.H1_ANTIHISTAMINE,
    DrugClass.H2_ANTIHISTAMINE,
    DrugClass.MAST_CELL_STABILISER,
    DrugClass.LEUKOTRIENE_ANTAGONIST,
)


#: A recorded daily dose above this multiple of ``max_daily_dose`` is refused (impossible as a
#: maintained dose: a slip of unit or decimal point); between the two it needs confirming.
MEDICATION_HARD_LIMIT_FACTOR = 10.0


class Medication(CatalogModel):
    """A medication with its WHO ATC code and defined daily dose.

    Attributes
    ----------
    ddd, ddd_unit
        WHO defined daily dose (the assumed average maintenance dose per day for the main
        indication in adults) and its unit.
    ddd_verified
        False where the DDD was recalled rather than checked against the current WHO index.
    max_daily_dose, max_daily_dose_citation, max_daily_dose_note
        The highest adult daily dose (in ``ddd_unit``) the product label or the guideline
        documents, its source and which dose it is. The *soft limit*: a higher recorded dose is
        possible but unusual and is stored only when confirmed. The *hard limit*
        (``hard_max_daily_dose``, ``MEDICATION_HARD_LIMIT_FACTOR`` times it) is refused.
    prescription_only
        ``None`` where it varies by country (see ``prescription_note``).
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    atc: str = Field(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")
    drug_class: DrugClass
    ddd: float = Field(gt=0)
    ddd_unit: str = "mg"
    ddd_verified: bool
    route: str
    prescription_only: bool | None
    prescription_note: str
    aliases: tuple[str, ...] = ()
    citation: str
    max_daily_dose: float = Field(gt=0)
    max_daily_dose_citation: str
    max_daily_dose_note: str

    @property
    def hard_max_daily_dose(self) -> float:
        """Above this a recorded daily dose is a recording error, never stored."""
        return MEDICATION_HARD_LIMIT_FACTOR * self.max_daily_dose

    def citation_keys(self) -> tuple[str, ...]:
        """Every citation key this entry rests on."""
        return (self.citation, self.max_daily_dose_citation)


@cache
def medications() -> dict[str, Medication]:
    """Every medication in the catalog, by id."""
    return load_entries("medications.yaml", Medication)


@cache
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for m in medications().values():
        for key in (m.id, m.atc.lower(), *m.aliases):
            index[key.lower()] = m.id
    return index


def get_medication(id_or_atc: str) -> Medication:
    """The medication for an id (any case), an alias (``cromolyn``) or an ATC code.

    Raises
    ------
    UnknownIdError
        Naming the value and the known ids.
    """
    key = str(id_or_atc).strip().lower().replace(" ", "_").replace("-", "_")
    found = _index().get(key) or _index().get(str(id_or_atc).strip().lower())
    if found is None:
        raise UnknownIdError("medication", id_or_atc, medications())
    return medications()[found]


def antihistamine_load(uses: Iterable[tuple[str, float]]) -> dict[DrugClass, float]:
    """Daily medication load per class: the sum of daily dose ÷ WHO DDD.

    This is a transparent, *non-validated* derived measure (no validated measure of
    antihistamine use exists; ``docs/evidence.md#who_ddd``): 20 mg cetirizine a day is 2.0 H1
    DDD. It compares a person with themself over time; it is not a dose recommendation.

    Parameters
    ----------
    uses
        ``(medication id, total daily dose in the medication's DDD unit)`` pairs.

    Returns
    -------
    dict
        DDD per day by class. The four conventional classes (H1, H2, stabiliser, leukotriene
        antagonist) are always present (0.0 when unused); other classes appear when used.

    Raises
    ------
    UnknownIdError
        For a medication not in the catalog.
    ValidationError
        For a negative or non-finite dose (every bad use listed, location ``uses[i]``).

    Examples
    --------
    >>> load = antihistamine_load([("cetirizine", 20.0), ("famotidine", 40.0)])
    >>> load[DrugClass.H1_ANTIHISTAMINE], load[DrugClass.H2_ANTIHISTAMINE]
    (2.0, 1.0)
    """
    load: dict[DrugClass, float] = dict.fromkeys(CONVENTIONAL_CLASSES, 0.0)
    issues: list[Issue] = []
    for i, (drug, dose) in enumerate(uses):
        med = get_medication(drug)
        try:
            amount = float(dose)
        except (TypeError, ValueError):
            amount = math.nan
        if not (math.isfinite(amount) and amount >= 0):
            issues.append(
                Issue(
                    location=f"uses[{i}]",
                    message=f"{med.id} daily dose {dose!r} is not a non-negative number of "
                    f"{med.ddd_unit}",
                    value=dose,
                    expected=f"a daily dose >= 0 in {med.ddd_unit}",
                )
            )
            continue
        load[med.drug_class] = load.get(med.drug_class, 0.0) + amount / med.ddd
    if issues:
        raise ValidationError(issues)
    return load
