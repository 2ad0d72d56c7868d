"""``hostcap validate literature``: the mechanistic model against published human results.

A thin layer over :mod:`hostcap.services.literature_validation`; everything it writes is
hypothesis testing of the Host Capacity Model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostcap.cli.consoles import out
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app

if TYPE_CHECKING:
    from hostcap.services import literature_validation
else:
    literature_validation = LazyModule("hostcap.services.literature_validation")

__all__ = ["app"]


validate_app = typer.Typer(
    help="Test the mechanistic model (a hypothesis) against published human data.",
    no_args_is_help=True,
)
app.add_typer(validate_app, name="validate")


@validate_app.command("literature")
def literature_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for validation.csv, summary.json and figures/*.png (new or empty).",
            file_okay=False,
        ),
    ],
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            help="all (default) or one of: essay, biochemical, butyrate_direct, null.",
        ),
    ] = "all",
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite the validation files in a non-empty --out."),
    ] = False,
) -> None:
    """Run every published human result through the model, per variant, and judge the fit."""
    run = literature_validation.run_literature_validation(out_dir, variant, force=force)
    for line in literature_validation.literature_validation_lines(run):
        out.print(line)


@validate_app.command("calibrate")
def calibrate_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for calibration.json, residuals.csv, profiles.csv and petab/ "
            "(new or empty).",
            file_okay=False,
        ),
    ],
    variant: Annotated[
        str,
        typer.Option("--variant", help="essay (default), biochemical, butyrate_direct or null."),
    ] = "essay",
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter",
            help="Fit only this parameter (repeatable; default: every parameter marked "
            "calibrated in the model data).",
        ),
    ] = None,
    profile_points: Annotated[
        int,
        typer.Option("--profile-points", min=3, help="Points per profile likelihood."),
    ] = 9,
    force: Annotated[
        bool,
        typer.Option("--force", help="Overwrite the calibration files in a non-empty --out."),
    ] = False,
) -> None:
    """Fit the calibrated parameters to the calibration results only, with profile intervals."""
    run = literature_validation.run_literature_calibration(
        out_dir, variant, parameters=parameter, profile_points=profile_points, force=force
    )
    for line in literature_validation.literature_calibration_lines(run):
        out.print(line)
