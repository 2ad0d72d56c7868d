"""Options shared by several commands, declared once."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["DatabaseOption", "ForceOption"]

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
