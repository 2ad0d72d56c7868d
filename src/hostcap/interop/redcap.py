"""hostcap record kinds ⇄ a REDCap project: data dictionary, flat and EAV records (pure).

The dictionary is derived from the field declarations: one instrument (form) per record kind,
named after the kind, and one per questionnaire of the catalog (items with their range as
choices or validation); every form but ``clients`` is a repeating instrument. Field types,
validation, limits, choices, labels, notes and the identifier flag come from each field's
declaration (``FIELD_TYPES`` says which REDCap type each declared type becomes). Records are
exported flat (one row per client and per repeat instance, ``redcap_repeat_instrument``,
``redcap_repeat_instance``, ``<form>_complete``, checkboxes as ``field___code``) or as EAV
(``record, field_name, value, redcap_repeat_instrument, redcap_repeat_instance``).

Reading checks every value against the dictionary it is given (type, validation, limits,
choices) and names each problem by its row and field; the store then applies its own rules.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hostcap import catalog
from hostcap.errors import Issue, describe_value
from hostcap.interop.fields import KIND_ORDER, FieldSpec, KindFields, Records, number_text

__all__ = [
    "API_KEYS",
    "DICTIONARY_COLUMNS",
    "FIELD_TYPES",
    "RECORD_ID",
    "DictionaryField",
    "RedcapImport",
    "data_dictionary",
    "eav_rows",
    "flat_rows",
    "read_dictionary",
    "read_records",
    "repeating_forms",
]

#: REDCap's data-dictionary columns, in their order.
DICTIONARY_COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
#: The same columns as the API's Export Metadata names them.
API_KEYS = (
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
)
RECORD_ID = "record_id"
#: Declared field type → (REDCap field type, text validation).
FIELD_TYPES: dict[str, tuple[str, str]] = {
    "text": ("text", ""),
    "float": ("text", "number"),
    "int": ("text", "integer"),
    "date": ("text", "date_ymd"),
    "datetime": ("text", "datetime_seconds_ymd"),
    "bool": ("yesno", ""),
    "choice": ("dropdown", ""),
    "list": ("checkbox", ""),
}
#: Text fields whose values are catalog ids: offered as a dropdown of the catalog's entries.
_CATALOG_CHOICES = {
    ("labs", "analyte"): lambda: [(a.id, a.name) for a in catalog.analytes().values()],
    ("meds", "drug"): lambda: [(m.id, m.name) for m in catalog.medications().values()],
    ("interventions", "intervention"): lambda: [
        (i.id, i.name) for i in catalog.interventions().values()
    ],
}


@dataclass(frozen=True)
class DictionaryField:
    """One row of a data dictionary, as read."""

    name: str
    form: str
    type: str
    label: str
    choices: tuple[tuple[str, str], ...]
    validation: str
    minimum: str
    maximum: str
    required: bool
    identifier: bool


def _var(kind: str, name: str) -> str:
    return RECORD_ID if name == "client_code" else f"{kind}_{name}"


def _choices_text(pairs: Iterable[tuple[str, str]]) -> str:
    return " | ".join(f"{code}, {label.replace('|', '/')}" for code, label in pairs)


def _row(**values: str) -> dict[str, str]:
    row = dict.fromkeys(DICTIONARY_COLUMNS, "")
    keys = dict(zip(API_KEYS, DICTIONARY_COLUMNS, strict=True))
    for key, value in values.items():
        row[keys[key]] = value
    return row


def _field_row(kind: str, spec: FieldSpec) -> dict[str, str]:
    field_type, validation = FIELD_TYPES[str(spec.type)]
    choices: list[tuple[str, str]] = [(c, c.replace("_", " ").capitalize()) for c in spec.choices]
    catalog_choices = _CATALOG_CHOICES.get((kind, spec.name))
    if catalog_choices is not None:
        field_type, choices = "dropdown", catalog_choices()
    if spec.free_text:
        field_type = "notes"
    note = " ".join(p for p in (spec.help, f"({spec.unit})" if spec.unit else "") if p)
    limit = {"minimum": "", "maximum": ""}
    if validation in ("number", "integer"):
        limit = {
            "minimum": "" if spec.minimum is None else number_text(spec.minimum),
            "maximum": "" if spec.maximum is None else number_text(spec.maximum),
        }
    return _row(
        field_name=_var(kind, spec.name),
        form_name=kind,
        field_type=field_type,
        field_label=spec.display_label,
        select_choices_or_calculations=_choices_text(choices),
        field_note=note,
        text_validation_type_or_show_slider_number=validation,
        text_validation_min=limit["minimum"],
        text_validation_max=limit["maximum"],
        identifier="y" if spec.free_text else "",
        required_field="y" if spec.required else "",
        field_annotation=f"hostcap {kind}.{spec.name}",
    )


def _instrument_rows(instrument_id: str) -> list[dict[str, str]]:
    inst = catalog.get_instrument(instrument_id)
    rows = [
        _row(
            field_name=f"{inst.id}_date",
            form_name=inst.id,
            section_header=f"{inst.name} ({inst.abbreviation})",
            field_type="text",
            field_label="Date answered",
            field_note="YYYY-MM-DD",
            text_validation_type_or_show_slider_number="date_ymd",
            required_field="y",
            field_annotation=f"hostcap questionnaires.date ({inst.id})",
        )
    ]
    for item in inst.items:
        low, high = item.min, item.max
        few = inst.integer_answers and high - low <= 10
        if few:
            values = [number_text(v) for v in range(int(low), int(high) + 1)]
            kind = {
                "field_type": "radio",
                "select_choices_or_calculations": _choices_text((v, v) for v in values),
            }
        else:
            kind = {
                "field_type": "text",
                "text_validation_type_or_show_slider_number": "integer"
                if inst.integer_answers
                else "number",
                "text_validation_min": number_text(low),
                "text_validation_max": number_text(high),
            }
        rows.append(
            _row(
                field_name=f"{inst.id}_{item.index}",
                form_name=inst.id,
                field_label=f"{item.index}. {item.label}",
                required_field="y",
                field_annotation=f"hostcap questionnaires.answers[{item.index}] ({inst.id})",
                **kind,
            )
        )
    return rows


def data_dictionary(fields: KindFields) -> list[dict[str, str]]:
    """The data dictionary: rows keyed by the 18 columns, ``record_id`` first.

    One form per record kind (``questionnaires`` excepted: one form per catalog instrument),
    in ``KIND_ORDER``; forms are contiguous, as REDCap requires.
    """
    rows = []
    for kind in KIND_ORDER:
        if kind == "questionnaires" or kind not in fields:
            continue
        for spec in fields[kind]:
            if spec.name == "client_code" and kind != "clients":
                continue
            row = _field_row(kind, spec)
            if spec.name == "client_code":
                row[DICTIONARY_COLUMNS[3]] = "text"
                row[DICTIONARY_COLUMNS[4]] = "Client code (pseudonymous)"
                row[DICTIONARY_COLUMNS[10]] = ""  # REDCap: the record id is never flagged
            rows.append(row)
    if "questionnaires" in fields:
        for instrument_id in catalog.instruments():
            rows.extend(_instrument_rows(instrument_id))
    return rows


def repeating_forms(dictionary: Sequence[Mapping[str, str]]) -> list[str]:
    """Every form of ``dictionary`` but the clients' one (which holds the record id)."""
    forms = list(dict.fromkeys(r[DICTIONARY_COLUMNS[1]] for r in dictionary))
    return [f for f in forms if f != "clients"]


# -- records out --------------------------------------------------------------------------------


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
    var = _var(kind, spec.name)
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
                    f"{name}___{code}" for code, _ in _parse_choices(row[DICTIONARY_COLUMNS[5]])
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


# -- dictionary and records in ------------------------------------------------------------------


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _parse_choices(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for part in (text or "").split("|"):
        if not part.strip():
            continue
        code, _, label = part.partition(",")
        pairs.append((code.strip(), label.strip()))
    return tuple(pairs)


def read_dictionary(
    rows: Sequence[Mapping[str, Any]], header: Sequence[str]
) -> tuple[dict[str, DictionaryField], list[Issue]]:
    """The fields of a data dictionary (header: the 18 columns in order, or the API's keys)."""
    issues: list[Issue] = []
    names = [str(h).strip() for h in header]
    if tuple(names) == DICTIONARY_COLUMNS:
        keys = DICTIONARY_COLUMNS
    elif tuple(names) == API_KEYS:
        keys = API_KEYS
    else:
        issues.append(
            Issue(
                "header",
                f"the dictionary's columns {names} are not REDCap's 18 columns in their order; "
                "expected " + ", ".join(DICTIONARY_COLUMNS),
                value=names,
                expected=", ".join(DICTIONARY_COLUMNS),
            )
        )
        return {}, issues
    out: dict[str, DictionaryField] = {}
    for n, row in enumerate(rows):
        get = {k: str(row.get(k) or "").strip() for k in keys}
        values = list(get.values())
        name = values[0]
        where = f"dictionary row {n + 2}"
        if not _NAME.match(name) or not _NAME.match(values[1]):
            issues.append(
                Issue(
                    f"{where}, {keys[0]}",
                    f"field {name!r} of form {values[1]!r} is not a REDCap name; expected lower "
                    "case letters, digits and '_' starting with a letter",
                    value=name,
                    expected="^[a-z][a-z0-9_]*$",
                )
            )
            continue
        if name in out:
            issues.append(
                Issue(
                    f"{where}, {keys[0]}",
                    f"field {name!r} is defined twice; expected once",
                    value=name,
                    expected="unique field names",
                )
            )
        out[name] = DictionaryField(
            name=name,
            form=values[1],
            type=values[3],
            label=values[4],
            choices=_parse_choices(values[5]),
            validation=values[7],
            minimum=values[8],
            maximum=values[9],
            required=values[12].lower() == "y",
            identifier=values[10].lower() == "y",
        )
    if out and next(iter(out)) != RECORD_ID:
        issues.append(
            Issue(
                "dictionary row 2",
                f"the first field is {next(iter(out))!r}; expected "
                f"{RECORD_ID!r} (REDCap's record identifier comes first)",
                value=next(iter(out)),
                expected=RECORD_ID,
            )
        )
    return out, issues


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
    eav = "field_name" in header and "value" in header
    if eav:
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
        flat = _flat_from_eav(rows, boxes)
    else:
        flat = [(f"row {n + 2}", dict(r)) for n, r in enumerate(rows)]
    known = _known_fields(fields)
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
        values: dict[str, str] = {}
        for name, raw in row.items():
            if name in (
                RECORD_ID,
                "redcap_repeat_instrument",
                "redcap_repeat_instance",
                "redcap_event_name",
            ):
                continue
            value = str(raw if raw is not None else "").strip()
            if name.endswith("_complete") and name.removesuffix("_complete") in {
                f.form for f in dictionary.values()
            }:
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
                        f"column {name!r} is not a field of the dictionary; expected its "
                        "fields only",
                        value=name,
                        expected="a field of the data dictionary",
                    )
                )
                continue
            if value == "" or (code_part and value == "0"):
                continue
            if base not in known:
                out.issues.append(
                    Issue(
                        f"{where}, {name}",
                        f"field {base!r} (form {spec.form}) is not a field hostcap imports; "
                        "expected the fields of `hostcap redcap dictionary`",
                        value=base,
                        expected="a hostcap field",
                    )
                )
                continue
            if spec.form != form:
                out.issues.append(
                    Issue(
                        f"{where}, {name}",
                        f"field {base!r} belongs to form {spec.form!r}, but the row is an "
                        f"instance of {form!r}; expected values of the row's own form",
                        value=value,
                        expected=f"a field of form {form}",
                    )
                )
                continue
            if code_part:
                issue = _check_value(spec, code_part, f"{where}, {name}")
                if value != "1":
                    issue = Issue(
                        f"{where}, {name}",
                        f"{name} value {value!r} is not a checkbox state; expected 1 or 0",
                        value=value,
                        expected="1 or 0",
                    )
                if issue:
                    out.issues.append(issue)
                    continue
                values[base] = ";".join(p for p in (values.get(base, ""), code_part) if p)
                continue
            issue = _check_value(spec, value, f"{where}, {name}")
            if issue:
                out.issues.append(issue)
                continue
            values[base] = value
        _assemble(out, form, code, values, where, fields, known)
    return out


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
            known[_var(kind, spec.name)] = (kind, spec, 0)
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
        value = values.get(_var(form, spec.name))
        if value is not None:
            record[spec.name] = _value_in(spec, value)
    if form == "clients" and len(record) == 1:
        return  # a row with the record id only (REDCap writes one per record)
    out.add(form, record, where)
