"""hostcap records → REDCap records, flat or EAV (pure).

Flat: one row per client and per repeat instance (``redcap_repeat_instrument``,
``redcap_repeat_instance``, ``<form>_complete``, checkboxes as ``field___code``). EAV: ``record,
field_name, value, redcap_repeat_instrument, redcap_repeat_instance``, one row per value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from hostcap import catalog
from hostcap.interop.fields import KIND_ORDER, FieldSpec, KindFields, Records, number_text
from hostcap.interop.redcap_dictionary import (
    DICTIONARY_COLUMNS,
    RECORD_ID,
    parse_choices,
    variable_name,
)

__all__ = ["eav_rows", "flat_rows"]


def _value_out(spec: FieldSpec, text: str | None) -> str:
    if text is None or text == "":
        return ""
    kind = str(spec.type)
    if kind == "bool":
        return "1" if str(text).lower() in ("true", "1", "yes", "y") else "0"
    if kind == "datetime":
        moment = dt.datetime.fromisoformat(str(text))
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "date":
        return str(text)[:10]
    if kind in ("float", "int"):
        return number_text(float(str(text)))
    return str(text)


def _checked(text: str | None) -> set[str]:
    return {p.strip() for p in str(text or "").replace(",", ";").split(";") if p.strip()}


def _form_values(kind: str, spec: FieldSpec, text: str | None) -> dict[str, str]:
    var = variable_name(kind, spec.name)
    if str(spec.type) == "list" and spec.choices:
        chosen = _checked(text)
        return {f"{var}___{c}": "1" if c in chosen else "0" for c in spec.choices}
    return {var: _value_out(spec, text)}


def _columns(dictionary: Sequence[Mapping[str, str]]) -> list[str]:
    """Flat-export columns: fields in dictionary order, checkboxes expanded, then
    ``<form>_complete`` after each form."""
    columns = [RECORD_ID, "redcap_repeat_instrument", "redcap_repeat_instance"]
    rows = list(dictionary)
    for n, row in enumerate(rows):
        name, form = row[DICTIONARY_COLUMNS[0]], row[DICTIONARY_COLUMNS[1]]
        if name != RECORD_ID:
            if row[DICTIONARY_COLUMNS[3]] == "checkbox":
                columns += [
                    f"{name}___{code}" for code, _ in parse_choices(row[DICTIONARY_COLUMNS[5]])
                ]
            else:
                columns.append(name)
        last = n + 1 == len(rows) or rows[n + 1][DICTIONARY_COLUMNS[1]] != form
        if last:
            columns.append(f"{form}_complete")
    return columns


def _record_values(
    records: Records, fields: KindFields
) -> list[tuple[str, str, int, dict[str, str]]]:
    """(record id, repeat instrument, instance, values) in export order."""
    out: list[tuple[str, str, int, dict[str, str]]] = []
    by_client: dict[str, list[tuple[str, str, int, dict[str, str]]]] = {}
    for record in sorted(records.get("clients", ()), key=lambda r: str(r["client_code"])):
        code = str(record["client_code"])
        values: dict[str, str] = {}
        for spec in fields["clients"]:
            if spec.name != "client_code":
                values |= _form_values("clients", spec, record.get(spec.name))
        values["clients_complete"] = "2"
        by_client[code] = [(code, "", 0, values)]
    for kind in KIND_ORDER[1:]:
        rows = sorted(
            records.get(kind, ()), key=lambda r: sorted((k, str(v)) for k, v in r.items())
        )
        counters: dict[tuple[str, str], int] = {}
        for record in rows:
            code = str(record["client_code"])
            if kind == "questionnaires":
                inst = catalog.get_instrument(str(record["instrument"]))
                form = inst.id
                answers = [
                    p for p in str(record["answers"]).replace(";", ",").split(",") if p.strip()
                ]
                values = {f"{form}_date": str(record["date"])[:10]}
                for item, answer in zip(inst.items, answers, strict=False):
                    values[f"{form}_{item.index}"] = number_text(float(answer))
            else:
                form = kind
                values = {}
                for spec in fields[kind]:
                    if spec.name != "client_code" and spec.name in record:
                        values |= _form_values(kind, spec, record.get(spec.name))
            values[f"{form}_complete"] = "2"
            counters[(code, form)] = counters.get((code, form), 0) + 1
            by_client.setdefault(code, []).append((code, form, counters[(code, form)], values))
    for code in sorted(by_client):
        out.extend(by_client[code])
    return out


def flat_rows(
    records: Records, fields: KindFields, dictionary: Sequence[Mapping[str, str]]
) -> tuple[list[str], list[dict[str, str]]]:
    """Flat records: the header and one row per client and per repeat instance."""
    columns = _columns(dictionary)
    rows = []
    for code, form, instance, values in _record_values(records, fields):
        row = dict.fromkeys(columns, "")
        row[RECORD_ID] = code
        if form:
            row["redcap_repeat_instrument"] = form
            row["redcap_repeat_instance"] = str(instance)
        row |= values
        rows.append(row)
    return columns, rows


def eav_rows(records: Records, fields: KindFields) -> tuple[list[str], list[dict[str, str]]]:
    """EAV records: one row per non-empty value; a checkbox gives one row per ticked code."""
    columns = [
        "record",
        "field_name",
        "value",
        "redcap_repeat_instrument",
        "redcap_repeat_instance",
    ]
    rows = []
    for code, form, instance, values in _record_values(records, fields):
        for name, value in values.items():
            if value == "":
                continue
            if "___" in name:
                if value != "1":
                    continue
                name, value = name.split("___", 1)
            rows.append(
                {
                    "record": code,
                    "field_name": name,
                    "value": value,
                    "redcap_repeat_instrument": form,
                    "redcap_repeat_instance": str(instance) if form else "",
                }
            )
    return columns, rows
