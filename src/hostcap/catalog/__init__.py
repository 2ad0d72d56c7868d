"""The shared vocabulary of hostcap: analytes, units, medications, instruments, interventions.

Every entry is packaged YAML under ``hostcap/catalog/data`` read through ``importlib.resources``
into frozen pydantic models; loaders are cached. Catalog ids are lower-case snake case
(``tryptase``, ``hs_crp``, ``cetirizine``, ``fss``); analytes can also be looked up by LOINC code
(``21582-2``) or by hostcap's local code (``HC-NAD-WB``, code system ``urn:hostcap:local``).

This package is part of the pure core: it takes data and returns data, and never touches the
database, files outside the package, or the faces.
"""

from hostcap.catalog.analytes import (
    Analyte,
    Band,
    analytes,
    canonical_factor,
    check_plausibility,
    from_canonical,
    get_analyte,
    to_canonical,
)
from hostcap.catalog.instruments import (
    Cutoff,
    Instrument,
    InstrumentItem,
    InstrumentScore,
    beighton_cutoff,
    get_instrument,
    instruments,
    score_instrument,
)
from hostcap.catalog.interventions import (
    Intervention,
    InterventionKind,
    get_intervention,
    interventions,
)
from hostcap.catalog.medications import (
    DrugClass,
    Medication,
    antihistamine_load,
    get_medication,
    medications,
)
from hostcap.catalog.units import convert_unit, normalise_unit

__all__ = [
    "Analyte",
    "Band",
    "Cutoff",
    "DrugClass",
    "Instrument",
    "InstrumentItem",
    "InstrumentScore",
    "Intervention",
    "InterventionKind",
    "Medication",
    "analytes",
    "antihistamine_load",
    "beighton_cutoff",
    "canonical_factor",
    "check_plausibility",
    "convert_unit",
    "from_canonical",
    "get_analyte",
    "get_instrument",
    "get_intervention",
    "get_medication",
    "instruments",
    "interventions",
    "medications",
    "normalise_unit",
    "score_instrument",
    "to_canonical",
]
