"""Options shared by several commands, declared once."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from hostcap.errors import InputError

__all__ = ["DatabaseOption", "DryRunOption", "ForceOption", "YesOption", "confirm_identified"]

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
