"""``hostcap analyze cohort``: the cohort's outcome analyses written to a folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostcap.cli.consoles import err, out
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption, ForceOption, MaxFitClientsOption, ProgressOption

if TYPE_CHECKING:
    from hostcap.services import analytics as analytics_services
else:
    analytics_services = LazyModule("hostcap.services.analytics")

__all__ = ["app"]


analyze_app = typer.Typer(
    help="Outcome analyses of the stored cohort (phenotypes are hypothesis labels).",
    no_args_is_help=True,
)
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("cohort")
def cohort_command(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for responders.csv, marker_order.csv, mixed_models.csv, "
            "phenotype_discovery.json, variant_comparison.csv, summary.md and figures/.",
            file_okay=False,
        ),
    ],
    database: DatabaseOption = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address for the per-client model fits (default: in process).",
        ),
    ] = None,
    max_fit_clients: MaxFitClientsOption = 30,
    n_bootstrap: Annotated[
        int,
        typer.Option("--bootstrap", min=20, help="Bootstrap resamples for marker-order intervals."),
    ] = 200,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of resampling and fits.")
    ] = 0,
    model_orders: Annotated[
        bool,
        typer.Option(
            "--model-orders/--no-model-orders",
            help="Simulate each model variant and lay its predicted marker order beside the "
            "observed one.",
        ),
    ] = True,
    progress: ProgressOption = True,
    identified: Annotated[
        bool,
        typer.Option(
            "--identified",
            help="Name clients by their store codes in responders.csv (audited). By default "
            "each run names them by fresh random pseudonyms, so the analysis folder can be "
            "shared without the codes.",
        ),
    ] = False,
    force: ForceOption = False,
) -> None:
    """Who responded, which marker moved first, what differs by phenotype, which variant fits."""
    files = analytics_services.analyze_cohort_at(
        database,
        out_dir,
        scheduler,
        max_fit_clients=max_fit_clients,
        n_bootstrap=n_bootstrap,
        seed=seed,
        model_orders=model_orders,
        progress=progress,
        console=err,
        force=force,
        identified=identified,
    )
    n_figures = sum(1 for name in files if name.startswith("figures/"))
    out.print(f"summary: {files['summary.md']}")
    for name in analytics_services.ANALYSIS_FILES:
        if name != "summary.md":
            out.print(f"{name}: {files[name]}")
    out.print(f"figures: {n_figures} in {Path(out_dir) / 'figures'}")
