"""hostcap record kinds → a REDCap data dictionary, and a data dictionary read back (pure).

The dictionary is derived from the field declarations: one instrument (form) per record kind,
named after the kind, and one per questionnaire of the catalog (items with their range as
choices or validation); every form but ``clients`` is a repeating instrument. Field types,
validation, limits, choices, labels, notes and the identifier flag come from each field's
declaration (``FIELD_TYPES`` says which REDCap type each declared type becomes).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hostcap import catalog
from hostcap.errors import Issue
from hostcap.interop.fields import KIND_ORDER, FieldSpec, KindFields, number_text

__all__ = [
    "API_KEYS",
    "DICTIONARY_COLUMNS",
    "FIELD_TYPES",
    "RECORD_ID",
    "DictionaryField",
    "data_dictionary",
    "parse_choices",
    "read_dictionary",
    "repeating_forms",
    "variable_name",
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


def variable_name(kind: str, name: str) -> str:
    """The REDCap field of a declared field (``record_id`` for the client code)."""
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
        field_name=variable_name(kind, spec.name),
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


_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_choices(text: str) -> tuple[tuple[str, str], ...]:
    """A choices cell (``code, label | code, label``) as (code, label) pairs."""
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
        out[name] = _dictionary_field(values)
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


def _dictionary_field(values: Sequence[str]) -> DictionaryField:
    """A dictionary row's field, from its 18 cells in order."""
    return DictionaryField(
        name=values[0],
        form=values[1],
        type=values[3],
        label=values[4],
        choices=parse_choices(values[5]),
        validation=values[7],
        minimum=values[8],
        maximum=values[9],
        required=values[12].lower() == "y",
        identifier=values[10].lower() == "y",
    )
