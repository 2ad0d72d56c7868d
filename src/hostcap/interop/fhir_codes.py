"""Code systems, extension addresses and the hostcap ↔ FHIR R4B mapping table (as data).

``FHIR_MAPPING`` says, for every field of every record kind, which resource and element carries
it; the exporter and importer follow it and ``docs/interop.md`` is generated from it. A test
checks that it names every declared field of every kind, so a new field cannot be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

from hostcap.record_fields import DECLARATIONS, ColumnType

#: The yes/no fields of an episode (declared in ``hostcap.record_fields``), each a component
#: coded by its name (``emergency-care``); a field not recorded is left out.
EPISODE_FLAGS: dict[str, str] = {
    col.name: col.name.replace("_", "-")
    for col in DECLARATIONS["episodes"].fields
    if col.type == ColumnType.BOOL
}

__all__ = [
    "ATC_SYSTEM",
    "CLIENT_CODE_SYSTEM",
    "EXT_NOTE",
    "EXT_WEEK",
    "FHIR_MAPPING",
    "FHIR_NOT_EXPORTED",
    "FINDING_SYSTEM",
    "INSTRUMENT_SYSTEM",
    "INTERVENTION_SYSTEM",
    "LAB_COMPONENT_SYSTEM",
    "LAB_CONTEXT_SYSTEM",
    "LOINC_SYSTEM",
    "MEDICATION_SYSTEM",
    "OBSERVATION_CATEGORY",
    "ORGAN_SYSTEM_SYSTEM",
    "PSEUDONYM_SYSTEM",
    "QUESTIONNAIRE_BASE",
    "RECORD_SYSTEM",
    "TAG_SYSTEM",
    "UCUM_SYSTEM",
    "V3_ACT_CODE",
    "VISIT_KIND_SYSTEM",
    "FhirKindMapping",
]

UCUM_SYSTEM = "http://unitsofmeasure.org"
LOINC_SYSTEM = "http://loinc.org"
ATC_SYSTEM = "http://www.whocc.no/atc"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
#: hostcap's own code systems (URNs: nothing to resolve, nothing that could clash).
CLIENT_CODE_SYSTEM = "urn:hostcap:client-code"
PSEUDONYM_SYSTEM = "urn:hostcap:pseudonym"
TAG_SYSTEM = "urn:hostcap:tag"
MEDICATION_SYSTEM = "urn:hostcap:medication"
INTERVENTION_SYSTEM = "urn:hostcap:intervention"
INSTRUMENT_SYSTEM = "urn:hostcap:instrument"
QUESTIONNAIRE_BASE = "urn:hostcap:questionnaire:"
RECORD_SYSTEM = "urn:hostcap:record"
FINDING_SYSTEM = "urn:hostcap:finding"
LAB_COMPONENT_SYSTEM = "urn:hostcap:component"
LAB_CONTEXT_SYSTEM = "urn:hostcap:lab-context"
ORGAN_SYSTEM_SYSTEM = "urn:hostcap:organ-system"
VISIT_KIND_SYSTEM = "urn:hostcap:visit-kind"
EXT_WEEK = "urn:hostcap:extension:protocol-week"
EXT_NOTE = "urn:hostcap:extension:note"


@dataclass(frozen=True)
class FhirKindMapping:
    """How one record kind travels in FHIR: its resource, how it is told apart, its fields."""

    resource: str
    recognised_by: str
    fields: dict[str, str]
    note: str = ""


FHIR_MAPPING: dict[str, FhirKindMapping] = {
    "clients": FhirKindMapping(
        "Patient",
        f"identifier.system {CLIENT_CODE_SYSTEM} (identified) or {PSEUDONYM_SYSTEM}",
        {
            "client_code": "Patient.identifier.value (a pseudonym drawn per export unless "
            "--identified)",
            "sex": "Patient.gender (female, male, other)",
            "birth_year": "Patient.birthDate (year only, YYYY)",
            "demo": f"Patient.meta.tag {TAG_SYSTEM}#demo when true",
        },
        "No name, telecom or address is ever written. On import they are listed as not "
        "imported; a Patient without a hostcap identifier is refused (an MRN is not a "
        "pseudonymous code).",
    ),
    "labs": FhirKindMapping(
        "Observation",
        "category laboratory",
        {
            "client_code": "Observation.subject → Patient",
            "analyte": "Observation.code.coding (LOINC http://loinc.org from the catalog, or "
            "urn:hostcap:local for research analytes)",
            "value": "Observation.valueQuantity.value",
            "unit": f"Observation.valueQuantity.code (UCUM, system {UCUM_SYSTEM})",
            "collected_at": "Observation.effectiveDateTime (with the clinic's UTC offset)",
            "context": f"Observation.component[code {LAB_COMPONENT_SYSTEM}#context]"
            f".valueCodeableConcept ({LAB_CONTEXT_SYSTEM}: baseline, acute, routine)",
            "hours_after_onset": f"Observation.component[code {LAB_COMPONENT_SYSTEM}"
            "#hours-after-onset].valueQuantity (UCUM h)",
            "reference_low": "Observation.referenceRange.low (same UCUM unit as the value)",
            "reference_high": "Observation.referenceRange.high",
        },
    ),
    "meds": FhirKindMapping(
        "MedicationStatement",
        f"medicationCodeableConcept coding {MEDICATION_SYSTEM} or {ATC_SYSTEM}",
        {
            "client_code": "MedicationStatement.subject → Patient",
            "drug": f"MedicationStatement.medicationCodeableConcept.coding (ATC {ATC_SYSTEM} "
            f"and {MEDICATION_SYSTEM})",
            "dose": "MedicationStatement.dosage[0].doseAndRate.doseQuantity.value",
            "unit": "MedicationStatement.dosage[0].doseAndRate.doseQuantity.code (UCUM)",
            "per_day": "MedicationStatement.dosage[0].timing.repeat (frequency per period, "
            "periodUnit d)",
            "start": "MedicationStatement.effectivePeriod.start",
            "end": "MedicationStatement.effectivePeriod.end (status completed when set, "
            "else active)",
            "rescue_doses_per_week": "MedicationStatement.dosage[1] (asNeededBoolean true, "
            "timing per wk)",
        },
    ),
    "interventions": FhirKindMapping(
        "MedicationStatement",
        f"medicationCodeableConcept coding {INTERVENTION_SYSTEM}",
        {
            "client_code": "MedicationStatement.subject → Patient",
            "intervention": f"MedicationStatement.medicationCodeableConcept.coding "
            f"({INTERVENTION_SYSTEM})",
            "dose": "MedicationStatement.dosage[0].doseAndRate.doseQuantity.value",
            "unit": "MedicationStatement.dosage[0].doseAndRate.doseQuantity.unit (and UCUM "
            "code where the unit is UCUM)",
            "start": "MedicationStatement.effectivePeriod.start",
            "end": "MedicationStatement.effectivePeriod.end",
            "phase": "MedicationStatement.note.text (free text)",
        },
        "Supplements, diet and probiotics from the catalog's interventions.",
    ),
    "questionnaires": FhirKindMapping(
        "QuestionnaireResponse",
        "questionnaire urn:hostcap:questionnaire:<instrument>",
        {
            "client_code": "QuestionnaireResponse.subject → Patient",
            "instrument": "QuestionnaireResponse.questionnaire (a Questionnaire per "
            "instrument is in the bundle, items from the catalog)",
            "answers": "QuestionnaireResponse.item[linkId = item number].answer"
            ".valueInteger / valueDecimal",
            "date": "QuestionnaireResponse.authored (date)",
        },
        "The total score also travels as an Observation (category survey, code "
        f"{INSTRUMENT_SYSTEM}#<instrument>, valueQuantity {{score}}, derivedFrom the response); "
        "on import it is recomputed from the answers and must agree.",
    ),
    "episodes": FhirKindMapping(
        "Observation",
        f"code {RECORD_SYSTEM}#episode",
        {
            "client_code": "Observation.subject → Patient",
            "onset_at": "Observation.effectiveDateTime (with offset)",
            "organ_systems": f"Observation.component[code {LAB_COMPONENT_SYSTEM}#organ-system]"
            f".valueCodeableConcept ({ORGAN_SYSTEM_SYSTEM}), one per system",
            "severity": "Observation.valueInteger (0–10)",
            "duration_minutes": f"Observation.component[code {LAB_COMPONENT_SYSTEM}#duration]"
            ".valueQuantity (UCUM min)",
            "treatment": f"Observation.component[code {LAB_COMPONENT_SYSTEM}#treatment]"
            ".valueString (free text)",
            **{
                name: f"Observation.component[code {LAB_COMPONENT_SYSTEM}#{code}].valueBoolean"
                for name, code in EPISODE_FLAGS.items()
            },
            "notes": "Observation.note.text (free text)",
        },
        "An episode (reaction) is an observation of the client, not a diagnosis and not an "
        "AdverseEvent (nothing is known to have caused it).",
    ),
    "food": FhirKindMapping(
        "Observation",
        f"code {RECORD_SYSTEM}#food-trial",
        {
            "client_code": "Observation.subject → Patient",
            "food": f"Observation.component[code {LAB_COMPONENT_SYSTEM}#food].valueString",
            "date": "Observation.effectiveDateTime (date)",
            "reaction_grade": "Observation.valueInteger (0 none – 3 severe)",
            "dose": f"Observation.component[code {LAB_COMPONENT_SYSTEM}#dose].valueQuantity.value",
            "dose_unit": f"Observation.component[code {LAB_COMPONENT_SYSTEM}#dose]"
            ".valueQuantity.unit",
            "notes": "Observation.note.text (free text)",
        },
        "A food reintroduction trial is an observation of tolerance, not an "
        "AllergyIntolerance (grade 0 means the food was tolerated).",
    ),
    "findings": FhirKindMapping(
        "Observation",
        f"code {FINDING_SYSTEM}#<field path>",
        {
            "client_code": "Observation.subject → Patient",
            "field": f"Observation.code.coding ({FINDING_SYSTEM}, code = the assessment input "
            "path)",
            "value": "Observation.valueBoolean / valueInteger / valueQuantity.value / "
            "valueString (lists as JSON text)",
            "date": "Observation.effectiveDateTime (date)",
            "source": "Observation.note.text (free text)",
        },
        "Findings the practitioner recorded (history, examination, genetics). Category exam.",
    ),
    "visits": FhirKindMapping(
        "Encounter",
        "Encounter (class AMB)",
        {
            "client_code": "Encounter.subject → Patient",
            "date": "Encounter.period.start and .end (date)",
            "visit_kind": f"Encounter.type.coding ({VISIT_KIND_SYSTEM})",
            "week": f"Encounter.extension[{EXT_WEEK}].valueDecimal",
            "notes": f"Encounter.extension[{EXT_NOTE}].valueString (free text; R4 Encounter "
            "has no note)",
        },
    ),
}

#: What hostcap holds and deliberately never exports as FHIR.
FHIR_NOT_EXPORTED: dict[str, str] = {
    "Condition": "hostcap records no diagnosis; the phenotype of an assessment is a "
    "HYPOTHESIS of the Host Capacity Model and is never exported as a Condition (nor at all). "
    "A Condition in an imported bundle is listed as not imported.",
    "assessments, enrolments, audit log": "not part of the FHIR export.",
    "identifying details (name, contact, date of birth)": "never written; birth year only.",
}
