"""``hostcap lab add``, ``med add`` …: one ``add`` command per record kind, from its declaration.

Each declared field becomes an option (its CLI name, help, choices and whether it is required
come from ``hostcap.record_fields``); the values go to the store as the strings typed, through
the same validation as an import. A field added to a declaration appears here by itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption
from hostcap.cli.record_reports import print_report
from hostcap.record_fields import DECLARATIONS, Column, ColumnType, RecordDeclaration

if TYPE_CHECKING:
    from hostcap.services import store as store_services
else:
    from hostcap.cli.lazy import LazyModule

    store_services = LazyModule("hostcap.services.store")

__all__ = ["GROUPS", "ConfirmUnusualOption", "ReplaceOption", "choice_enum"]

ReplaceOption = Annotated[
    bool, typer.Option("--replace", help="Overwrite an existing record with the same key.")
]
ConfirmUnusualOption = Annotated[
    bool,
    typer.Option(
        "--confirm-unusual",
        help="Store a dose above the catalog's documented maximum (checked by you; flagged in "
        "the audit). Doses above the hard limit are refused regardless.",
    ),
]

_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _help(col: Column) -> str:
    parts = [col.help or col.display_label]
    if col.unit:
        parts.append(f"(in {col.unit})")
    if col.type == ColumnType.LIST and col.choices:
        parts.append("(; between: " + ", ".join(col.choices) + ")")
    return " ".join(parts)


def _option(col: Column) -> inspect.Parameter:
    """One declared field as a Typer option (every value a string, checked by the store)."""
    if col.type == ColumnType.BOOL and col.default is None:
        # Yes, no, or not recorded: an unrecorded sign is unknown, never "no".
        flags = f"{col.cli_option}/--no-{col.cli_option.removeprefix('--')}"
        tri = typer.Option(flags, help=_help(col) + " (leave out when not recorded)")
        return inspect.Parameter(
            col.name, _KEYWORD, annotation=Annotated[bool | None, tri], default=None
        )
    if col.type == ColumnType.BOOL:
        flag = typer.Option(col.cli_option, help=_help(col))
        return inspect.Parameter(
            col.name, _KEYWORD, annotation=Annotated[bool, flag], default=False
        )
    option = typer.Option(col.cli_option, help=_help(col))
    kind: Any = choice_enum(col) if col.type == ColumnType.CHOICE else str
    if col.required:
        return inspect.Parameter(col.name, _KEYWORD, annotation=Annotated[kind, option])
    default = None if col.default in (None, "") else str(col.default)
    return inspect.Parameter(
        col.name, _KEYWORD, annotation=Annotated[kind | None, option], default=default
    )


def choice_enum(col: Column) -> type[StrEnum]:
    """The declared choices of ``col`` as an enum, which Typer lists in help and checks."""
    return StrEnum(col.name.title().replace("_", ""), {c: c for c in col.choices})  # type: ignore[return-value]


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add_command(declaration: RecordDeclaration) -> Callable[..., None]:
    """The ``add`` command of one record kind, its options from the declaration."""

    def add(**values: Any) -> None:
        code = values.pop("code")
        database = values.pop("database")
        replace = values.pop("replace")
        confirm_unusual = values.pop("confirm_unusual", False)
        record = {"client_code": code} | {name: _as_text(v) for name, v in values.items()}
        store = store_services.open_store(database)
        report = store.add_one(
            declaration.name, record, replace=replace, confirm_unusual=confirm_unusual
        )
        print_report(report, declaration.noun)

    code = inspect.Parameter(
        "code",
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        annotation=Annotated[str, typer.Argument(help="Client code.")],
    )
    fields = [_option(col) for col in declaration.fields]
    extras = [inspect.Parameter("replace", _KEYWORD, annotation=ReplaceOption, default=False)]
    if declaration.confirmable:
        extras.append(
            inspect.Parameter(
                "confirm_unusual", _KEYWORD, annotation=ConfirmUnusualOption, default=False
            )
        )
    extras.append(inspect.Parameter("database", _KEYWORD, annotation=DatabaseOption, default=None))
    parameters = [code, *fields, *extras]
    add.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    add.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    add.__doc__ = declaration.summary
    add.__name__ = f"{declaration.command}_add"
    return add


def _groups() -> dict[str, typer.Typer]:
    groups: dict[str, typer.Typer] = {}
    for declaration in DECLARATIONS.values():
        if not declaration.needs_client:
            continue  # clients have their own group (add, list, show)
        about = declaration.description[0].upper() + declaration.description[1:] + "."
        group = typer.Typer(help=about, no_args_is_help=True)
        group.command("add")(_add_command(declaration))
        app.add_typer(group, name=declaration.command)
        groups[declaration.command] = group
    return groups


#: The command group of each record kind, by command name (``lab``, ``med`` …).
GROUPS = _groups()
