"""The record-kind declarations: each table and its declaration in step, and the strict model."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError as PydanticValidationError

from hostcap.clinical_store.record_kinds import KINDS
from hostcap.record_fields import DECLARATIONS, Column, ColumnType, RecordDeclaration, create_model


def _declared_table_columns(declaration: RecordDeclaration) -> set[str]:
    columns = {"id", *declaration.derived}
    if declaration.needs_client:
        columns.add("client_id")
    return (
        columns
        | {c.table_column for c in declaration.columns if c.name != "client_code"}
        | (set() if declaration.needs_client else {declaration.column("client_code").table_column})
    )


def _mismatch(declaration: RecordDeclaration, table_columns: set[str]) -> tuple[set[str], set[str]]:
    declared = _declared_table_columns(declaration)
    return declared - table_columns, table_columns - declared


@pytest.mark.parametrize("name", list(DECLARATIONS))
def test_each_table_holds_exactly_its_declared_fields_and_derived_columns(name: str) -> None:
    kind = KINDS[name]
    table_columns = {c.name for c in kind.table.__table__.columns}
    assert _mismatch(kind.declaration, table_columns) == (set(), set())


def test_the_step_check_names_a_field_added_to_a_declaration_but_not_to_its_table() -> None:
    labs = KINDS["labs"]
    grown = RecordDeclaration(
        **{
            **labs.declaration.__dict__,
            "columns": (*labs.declaration.columns, Column("fasting", ColumnType.BOOL)),
        }
    )
    table_columns = {c.name for c in labs.table.__table__.columns}
    assert _mismatch(grown, table_columns) == ({"fasting"}, set())
    assert _mismatch(labs.declaration, table_columns - {"warning"}) == ({"warning"}, set())


def test_every_kind_is_declared_once_and_the_store_uses_that_declaration() -> None:
    assert list(KINDS) == list(DECLARATIONS)
    for name, kind in KINDS.items():
        assert kind.declaration is DECLARATIONS[name]
        assert len({c.name for c in kind.columns}) == len(kind.columns)
        assert len({c.cli_option for c in kind.columns}) == len(kind.columns)


def test_labs_fields_carry_the_labels_a_form_shows() -> None:
    labels = {c.name: c.display_label for c in DECLARATIONS["labs"].fields}
    assert [labels[n] for n in ("analyte", "value", "unit", "collected_at", "context")] == [
        "Analyte",
        "Value",
        "Unit",
        "Collected",
        "Context",
    ]


def test_the_create_model_is_strict_about_types_ranges_and_choices() -> None:
    model = create_model(DECLARATIONS["labs"])
    good = model(
        client_code="C001",
        analyte="tryptase",
        value=12.5,
        unit="ug/L",
        collected_at=dt.datetime(2026, 1, 5, 9),
        context="baseline",
    )
    assert good.model_dump()["hours_after_onset"] is None
    with pytest.raises(PydanticValidationError, match="value"):
        model(
            client_code="C001",
            analyte="tryptase",
            value=False,
            unit="ug/L",
            collected_at=dt.datetime(2026, 1, 5, 9),
        )
    with pytest.raises(PydanticValidationError, match="context"):
        model(
            client_code="C001",
            analyte="tryptase",
            value=1.0,
            unit="ug/L",
            collected_at=dt.datetime(2026, 1, 5, 9),
            context="sometimes",
        )
    with pytest.raises(PydanticValidationError, match="hours_after_onset"):
        model(
            client_code="C001",
            analyte="tryptase",
            value=1.0,
            unit="ug/L",
            collected_at=dt.datetime(2026, 1, 5, 9),
            hours_after_onset=-1.0,
        )
    with pytest.raises(PydanticValidationError, match="extra"):
        model(
            client_code="C001",
            analyte="tryptase",
            value=1.0,
            unit="ug/L",
            collected_at=dt.datetime(2026, 1, 5, 9),
            colour="red",
        )


def test_every_kind_has_a_json_schema_with_its_labels_and_choices() -> None:
    for declaration in DECLARATIONS.values():
        schema = create_model(declaration).model_json_schema()
        for col in declaration.columns:
            prop = schema["properties"][col.name]
            assert prop["title"] == col.display_label
        assert set(schema["required"]) == {c.name for c in declaration.columns if c.required}
    episodes = create_model(DECLARATIONS["episodes"]).model_json_schema()
    assert episodes["properties"]["organ_systems"]["items"]["enum"] == list(
        DECLARATIONS["episodes"].column("organ_systems").choices
    )


def test_enrolment_phenotype_labels_are_the_labels_an_assessment_gives() -> None:
    from typing import get_args

    from hostcap.clinical_decisions.assessment_result import PhenotypeResult
    from hostcap.record_fields import PHENOTYPE_LABELS

    given = get_args(PhenotypeResult.model_fields["label"].annotation)
    assert tuple(label for label in given if label != "suppressed") == PHENOTYPE_LABELS
