"""``hostcap synth cohort``: a synthetic cohort with known ground truth, written to the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hostcap.cli.consoles import out
from hostcap.cli.consoles import plain_err as err
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption, ForceOption

__all__ = ["synth_app"]


synth_app = typer.Typer(
    help="Synthetic cohorts with known ground truth (SYNTHETIC data, never real people).",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")


@contextmanager
def _steps() -> Iterator[Callable[[str], None]]:
    """A rich spinner naming the current step, with elapsed time (quiet off a terminal)."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = bar.add_task("starting", total=None)

    def say(text: str) -> None:
        bar.update(task, description=text)

    with bar:
        yield say


@synth_app.command("cohort")
def cohort_command(
    n: Annotated[int, typer.Option("--n", help="number of clients (1 to 20,000)")] = 500,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=2**32 - 1, help="random seed; same seed, same cohort"),
    ] = 1,
    variant: Annotated[
        str,
        typer.Option(
            "--variant",
            help="generating model variant: essay, biochemical, butyrate_direct or null",
        ),
    ] = "essay",
    effect_scale: Annotated[
        float,
        typer.Option(
            "--effect-scale",
            help="multiplies the interventions' model inputs; 0 = the interventions do nothing",
        ),
    ] = 1.0,
    weeks: Annotated[int, typer.Option("--weeks", help="follow-up in weeks (4 to 52)")] = 16,
    database: DatabaseOption = None,
    truth_out: Annotated[
        Path | None,
        typer.Option(
            "--truth-out",
            help="ground-truth JSON file (default: synthetic-truth-seed<SEED>.json next to a "
            "SQLite database, else in the working directory)",
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Generate a synthetic cohort, write it through the store, and save its ground truth."""
    # Imported here: the model and solver stack should not slow every other command's start.
    from hostcap.services import synthesis

    with _steps() as say:
        summary = synthesis.synthesize_cohort(
            database,
            n,
            seed,
            variant=variant,
            effect_scale=effect_scale,
            weeks=weeks,
            truth_out=truth_out,
            progress=say,
            force=force,
        )
    err.print(
        f"{summary['n_clients']} SYNTHETIC clients (flagged demo) written to {summary['store']}; "
        f"ground truth in {summary['truth']}"
    )
    out.print(json.dumps(summary, indent=2, sort_keys=True))
