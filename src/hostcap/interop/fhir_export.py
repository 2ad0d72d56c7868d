"""hostcap records (input form) → a FHIR R4B Bundle of type ``collection`` (plain dicts).

Pure: takes the records and the field declarations, returns the bundle. Resource ids are UUIDs
derived from each record's content, so the same records always give the same bundle (export →
import → export is byte-identical). See ``fhir_codes.FHIR_MAPPING`` for the element of every
field.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from hostcap import catalog
from hostcap.errors import ValidationError
from hostcap.interop.fhir_codes import (
    ATC_SYSTEM,
    CLIENT_CODE_SYSTEM,
    EPISODE_FLAGS,
    EXT_NOTE,
    EXT_WEEK,
    FINDING_SYSTEM,
    INSTRUMENT_SYSTEM,
    INTERVENTION_SYSTEM,
    LAB_COMPONENT_SYSTEM,
    LAB_CONTEXT_SYSTEM,
    MEDICATION_SYSTEM,
    OBSERVATION_CATEGORY,
    ORGAN_SYSTEM_SYSTEM,
    PSEUDONYM_SYSTEM,
    QUESTIONNAIRE_BASE,
    RECORD_SYSTEM,
    TAG_SYSTEM,
    UCUM_SYSTEM,
    V3_ACT_CODE,
    VISIT_KIND_SYSTEM,
)
from hostcap.interop.fields import KIND_ORDER, KindFields, Record, Records, as_aware

__all__ = ["build_bundle", "questionnaire_resource", "resource_uuid"]

_NAMESPACE = uuid.UUID("6f1d2c1e-8a4b-5b7e-9c61-0d8e4a2f7b31")


def resource_uuid(kind: str, content: Mapping[str, Any]) -> str:
    """A UUID computed from a resource's content (as written): same content, same id."""
    text = json.dumps({"kind": kind, **dict(content)}, sort_keys=True)
    return str(uuid.uuid5(_NAMESPACE, text))


def _entry(rid: str, resource: Mapping[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in resource.items() if k != "resourceType"}
    return {
        "fullUrl": f"urn:uuid:{rid}",
        "resource": {"resourceType": resource["resourceType"], "id": rid, **body},
    }


def _ucum(unit: str) -> str | None:
    try:
        return catalog.normalise_unit(unit)
    except ValidationError:
        return None


def _quantity(value: str, unit: str | None, *, keep_unit: bool = False) -> dict[str, Any]:
    """A Quantity; ``unit`` is the UCUM spelling unless ``keep_unit`` (then as entered)."""
    out: dict[str, Any] = {"value": float(value)}
    if unit:
        code = _ucum(unit)
        out["unit"] = unit if keep_unit or code is None else code
        if code is not None:
            out["system"] = UCUM_SYSTEM
            out["code"] = code
    return out


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)]}


def _component(code: str, **value: Any) -> dict[str, Any]:
    return {"code": _concept(LAB_COMPONENT_SYSTEM, code), **value}


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [_concept(OBSERVATION_CATEGORY, code, display)]


def _datetime(text: str, zone: dt.tzinfo | None) -> str:
    naive = dt.datetime.fromisoformat(text)
    aware = as_aware(naive, zone)
    spec = "seconds" if aware.microsecond == 0 else "microseconds"
    return aware.isoformat(timespec=spec)


def _date(text: str) -> str:
    return dt.date.fromisoformat(text[:10]).isoformat()


def _rate(per: float, unit: str) -> dict[str, Any]:
    """``per`` events per ``unit`` as a Timing.repeat (frequency is a positive integer)."""
    if float(per).is_integer():
        return {"frequency": int(per), "period": 1, "periodUnit": unit}
    return {"frequency": 1, "period": float(f"{1 / per:.12g}"), "periodUnit": unit}


def _bool(text: str | None) -> bool:
    return str(text).lower() in ("true", "1", "yes", "y")


def _notes(text: str | None) -> dict[str, Any]:
    return {"note": [{"text": text}]} if text else {}


def _patient(record: Record, *, identified: bool) -> dict[str, Any]:
    system = CLIENT_CODE_SYSTEM if identified else PSEUDONYM_SYSTEM
    out: dict[str, Any] = {"resourceType": "Patient"}
    if _bool(record.get("demo")):
        out["meta"] = {"tag": [_coding(TAG_SYSTEM, "demo", "synthetic demonstration client")]}
    out["identifier"] = [{"system": system, "value": record["client_code"]}]
    out["gender"] = record["sex"]
    out["birthDate"] = f"{int(str(record['birth_year'])):04d}"
    return out


def _lab(record: Record, subject: dict[str, str], zone: dt.tzinfo | None) -> dict[str, Any]:
    analyte = catalog.get_analyte(str(record["analyte"]))
    unit = str(record["unit"])
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": _category("laboratory", "Laboratory"),
        "code": {
            "coding": [_coding(analyte.code_system, analyte.code, analyte.name)],
            "text": analyte.name,
        },
        "subject": subject,
        "effectiveDateTime": _datetime(str(record["collected_at"]), zone),
        "valueQuantity": _quantity(str(record["value"]), unit),
    }
    low, high = record.get("reference_low"), record.get("reference_high")
    if low or high:
        band: dict[str, Any] = {}
        if low:
            band["low"] = _quantity(low, unit)
        if high:
            band["high"] = _quantity(high, unit)
        out["referenceRange"] = [band]
    components = [
        _component(
            "context",
            valueCodeableConcept=_concept(
                LAB_CONTEXT_SYSTEM, str(record.get("context") or "routine")
            ),
        )
    ]
    if record.get("hours_after_onset"):
        components.append(
            _component(
                "hours-after-onset", valueQuantity=_quantity(str(record["hours_after_onset"]), "h")
            )
        )
    out["component"] = components
    return out


def _medication(record: Record, subject: dict[str, str]) -> dict[str, Any]:
    med = catalog.get_medication(str(record["drug"]))
    codings = []
    if med.atc:
        codings.append(_coding(ATC_SYSTEM, med.atc, med.name))
    codings.append(_coding(MEDICATION_SYSTEM, med.id, med.name))
    dosage: list[dict[str, Any]] = [
        {
            "sequence": 1,
            "timing": {"repeat": _rate(float(str(record["per_day"])), "d")},
            "doseAndRate": [{"doseQuantity": _quantity(str(record["dose"]), str(record["unit"]))}],
        }
    ]
    rescue = record.get("rescue_doses_per_week")
    if rescue and float(rescue) > 0:
        dosage.append(
            {
                "sequence": 2,
                "text": "rescue doses",
                "asNeededBoolean": True,
                "timing": {"repeat": _rate(float(rescue), "wk")},
            }
        )
    return {**_statement(record, subject, codings, med.name), "dosage": dosage}


def _statement(
    record: Record, subject: dict[str, str], codings: list[dict[str, Any]], text: str
) -> dict[str, Any]:
    """A MedicationStatement of ``record`` up to its period (active until it has an end)."""
    period = {"start": _date(str(record["start"]))}
    if record.get("end"):
        period["end"] = _date(str(record["end"]))
    return {
        "resourceType": "MedicationStatement",
        "status": "completed" if record.get("end") else "active",
        "medicationCodeableConcept": {"coding": codings, "text": text},
        "subject": subject,
        "effectivePeriod": period,
    }


def _intervention(record: Record, subject: dict[str, str]) -> dict[str, Any]:
    entry = catalog.get_intervention(str(record["intervention"]))
    coding = _coding(INTERVENTION_SYSTEM, entry.id, entry.name)
    return {
        **_statement(record, subject, [coding], entry.name),
        **_notes(record.get("phase")),
        "dosage": [
            {
                "sequence": 1,
                "doseAndRate": [
                    {
                        "doseQuantity": _quantity(
                            str(record["dose"]), str(record["unit"]), keep_unit=True
                        )
                    }
                ],
            }
        ],
    }


def _answers(text: str) -> list[float]:
    return [float(p) for p in text.replace(";", ",").split(",") if p.strip()]


def questionnaire_resource(instrument_id: str) -> dict[str, Any]:
    """The Questionnaire of a catalog instrument: one item per catalog item, with its range."""
    inst = catalog.get_instrument(instrument_id)
    kind = "valueInteger" if inst.integer_answers else "valueDecimal"
    items = []
    for item in inst.items:
        low: Any = int(item.min) if inst.integer_answers else float(item.min)
        high: Any = int(item.max) if inst.integer_answers else float(item.max)
        items.append(
            {
                "extension": [
                    {"url": "http://hl7.org/fhir/StructureDefinition/minValue", kind: low},
                    {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", kind: high},
                ],
                "linkId": str(item.index),
                "text": item.label,
                "type": "integer" if inst.integer_answers else "decimal",
                "required": True,
            }
        )
    return {
        "resourceType": "Questionnaire",
        "id": str(uuid.uuid5(_NAMESPACE, QUESTIONNAIRE_BASE + inst.id)),
        "url": QUESTIONNAIRE_BASE + inst.id,
        "name": inst.id.upper(),
        "title": inst.name,
        "status": "active",
        "item": items,
    }


def _questionnaire(
    record: Record, subject: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    inst = catalog.get_instrument(str(record["instrument"]))
    answers = _answers(str(record["answers"]))
    items = []
    for item, answer in zip(inst.items, answers, strict=False):
        value: dict[str, Any] = (
            {"valueInteger": int(answer)} if inst.integer_answers else {"valueDecimal": answer}
        )
        items.append({"linkId": str(item.index), "answer": [value]})
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": QUESTIONNAIRE_BASE + inst.id,
        "status": "completed",
        "subject": subject,
        "authored": _date(str(record["date"])),
        "item": items,
    }
    score = catalog.score_instrument(inst.id, answers)
    total = {
        "resourceType": "Observation",
        "status": "final",
        "category": _category("survey", "Survey"),
        "code": {
            "coding": [_coding(INSTRUMENT_SYSTEM, inst.id, f"{inst.name} total score")],
            "text": f"{inst.name} total score",
        },
        "subject": subject,
        "effectiveDateTime": _date(str(record["date"])),
        "valueQuantity": {
            "value": float(score.total),
            "unit": "{score}",
            "system": UCUM_SYSTEM,
            "code": "{score}",
        },
    }
    return response, total


def _episode(record: Record, subject: dict[str, str], zone: dt.tzinfo | None) -> dict[str, Any]:
    components = [
        _component("organ-system", valueCodeableConcept=_concept(ORGAN_SYSTEM_SYSTEM, system))
        for system in str(record["organ_systems"]).replace(",", ";").split(";")
        if system.strip()
    ]
    if record.get("duration_minutes"):
        components.append(
            _component("duration", valueQuantity=_quantity(str(record["duration_minutes"]), "min"))
        )
    components += [
        _component(code, valueBoolean=_bool(record[name]))
        for name, code in EPISODE_FLAGS.items()
        if record.get(name) not in (None, "")
    ]
    if record.get("treatment"):
        components.append(_component("treatment", valueString=record["treatment"]))
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [_coding(RECORD_SYSTEM, "episode", "Mast cell activation episode")],
            "text": "Episode (reaction)",
        },
        "subject": subject,
        "effectiveDateTime": _datetime(str(record["onset_at"]), zone),
        "valueInteger": int(float(str(record["severity"]))),
        **_notes(record.get("notes")),
        "component": components,
    }


def _food(record: Record, subject: dict[str, str]) -> dict[str, Any]:
    components = [_component("food", valueString=record["food"])]
    if record.get("dose"):
        components.append(
            _component(
                "dose",
                valueQuantity=_quantity(
                    str(record["dose"]), record.get("dose_unit"), keep_unit=True
                ),
            )
        )
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {
            "coding": [_coding(RECORD_SYSTEM, "food-trial", "Food reintroduction trial")],
            "text": "Food reintroduction trial (reaction grade 0-3)",
        },
        "subject": subject,
        "effectiveDateTime": _date(str(record["date"])),
        "valueInteger": int(float(str(record["reaction_grade"]))),
        **_notes(record.get("notes")),
        "component": components,
    }


def _finding_value(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"valueString": text}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueQuantity": {"value": value}}
    if isinstance(value, str):
        return {"valueString": value}
    return {"valueString": json.dumps(value)}


def _finding(record: Record, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": _category("exam", "Exam"),
        "code": {"coding": [_coding(FINDING_SYSTEM, str(record["field"]))]},
        "subject": subject,
        "effectiveDateTime": _date(str(record["date"])),
        **_finding_value(str(record["value"])),
        **_notes(record.get("source")),
    }


def _visit(record: Record, subject: dict[str, str]) -> dict[str, Any]:
    day = _date(str(record["date"]))
    extension = []
    if record.get("week"):
        extension.append({"url": EXT_WEEK, "valueDecimal": float(str(record["week"]))})
    if record.get("notes"):
        extension.append({"url": EXT_NOTE, "valueString": record["notes"]})
    out: dict[str, Any] = {"resourceType": "Encounter"}
    if extension:
        out["extension"] = extension
    out |= {
        "status": "finished",
        "class": _coding(V3_ACT_CODE, "AMB", "ambulatory"),
        "type": [_concept(VISIT_KIND_SYSTEM, str(record.get("visit_kind") or "follow_up"))],
        "subject": subject,
        "period": {"start": day, "end": day},
    }
    return out


def _sorted(records: Sequence[Record]) -> list[Record]:
    return sorted(records, key=lambda r: json.dumps(dict(r), sort_keys=True))


def _record_entries(
    kind: str, record: Record, subject: dict[str, str], zone: dt.tzinfo | None
) -> list[dict[str, Any]]:
    """The entries of one record (a questionnaire: its response, then the total derived from it)."""
    entries = []
    made: dict[str, Any]
    if kind == "labs":
        made = _lab(record, subject, zone)
    elif kind == "meds":
        made = _medication(record, subject)
    elif kind == "interventions":
        made = _intervention(record, subject)
    elif kind == "questionnaires":
        response, total = _questionnaire(record, subject)
        response_id = resource_uuid(kind, response)
        entries.append(_entry(response_id, response))
        made = total | {"derivedFrom": [{"reference": f"urn:uuid:{response_id}"}]}
    elif kind == "episodes":
        made = _episode(record, subject, zone)
    elif kind == "food":
        made = _food(record, subject)
    elif kind == "findings":
        made = _finding(record, subject)
    else:
        made = _visit(record, subject)
    entries.append(_entry(resource_uuid(kind, made), made))
    return entries


def build_bundle(
    records: Records,
    fields: KindFields,
    *,
    identified: bool,
    zone: dt.tzinfo | None = None,
) -> dict[str, Any]:
    """A Bundle (type collection) of every record, clients as Patients.

    Parameters
    ----------
    records
        Kind → records in input form (``client_code`` already a pseudonym unless identified).
    fields
        Kind → field declarations; a kind without declarations is refused.
    identified
        Whether ``client_code`` is the real code (identifier system ``urn:hostcap:client-code``)
        or a pseudonym (``urn:hostcap:pseudonym``).
    zone
        The clinic's time zone for stored local times; None: the system's.
    """
    unknown = sorted(set(records) - set(fields))
    if unknown:
        raise ValidationError.single("kind", unknown[0], "one of " + ", ".join(sorted(fields)))
    entries: list[dict[str, Any]] = []
    instruments = sorted({str(r["instrument"]) for r in records.get("questionnaires", ())})
    for instrument in instruments:
        resource = questionnaire_resource(instrument)
        entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
    patient_url: dict[str, str] = {}
    for record in _sorted(records.get("clients", ())):
        patient = _patient(record, identified=identified)
        rid = resource_uuid("Patient", patient)
        patient_url[str(record["client_code"])] = f"urn:uuid:{rid}"
        entries.append(_entry(rid, patient))
    for kind in KIND_ORDER[1:]:
        for record in _sorted(records.get(kind, ())):
            subject = {"reference": patient_url[str(record["client_code"])]}
            entries.extend(_record_entries(kind, record, subject, zone))
    return {
        "resourceType": "Bundle",
        "meta": {
            "tag": [
                _coding(
                    TAG_SYSTEM,
                    "identified" if identified else "de-identified",
                    "identified export" if identified else "de-identified export",
                )
            ]
        },
        "type": "collection",
        "entry": entries,
    }
