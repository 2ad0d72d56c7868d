"""``hostcap population``, ``hostcap sensitivity`` and ``hostcap fit``: the model at scale."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hostcap.cli.main import app
from hostcap.services import modelling_scale

__all__ = ["app"]

out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        help="Address of a running Dask scheduler (e.g. tcp://127.0.0.1:8786); default: "
        "in-process.",
    ),
]


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar with an ETA on stderr (quiet when stderr is not a terminal)."""
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


def _print_json(data: dict[str, Any]) -> None:
    out.file.write(json.dumps(data, indent=2, default=str) + "\n")
    out.file.flush()


@app.command("population")
def population_command(
    variant: Annotated[str, typer.Option("--variant", help="Model variant.")] = "essay",
    phenotype: Annotated[
        str, typer.Option("--phenotype", help="Phenotype preset (healthy, A, B, C).")
    ] = "A",
    protocol: Annotated[
        Path | None,
        typer.Option(
            "--protocol", help="Protocol YAML file (default: no interventions).", dir_okay=False
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Members in the virtual cohort.", min=1)] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the parameter draws.")] = 1,
    weeks: Annotated[float, typer.Option("--weeks", help="Simulated weeks.", min=0.0)] = 16.0,
    out_path: Annotated[
        Path, typer.Option("--out", help="Quantile bands (parquet).", dir_okay=False)
    ] = Path("pop.parquet"),
    params_out: Annotated[
        Path | None,
        typer.Option(
            "--params-out",
            help="CSV of every member's parameters and initial states (SBML ids).",
            dir_okay=False,
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Also write every member's trajectory (<out>-members.parquet)."
        ),
    ] = False,
    scheduler: SchedulerOption = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Members per task (memory scales with it).", min=1)
    ] = 2_000,
) -> None:
    """Virtual cohort (HYPOTHESIS-BASED): draw, accept, simulate, write quantile bands.

    pop.parquet holds, per daily save time and per state and observable, the quantiles 0.05,
    0.25, 0.5, 0.75 and 0.95 across members (columns time_h, name, quantile, value).
    """
    with _progress("simulating") as update:
        summary = modelling_scale.run_population(
            variant=variant,
            phenotype=phenotype,
            n=n,
            seed=seed,
            weeks=weeks,
            out=out_path,
            protocol_path=protocol,
            params_out=params_out,
            full=full,
            scheduler=scheduler,
            chunk_size=chunk_size,
            progress=update,
        )
    _print_json(summary)
