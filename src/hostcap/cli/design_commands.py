"""``hostcap design discriminate``: which case study would tell the model variants apart.

A thin layer over :mod:`hostcap.services.variant_discrimination`; it ranks designs for testing
hypotheses, and recommends nothing for any client.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostcap.cli.consoles import out
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app

if TYPE_CHECKING:
    from hostcap.services import variant_discrimination
else:
    variant_discrimination = LazyModule("hostcap.services.variant_discrimination")

__all__ = ["app"]


design_app = typer.Typer(
    help="Design studies that would test the mechanistic model's hypotheses.",
    no_args_is_help=True,
)
app.add_typer(design_app, name="design")


@design_app.command("discriminate")
def discriminate_command(
    variants: Annotated[
        str,
        typer.Option("--variants", help="Comma-separated variants to tell apart."),
    ] = "essay,biochemical,butyrate_direct,null",
    protocol: Annotated[
        list[Path] | None,
        typer.Option(
            "--protocol",
            help="Candidate protocol YAML (repeatable; default: the packaged candidates).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    measure: Annotated[
        list[str] | None,
        typer.Option(
            "--measure",
            help="Observable measured at baseline and at the read week (repeatable; default: "
            "symptom_load, food_tolerance, tryptase_serum, hs_crp).",
        ),
    ] = None,
    n_clients: Annotated[
        int, typer.Option("--n-clients", min=2, help="Clients in the case series.")
    ] = 20,
    weeks: Annotated[
        float, typer.Option("--weeks", help="Length of each --protocol file's run, in weeks.")
    ] = 12.0,
    phenotype: Annotated[
        str, typer.Option("--phenotype", help="Phenotype preset of the virtual clients.")
    ] = "A",
    members: Annotated[
        int, typer.Option("--members", min=10, help="Virtual clients simulated per variant.")
    ] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Seed of populations and noise.")] = 1,
    top: Annotated[int, typer.Option("--top", min=1, help="Designs to print.")] = 10,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Directory for discrimination.csv.", file_okay=False),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite discrimination.csv in --out.")
    ] = False,
) -> None:
    """Rank protocols x measures x read weeks by how well their data would separate the variants."""
    run = variant_discrimination.run_discrimination(
        variants=variants,
        protocols=protocol,
        weeks=weeks,
        measures=measure,
        phenotype=phenotype,
        n_clients=n_clients,
        members=members,
        seed=seed,
        out=out_dir,
        force=force,
    )
    for line in variant_discrimination.discrimination_lines(run, top):
        out.print(line)
