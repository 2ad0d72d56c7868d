"""One reader per FHIR resource type hostcap imports (Patient, Observation, MedicationStatement,
QuestionnaireResponse, Encounter) → hostcap records in input form, every problem named.

``fhir_import`` walks the bundle and hands each resource to its reader here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hostcap import catalog
from hostcap.errors import HostcapError, Issue, Severity
from hostcap.interop import fhir_codes
from hostcap.interop.fhir_elements import (
    ElementError,
    code_in,
    codings,
    components,
    day,
    effective,
    need,
    notes,
    number,
    quantity,
)
from hostcap.interop.fields import number_text

__all__ = ["FhirImport", "ResourceReaders"]

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


class ResourceReaders:
    """Reads each resource type into ``out`` (``_Reader`` in ``fhir_import`` sets the state:
    the bundle's resources by reference and the client code of each Patient read)."""

    zone: dt.tzinfo | None
    out: FhirImport
    by_ref: dict[str, Mapping[str, Any]]
    patients: dict[int, str]

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
        reference = need(resource, "subject.reference", "a reference to a Patient in the bundle")
        target = self.by_ref.get(str(reference))
        if target is None or target.get("resourceType") != "Patient":
            raise ElementError(
                "subject.reference",
                f"subject.reference {reference!r} is not a Patient in this bundle",
                reference,
                "a reference to a Patient entry of the same bundle (fullUrl or Patient/id)",
            )
        code = self.patients.get(id(target))
        if code is None:
            raise ElementError(
                "subject.reference",
                f"subject.reference {reference!r} is a Patient that could not be imported",
                reference,
                "a Patient with a hostcap client code",
            )
        return code

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
                fhir_codes.CLIENT_CODE_SYSTEM,
                fhir_codes.PSEUDONYM_SYSTEM,
            ):
                code = ident.get("value")
        if not code:
            systems = [
                i.get("system") for i in resource.get("identifier") or [] if isinstance(i, Mapping)
            ]
            raise ElementError(
                "identifier",
                f"identifier has no hostcap client code (systems: {systems or 'none'})",
                systems,
                f"an identifier with system {fhir_codes.CLIENT_CODE_SYSTEM} or "
                f"{fhir_codes.PSEUDONYM_SYSTEM} holding a "
                "pseudonymous code (a medical record number is not one: add a code)",
            )
        gender = need(resource, "gender", "female, male or other")
        birth = str(need(resource, "birthDate", "a birth date or year (YYYY)"))
        demo = any(
            t.get("system") == fhir_codes.TAG_SYSTEM and t.get("code") == "demo"
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
        record_code = code_in(code, fhir_codes.RECORD_SYSTEM)
        if record_code == "episode":
            return self.episode(label, resource)
        if record_code == "food-trial":
            return self.food(label, resource)
        if code_in(code, fhir_codes.FINDING_SYSTEM):
            return self.finding(label, resource)
        if code_in(code, fhir_codes.INSTRUMENT_SYSTEM):
            return self.survey_total(label, resource)
        return self.lab(label, resource)

    def lab(self, label: str, resource: Mapping[str, Any]) -> None:
        client = self.subject(resource)
        analyte = None
        coded = codings(resource.get("code"))
        for coding in coded:
            if coding.get("system") in (
                fhir_codes.LOINC_SYSTEM,
                "urn:hostcap:local",
            ) and coding.get("code"):
                try:
                    analyte = catalog.get_analyte(str(coding["code"])).id
                    break
                except HostcapError:
                    continue
        if analyte is None:
            shown = [f"{c.get('system')}|{c.get('code')}" for c in coded]
            raise ElementError(
                "code.coding",
                f"code.coding {shown} names no analyte in hostcap's catalog",
                shown,
                "a LOINC code of a catalog analyte ("
                + ", ".join(f"{a.code} {a.id}" for a in catalog.analytes().values() if a.loinc)
                + ")",
            )
        value, unit = quantity(resource, "valueQuantity")
        if unit is None:
            raise ElementError(
                "valueQuantity.code", "valueQuantity has no unit", None, "a UCUM unit"
            )
        record: dict[str, str | None] = {
            "client_code": client,
            "analyte": analyte,
            "value": value,
            "unit": unit,
            "collected_at": effective(resource, self.zone),
        }
        ranges = resource.get("referenceRange") or []
        if ranges:
            band = ranges[0]
            for end, name in (("low", "reference_low"), ("high", "reference_high")):
                if isinstance(band, Mapping) and band.get(end):
                    limit, limit_unit = quantity(band, end)
                    if limit_unit is not None and unit is not None and limit_unit != unit:
                        limit = number_text(catalog.convert_unit(float(limit), limit_unit, unit))
                    record[name] = limit
        parts = components(resource)
        for comp in parts.pop("context", []):
            record["context"] = code_in(
                comp.get("valueCodeableConcept"), fhir_codes.LAB_CONTEXT_SYSTEM
            )
        for comp in parts.pop("hours-after-onset", []):
            hours, hours_unit = quantity(comp, "valueQuantity")
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
        parts = components(resource)
        systems = []
        for comp in parts.pop("organ-system", []):
            systems.append(
                code_in(comp.get("valueCodeableConcept"), fhir_codes.ORGAN_SYSTEM_SYSTEM) or ""
            )
        record: dict[str, str | None] = {
            "client_code": self.subject(resource),
            "onset_at": effective(resource, self.zone),
            "organ_systems": ";".join(systems),
            "severity": number(need(resource, "valueInteger", "severity 0-10"), "valueInteger"),
            "notes": notes(resource),
        }
        for comp in parts.pop("duration", []):
            record["duration_minutes"] = quantity(comp, "valueQuantity")[0]
        for column, name in fhir_codes.EPISODE_FLAGS.items():
            for comp in parts.pop(name, []):
                record[column] = "true" if comp.get("valueBoolean") else "false"
        for comp in parts.pop("treatment", []):
            record["treatment"] = comp.get("valueString")
        self.unread(label, parts)
        self.out.add("episodes", record, label)

    def food(self, label: str, resource: Mapping[str, Any]) -> None:
        parts = components(resource)
        record: dict[str, str | None] = {
            "client_code": self.subject(resource),
            "date": day(effective(resource, self.zone)),
            "reaction_grade": number(need(resource, "valueInteger", "a grade 0-3"), "valueInteger"),
            "notes": notes(resource),
        }
        for comp in parts.pop("food", []):
            record["food"] = comp.get("valueString")
        for comp in parts.pop("dose", []):
            record["dose"], record["dose_unit"] = quantity(comp, "valueQuantity", prefer_unit=True)
        self.unread(label, parts)
        self.out.add("food", record, label)

    def finding(self, label: str, resource: Mapping[str, Any]) -> None:
        value: Any
        if "valueBoolean" in resource:
            value = json.dumps(bool(resource["valueBoolean"]))
        elif "valueInteger" in resource:
            value = json.dumps(resource["valueInteger"])
        elif "valueQuantity" in resource:
            value = json.dumps(float(need(resource, "valueQuantity.value", "a number")))
        elif "valueString" in resource:
            text = resource["valueString"]
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            value = text if isinstance(parsed, list | dict) else json.dumps(text)
        else:
            raise ElementError(
                "value[x]",
                "value[x] is missing",
                None,
                "valueBoolean, valueInteger, valueQuantity or valueString",
            )
        self.out.add(
            "findings",
            {
                "client_code": self.subject(resource),
                "field": code_in(resource.get("code"), fhir_codes.FINDING_SYSTEM),
                "value": value,
                "date": day(effective(resource, self.zone)),
                "source": notes(resource),
            },
            label,
        )

    def survey_total(self, label: str, resource: Mapping[str, Any]) -> None:
        instrument = code_in(resource.get("code"), fhir_codes.INSTRUMENT_SYSTEM)
        derived = [
            d.get("reference") for d in resource.get("derivedFrom") or [] if isinstance(d, Mapping)
        ]
        source = next((self.by_ref.get(str(d)) for d in derived if self.by_ref.get(str(d))), None)
        if source is None or source.get("resourceType") != "QuestionnaireResponse":
            raise ElementError(
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
        total = float(need(resource, "valueQuantity.value", "the total score"))
        try:
            expected = float(catalog.score_instrument(str(instrument), answers).total)
        except HostcapError:
            return  # the response itself reports why its answers are refused
        if abs(expected - total) > 1e-6:
            raise ElementError(
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
            raise ElementError(
                "medication[x]",
                "medicationReference is not read (the medication must be coded in place)",
                resource.get("medicationReference"),
                f"medicationCodeableConcept with an ATC ({fhir_codes.ATC_SYSTEM}) or hostcap "
                "medication code",
            )
        client = self.subject(resource)
        period = resource.get("effectivePeriod") or {}
        start = period.get("start") if isinstance(period, Mapping) else None
        start = start or resource.get("effectiveDateTime")
        if not start:
            raise ElementError(
                "effectivePeriod.start", "effectivePeriod.start is missing", None, "the start date"
            )
        end = period.get("end") if isinstance(period, Mapping) else None
        dosages = [d for d in resource.get("dosage") or [] if isinstance(d, Mapping)]
        regular = [d for d in dosages if not d.get("asNeededBoolean")]
        if not regular:
            raise ElementError(
                "dosage", "dosage with a dose is missing", None, "dosage.doseAndRate.doseQuantity"
            )
        intervention = code_in(concept, fhir_codes.INTERVENTION_SYSTEM)
        dose, unit = quantity(
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
                    "start": day(start),
                    "end": day(end) if end else None,
                    "phase": notes(resource),
                },
                label,
            )
            return
        record: dict[str, str | None] = {
            "client_code": client,
            "drug": _catalog_drug(concept),
            "dose": dose,
            "unit": unit,
            "per_day": self.rate(regular[0], "d"),
            "start": day(start),
            "end": day(end) if end else None,
        }
        rescue = [d for d in dosages if d.get("asNeededBoolean")]
        if rescue:
            record["rescue_doses_per_week"] = self.rate(rescue[0], "wk")
        self.out.add("meds", record, label)

    @staticmethod
    def rate(dosage: Mapping[str, Any], unit: str) -> str:
        repeat = need(dosage, "timing.repeat", "timing.repeat with frequency and period")
        frequency = repeat.get("frequency", 1)
        period = repeat.get("period", 1)
        period_unit = repeat.get("periodUnit", "d")
        if period_unit not in _PER_UNIT_DAYS or not period:
            raise ElementError(
                "timing.repeat.periodUnit",
                f"timing.repeat.periodUnit {period_unit!r} is not read",
                period_unit,
                "h, d, wk or mo",
            )
        per_day = float(frequency) / (float(period) * _PER_UNIT_DAYS[period_unit])
        return number_text(per_day * _PER_UNIT_DAYS[unit])

    def questionnaire_response(self, label: str, resource: Mapping[str, Any]) -> None:
        canonical = str(need(resource, "questionnaire", "a hostcap questionnaire"))
        if not canonical.startswith(fhir_codes.QUESTIONNAIRE_BASE):
            raise ElementError(
                "questionnaire",
                f"questionnaire {canonical!r} is not a hostcap instrument",
                canonical,
                fhir_codes.QUESTIONNAIRE_BASE
                + "<instrument id> ("
                + ", ".join(catalog.instruments())
                + ")",
            )
        instrument = canonical.removeprefix(fhir_codes.QUESTIONNAIRE_BASE)
        answers: list[str] = []
        for n, item in enumerate(resource.get("item") or []):
            answer = (item.get("answer") or [{}])[0]
            value = answer.get("valueInteger", answer.get("valueDecimal"))
            answers.append(number(value, f"item[{n}].answer.value[x]"))
        self.out.add(
            "questionnaires",
            {
                "client_code": self.subject(resource),
                "instrument": instrument,
                "answers": ",".join(answers),
                "date": day(str(need(resource, "authored", "the date answered"))),
            },
            label,
        )

    def encounter(self, label: str, resource: Mapping[str, Any]) -> None:
        start = need(resource, "period.start", "the visit date")
        week = note = None
        for ext in resource.get("extension") or []:
            if ext.get("url") == fhir_codes.EXT_WEEK:
                week = number(ext.get("valueDecimal"), "extension.valueDecimal")
            elif ext.get("url") == fhir_codes.EXT_NOTE:
                note = ext.get("valueString")
        kinds = [code_in(t, fhir_codes.VISIT_KIND_SYSTEM) for t in resource.get("type") or []]
        self.out.add(
            "visits",
            {
                "client_code": self.subject(resource),
                "date": day(str(start)),
                "visit_kind": next((k for k in kinds if k), None),
                "week": week,
                "notes": note,
            },
            label,
        )


def _catalog_drug(concept: Any) -> str:
    """The catalog medication a medicationCodeableConcept names (hostcap's code, else ATC)."""
    drug = code_in(concept, fhir_codes.MEDICATION_SYSTEM)
    if drug is not None:
        return drug
    atc = code_in(concept, fhir_codes.ATC_SYSTEM)
    matches = [m.id for m in catalog.medications().values() if atc and m.atc == atc]
    if not matches:
        shown = [f"{c.get('system')}|{c.get('code')}" for c in codings(concept)]
        raise ElementError(
            "medicationCodeableConcept.coding",
            f"medicationCodeableConcept.coding {shown} names no medication in hostcap's catalog",
            shown,
            f"an ATC code ({fhir_codes.ATC_SYSTEM}) of a catalog medication",
        )
    return matches[0]
