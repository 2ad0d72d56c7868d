"""A FHIR R4/R4B Bundle (plain dicts) → hostcap records in input form, every problem named.

Pure: reads the bundle's resources, maps each one it knows (``fhir_codes.FHIR_MAPPING``) to a
record of text fields, and lists the rest. Nothing is dropped silently: a resource type hostcap
does not import, an element it does not keep (a name, an address) and an unknown code are each
reported with the resource, the element path, the value and what was expected. The records then
go through the store's own validation (units converted like the CSV import).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from hostcap.errors import HostcapError, Issue, Severity
from hostcap.interop.fhir_elements import ElementError
from hostcap.interop.fhir_resource_readers import FhirImport, ResourceReaders

__all__ = ["FhirImport", "read_bundle"]


class _Reader(ResourceReaders):
    def __init__(self, bundle: Mapping[str, Any], zone: dt.tzinfo | None) -> None:
        self.zone = zone
        self.out = FhirImport()
        self.entries: list[tuple[str, Mapping[str, Any]]] = []
        self.by_ref = {}
        self.patients = {}
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
        except ElementError as p:
            self.problem(label, p.path, p.message, p.value, p.expected)
        except HostcapError as exc:
            self.problem(
                label,
                "",
                str(exc),
                getattr(exc, "value", None),
                str(getattr(exc, "expected", None) or "a value hostcap accepts"),
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
