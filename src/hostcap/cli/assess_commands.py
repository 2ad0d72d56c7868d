"""``hostcap assess`` (an input file or a stored client) and ``hostcap rules check``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption
from hostcap.errors import InputError, Severity
from hostcap.services import assessment as assessment_services

__all__ = ["app"]

out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

rules_app = typer.Typer(help="The clinical decision rulebook.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


class OutputFormat(StrEnum):
    json = "json"
    text = "text"


RulebookExtraOption = Annotated[
    Path | None,
    typer.Option(
        "--rulebook-extra",
        help="A practice's YAML file of protocol templates and phenotype weights; it can never "
        "remove or weaken a safety rule.",
        dir_okay=False,
    ),
]


def _print(text: str) -> None:
    # Plain write: the JSON and the report must come out byte for byte, never re-wrapped.
    out.file.write(text)
    out.file.flush()


@app.command("assess")
def assess_command(
    code: Annotated[
        str | None,
        typer.Argument(help="A stored client's pseudonymous code (input built from the store)."),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="An assessment input file (JSON, or YAML).", dir_okay=False),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.text,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the input JSON Schema and exit.")
    ] = False,
    rulebook_extra: RulebookExtraOption = None,
    no_trajectory: Annotated[
        bool,
        typer.Option(
            "--no-trajectory", help="Skip the mechanistic model's expected trajectory band."
        ),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Assess a client: safety triage first, then criteria, phenotype (hypothesis) and plan.

    Exit code 0 whatever the triage level; bad input exits non-zero naming every problem.
    """
    if schema:
        _print(assessment_services.input_schema_json())
        return
    if (code is None) == (input_file is None):
        raise InputError(
            "give either a stored client CODE or --input FILE (exactly one)",
            field="CODE / --input",
            value=code or (str(input_file) if input_file else None),
            expected="exactly one of CODE and --input",
        )
    if input_file is not None:
        result = assessment_services.assess_file(
            input_file, rulebook_extra, with_trajectory=not no_trajectory
        )
    else:
        assert code is not None
        result = assessment_services.assess_client(
            code, database, rulebook_extra, with_trajectory=not no_trajectory
        )
    _print(assessment_services.format_result(result, output_format.value))


@rules_app.command("check")
def rules_check_command(rulebook_extra: RulebookExtraOption = None) -> None:
    """Run every named rulebook check; print each issue with its severity; exit 1 on errors."""
    issues = assessment_services.check_rules(rulebook_extra)
    errors = [i for i in issues if i.severity == Severity.ERROR]
    for issue in issues:
        check = f" [{issue.code}]" if issue.code else ""
        _print(f"{issue.severity}: {issue}{check}\n")
    summary = (
        f"{len(errors)} error(s), {len(issues) - len(errors)} warning(s)/info; "
        f"rulebook {'INVALID' if errors else 'valid'}\n"
    )
    _print(summary)
    if errors:
        raise typer.Exit(1)


@rules_app.command("schema")
def rules_schema_command() -> None:
    """Print the JSON Schema of rulebook files (packaged or --rulebook-extra)."""
    from hostcap.clinical_decisions import rulebook_json_schema

    _print(rulebook_json_schema())
