"""Reading the elements of a FHIR resource (plain dicts): Quantity, dateTime, codings,
components, notes. Each reader raises ``ElementError`` naming the element path, the value and
what was expected.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from hostcap.errors import describe_value
from hostcap.interop.fhir_codes import LAB_COMPONENT_SYSTEM, UCUM_SYSTEM
from hostcap.interop.fields import as_local, number_text

__all__ = [
    "ElementError",
    "code_in",
    "codings",
    "components",
    "day",
    "effective",
    "local_time",
    "need",
    "notes",
    "number",
    "quantity",
]


class ElementError(Exception):
    """One element of one resource that cannot be imported."""

    def __init__(self, path: str, message: str, value: Any, expected: str) -> None:
        super().__init__(message)
        self.path, self.message, self.value, self.expected = path, message, value, expected


def need(resource: Mapping[str, Any], path: str, expected: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if isinstance(value, list):
            value = value[0] if value else None
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None or value == "" or value == []:
        raise ElementError(path, f"{path} is missing", None, expected)
    return value


def codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, Mapping):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, Mapping)]


def code_in(concept: Any, system: str) -> str | None:
    for coding in codings(concept):
        if coding.get("system") == system and coding.get("code"):
            return str(coding["code"])
    return None


def number(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ElementError(
            path, f"{path} {describe_value(value)} is not a number", value, "a number"
        )
    return number_text(value)


def quantity(
    resource: Mapping[str, Any], path: str, *, prefer_unit: bool = False
) -> tuple[str, str | None]:
    """(value, unit): the UCUM code, or the human-readable unit where ``prefer_unit``."""
    quantity = need(resource, path, "a Quantity with value and unit")
    if not isinstance(quantity, Mapping):
        raise ElementError(path, f"{path} is not a Quantity", quantity, "a Quantity")
    value = number(quantity.get("value"), f"{path}.value")
    system = quantity.get("system")
    code = quantity.get("code")
    if prefer_unit and quantity.get("unit"):
        return value, str(quantity["unit"])
    if system == UCUM_SYSTEM and code:
        return value, str(code)
    if system not in (None, UCUM_SYSTEM):
        raise ElementError(
            f"{path}.system",
            f"{path}.system {system!r} is not UCUM",
            system,
            f"{UCUM_SYSTEM} (UCUM units)",
        )
    unit = quantity.get("unit") or code
    return value, str(unit) if unit else None


def local_time(text: Any, path: str, zone: dt.tzinfo | None, *, need_zone: bool) -> str:
    if not isinstance(text, str):
        raise ElementError(path, f"{path} is not a dateTime", text, "a dateTime")
    if len(text) == 10:
        return text
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ElementError(
            path, f"{path} {text!r} is not a dateTime", text, "YYYY-MM-DDThh:mm:ss+zz:zz"
        ) from None
    if moment.tzinfo is None and need_zone:
        raise ElementError(
            path,
            f"{path} {text!r} has no time-zone offset",
            text,
            "a dateTime with an offset (FHIR requires one when a time is given)",
        )
    local = as_local(moment, zone)
    spec = "seconds" if local.microsecond == 0 else "microseconds"
    return local.isoformat(timespec=spec)


def effective(resource: Mapping[str, Any], zone: dt.tzinfo | None) -> str:
    if "effectiveDateTime" in resource:
        return local_time(resource["effectiveDateTime"], "effectiveDateTime", zone, need_zone=True)
    period = resource.get("effectivePeriod")
    if isinstance(period, Mapping) and period.get("start"):
        return local_time(period["start"], "effectivePeriod.start", zone, need_zone=True)
    raise ElementError(
        "effective[x]",
        "effective[x] is missing",
        None,
        "effectiveDateTime (or effectivePeriod.start)",
    )


def day(value: str) -> str:
    return value[:10]


def components(resource: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = {}
    for n, comp in enumerate(resource.get("component") or []):
        code = (
            code_in(comp.get("code"), LAB_COMPONENT_SYSTEM) if isinstance(comp, Mapping) else None
        )
        if code is None:
            raise ElementError(
                f"component[{n}].code",
                f"component[{n}].code is not one hostcap reads",
                comp.get("code") if isinstance(comp, Mapping) else comp,
                f"a coding of {LAB_COMPONENT_SYSTEM}",
            )
        out.setdefault(code, []).append(comp)
    return out


def notes(resource: Mapping[str, Any]) -> str | None:
    notes = [n for n in resource.get("note") or [] if isinstance(n, Mapping)]
    texts = [str(n["text"]) for n in notes if n.get("text")]
    return "\n".join(texts) if texts else None
