"""Interoperability: hostcap records ⇄ FHIR R4B resources and REDCap dictionaries and records.

Pure mappings (data in, data out, no I/O). Every mapping is derived from the record kinds'
field declarations, which the services hand in; codes (LOINC, UCUM, ATC) come from the catalog.
The services read and write the store and the files.
"""

from hostcap.interop.deidentification import date_shifts, deidentify
from hostcap.interop.fhir_codes import FHIR_MAPPING, FHIR_NOT_EXPORTED, FhirKindMapping
from hostcap.interop.fhir_export import build_bundle, questionnaire_resource, resource_uuid
from hostcap.interop.fhir_import import FhirImport, read_bundle
from hostcap.interop.fields import KIND_ORDER, FieldSpec, KindFields, Record, Records
from hostcap.interop.interop_docs import interop_markdown
from hostcap.interop.redcap_dictionary import (
    API_KEYS,
    DICTIONARY_COLUMNS,
    FIELD_TYPES,
    RECORD_ID,
    DictionaryField,
    data_dictionary,
    read_dictionary,
    repeating_forms,
)
from hostcap.interop.redcap_export import eav_rows, flat_rows
from hostcap.interop.redcap_import import RedcapImport, read_records

__all__ = [
    "API_KEYS",
    "DICTIONARY_COLUMNS",
    "FHIR_MAPPING",
    "FHIR_NOT_EXPORTED",
    "FIELD_TYPES",
    "KIND_ORDER",
    "RECORD_ID",
    "DictionaryField",
    "FhirImport",
    "FhirKindMapping",
    "FieldSpec",
    "KindFields",
    "Record",
    "Records",
    "RedcapImport",
    "build_bundle",
    "data_dictionary",
    "date_shifts",
    "deidentify",
    "eav_rows",
    "flat_rows",
    "interop_markdown",
    "questionnaire_resource",
    "read_bundle",
    "read_dictionary",
    "read_records",
    "repeating_forms",
    "resource_uuid",
]
