"""One declaration per record kind: the fields a person enters, and where each is stored.

Everything that takes or gives a record reads these declarations: the validating parser and
its messages (``clinical_store.columns``), the CLI's ``add`` commands and their options, the
CSV import and export columns, ``docs/import-formats.md``, the corrections, the web forms and
the FHIR / REDCap mappings. The tables stay SQLAlchemy models with Alembic migrations; a test
keeps each table and its declaration in step. Adding a field to a record kind means: the
declaration here, the table column, a migration — nothing else.

This module imports nothing heavy (the CLI reads it at start-up to build its options).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "DECLARATIONS",
    "LAB_CONTEXTS",
    "ORGAN_SYSTEMS",
    "PHENOTYPE_LABELS",
    "SEXES",
    "VISIT_KINDS",
    "Column",
    "ColumnType",
    "RecordDeclaration",
    "create_model",
    "parse_finding_value",
]

ORGAN_SYSTEMS = (
    "skin",
    "gastrointestinal",
    "cardiovascular",
    "respiratory",
    "naso_ocular",
    "neurological",
)
LAB_CONTEXTS = ("baseline", "acute", "routine")
VISIT_KINDS = ("baseline", "follow_up", "unscheduled", "final")
SEXES = ("female", "male", "other")
#: The phenotype labels an enrolment may carry: those an assessment gives (hypothesis labels,
#: ``clinical_decisions.assessment_result``) less its "suppressed" state; a test keeps them in
#: step.
PHENOTYPE_LABELS = ("A", "B", "C", "mixed", "insufficient_data")


class ColumnType(StrEnum):
    TEXT = "text"
    FLOAT = "float"
    INT = "int"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    CHOICE = "choice"
    LIST = "list"


@dataclass(frozen=True)
class Column:
    """One field of a record kind: its type and constraints (which also write the messages)."""

    name: str
    type: ColumnType
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    default: object = None
    help: str = ""
    # Free text may hold names, phone numbers, places: de-identified exports leave it out.
    free_text: bool = False
    #: What a person reads next to the field (form label, docs); defaults to the name in words.
    label: str = ""
    #: The unit a value is given in, where it is fixed (``minutes``); shown next to the field.
    unit: str = ""
    #: The command-line option, where it differs from ``--name-with-dashes``.
    option: str = ""
    #: The table column that stores the value as entered, where it differs from ``name``.
    stored_as: str = ""

    @property
    def display_label(self) -> str:
        """The label forms and documents show: ``label``, else the name in words."""
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def cli_option(self) -> str:
        """The command-line option that sets this column (``--collected`` for ``collected_at``)."""
        return self.option or "--" + self.name.replace("_", "-")

    @property
    def table_column(self) -> str:
        """The table column holding this field."""
        return self.stored_as or self.name

    @property
    def expected(self) -> str:
        """What a valid value looks like, in words (used in every message about this column)."""
        if self.type in (ColumnType.FLOAT, ColumnType.INT):
            noun = "a whole number" if self.type == ColumnType.INT else "a number"
            if self.minimum is not None and self.maximum is not None:
                return f"{noun} from {self.minimum:g} to {self.maximum:g}"
            if self.minimum is not None:
                return f"{noun} ≥ {self.minimum:g}"
            if self.maximum is not None:
                return f"{noun} ≤ {self.maximum:g}"
            return noun
        if self.type == ColumnType.DATE:
            return "a date YYYY-MM-DD"
        if self.type == ColumnType.DATETIME:
            return "a date-time YYYY-MM-DDTHH:MM"
        if self.type == ColumnType.BOOL:
            return "true or false"
        if self.type == ColumnType.CHOICE:
            return "one of " + ", ".join(self.choices)
        if self.type == ColumnType.LIST:
            return (
                ("a ';'-separated list of " + ", ".join(self.choices)) if self.choices else "a list"
            )
        return "text"


@dataclass(frozen=True)
class RecordDeclaration:
    """One record kind as people and files see it.

    ``derived`` names the table columns the store computes from the fields (a canonical value,
    a questionnaire's score); with the fields' own columns they are the whole table, which a test
    checks. ``command`` and ``noun`` name the CLI group (``hostcap lab add``) and what it adds.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    command: str
    noun: str
    summary: str
    needs_client: bool = True
    derived: tuple[str, ...] = ()
    #: Doses may exceed the catalog's documented maximum when the user confirms (soft limit).
    confirmable: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        """The field called ``name``; :class:`KeyError` names the fields there are."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(
            f"{self.name} has no field {name!r}; expected one of "
            + ", ".join(c.name for c in self.columns)
        )

    @property
    def fields(self) -> tuple[Column, ...]:
        """The fields entered for one client's record (every column but the client code)."""
        return tuple(c for c in self.columns if c.name != "client_code")

    @property
    def free_text_columns(self) -> tuple[str, ...]:
        """Columns declared ``free_text`` (stored under the same name in the table)."""
        return tuple(c.name for c in self.columns if c.free_text)

    @property
    def input_columns(self) -> dict[str, str]:
        """Field name → the table column that stores it as entered (client code left out)."""
        return {c.name: c.table_column for c in self.fields}


_PYTHON_TYPES: dict[ColumnType, Any] = {
    ColumnType.TEXT: str,
    ColumnType.FLOAT: float,
    ColumnType.INT: int,
    ColumnType.DATE: dt.date,
    ColumnType.DATETIME: dt.datetime,
    ColumnType.BOOL: bool,
    ColumnType.CHOICE: str,
    ColumnType.LIST: list[str],
}


def create_model(declaration: RecordDeclaration) -> type[BaseModel]:
    """A strict pydantic model of one record as entered (JSON schema for APIs and documents).

    Values are checked by type, range and choice here; the store still runs the kind's domain
    checks (catalog units, dates after birth, duplicates) on every record, whatever its source.
    """
    from typing import Literal

    from pydantic import ConfigDict, Field
    from pydantic import create_model as pydantic_model

    fields: dict[str, Any] = {}
    for col in declaration.columns:
        annotation: Any = _PYTHON_TYPES[col.type]
        if col.type == ColumnType.CHOICE:
            annotation = Literal.__getitem__(col.choices)
        elif col.type == ColumnType.LIST and col.choices:
            annotation = list[Literal.__getitem__(col.choices)]  # type: ignore[misc]
        constraints: dict[str, Any] = {"title": col.display_label, "description": col.help or None}
        if col.minimum is not None:
            constraints["ge"] = col.minimum
        if col.maximum is not None:
            constraints["le"] = col.maximum
        if col.required:
            fields[col.name] = (annotation, Field(**constraints))
        else:
            default = col.default if col.default not in ("",) else None
            fields[col.name] = (annotation | None, Field(default=default, **constraints))
    model_name = "".join(part.capitalize() for part in declaration.name.split("_")) + "Create"
    return pydantic_model(
        model_name,
        __config__=ConfigDict(strict=True, extra="forbid"),
        __doc__=declaration.description,
        **fields,
    )


def parse_finding_value(text: Any) -> Any:
    """``true``/``false``/numbers/JSON lists as such; anything else stays text."""
    if text is None:
        return None
    raw = str(text).strip()
    lowered = raw.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _client_code() -> Column:
    return Column("client_code", ColumnType.TEXT, help="pseudonymous client code", label="Client")


#: The record kinds, in the order files and documents list them.
_RECORD_KINDS = (
    RecordDeclaration(
        name="clients",
        description="clients (pseudonymous code, sex, birth year)",
        columns=(
            Column(
                "client_code",
                ColumnType.TEXT,
                help="pseudonymous client code",
                label="Client code",
                stored_as="code",
            ),
            Column("sex", ColumnType.CHOICE, choices=SEXES, label="Sex"),
            Column(
                "birth_year",
                ColumnType.INT,
                minimum=1900,
                maximum=dt.date.today().year,
                label="Birth year",
            ),
            Column("demo", ColumnType.BOOL, required=False, default=False),
        ),
        key=("code",),
        command="client",
        noun="client",
        summary="Add a client (pseudonymous code, sex, birth year).",
        needs_client=False,
        derived=("created_at",),
    ),
    RecordDeclaration(
        name="labs",
        description="laboratory results",
        columns=(
            _client_code(),
            Column("analyte", ColumnType.TEXT, help="catalog id or LOINC code", label="Analyte"),
            Column("value", ColumnType.FLOAT, label="Value", stored_as="value_as_entered"),
            Column(
                "unit",
                ColumnType.TEXT,
                help="as reported; converted to the canonical unit",
                label="Unit",
                stored_as="unit_as_entered",
            ),
            Column(
                "collected_at",
                ColumnType.DATETIME,
                label="Collected",
                option="--collected",
                help="YYYY-MM-DDTHH:MM",
            ),
            Column(
                "context",
                ColumnType.CHOICE,
                required=False,
                choices=LAB_CONTEXTS,
                default="routine",
                label="Context",
            ),
            Column(
                "hours_after_onset",
                ColumnType.FLOAT,
                required=False,
                minimum=0,
                maximum=8760,
                unit="h",
                help="hours after the episode began (acute samples)",
            ),
            Column(
                "reference_low",
                ColumnType.FLOAT,
                required=False,
                stored_as="lab_reference_low",
                help="the laboratory's reference range, in the unit entered",
            ),
            Column(
                "reference_high",
                ColumnType.FLOAT,
                required=False,
                stored_as="lab_reference_high",
                help="the laboratory's reference range, in the unit entered",
            ),
        ),
        key=("client_id", "analyte", "collected_at"),
        command="lab",
        noun="lab",
        summary="Record a laboratory result (converted to the catalog's canonical unit).",
        derived=("value", "unit", "warning", "import_batch"),
    ),
    RecordDeclaration(
        name="meds",
        description="medication use (antihistamine load as daily dose / WHO DDD)",
        columns=(
            _client_code(),
            Column("drug", ColumnType.TEXT, help="catalog medication id", label="Drug"),
            Column("dose", ColumnType.FLOAT, minimum=0.0001, maximum=100000, label="Dose"),
            Column("unit", ColumnType.TEXT, label="Unit", stored_as="dose_unit"),
            Column("per_day", ColumnType.FLOAT, minimum=0.01, maximum=24, label="Doses per day"),
            Column("start", ColumnType.DATE, help="YYYY-MM-DD", stored_as="start_date"),
            Column(
                "end",
                ColumnType.DATE,
                required=False,
                help="YYYY-MM-DD",
                stored_as="end_date",
            ),
            Column(
                "rescue_doses_per_week",
                ColumnType.FLOAT,
                required=False,
                minimum=0,
                maximum=100,
                option="--rescue-per-week",
            ),
        ),
        key=("client_id", "drug", "start_date"),
        command="med",
        noun="medication",
        summary="Record medication use (recording only: hostcap never advises starting or "
        "stopping drugs).",
        derived=("daily_dose", "ddd_per_day", "drug_class", "import_batch"),
        confirmable=True,
    ),
    RecordDeclaration(
        name="questionnaires",
        description="questionnaire responses (scored on entry)",
        columns=(
            _client_code(),
            Column("instrument", ColumnType.TEXT, help="catalog instrument id", label="Instrument"),
            Column(
                "answers", ColumnType.TEXT, help="comma-separated item answers", label="Answers"
            ),
            Column("date", ColumnType.DATE, help="YYYY-MM-DD", stored_as="answered_on"),
        ),
        key=("client_id", "instrument", "answered_on"),
        command="questionnaire",
        noun="questionnaire",
        summary="Record and score a questionnaire response.",
        derived=("total", "mean", "subscales", "interpretation", "import_batch"),
    ),
    RecordDeclaration(
        name="food",
        description="food reintroduction trials (reaction grade 0 none – 3 severe)",
        columns=(
            _client_code(),
            Column("food", ColumnType.TEXT, label="Food"),
            Column("date", ColumnType.DATE, help="YYYY-MM-DD", stored_as="trial_date"),
            Column(
                "reaction_grade", ColumnType.INT, minimum=0, maximum=3, help="0 none – 3 severe"
            ),
            Column("dose", ColumnType.FLOAT, required=False, minimum=0),
            Column("dose_unit", ColumnType.TEXT, required=False),
            Column("notes", ColumnType.TEXT, required=False, free_text=True),
        ),
        key=("client_id", "food", "trial_date"),
        command="food",
        noun="food trial",
        summary="Record a food reintroduction trial.",
        derived=("import_batch",),
    ),
    RecordDeclaration(
        name="episodes",
        description="episodes (severity 0–10 numeric rating)",
        columns=(
            _client_code(),
            Column(
                "onset_at",
                ColumnType.DATETIME,
                label="Onset",
                option="--onset",
                help="YYYY-MM-DDTHH:MM",
            ),
            Column(
                "organ_systems",
                ColumnType.LIST,
                choices=ORGAN_SYSTEMS,
                help="e.g. skin;gastrointestinal",
            ),
            Column("severity", ColumnType.INT, minimum=0, maximum=10, help="0–10"),
            Column("duration_minutes", ColumnType.FLOAT, required=False, minimum=0, unit="min"),
            Column("treatment", ColumnType.TEXT, required=False, free_text=True),
            Column("emergency_care", ColumnType.BOOL, required=False, default=False),
            Column("anaphylaxis", ColumnType.BOOL, required=False, default=False),
            Column(
                "urticaria",
                ColumnType.BOOL,
                required=False,
                help="hives (urticaria) during the episode",
            ),
            Column(
                "angioedema",
                ColumnType.BOOL,
                required=False,
                help="swelling of lips, tongue, face or throat (angioedema)",
            ),
            Column("pruritus", ColumnType.BOOL, required=False, help="itching (pruritus)"),
            Column("flushing", ColumnType.BOOL, required=False, help="flushing of the skin"),
            Column(
                "presyncope_or_syncope",
                ColumnType.BOOL,
                required=False,
                help="near-fainting or fainting",
            ),
            Column(
                "syncope",
                ColumnType.BOOL,
                required=False,
                help="loss of consciousness (not near-fainting)",
            ),
            Column(
                "hymenoptera_sting",
                ColumnType.BOOL,
                required=False,
                help="after a bee, wasp or hornet sting",
            ),
            Column(
                "trigger_identified",
                ColumnType.BOOL,
                required=False,
                help="an allergen or other trigger was identified (the episode is not idiopathic)",
            ),
            Column("notes", ColumnType.TEXT, required=False, free_text=True),
        ),
        key=("client_id", "onset_at"),
        command="episode",
        noun="episode",
        summary="Record an episode.",
        derived=("import_batch",),
    ),
    RecordDeclaration(
        name="findings",
        description="clinical findings used by assessments (history, examination, genetics)",
        columns=(
            _client_code(),
            Column(
                "field",
                ColumnType.TEXT,
                help="assessment input path, e.g. findings.splenomegaly",
                label="Field",
            ),
            Column("value", ColumnType.TEXT, help="true/false, a number, or text", label="Value"),
            Column("date", ColumnType.DATE, help="YYYY-MM-DD", stored_as="recorded_on"),
            Column(
                "source",
                ColumnType.TEXT,
                required=False,
                help="where it came from",
                free_text=True,
            ),
        ),
        key=("client_id", "field", "recorded_on"),
        command="finding",
        noun="finding",
        summary="Record a clinical finding (a dotted assessment-input path and its value).",
        derived=("import_batch",),
    ),
    RecordDeclaration(
        name="visits",
        description="visits (the protocol's contact points; missed visits are simply absent)",
        columns=(
            _client_code(),
            Column("date", ColumnType.DATE, help="YYYY-MM-DD", stored_as="visit_date"),
            Column(
                "visit_kind",
                ColumnType.CHOICE,
                required=False,
                choices=VISIT_KINDS,
                default="follow_up",
                label="Kind",
                option="--kind",
                stored_as="kind",
            ),
            Column(
                "week",
                ColumnType.FLOAT,
                required=False,
                minimum=-52,
                maximum=520,
                help="planned week of the protocol (weeks since enrolment)",
                unit="week",
            ),
            Column("notes", ColumnType.TEXT, required=False, free_text=True),
        ),
        key=("client_id", "visit_date"),
        command="visit",
        noun="visit",
        summary="Record a visit.",
    ),
    RecordDeclaration(
        name="interventions",
        description="protocol interventions (supplements, diet, probiotics)",
        columns=(
            _client_code(),
            Column(
                "intervention",
                ColumnType.TEXT,
                help="catalog intervention id",
                label="Intervention",
            ),
            Column("dose", ColumnType.FLOAT, minimum=0, label="Dose"),
            Column("unit", ColumnType.TEXT, label="Unit", stored_as="dose_unit"),
            Column("start", ColumnType.DATE, help="YYYY-MM-DD", stored_as="start_date"),
            Column("end", ColumnType.DATE, required=False, help="YYYY-MM-DD", stored_as="end_date"),
            Column("phase", ColumnType.TEXT, required=False, free_text=True),
        ),
        key=("client_id", "intervention", "start_date"),
        command="intervention",
        noun="intervention",
        summary="Record a protocol intervention (supplement, diet, probiotic).",
        confirmable=True,
    ),
)


DECLARATIONS: dict[str, RecordDeclaration] = {d.name: d for d in _RECORD_KINDS}
