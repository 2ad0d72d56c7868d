"""Analytes: codes, units, plausibility limits, reference intervals and biological variation.

Values are stored in each analyte's canonical UCUM unit next to the value as entered. The
conversion factor for an (analyte, unit) pair is computed once with pint and cached, so that
converting a column of values is one multiplication.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Self

from pydantic import Field, model_validator

from hostcap.catalog.loading import CatalogModel, load_entries
from hostcap.catalog.units import normalise_unit, unit_factor
from hostcap.errors import Issue, Severity, UnknownIdError, ValidationError

__all__ = [
    "LOCAL_CODE_SYSTEM",
    "LOINC_SYSTEM",
    "Analyte",
    "Band",
    "analytes",
    "canonical_factor",
    "check_plausibility",
    "from_canonical",
    "get_analyte",
    "to_canonical",
]

LOINC_SYSTEM = "http://loinc.org"
#: Code system of hostcap's own codes for research analytes that have no LOINC code.
LOCAL_CODE_SYSTEM = "urn:hostcap:local"

_ID = r"^[a-z][a-z0-9_]*$"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _limit(x: float) -> str:
    # Limits are round numbers; write 1000000 rather than 1e+06.
    return f"{x:.10g}"


class Band(CatalogModel):
    """A labelled interpretation band in the canonical unit (``low <= value < high``)."""

    low: float | None = None
    high: float | None = None
    label: str


class Analyte(CatalogModel):
    """A laboratory analyte hostcap knows how to store.

    Attributes
    ----------
    hard_min, hard_max
        Physical plausibility in the canonical unit; outside means reject.
    soft_min, soft_max
        Usual range; outside means store with a warning ("check the entry").
    reference_low, reference_high
        Reference interval where one is published (``None`` where not applicable). The store
        keeps each lab's own interval per result; these are defaults for display only.
    within_subject_cv_pct, analytical_cv_pct, rcv_pct
        Biological variation: within-subject and analytical CV and the reference change value,
        in percent; ``None`` where unknown.
    """

    id: str = Field(pattern=_ID)
    name: str
    loinc: str | None = Field(default=None, pattern=r"^[0-9]{1,7}-[0-9]$")
    loinc_verified: bool = False
    local_code: str | None = Field(default=None, pattern=r"^HC-[A-Z0-9-]+$")
    specimen: str
    canonical_unit: str
    accepted_units: tuple[str, ...]
    molar_mass_g_per_mol: float | None = Field(default=None, gt=0)
    hard_min: float
    hard_max: float
    soft_min: float
    soft_max: float
    reference_low: float | None = None
    reference_high: float | None = None
    reference_note: str | None = None
    bands: tuple[Band, ...] = ()
    within_subject_cv_pct: float | None = Field(default=None, ge=0)
    analytical_cv_pct: float | None = Field(default=None, ge=0)
    rcv_pct: float | None = Field(default=None, ge=0)
    half_life_hours: float | None = Field(default=None, gt=0)
    citation: str
    further_citations: tuple[str, ...] = ()
    caveat: str | None = None
    research_only: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.loinc is None) == (self.local_code is None):
            raise ValueError("give exactly one of loinc and local_code")
        if self.loinc is None and self.loinc_verified:
            raise ValueError("loinc_verified is true but there is no loinc code")
        if self.canonical_unit not in self.accepted_units:
            raise ValueError(f"canonical_unit {self.canonical_unit} is not in accepted_units")
        for unit in self.accepted_units:
            if normalise_unit(unit) != unit:
                raise ValueError(f"unit {unit!r} is not in UCUM spelling ({normalise_unit(unit)})")
        if not (self.hard_min <= self.soft_min < self.soft_max <= self.hard_max):
            raise ValueError("limits must satisfy hard_min <= soft_min < soft_max <= hard_max")
        if (
            self.reference_low is not None
            and self.reference_high is not None
            and self.reference_low >= self.reference_high
        ):
            raise ValueError("reference_low must be below reference_high")
        return self

    @property
    def code_system(self) -> str:
        """``http://loinc.org`` for LOINC-coded analytes, else ``urn:hostcap:local``."""
        return LOINC_SYSTEM if self.loinc is not None else LOCAL_CODE_SYSTEM

    @property
    def code(self) -> str:
        """The LOINC code, or the local code for research analytes."""
        code = self.loinc if self.loinc is not None else self.local_code
        assert code is not None  # guaranteed by the validator
        return code

    @property
    def hard_range(self) -> str:
        """``"0–2000 ng/mL"``: the hard limits as written in messages."""
        return f"{_limit(self.hard_min)}–{_limit(self.hard_max)} {self.canonical_unit}"

    @property
    def soft_range(self) -> str:
        """``"0.5–200 ng/mL"``: the usual range as written in messages."""
        return f"{_limit(self.soft_min)}–{_limit(self.soft_max)} {self.canonical_unit}"

    def citation_keys(self) -> tuple[str, ...]:
        """Every citation key this entry rests on."""
        return (self.citation, *self.further_citations)


@cache
def analytes() -> dict[str, Analyte]:
    """Every analyte in the catalog, by id (file order)."""
    return load_entries("analytes.yaml", Analyte)


@cache
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for a in analytes().values():
        index[a.id] = a.id
        if a.loinc:
            index[a.loinc] = a.id
        if a.local_code:
            index[a.local_code.lower()] = a.id
    return index


def get_analyte(id_or_code: str) -> Analyte:
    """The analyte for an id (any case), a LOINC code (``"21582-2"``) or a local code.

    Raises
    ------
    UnknownIdError
        Naming the value and the known ids.

    Examples
    --------
    >>> get_analyte("21582-2").id
    'tryptase'
    """
    key = str(id_or_code).strip().lower()
    found = _index().get(key)
    if found is None:
        raise UnknownIdError("analyte", id_or_code, analytes())
    return analytes()[found]


def _resolve(analyte: Analyte | str) -> Analyte:
    return analyte if isinstance(analyte, Analyte) else get_analyte(analyte)


@cache
def canonical_factor(analyte_id: str, unit: str) -> float:
    """Multiplicative factor from ``unit`` (as typed) to the analyte's canonical unit (cached).

    Parameters
    ----------
    analyte_id
        Id, LOINC or local code of the analyte.
    unit
        The unit as typed; it must normalise to one of the analyte's accepted units.

    Raises
    ------
    ValidationError
        Field ``unit``: ``unit 'mmol/L' is not accepted for tryptase; expected one of ng/mL, ug/L``.
    UnknownIdError
        For an unknown analyte.
    """
    analyte = get_analyte(analyte_id)
    accepted = ", ".join(analyte.accepted_units)
    expected = f"one of {accepted}"

    def not_accepted(why: str = "") -> ValidationError:
        return ValidationError(
            [
                Issue(
                    location="unit",
                    message=f"unit {unit!r} is not accepted for {analyte.id}{why}; expected "
                    f"{expected}",
                    value=unit,
                    expected=expected,
                )
            ]
        )

    try:
        spelled = normalise_unit(unit)
    except ValidationError:
        raise not_accepted(" (not a recognised unit)") from None
    if spelled not in analyte.accepted_units:
        raise not_accepted()
    return unit_factor(spelled, analyte.canonical_unit, analyte.molar_mass_g_per_mol)


def to_canonical(analyte: Analyte | str, value: float, unit: str) -> float:
    """``value`` in ``unit`` expressed in the analyte's canonical unit.

    The unit must be one of the analyte's accepted units (after ``normalise_unit``); the factor
    is cached per (analyte, unit), so this is one dictionary look-up and one multiplication.

    Examples
    --------
    >>> to_canonical("hs_crp", 0.3, "mg/dL")
    3.0
    """
    analyte_id = analyte.id if isinstance(analyte, Analyte) else analyte
    return value * canonical_factor(analyte_id, unit)


def from_canonical(analyte: Analyte | str, value_canonical: float, unit: str) -> float:
    """The inverse of ``to_canonical``: a canonical value expressed in ``unit``."""
    analyte_id = analyte.id if isinstance(analyte, Analyte) else analyte
    return value_canonical / canonical_factor(analyte_id, unit)


def check_plausibility(analyte: Analyte | str, value_canonical: float) -> list[Issue]:
    """Issues for a value in the canonical unit: an error outside the hard limits, a warning
    outside the usual range, nothing otherwise.

    Messages (location ``value``)::

        tryptase value -3 ng/mL is outside 0–2000 ng/mL
        tryptase value 250 ng/mL is outside the usual range 0.5–200 ng/mL; stored with a warning

    Parameters
    ----------
    analyte
        An ``Analyte`` or its id / code.
    value_canonical
        The value already converted to the canonical unit.

    Returns
    -------
    list of Issue
        Empty when the value is inside the usual range.
    """
    a = _resolve(analyte)
    v = value_canonical
    unit = a.canonical_unit
    if not math.isfinite(v):
        return [
            Issue(
                location="value",
                message=f"{a.id} value {v} is not a finite number; expected {a.hard_range}",
                value=v,
                expected=a.hard_range,
            )
        ]
    if v < a.hard_min or v > a.hard_max:
        return [
            Issue(
                location="value",
                message=f"{a.id} value {_fmt(v)} {unit} is outside {a.hard_range}",
                severity=Severity.ERROR,
                value=v,
                expected=a.hard_range,
                code="outside_hard_limits",
            )
        ]
    if v < a.soft_min or v > a.soft_max:
        return [
            Issue(
                location="value",
                message=f"{a.id} value {_fmt(v)} {unit} is outside the usual range "
                f"{a.soft_range}; stored with a warning",
                severity=Severity.WARNING,
                value=v,
                expected=a.soft_range,
                code="outside_usual_range",
            )
        ]
    return []
