"""Interventions a protocol can contain, with the mechanistic-model input each one drives.

The ids, dose units and model inputs here are a contract with the mechanistic model (its
``input_map``, ``docs/model-card.md``) and the rulebook's protocol phases. Prescription decisions
(conventional drugs, antibiotics) are recorded, never suggested: a plan says "discuss with the
prescriber".
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from hostcap.catalog.loading import CatalogModel, load_entries
from hostcap.catalog.medications import DrugClass
from hostcap.errors import UnknownIdError

__all__ = [
    "DOSE_HARD_LIMIT_FACTOR",
    "DOSE_UNITS",
    "MODEL_INPUTS",
    "Intervention",
    "InterventionKind",
    "get_intervention",
    "interventions",
]


class InterventionKind(StrEnum):
    """What sort of intervention it is (decides who decides about it)."""

    SUPPLEMENT = "supplement"
    DIET = "diet"
    PROBIOTIC = "probiotic"
    CONVENTIONAL_DRUG = "conventional_drug"
    ANTIBIOTIC = "antibiotic"


#: Dose units by the kinds they fit.
DOSE_UNITS: dict[str, tuple[InterventionKind, ...]] = {
    "mg/d": (InterventionKind.SUPPLEMENT, InterventionKind.DIET),
    "g/d": (InterventionKind.SUPPLEMENT, InterventionKind.DIET),
    "CFU/d": (InterventionKind.PROBIOTIC,),
    "DDD/d": (InterventionKind.CONVENTIONAL_DRUG,),
    "course_days": (InterventionKind.ANTIBIOTIC,),
}

#: Mechanistic-model inputs an intervention can drive.
ModelInput = Literal[
    "akg_input",
    "antibiotic_pulse",
    "barrier_repair",
    "fibre_substrate",
    "h1_block",
    "h1_block_metabolite",
    "h2_block",
    "lt_block",
    "nad_precursor",
    "producer_inoculum",
    "resistant_starch_substrate",
    "stabiliser",
]
MODEL_INPUTS: tuple[str, ...] = get_args(ModelInput)

#: A dose above this multiple of ``typical_max`` is refused everywhere (store and model): the
#: hard limit. Between ``typical_max`` and it a dose is unusual (the soft limit).
DOSE_HARD_LIMIT_FACTOR = 3.0

_PRESCRIPTION_KINDS = (InterventionKind.CONVENTIONAL_DRUG, InterventionKind.ANTIBIOTIC)


class Intervention(CatalogModel):
    """One intervention: its dose unit, typical range and the model input it drives.

    Attributes
    ----------
    prescription
        True for conventional drugs and antibiotics: a prescriber's decision; plans must say
        "discuss with the prescriber" and never suggest starting or stopping it.
    drug_class
        For conventional drugs, the ``DrugClass`` whose DDD the dose is counted in.
    evidence_grade
        E, A, P or S for the effect the model gives it (``docs/evidence.md#evidence-grades``;
        the sources are its citation keys).
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    kind: InterventionKind
    dose_unit: Literal["mg/d", "g/d", "CFU/d", "DDD/d", "course_days"]
    typical_min: float = Field(gt=0)
    typical_max: float = Field(gt=0)
    model_input: ModelInput
    prescription: bool
    drug_class: DrugClass | None = None
    evidence_grade: Literal["E", "A", "P", "S"]
    evidence_note: str
    citation: str
    further_citations: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.typical_min > self.typical_max:
            raise ValueError("typical_min must not exceed typical_max")
        if self.kind not in DOSE_UNITS[self.dose_unit]:
            raise ValueError(f"dose_unit {self.dose_unit} does not fit kind {self.kind}")
        if self.prescription != (self.kind in _PRESCRIPTION_KINDS):
            raise ValueError(
                "prescription must be true exactly for conventional drugs and antibiotics"
            )
        if (self.drug_class is not None) != (self.kind == InterventionKind.CONVENTIONAL_DRUG):
            raise ValueError("drug_class is required for conventional drugs and only for them")
        return self

    def citation_keys(self) -> tuple[str, ...]:
        """Every citation key this entry rests on."""
        return (self.citation, *self.further_citations)

    @property
    def hard_max(self) -> float:
        """The largest dose accepted anywhere (``DOSE_HARD_LIMIT_FACTOR`` x ``typical_max``)."""
        return DOSE_HARD_LIMIT_FACTOR * self.typical_max


@cache
def interventions() -> dict[str, Intervention]:
    """Every intervention in the catalog, by id."""
    return load_entries("interventions.yaml", Intervention)


def get_intervention(intervention_id: str) -> Intervention:
    """The intervention for an id (any case).

    Raises
    ------
    UnknownIdError
        Naming the value and the known ids.
    """
    key = str(intervention_id).strip().lower()
    table = interventions()
    if key not in table:
        raise UnknownIdError("intervention", intervention_id, table)
    return table[key]
