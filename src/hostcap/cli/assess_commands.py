"""``hostcap assess`` (an input file or a stored client) and ``hostcap rules check``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostcap.cli.consoles import out
from hostcap.cli.consoles import plain_err as err
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption
from hostcap.errors import HostcapError, InputError, Severity

if TYPE_CHECKING:
    from hostcap.services import assessment as assessment_services
    from hostcap.services import assessment_reports
else:
    assessment_services = LazyModule("hostcap.services.assessment")
    assessment_reports = LazyModule("hostcap.services.assessment_reports")

__all__ = ["app"]


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
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="With CODE: show the client's stored assessments exactly as they were made "
            "(not re-assessed), oldest first.",
        ),
    ] = False,
    all_clients: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Assess and save every stored client; print triage, criteria and phenotype "
            "for each.",
        ),
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Assess a client: safety triage first, then criteria, phenotype (hypothesis) and plan.

    With CODE the input is built from the clinical store and the assessment is saved there with
    the rulebook version and sha256. Exit code 0 whatever the triage level; bad input exits
    non-zero naming every problem.
    """
    if schema:
        _print(assessment_services.input_schema_json())
        return
    chosen = [code is not None, input_file is not None, all_clients]
    if sum(chosen) != 1:
        raise InputError(
            "give exactly one of a stored client CODE, --input FILE or --all",
            field="CODE / --input / --all",
            value=code or (str(input_file) if input_file else None),
            expected="exactly one of CODE, --input and --all",
        )
    if history and code is None:
        raise InputError(
            "--history shows a stored client's assessments; give its CODE",
            field="--history",
            value=str(input_file) if input_file else "--all",
            expected="a stored client CODE",
        )
    if all_clients:
        summaries = assessment_reports.assess_all_clients(
            database, rulebook_extra, with_trajectory=not no_trajectory
        )
        if output_format == OutputFormat.json:
            _print(assessment_reports.format_summaries_json(summaries))
        elif summaries:
            _print("".join(assessment_reports.format_summary(s) for s in summaries))
        else:
            _print("no clients in the store\n")
        failed = [s.code for s in summaries if s.error is not None]
        if failed:
            shown = ", ".join(failed[:10]) + (" …" if len(failed) > 10 else "")
            raise HostcapError(
                f"{len(failed)} of {len(summaries)} clients could not be assessed ({shown}); "
                "see NOT ASSESSED above"
            )
        return
    if input_file is not None:
        result = assessment_services.assess_file(
            input_file, rulebook_extra, with_trajectory=not no_trajectory
        )
        _print(assessment_services.format_result(result, output_format.value))
        return
    assert code is not None
    if history:
        stored = assessment_reports.client_assessment_history(code, database)
        current = assessment_services.load_rulebook_file(rulebook_extra)
        _print(assessment_reports.format_history(stored, output_format.value, current))
        return
    outcome = assessment_services.assess_client(
        code, database, rulebook_extra, with_trajectory=not no_trajectory
    )
    notes = [assessment_services.skipped_note(i) for i in outcome.skipped]
    if notes and output_format == OutputFormat.text:
        _print("".join(f"{n}\n" for n in notes))
    _print(assessment_services.format_result(outcome.result, output_format.value))
    for note in notes:
        err.print(note)
    err.print(
        f"saved as assessment #{outcome.assessment_id} of {code} (rulebook "
        f"{outcome.result.rulebook.version}, sha256 {outcome.result.rulebook.sha256[:12]})"
    )


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
        # An error (exit code 1), not typer.Exit: main() reports the error and returns its code
        # whichever way Typer is run.
        raise HostcapError(
            f"the rulebook check found {len(errors)} error(s); the rulebook cannot be used"
        )


@rules_app.command("schema")
def rules_schema_command() -> None:
    """Print the JSON Schema of rulebook files (packaged or --rulebook-extra)."""
    _print(assessment_services.rulebook_schema_json())
