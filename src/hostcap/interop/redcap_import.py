"""REDCap records (flat or EAV) → hostcap records in input form (pure).

Reading checks every value against the dictionary it is given (type, validation, limits,
choices) and names each problem by its row and field; the store then applies its own rules.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hostcap import catalog
from hostcap.errors import Issue, describe_value
from hostcap.interop.fields import FieldSpec, KindFields
from hostcap.interop.redcap_dictionary import RECORD_ID, DictionaryField, variable_name

__all__ = ["RedcapImport", "read_records"]


@dataclass
class RedcapImport:
    """Records per kind (input form), where each came from, and every problem found."""

    records: dict[str, list[dict[str, str | None]]] = field(default_factory=dict)
    origins: dict[str, list[str]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def add(self, kind: str, record: dict[str, str | None], origin: str) -> None:
        self.records.setdefault(kind, []).append(record)
        self.origins.setdefault(kind, []).append(origin)


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_INTEGER = re.compile(r"^-?\d+$")
_FORMATS = {
    "date_ymd": ("%Y-%m-%d",),
    "datetime_ymd": ("%Y-%m-%d %H:%M",),
    "datetime_seconds_ymd": ("%Y-%m-%d %H:%M:%S",),
}


def _check_value(spec: DictionaryField, value: str, where: str) -> Issue | None:
    def bad(expected: str) -> Issue:
        return Issue(
            where,
            f"{spec.name} value {describe_value(value)} does not match the dictionary; "
            f"expected {expected}",
            value=value,
            expected=expected,
        )

    if spec.type in ("dropdown", "radio", "checkbox"):
        codes = [c for c, _ in spec.choices]
        return None if value in codes else bad("one of " + ", ".join(codes))
    if spec.type in ("yesno", "truefalse"):
        return None if value in ("0", "1") else bad("1 or 0")
    if spec.validation in ("number", "integer"):
        pattern = _INTEGER if spec.validation == "integer" else _NUMBER
        if not pattern.match(value):
            return bad("an integer" if spec.validation == "integer" else "a number")
        if spec.minimum and float(value) < float(spec.minimum):
            return bad(f"at least {spec.minimum}")
        if spec.maximum and float(value) > float(spec.maximum):
            return bad(f"at most {spec.maximum}")
    if spec.validation in _FORMATS:
        for fmt in _FORMATS[spec.validation]:
            try:
                dt.datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            return bad(f"{spec.validation} ({_FORMATS[spec.validation][0]})")
    return None


def _value_in(spec: FieldSpec, value: str) -> str:
    kind = str(spec.type)
    if kind == "bool":
        return "true" if value == "1" else "false"
    if kind == "datetime":
        return value.replace(" ", "T")
    return value


def _flat_from_eav(
    rows: Sequence[Mapping[str, str]], checkboxes: set[str]
) -> list[tuple[str, dict[str, str]]]:
    """EAV rows grouped into flat rows (one per record and instance); a checkbox's values (one
    row per ticked code) become ``field___code`` = 1."""
    grouped: dict[tuple[str, str, str], dict[str, str]] = {}
    where: dict[tuple[str, str, str], str] = {}
    for n, row in enumerate(rows):
        key = (
            str(row.get("record") or ""),
            str(row.get("redcap_repeat_instrument") or ""),
            str(row.get("redcap_repeat_instance") or ""),
        )
        flat = grouped.setdefault(
            key,
            {
                RECORD_ID: key[0],
                "redcap_repeat_instrument": key[1],
                "redcap_repeat_instance": key[2],
            },
        )
        where.setdefault(key, f"row {n + 2}")
        name, value = str(row.get("field_name") or ""), str(row.get("value") or "")
        if name == RECORD_ID:
            continue
        if name in checkboxes:
            flat[f"{name}___{value}"] = "1"
        else:
            flat[name] = value
    return [(where[k], v) for k, v in grouped.items()]


def read_records(
    rows: Sequence[Mapping[str, str]],
    header: Sequence[str],
    dictionary: Mapping[str, DictionaryField],
    fields: KindFields,
) -> RedcapImport:
    """Records (flat or EAV, told apart by the header) → hostcap records in input form.

    Every value is checked against ``dictionary``; every field must be one hostcap knows.
    """
    out = RedcapImport()
    flat = _flat_rows_in(rows, header, dictionary)
    known = _known_fields(fields)
    forms = {f.form for f in dictionary.values()}
    for where, row in flat:
        code = str(row.get(RECORD_ID) or "").strip()
        if not code:
            out.issues.append(
                Issue(
                    f"{where}, {RECORD_ID}",
                    f"{RECORD_ID} is empty; expected the client code",
                    value="",
                    expected="a client code",
                )
            )
            continue
        form = str(row.get("redcap_repeat_instrument") or "").strip() or "clients"
        values = _row_values(out, where, row, form, dictionary, known, forms)
        _assemble(out, form, code, values, where, fields, known)
    return out


def _flat_rows_in(
    rows: Sequence[Mapping[str, str]],
    header: Sequence[str],
    dictionary: Mapping[str, DictionaryField],
) -> list[tuple[str, dict[str, str]]]:
    """(where, flat row) for each record and instance, the rows being flat or EAV."""
    eav = "field_name" in header and "value" in header
    if not eav:
        return [(f"row {n + 2}", dict(r)) for n, r in enumerate(rows)]
    boxes = {name for name, spec in dictionary.items() if spec.type == "checkbox"}
    # The API's EAV file names the instance but may leave the instrument out: a value's
    # field says which form (instrument) it belongs to.
    rows = [
        dict(r, redcap_repeat_instrument=dictionary[str(r["field_name"])].form)
        if r.get("redcap_repeat_instance")
        and not r.get("redcap_repeat_instrument")
        and str(r.get("field_name")) in dictionary
        else dict(r)
        for r in rows
    ]
    return _flat_from_eav(rows, boxes)


_ROW_KEYS = (RECORD_ID, "redcap_repeat_instrument", "redcap_repeat_instance", "redcap_event_name")


def _row_values(
    out: RedcapImport,
    where: str,
    row: Mapping[str, str],
    form: str,
    dictionary: Mapping[str, DictionaryField],
    known: Mapping[str, tuple[str, FieldSpec | None, int]],
    forms: set[str],
) -> dict[str, str]:
    """The row's values checked, per REDCap field (ticked checkbox codes joined by ``;``);
    every problem is added to ``out``."""
    values: dict[str, str] = {}
    for name, raw in row.items():
        if name in _ROW_KEYS:
            continue
        value = str(raw if raw is not None else "").strip()
        if name.endswith("_complete") and name.removesuffix("_complete") in forms:
            if value not in ("", "0", "1", "2"):
                out.issues.append(
                    Issue(
                        f"{where}, {name}",
                        f"{name} value {value!r} is not a form status; expected 0, 1 or 2",
                        value=value,
                        expected="0, 1 or 2",
                    )
                )
            continue
        base, _, code_part = name.partition("___")
        spec = dictionary.get(base)
        if spec is None:
            out.issues.append(
                Issue(
                    f"{where}, {name}",
                    f"column {name!r} is not a field of the dictionary; expected its fields only",
                    value=name,
                    expected="a field of the data dictionary",
                )
            )
            continue
        if value == "" or (code_part and value == "0"):
            continue
        issue = _value_issue(spec, f"{where}, {name}", name, value, form, known)
        if issue:
            out.issues.append(issue)
        elif code_part:
            values[base] = ";".join(p for p in (values.get(base, ""), code_part) if p)
        else:
            values[base] = value
    return values


def _value_issue(
    spec: DictionaryField,
    where: str,
    name: str,
    value: str,
    form: str,
    known: Mapping[str, tuple[str, FieldSpec | None, int]],
) -> Issue | None:
    """Why a non-empty value of a dictionary field cannot be imported, if it cannot: a field
    hostcap does not know, one of another form, a value against the dictionary (for a checkbox
    column ``field___code``, its code and its state)."""
    base, _, code_part = name.partition("___")
    if base not in known:
        return Issue(
            where,
            f"field {base!r} (form {spec.form}) is not a field hostcap imports; "
            "expected the fields of `hostcap redcap dictionary`",
            value=base,
            expected="a hostcap field",
        )
    if spec.form != form:
        return Issue(
            where,
            f"field {base!r} belongs to form {spec.form!r}, but the row is an "
            f"instance of {form!r}; expected values of the row's own form",
            value=value,
            expected=f"a field of form {form}",
        )
    if not code_part:
        return _check_value(spec, value, where)
    if value != "1":
        return Issue(
            where,
            f"{name} value {value!r} is not a checkbox state; expected 1 or 0",
            value=value,
            expected="1 or 0",
        )
    return _check_value(spec, code_part, where)


def _known_fields(fields: KindFields) -> dict[str, tuple[str, FieldSpec | None, int]]:
    """REDCap field name → (kind, declaration, item index for questionnaire items)."""
    known: dict[str, tuple[str, FieldSpec | None, int]] = {}
    for kind, specs in fields.items():
        if kind == "questionnaires":
            for inst in catalog.instruments().values():
                known[f"{inst.id}_date"] = ("questionnaires", None, 0)
                for item in inst.items:
                    known[f"{inst.id}_{item.index}"] = ("questionnaires", None, item.index)
            continue
        for spec in specs:
            known[variable_name(kind, spec.name)] = (kind, spec, 0)
    return known


def _assemble(
    out: RedcapImport,
    form: str,
    code: str,
    values: Mapping[str, str],
    where: str,
    fields: KindFields,
    known: Mapping[str, tuple[str, FieldSpec | None, int]],
) -> None:
    if form in catalog.instruments() and "questionnaires" in fields:
        inst = catalog.get_instrument(form)
        answers = [values.get(f"{form}_{item.index}", "") for item in inst.items]
        record: dict[str, str | None] = {
            "client_code": code,
            "instrument": form,
            "answers": ",".join(answers),
            "date": values.get(f"{form}_date") or None,
        }
        out.add("questionnaires", record, where)
        return
    if form not in fields:
        out.issues.append(
            Issue(
                f"{where}, redcap_repeat_instrument",
                f"instrument {form!r} is not a hostcap form; expected one of "
                + ", ".join(
                    [k for k in fields if k != "questionnaires"] + list(catalog.instruments())
                ),
                value=form,
                expected="a hostcap form",
            )
        )
        return
    record = {"client_code": code}
    for spec in fields[form]:
        if spec.name == "client_code":
            continue
        value = values.get(variable_name(form, spec.name))
        if value is not None:
            record[spec.name] = _value_in(spec, value)
    if form == "clients" and len(record) == 1:
        return  # a row with the record id only (REDCap writes one per record)
    out.add(form, record, where)
