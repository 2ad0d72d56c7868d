"""A FHIR R4/R4B Bundle (plain dicts) → hostcap records in input form, every problem named.

Pure: reads the bundle's resources, maps each one it knows (``fhir_codes.FHIR_MAPPING``) to a
record of text fields, and lists the rest. Nothing is dropped silently: a resource type hostcap
does not import, an element it does not keep (a name, an address) and an unknown code are each
reported with the resource, the element path, the value and what was expected. The records then
go through the store's own validation (units converted like the CSV import).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from hostcap import catalog
from hostcap.errors import HostcapError, Issue, Severity, describe_value
from hostcap.interop.fhir_codes import (
    ATC_SYSTEM,
    CLIENT_CODE_SYSTEM,
    EXT_NOTE,
    EXT_WEEK,
    FINDING_SYSTEM,
    INSTRUMENT_SYSTEM,
    INTERVENTION_SYSTEM,
    LAB_COMPONENT_SYSTEM,
    LAB_CONTEXT_SYSTEM,
    LOINC_SYSTEM,
    MEDICATION_SYSTEM,
    ORGAN_SYSTEM_SYSTEM,
    PSEUDONYM_SYSTEM,
    QUESTIONNAIRE_BASE,
    RECORD_SYSTEM,
    TAG_SYSTEM,
    UCUM_SYSTEM,
    VISIT_KIND_SYSTEM,
)
from hostcap.interop.fields import as_local, number_text

__all__ = ["FhirImport", "read_bundle"]

_IDENTIFYING = ("name", "telecom", "address", "photo", "contact")
_PER_UNIT_DAYS = {"h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.4375}


@dataclass
class FhirImport:
    """What a bundle holds for hostcap: records per kind, where each came from, the problems."""

    records: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    #: Per kind, the resource each record came from (``entry[3] Observation/abc``).
    origins: dict[str, list[str]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    #: Resources read but not imported (derived totals, Questionnaires, unsupported types).
    skipped: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == Severity.ERROR]

    def add(self, kind: str, record: dict[str, str | None], origin: str) -> None:
        self.records.setdefault(kind, []).append(record)
        self.origins.setdefault(kind, []).append(origin)


class _ProblemError(Exception):
    """One element of one resource that cannot be imported."""

    def __init__(self, path: str, message: str, value: Any, expected: str) -> None:
        super().__init__(message)
        self.path, self.message, self.value, self.expected = path, message, value, expected


def _need(resource: Mapping[str, Any], path: str, expected: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None or value == "" or value == []:
        raise _ProblemError(path, f"{path} is missing", None, expected)
    return value


def _codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def _code_in(concept: Any, system: str) -> str | None:
    for coding in _codings(concept):
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def _number(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _ProblemError(
            path, f"{path} {describe_value(value)} is not a number", value, "a number"
        )
    return number_text(value)


def _quantity(
    resource: Mapping[str, Any], path: str, *, prefer_unit: bool = False
) -> tuple[str, str | None]:
    """(value, unit): the UCUM code, or the human-readable unit where ``prefer_unit``."""
    quantity = _need(resource, path, "a Quantity with value and unit")
    if not isinstance(quantity, Mapping):
        raise _ProblemError(path, f"{path} is not a Quantity", quantity, "a Quantity")
    value = _number(quantity.get("value"), f"{path}.value")
    system = quantity.get("system")
    code = quantity.get("code")
    if prefer_unit and quantity.get("unit"):
        return value, str(quantity["unit"])
    if system == UCUM_SYSTEM and code:
        return value, str(code)
    if system not in (None, UCUM_SYSTEM):
        raise _ProblemError(
            f"{path}.system",
            f"{path}.system {system!r} is not UCUM",
            system,
            f"{UCUM_SYSTEM} (UCUM units)",
        )
    unit = quantity.get("unit") or code
    return value, str(unit) if unit else None


def _local_time(text: Any, path: str, zone: dt.tzinfo | None, *, need_zone: bool) -> str:
    if not isinstance(text, str):
        raise _ProblemError(path, f"{path} is not a dateTime", text, "a dateTime")
    if len(text) == 10:
        return text
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _ProblemError(
            path, f"{path} {text!r} is not a dateTime", text, "YYYY-MM-DDThh:mm:ss+zz:zz"
        ) from None
    if moment.tzinfo is None and need_zone:
        raise _ProblemError(
            path,
            f"{path} {text!r} has no time-zone offset",
            text,
            "a dateTime with an offset (FHIR requires one when a time is given)",
        )
    local = as_local(moment, zone)
    spec = "seconds" if local.microsecond == 0 else "microseconds"
    return local.isoformat(timespec=spec)


def _effective(resource: Mapping[str, Any], zone: dt.tzinfo | None) -> str:
    if "effectiveDateTime" in resource:
        return _local_time(resource["effectiveDateTime"], "effectiveDateTime", zone, need_zone=True)
    period = resource.get("effectivePeriod")
    if isinstance(period, Mapping) and period.get("start"):
        return _local_time(period["start"], "effectivePeriod.start", zone, need_zone=True)
    raise _ProblemError(
        "effective[x]",
        "effective[x] is missing",
        None,
        "effectiveDateTime (or effectivePeriod.start)",
    )


def _day(value: str) -> str:
    return value[:10]


def _components(resource: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for n, comp in enumerate(resource.get("component") or []):
        code = (
            _code_in(comp.get("code"), LAB_COMPONENT_SYSTEM) if isinstance(comp, Mapping) else None
        )
        if code is None:
            raise _ProblemError(
                f"component[{n}].code",
                f"component[{n}].code is not one hostcap reads",
                comp.get("code") if isinstance(comp, Mapping) else comp,
                f"a coding of {LAB_COMPONENT_SYSTEM}",
            )
        out.setdefault(code, []).append(comp)
    return out


def _notes(resource: Mapping[str, Any]) -> str | None:
    notes = [n for n in resource.get("note") or [] if isinstance(n, Mapping)]
    texts = [str(n["text"]) for n in notes if n.get("text")]
    return "\n".join(texts) if texts else None


class _Reader:
    def __init__(self, bundle: Mapping[str, Any], zone: dt.tzinfo | None) -> None:
        self.zone = zone
        self.out = FhirImport()
        self.entries: list[tuple[str, Mapping[str, Any]]] = []
        self.by_ref: dict[str, Mapping[str, Any]] = {}
        self.patients: dict[int, str] = {}
        self.responses: dict[int, tuple[str, dict[str, str | None]]] = {}
        for n, entry in enumerate(bundle.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(resource, Mapping):
                self.problem(
                    f"entry[{n}]", "resource", "entry has no resource", entry, "a resource"
                )
                continue
            label = f"entry[{n}] {resource.get('resourceType')}/{resource.get('id')}"
            self.entries.append((label, resource))
            if isinstance(entry.get("fullUrl"), str):
                self.by_ref[entry["fullUrl"]] = resource
            if resource.get("resourceType") and resource.get("id"):
                self.by_ref[f"{resource['resourceType']}/{resource['id']}"] = resource

    def problem(
        self,
        label: str,
        path: str,
        message: str,
        value: Any,
        expected: str,
        severity: Severity = Severity.ERROR,
    ) -> None:
        self.out.issues.append(
            Issue(
                location=f"{label} {path}".strip(),
                message=f"{message}; expected {expected}",
                severity=severity,
                value=value,
                expected=expected,
            )
        )

    def subject(self, resource: Mapping[str, Any]) -> str:
        reference = _need(resource, "subject.reference", "a reference to a Patient in the bundle")
        target = self.by_ref.get(str(reference))
        if target is None or target.get("resourceType") != "Patient":
            raise _ProblemError(
                "subject.reference",
                f"subject.reference {reference!r} is not a Patient in this bundle",
                reference,
                "a reference to a Patient entry of the same bundle (fullUrl or Patient/id)",
            )
        code = self.patients.get(id(target))
        if code is None:
            raise _ProblemError(
                "subject.reference",
                f"subject.reference {reference!r} is a Patient that could not be imported",
                reference,
                "a Patient with a hostcap client code",
            )
        return code

    def read(self) -> FhirImport:
        # Patients first: every other resource refers to one.
        for label, resource in self.entries:
            if resource.get("resourceType") == "Patient":
                self.guard(label, partial(self.patient, label, resource))
        handlers: dict[str, Callable[[str, Mapping[str, Any]], None]] = {
            "Observation": self.observation,
            "MedicationStatement": self.medication_statement,
            "QuestionnaireResponse": self.questionnaire_response,
            "Encounter": self.encounter,
        }
        for label, resource in self.entries:
            kind = str(resource.get("resourceType"))
            if kind == "Patient":
                continue
            if kind == "Questionnaire":
                self.out.skipped.append(
                    f"{label} (Questionnaire: definitions come from the catalog)"
                )
                continue
            handler = handlers.get(kind)
            if handler is None:
                why = (
                    "a Condition is not imported: hostcap records no diagnoses"
                    if kind == "Condition"
                    else "hostcap does not import this resource type"
                )
                self.problem(
                    label,
                    "",
                    why,
                    kind,
                    "Patient, Observation, MedicationStatement, QuestionnaireResponse, "
                    "Encounter or Questionnaire",
                    Severity.WARNING,
                )
                self.out.skipped.append(f"{label} ({why})")
                continue
            self.guard(label, partial(handler, label, resource))
        # Survey totals last: checked against the responses they were derived from.
        return self.out

    def guard(self, label: str, action: Callable[[], None]) -> None:
        try:
            action()
        except _ProblemError as p:
            self.problem(label, p.path, p.message, p.value, p.expected)
        except HostcapError as exc:
            self.problem(
                label,
                "",
                str(exc),
                getattr(exc, "value", None),
                str(getattr(exc, "expected", None) or "a value hostcap accepts"),
            )

    # -- resources ---------------------------------------------------------------------------

    def patient(self, label: str, resource: Mapping[str, Any]) -> None:
        present = [name for name in _IDENTIFYING if resource.get(name)]
        if present:
            self.problem(
                label,
                ", ".join(present),
                "identifying elements are not imported (hostcap keeps clients under a "
                "pseudonymous code; add identity with `hostcap client add` if needed)",
                present,
                "no identifying elements",
                Severity.WARNING,
            )
        code = None
        for ident in resource.get("identifier") or []:
            if isinstance(ident, Mapping) and ident.get("system") in (
                CLIENT_CODE_SYSTEM,
                PSEUDONYM_SYSTEM,
            ):
                code = ident.get("value")
        if not code:
            systems = [
                i.get("system") for i in resource.get("identifier") or [] if isinstance(i, Mapping)
            ]
            raise _ProblemError(
                "identifier",
                f"identifier has no hostcap client code (systems: {systems or 'none'})",
                systems,
                f"an identifier with system {CLIENT_CODE_SYSTEM} or {PSEUDONYM_SYSTEM} holding a "
                "pseudonymous code (a medical record number is not one: add a code)",
            )
        gender = _need(resource, "gender", "female, male or other")
        birth = str(_need(resource, "birthDate", "a birth date or year (YYYY)"))
        demo = any(
            t.get("system") == TAG_SYSTEM and t.get("code") == "demo"
            for t in (resource.get("meta") or {}).get("tag") or []
            if isinstance(t, Mapping)
        )
        self.patients[id(resource)] = str(code)
        self.out.add(
            "clients",
            {
                "client_code": str(code),
                "sex": str(gender),
                "birth_year": birth[:4],
                "demo": "true" if demo else "false",
            },
            label,
        )

    def observation(self, label: str, resource: Mapping[str, Any]) -> None:
        code = resource.get("code")
        record_code = _code_in(code, RECORD_SYSTEM)
        if record_code == "episode":
            return self.episode(label, resource)
        if record_code == "food-trial":
            return self.food(label, resource)
        if _code_in(code, FINDING_SYSTEM):
            return self.finding(label, resource)
        if _code_in(code, INSTRUMENT_SYSTEM):
            return self.survey_total(label, resource)
        return self.lab(label, resource)

    def lab(self, label: str, resource: Mapping[str, Any]) -> None:
        client = self.subject(resource)
        analyte = None
        codings = _codings(resource.get("code"))
        for coding in codings:
            if coding.get("system") in (LOINC_SYSTEM, "urn:hostcap:local") and coding.get("code"):
                try:
                    analyte = catalog.get_analyte(str(coding["code"])).id
                    break
                except HostcapError:
                    continue
        if analyte is None:
            shown = [f"{c.get('system')}|{c.get('code')}" for c in codings]
            raise _ProblemError(
                "code.coding",
                f"code.coding {shown} names no analyte in hostcap's catalog",
                shown,
                "a LOINC code of a catalog analyte ("
                + ", ".join(f"{a.code} {a.id}" for a in catalog.analytes().values() if a.loinc)
                + ")",
            )
        value, unit = _quantity(resource, "valueQuantity")
        if unit is None:
            raise _ProblemError(
                "valueQuantity.code", "valueQuantity has no unit", None, "a UCUM unit"
            )
        record: dict[str, str | None] = {
            "client_code": client,
            "analyte": analyte,
            "value": value,
            "unit": unit,
            "collected_at": _effective(resource, self.zone),
        }
        ranges = resource.get("referenceRange") or []
        if ranges:
            band = ranges[0]
            for end, name in (("low", "reference_low"), ("high", "reference_high")):
                if isinstance(band, Mapping) and band.get(end):
                    limit, limit_unit = _quantity(band, end)
                    if limit_unit is not None and unit is not None and limit_unit != unit:
                        limit = number_text(catalog.convert_unit(float(limit), limit_unit, unit))
                    record[name] = limit
        parts = _components(resource)
        for comp in parts.pop("context", []):
            record["context"] = _code_in(comp.get("valueCodeableConcept"), LAB_CONTEXT_SYSTEM)
        for comp in parts.pop("hours-after-onset", []):
            hours, hours_unit = _quantity(comp, "valueQuantity")
            if hours_unit not in (None, "h"):
                hours = number_text(catalog.convert_unit(float(hours), hours_unit, "h"))
            record["hours_after_onset"] = hours
        self.unread(label, parts)
        self.out.add("labs", record, label)

    def unread(self, label: str, parts: Mapping[str, Any]) -> None:
        for code in parts:
            self.problem(
                label,
                f"component[{code}]",
                "component is not one hostcap reads here",
                code,
                "the components listed in docs/interop.md",
            )

    def episode(self, label: str, resource: Mapping[str, Any]) -> None:
        parts = _components(resource)
        systems = []
        for comp in parts.pop("organ-system", []):
            systems.append(_code_in(comp.get("valueCodeableConcept"), ORGAN_SYSTEM_SYSTEM) or "")
        record: dict[str, str | None] = {
            "client_code": self.subject(resource),
            "onset_at": _effective(resource, self.zone),
            "organ_systems": ";".join(systems),
            "severity": _number(_need(resource, "valueInteger", "severity 0-10"), "valueInteger"),
            "notes": _notes(resource),
        }
        for comp in parts.pop("duration", []):
            record["duration_minutes"] = _quantity(comp, "valueQuantity")[0]
        for name, column in (("emergency-care", "emergency_care"), ("anaphylaxis", "anaphylaxis")):
            for comp in parts.pop(name, []):
                record[column] = "true" if comp.get("valueBoolean") else "false"
        for comp in parts.pop("treatment", []):
            record["treatment"] = comp.get("valueString")
        self.unread(label, parts)
        self.out.add("episodes", record, label)

    def food(self, label: str, resource: Mapping[str, Any]) -> None:
        parts = _components(resource)
        record: dict[str, str | None] = {
            "client_code": self.subject(resource),
            "date": _day(_effective(resource, self.zone)),
            "reaction_grade": _number(
                _need(resource, "valueInteger", "a grade 0-3"), "valueInteger"
            ),
            "notes": _notes(resource),
        }
        for comp in parts.pop("food", []):
            record["food"] = comp.get("valueString")
        for comp in parts.pop("dose", []):
            record["dose"], record["dose_unit"] = _quantity(comp, "valueQuantity", prefer_unit=True)
        self.unread(label, parts)
        self.out.add("food", record, label)

    def finding(self, label: str, resource: Mapping[str, Any]) -> None:
        value: Any
        if "valueBoolean" in resource:
            value = json.dumps(bool(resource["valueBoolean"]))
        elif "valueInteger" in resource:
            value = json.dumps(resource["valueInteger"])
        elif "valueQuantity" in resource:
            value = json.dumps(float(_need(resource, "valueQuantity.value", "a number")))
        elif "valueString" in resource:
            text = resource["valueString"]
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            value = text if isinstance(parsed, list | dict) else json.dumps(text)
        else:
            raise _ProblemError(
                "value[x]",
                "value[x] is missing",
                None,
                "valueBoolean, valueInteger, valueQuantity or valueString",
            )
        self.out.add(
            "findings",
            {
                "client_code": self.subject(resource),
                "field": _code_in(resource.get("code"), FINDING_SYSTEM),
                "value": value,
                "date": _day(_effective(resource, self.zone)),
                "source": _notes(resource),
            },
            label,
        )

    def survey_total(self, label: str, resource: Mapping[str, Any]) -> None:
        instrument = _code_in(resource.get("code"), INSTRUMENT_SYSTEM)
        derived = [
            d.get("reference") for d in resource.get("derivedFrom") or [] if isinstance(d, Mapping)
        ]
        source = next((self.by_ref.get(str(d)) for d in derived if self.by_ref.get(str(d))), None)
        if source is None or source.get("resourceType") != "QuestionnaireResponse":
            raise _ProblemError(
                "derivedFrom",
                f"a {instrument} total without the QuestionnaireResponse it was derived from",
                derived,
                "derivedFrom → a QuestionnaireResponse in the bundle (hostcap stores answers and "
                "recomputes the total)",
            )
        answers = [
            float(a[0].get("valueInteger", a[0].get("valueDecimal")))
            for a in (i.get("answer") for i in source.get("item") or [])
            if a
        ]
        total = float(_need(resource, "valueQuantity.value", "the total score"))
        try:
            expected = float(catalog.score_instrument(str(instrument), answers).total)
        except HostcapError:
            return  # the response itself reports why its answers are refused
        if abs(expected - total) > 1e-6:
            raise _ProblemError(
                "valueQuantity.value",
                f"valueQuantity.value {total:g} differs from the total {expected:g} computed "
                "from the answers of the QuestionnaireResponse",
                total,
                f"{expected:g}",
            )
        self.out.skipped.append(
            f"{label} (survey total: recomputed from its QuestionnaireResponse)"
        )

    def medication_statement(self, label: str, resource: Mapping[str, Any]) -> None:
        concept = resource.get("medicationCodeableConcept")
        if concept is None:
            raise _ProblemError(
                "medication[x]",
                "medicationReference is not read (the medication must be coded in place)",
                resource.get("medicationReference"),
                f"medicationCodeableConcept with an ATC ({ATC_SYSTEM}) or hostcap medication code",
            )
        client = self.subject(resource)
        period = resource.get("effectivePeriod") or {}
        start = period.get("start") if isinstance(period, Mapping) else None
        start = start or resource.get("effectiveDateTime")
        if not start:
            raise _ProblemError(
                "effectivePeriod.start", "effectivePeriod.start is missing", None, "the start date"
            )
        end = period.get("end") if isinstance(period, Mapping) else None
        dosages = [d for d in resource.get("dosage") or [] if isinstance(d, Mapping)]
        regular = [d for d in dosages if not d.get("asNeededBoolean")]
        if not regular:
            raise _ProblemError(
                "dosage", "dosage with a dose is missing", None, "dosage.doseAndRate.doseQuantity"
            )
        intervention = _code_in(concept, INTERVENTION_SYSTEM)
        dose, unit = _quantity(
            regular[0], "doseAndRate.doseQuantity", prefer_unit=intervention is not None
        )
        if intervention is not None:
            self.out.add(
                "interventions",
                {
                    "client_code": client,
                    "intervention": intervention,
                    "dose": dose,
                    "unit": unit,
                    "start": _day(start),
                    "end": _day(end) if end else None,
                    "phase": _notes(resource),
                },
                label,
            )
            return
        drug = _code_in(concept, MEDICATION_SYSTEM)
        if drug is None:
            atc = _code_in(concept, ATC_SYSTEM)
            matches = [m.id for m in catalog.medications().values() if atc and m.atc == atc]
            if not matches:
                shown = [f"{c.get('system')}|{c.get('code')}" for c in _codings(concept)]
                raise _ProblemError(
                    "medicationCodeableConcept.coding",
                    f"medicationCodeableConcept.coding {shown} names no medication in "
                    "hostcap's catalog",
                    shown,
                    f"an ATC code ({ATC_SYSTEM}) of a catalog medication",
                )
            drug = matches[0]
        record: dict[str, str | None] = {
            "client_code": client,
            "drug": drug,
            "dose": dose,
            "unit": unit,
            "per_day": self.rate(regular[0], "d"),
            "start": _day(start),
            "end": _day(end) if end else None,
        }
        rescue = [d for d in dosages if d.get("asNeededBoolean")]
        if rescue:
            record["rescue_doses_per_week"] = self.rate(rescue[0], "wk")
        self.out.add("meds", record, label)

    @staticmethod
    def rate(dosage: Mapping[str, Any], unit: str) -> str:
        repeat = _need(dosage, "timing.repeat", "timing.repeat with frequency and period")
        frequency = repeat.get("frequency", 1)
        period = repeat.get("period", 1)
        period_unit = repeat.get("periodUnit", "d")
        if period_unit not in _PER_UNIT_DAYS or not period:
            raise _ProblemError(
                "timing.repeat.periodUnit",
                f"timing.repeat.periodUnit {period_unit!r} is not read",
                period_unit,
                "h, d, wk or mo",
            )
        per_day = float(frequency) / (float(period) * _PER_UNIT_DAYS[period_unit])
        return number_text(per_day * _PER_UNIT_DAYS[unit])

    def questionnaire_response(self, label: str, resource: Mapping[str, Any]) -> None:
        canonical = str(_need(resource, "questionnaire", "a hostcap questionnaire"))
        if not canonical.startswith(QUESTIONNAIRE_BASE):
            raise _ProblemError(
                "questionnaire",
                f"questionnaire {canonical!r} is not a hostcap instrument",
                canonical,
                QUESTIONNAIRE_BASE + "<instrument id> (" + ", ".join(catalog.instruments()) + ")",
            )
        instrument = canonical.removeprefix(QUESTIONNAIRE_BASE)
        answers: list[str] = []
        for n, item in enumerate(resource.get("item") or []):
            answer = (item.get("answer") or [{}])[0]
            value = answer.get("valueInteger", answer.get("valueDecimal"))
            answers.append(_number(value, f"item[{n}].answer.value[x]"))
        self.out.add(
            "questionnaires",
            {
                "client_code": self.subject(resource),
                "instrument": instrument,
                "answers": ",".join(answers),
                "date": _day(str(_need(resource, "authored", "the date answered"))),
            },
            label,
        )

    def encounter(self, label: str, resource: Mapping[str, Any]) -> None:
        start = _need(resource, "period.start", "the visit date")
        week = note = None
        for ext in resource.get("extension") or []:
            if ext.get("url") == EXT_WEEK:
                week = _number(ext.get("valueDecimal"), "extension.valueDecimal")
            elif ext.get("url") == EXT_NOTE:
                note = ext.get("valueString")
        kinds = [_code_in(t, VISIT_KIND_SYSTEM) for t in resource.get("type") or []]
        self.out.add(
            "visits",
            {
                "client_code": self.subject(resource),
                "date": _day(str(start)),
                "visit_kind": next((k for k in kinds if k), None),
                "week": week,
                "notes": note,
            },
            label,
        )


def read_bundle(bundle: Any, *, zone: dt.tzinfo | None = None) -> FhirImport:
    """Every record a Bundle (or a single resource) holds for hostcap, and every problem.

    A single resource is read as a bundle of one entry.
    """
    if isinstance(bundle, Mapping) and bundle.get("resourceType") not in ("Bundle", None):
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": bundle}]}
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        out = FhirImport()
        out.issues.append(
            Issue(
                "resourceType",
                "the file is not a FHIR Bundle; expected resourceType Bundle",
                value=bundle.get("resourceType") if isinstance(bundle, Mapping) else None,
                expected="a FHIR Bundle (JSON)",
            )
        )
        return out
    return _Reader(bundle, zone).read()
