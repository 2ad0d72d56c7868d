"""The web app's entry forms, derived from the record kinds' column declarations.

The values go to ``Store.add_one`` as strings, exactly as the CLI's ``KIND add`` sends them,
so a form has no copy of a validation: the store's messages come back next to each field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hostcap.catalog import get_instrument, instruments
from hostcap.clinical_store import ImportReport, Store
from hostcap.errors import HostcapError, Issue, ValidationError, describe_value
from hostcap.services.records import Column, ColumnType, record_fields

__all__ = [
    "ENTRY_KINDS",
    "FormField",
    "InstrumentItemField",
    "entry_fields",
    "issues_by_field",
    "questionnaire_instruments",
    "questionnaire_items",
    "save_enrolment",
    "save_record",
]

#: Record kinds with an entry form, by the URL word: (store kind, title).
ENTRY_KINDS: Mapping[str, tuple[str, str]] = {
    "labs": ("labs", "Laboratory result"),
    "meds": ("meds", "Medication"),
    "questionnaires": ("questionnaires", "Questionnaire"),
    "food": ("food", "Food reintroduction trial"),
    "episodes": ("episodes", "Episode"),
    "visits": ("visits", "Visit"),
    "findings": ("findings", "Clinical finding"),
    "interventions": ("interventions", "Protocol intervention"),
}

_INPUT_TYPES = {
    ColumnType.FLOAT: "text",  # text + inputmode: the store's parser gives the messages
    ColumnType.INT: "text",
    ColumnType.DATE: "date",
    ColumnType.DATETIME: "datetime-local",
    ColumnType.BOOL: "checkbox",
    ColumnType.CHOICE: "select",
    ColumnType.LIST: "checkboxes",
    ColumnType.TEXT: "text",
}


@dataclass(frozen=True)
class FormField:
    """One input of an entry form, derived from a record kind's column declaration."""

    name: str
    label: str
    input_type: str
    required: bool
    choices: tuple[str, ...]
    unit: str
    help: str
    expected: str
    inputmode: str = ""
    multiline: bool = False


@dataclass(frozen=True)
class InstrumentItemField:
    """One item of a questionnaire: a labelled input of its own."""

    name: str
    index: int
    label: str
    minimum: float
    maximum: float


def _unknown_allowed(column: Column) -> bool:
    """A yes/no field with no default: yes, no, or not recorded (unknown, never "no")."""
    return column.type == ColumnType.BOOL and column.default is None and not column.required


def _field(column: Column) -> FormField:
    numeric = column.type in (ColumnType.FLOAT, ColumnType.INT)
    tri_state = _unknown_allowed(column)
    return FormField(
        name=column.name,
        label=column.display_label,
        input_type="select" if tri_state else _INPUT_TYPES[column.type],
        required=column.required,
        choices=("yes", "no") if tri_state else column.choices,
        unit=column.unit,
        help=column.help,
        expected=column.expected,
        inputmode=("numeric" if column.type == ColumnType.INT else "decimal") if numeric else "",
        multiline=column.free_text and column.name == "notes",
    )


def entry_fields(kind: str) -> list[FormField]:
    """The inputs of ``kind``'s entry form: every declared column but the client code."""
    store_kind = ENTRY_KINDS[kind][0]
    return [_field(c) for c in record_fields(store_kind) if c.name != "client_code"]


def questionnaire_instruments() -> list[tuple[str, str]]:
    """``(id, name)`` of every catalog instrument, for the questionnaire form."""
    return [(i.id, f"{i.name} ({i.abbreviation})") for i in instruments().values()]


def questionnaire_items(instrument: str) -> list[InstrumentItemField]:
    """One field per item of the catalog instrument (``item_1`` …), in the catalog's order."""
    inst = get_instrument(instrument)
    return [
        InstrumentItemField(
            name=f"item_{item.index}",
            index=item.index,
            label=f"{item.index}. {item.label}",
            minimum=item.min,
            maximum=item.max,
        )
        for item in inst.items
    ]


def _form_value(column: Column, form: Mapping[str, Any]) -> str | None:
    raw = form.get(column.name)
    if _unknown_allowed(column):
        return None if raw in (None, "") else str(raw)
    if column.type == ColumnType.BOOL:
        # An unticked checkbox sends nothing: that means "no"; anything else is checked by
        # the store (``true``/``false``/``yes``/``no`` …), never guessed here.
        return "false" if raw in (None, "") else str(raw)
    if column.type == ColumnType.LIST and isinstance(raw, list | tuple):
        return ";".join(str(v) for v in raw if str(v).strip()) or None
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    if raw is None:
        return None
    text = str(raw)
    if column.type == ColumnType.DATETIME and len(text) == 16 and "T" in text:
        return text  # datetime-local sends YYYY-MM-DDTHH:MM: what the parser expects
    return text if text.strip() else None


def _questionnaire_answers(instrument: str, form: Mapping[str, Any]) -> str | None:
    try:
        items = questionnaire_items(instrument)
    except (HostcapError, KeyError):  # an unknown instrument: the store's check names it
        return None
    answers = []
    for item in items:
        value = form.get(item.name)
        answers.append("" if value is None else str(value).strip())
    return ",".join(answers) if any(answers) else None


def save_record(
    store: Store,
    kind: str,
    code: str,
    form: Mapping[str, Any],
    *,
    actor: str,
    only_declared: bool = False,
) -> ImportReport:
    """Store one record from a submitted form, through the store's one validating path.

    The values go to ``Store.add_one`` as strings, exactly as the CLI's ``KIND add`` sends
    them; a :class:`ValidationError` names each problem by its column and nothing is stored.
    ``only_declared`` (the JSON API): a field the kind does not declare is refused rather than
    ignored (a form also sends its CSRF token and buttons).
    """
    store_kind = ENTRY_KINDS[kind][0]
    columns = [c for c in record_fields(store_kind) if c.name != "client_code"]
    if only_declared:
        known = [c.name for c in columns]
        unknown = sorted(k for k in form if k not in known)
        if unknown:
            raise ValidationError(
                [
                    Issue(
                        k,
                        f"unknown field {k!r}; expected fields: {', '.join(known)}",
                        value=k,
                        expected=", ".join(known),
                    )
                    for k in unknown
                ]
            )
    values: dict[str, str | None] = {"client_code": code}
    for column in columns:
        values[column.name] = _form_value(column, form)
    if store_kind == "questionnaires" and values.get("instrument") and not values.get("answers"):
        values["answers"] = _questionnaire_answers(str(values["instrument"]), form)
    return store.add_one(store_kind, values, actor=actor)


def issues_by_field(error: ValidationError, fields: Sequence[str]) -> dict[str, list[str]]:
    """Each issue's message under the field it names (``""``: the form as a whole)."""
    out: dict[str, list[str]] = {}
    names = sorted(fields, key=len, reverse=True)
    for issue in error.issues:
        location = issue.location.removeprefix("column ").strip()
        target = next((n for n in names if location == n or location.startswith(n + " ")), "")
        if not target and location.startswith("answers"):
            target = "answers"
        out.setdefault(target, []).append(issue.message)
    return out


def save_enrolment(
    store: Store,
    code: str,
    *,
    protocol: str,
    start: str,
    phenotype_label: str | None,
    phases: str,
    actor: str,
) -> int:
    """Enrol a client from the enrolment form (the same store call as ``hostcap enrol``).

    ``phases``: one ``NAME:START_WEEK:END_WEEK`` per line.
    """
    issues: list[Issue] = []
    try:
        started_on = dt.date.fromisoformat(start.strip())
    except ValueError:
        issues.append(
            Issue(
                "start",
                f"start value {describe_value(start)} is not a valid date; expected a date "
                "YYYY-MM-DD",
                value=start,
                expected="a date YYYY-MM-DD",
            )
        )
        started_on = dt.date.today()
    parsed: list[tuple[str, float, float]] = []
    for line in (p.strip() for p in phases.splitlines()):
        if not line:
            continue
        name, _, weeks = line.partition(":")
        first, _, last = weeks.partition(":")
        try:
            parsed.append((name.strip(), float(first), float(last)))
        except ValueError:
            issues.append(
                Issue(
                    "phases",
                    f"phase {describe_value(line)} is not NAME:START_WEEK:END_WEEK; expected "
                    "e.g. restore:0:8",
                    value=line,
                    expected="NAME:START_WEEK:END_WEEK",
                )
            )
    if issues:
        raise ValidationError(issues, context="enrolment: nothing was written")
    return store.add_enrolment(
        code,
        protocol=protocol,
        started_on=started_on,
        phenotype_label=phenotype_label or None,
        phases=parsed,
        actor=actor,
    )
