"""Options shared by several commands, declared once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hostcap.errors import InputError

__all__ = [
    "DatabaseOption",
    "DryRunOption",
    "ForceOption",
    "MaxFitClientsOption",
    "ProgressOption",
    "YesOption",
    "confirm_identified",
]

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="HOSTCAP_DATABASE_URL",
        help="Store URL (sqlite:///file.sqlite or postgresql+psycopg://...). "
        "Default: a SQLite file in the user data directory.",
        show_envvar=True,
    ),
]

ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace output files that already exist (never through a symbolic link).",
    ),
]

YesOption = Annotated[
    bool, typer.Option("--yes", help="confirm --identified without asking (scripts)")
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="check only; write nothing")]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")
]
MaxFitClientsOption = Annotated[
    int,
    typer.Option(
        "--max-fit-clients",
        min=0,
        help="Most clients (drawn at random) fitted under every model variant for the "
        "model-vs-data comparison; 0 skips the fits (about 1-2 s per client in one process "
        "with the compiled integrator, less on a Dask cluster).",
    ),
]


def confirm_identified(target: str, holds: str, yes: bool) -> None:
    """An identified export leaves the practice's control: a person confirms it (``--yes`` in a
    script). ``holds`` says what the export contains that a de-identified one does not."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(
            f"--identified writes {holds}, and needs confirmation; stdin is not a terminal: "
            "expected --yes to confirm in a script",
            field="--identified",
            value=target,
            expected="--yes",
        )
    typer.confirm(f"Write an IDENTIFIED export ({holds}) to {target}?", abort=True)
