"""``hostcap consent add`` and ``hostcap report case|cohort``: consent records and reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostcap.cli.consoles import err, out
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption, ForceOption, MaxFitClientsOption, ProgressOption

if TYPE_CHECKING:
    from hostcap.services import publishing as publishing_services
else:
    publishing_services = LazyModule("hostcap.services.publishing")


consent_app = typer.Typer(
    help="Consent records (case reports, cohort research); audited, append-only.",
    no_args_is_help=True,
)
report_app = typer.Typer(
    help="De-identified reports: a CARE case report of one client, a cohort article pack.",
    no_args_is_help=True,
)
app.add_typer(consent_app, name="consent")
app.add_typer(report_app, name="report")

FormatOption = Annotated[
    str,
    typer.Option("--format", help="Comma-separated output formats: html, pdf or html,pdf."),
]


@consent_app.command("add")
def consent_add_command(
    code: Annotated[str, typer.Argument(help="The client's pseudonymous code.")],
    scope: Annotated[
        str,
        typer.Option("--scope", help="What the consent covers: case_report or cohort_research."),
    ],
    date: Annotated[
        str, typer.Option("--date", help="Date of the consent (or withdrawal), YYYY-MM-DD.")
    ],
    document: Annotated[
        Path | None,
        typer.Option(
            "--document",
            help="The signed form; its file name and sha256 are recorded, not its content.",
            dir_okay=False,
        ),
    ] = None,
    withdrawn: Annotated[
        bool, typer.Option("--withdrawn", help="Record a withdrawal of this scope's consent.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Record a client's consent for a case report or for cohort research (or its withdrawal)."""
    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        err.print(f"error: --date {date!r} is not a date; expected YYYY-MM-DD")
        raise typer.Exit(2) from None
    record = publishing_services.add_consent_at(
        database, code, scope=scope, consented_on=day, document=document, withdrawn=withdrawn
    )
    state = "withdrawn" if record["withdrawn"] else "recorded"
    out.print(f"{code}: {record['scope']} consent {state} (record {record['id']})")


@report_app.command("case")
def case_command(
    code: Annotated[str, typer.Argument(help="The client's pseudonymous code.")],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for case-report.html, case-report.pdf, care-checklist.csv and figures/.",
            file_okay=False,
        ),
    ],
    formats: FormatOption = "html,pdf",
    include_notes: Annotated[
        bool,
        typer.Option(
            "--include-notes",
            help="Show free-text notes (and the patient's perspective) in a box marked "
            "'check before sending'; left out by default.",
        ),
    ] = False,
    database: DatabaseOption = None,
    force: ForceOption = False,
) -> None:
    """A de-identified CARE case report draft (refused without case_report consent)."""
    files = publishing_services.case_report_at(
        database, code, out_dir, formats=formats, include_notes=include_notes, force=force
    )
    for name, path in files.items():
        out.print(f"{name}: {path}")


@report_app.command("cohort")
def cohort_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the article pack (tables, figures/, methods.md, checklist, "
            "article.html, article.pdf).",
            file_okay=False,
        ),
    ],
    formats: FormatOption = "html,pdf",
    analysis: Annotated[
        Path | None,
        typer.Option(
            "--analysis",
            help="Also write the full analysis files (as `hostcap analyze cohort --out`) "
            "from the same run to this folder.",
            file_okay=False,
        ),
    ] = None,
    max_fit_clients: MaxFitClientsOption = 30,
    database: DatabaseOption = None,
    progress: ProgressOption = True,
    force: ForceOption = False,
) -> None:
    """The cohort article pack (real clients need cohort_research consent)."""
    files = publishing_services.cohort_pack_at(
        database,
        out_dir,
        formats=formats,
        analysis_dir=analysis,
        max_fit_clients=max_fit_clients,
        progress=progress,
        console=err,
        force=force,
    )
    n_figures = sum(1 for name in files if name.startswith("figures/"))
    for name, path in files.items():
        if not name.startswith(("figures/", "analysis/")):
            out.print(f"{name}: {path}")
    out.print(f"figures: {n_figures} in {Path(out_dir) / 'figures'}")
    if analysis is not None:
        out.print(f"analysis: {analysis}")
