"""``hostcap population``, ``hostcap sensitivity`` and ``hostcap fit``: the model at scale."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hostcap.cli.consoles import out
from hostcap.cli.consoles import plain_err as err
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption, ForceOption

if TYPE_CHECKING:
    from hostcap.services import modelling_scale
else:
    modelling_scale = LazyModule("hostcap.services.modelling_scale")

__all__ = ["app"]


ProtocolOption = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        metavar="PROTOCOL.yaml|example|none",
        help="Protocol YAML file; 'example' for the phenotype's example protocol (the default "
        "for A, B and C); 'none' for no interventions (members stay at their pre-treatment "
        "steady state).",
    ),
]
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
    protocol: ProtocolOption = None,
    n: Annotated[int, typer.Option("--n", help="Members in the virtual cohort.", min=1)] = 10_000,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the parameter draws.")
    ] = 1,
    weeks: Annotated[float, typer.Option("--weeks", help="Simulated weeks.", min=0.0)] = 16.0,
    out_path: Annotated[
        Path, typer.Option("--out", help="Quantile bands (parquet).", dir_okay=False)
    ] = Path("pop.parquet"),
    params_out: Annotated[
        Path | None,
        typer.Option(
            "--params-out",
            help="Every member's parameters and initial states (SBML ids): CSV, or parquet "
            "when the name ends in .parquet.",
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
    force: ForceOption = False,
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help="Start a run estimated to take more than 10 minutes (the estimate is printed).",
        ),
    ] = False,
) -> None:
    """Virtual cohort (HYPOTHESIS-BASED): draw, accept, simulate, write quantile bands.

    pop.parquet holds, per daily save time and per state and observable, the quantiles 0.05,
    0.25, 0.5, 0.75 and 0.95 across members (columns time_h, name, quantile, value); above
    about 5,000 members they are streamed (the JSON summary gives the method and its error
    bound). Memory does not grow with --n. Limits: --weeks at most 104 and at most 36,000 band
    cells (daily save times x states and observables); --chunk-size at most 20,000. A run
    estimated to take more than 10 minutes prints the estimate and needs --yes. Files are
    written under temporary names and renamed at the end: an interrupted run leaves none.
    --params-out writes parquet when its name ends in .parquet, otherwise CSV.
    """

    def show_estimate(text: str) -> None:
        err.print(f"estimate: {text}")

    with _progress("simulating") as update:
        summary = modelling_scale.run_population(
            variant=variant,
            phenotype=phenotype,
            n=n,
            seed=seed,
            weeks=weeks,
            out=out_path,
            protocol=protocol,
            params_out=params_out,
            full=full,
            scheduler=scheduler,
            chunk_size=chunk_size,
            progress=update,
            force=force,
            confirm=yes,
            on_estimate=show_estimate,
        )
    _print_json(summary)


@app.command("sensitivity")
def sensitivity_command(
    variant: Annotated[str, typer.Option("--variant", help="Model variant.")] = "essay",
    phenotype: Annotated[str, typer.Option("--phenotype", help="Phenotype preset.")] = "A",
    method: Annotated[str, typer.Option("--method", help="sobol or morris.")] = "sobol",
    n: Annotated[
        int, typer.Option("--n", help="Base samples (Sobol: a power of 2; Morris: trajectories).")
    ] = 1024,
    output: Annotated[
        str, typer.Option("--output", help="State or observable id.")
    ] = "symptom_load",
    at_week: Annotated[float, typer.Option("--at-week", help="Week of the output.")] = 16.0,
    summary: Annotated[
        str, typer.Option("--summary", help="value, or change from week 0.")
    ] = "value",
    protocol: ProtocolOption = None,
    parameters: Annotated[
        str | None,
        typer.Option(
            "--parameters", help="Comma-separated parameter ids (default: 16 of the chain)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Sampling seed.")] = 1,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", help="Directory for indices.csv, time_resolved.csv, figure.", file_okay=False
        ),
    ] = Path("sensitivity"),
    scheduler: SchedulerOption = None,
    force: ForceOption = False,
) -> None:
    """Global sensitivity (SALib Sobol or Morris) of an output at a week, and over time."""
    with _progress("simulating") as update:
        result = modelling_scale.run_sensitivity(
            variant=variant,
            phenotype=phenotype,
            method=method,
            n=n,
            output=output,
            at_week=at_week,
            out_dir=out_dir,
            summary=summary,
            protocol=protocol,
            parameters=[p.strip() for p in parameters.split(",")] if parameters else None,
            seed=seed,
            scheduler=scheduler,
            progress=update,
            force=force,
        )
    _print_json(result)


@app.command("fit")
def fit_command(
    code: Annotated[str, typer.Argument(help="A stored client's pseudonymous code.")],
    variant: Annotated[
        str, typer.Option("--variant", help="essay, biochemical, butyrate_direct, null or all.")
    ] = "essay",
    petab: Annotated[
        Path | None,
        typer.Option(
            "--petab", help="Also write the problem as PEtab files here.", file_okay=False
        ),
    ] = None,
    phenotype: Annotated[
        str | None,
        typer.Option(
            "--phenotype",
            help="Preset for unfitted parameters (default: the "
            "enrolment's phenotype label, else A).",
        ),
    ] = None,
    n_starts: Annotated[int, typer.Option("--starts", help="Multi-start count.", min=1)] = 4,
    intervals: Annotated[
        str,
        typer.Option(
            "--intervals",
            help="wald (quadratic, fast) or profile (profile likelihood, a few times slower).",
        ),
    ] = "wald",
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the starts.")
    ] = 0,
    scheduler: SchedulerOption = None,
    force: ForceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Fit a stored client (tryptase, hs-CRP, symptom diary) under one or all variants.

    With --variant all the output adds AIC, BIC and leave-last-visit-out error per variant,
    including the null model. HYPOTHESIS-BASED: a better fit is not proof of a mechanism.
    """
    result = modelling_scale.run_fit(
        code,
        variant=variant,
        database=database,
        phenotype=phenotype,
        petab_dir=petab,
        n_starts=n_starts,
        seed=seed,
        scheduler=scheduler,
        intervals=intervals,
        force=force,
    )
    _print_json(result)
    for fit in result["fits"].values():
        for warning in fit.get("warnings", []):
            err.print(f"warning: {warning}")
