"""``hostcap simulate`` and ``hostcap model export|card``: the mechanistic model's CLI face.

A thin layer over :mod:`hostcap.services.modelling`; every output says the model is a
hypothesis.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hostcap.cli.consoles import out
from hostcap.cli.consoles import plain_err as err
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import ForceOption

if TYPE_CHECKING:
    from hostcap.services import modelling
    from hostcap.services.modelling import Protocol
else:
    modelling = LazyModule("hostcap.services.modelling")

__all__ = ["app"]


model_app = typer.Typer(
    help="The mechanistic Host Capacity Model (a hypothesis): export it, write its model card.",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")


class Variant(StrEnum):
    essay = "essay"
    biochemical = "biochemical"
    butyrate_direct = "butyrate_direct"
    null = "null"


class ExportFormat(StrEnum):
    sbml = "sbml"
    antimony = "antimony"


VariantOption = Annotated[
    Variant,
    typer.Option(
        "--variant",
        help="Competing hypothesis: essay (the chain as the essay states it), biochemical, "
        "butyrate_direct, or null (no upstream mechanism).",
    ),
]
PhenotypeOption = Annotated[
    str | None,
    typer.Option(
        "--phenotype",
        help="Preset: healthy, A (gut-dominant), B (systemic NAD+ collapse), C (CNS/autonomic). "
        "Default: the protocol's own phenotype, else healthy.",
    ),
]
ProtocolOption = Annotated[
    Path | None,
    typer.Option(
        "--protocol",
        help="Protocol YAML (phases of catalog interventions); see examples/protocols/.",
        dir_okay=False,
    ),
]


def _load(path: Path | None) -> Protocol | None:
    """Read the protocol file and show its warnings on stderr."""
    if path is None:
        return None
    protocol = modelling.load_protocol(path)
    for line in modelling.protocol_warnings(protocol):
        err.print(line)
    return protocol


@app.command("simulate")
def simulate_command(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Tidy CSV: time_h, week, name, value, unit (names are SBML ids).",
            dir_okay=False,
        ),
    ],
    variant: VariantOption = Variant.essay,
    phenotype: PhenotypeOption = None,
    protocol: ProtocolOption = None,
    weeks: Annotated[float, typer.Option("--weeks", help="Length of the run in weeks.")] = 16.0,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also write a PNG plot of the observables.", dir_okay=False),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Simulate the Host Capacity Model (a HYPOTHESIS) under a protocol and write a tidy CSV."""
    loaded = _load(protocol)
    summary = modelling.simulate_to_files(
        variant=variant.value,
        phenotype=phenotype,
        protocol=loaded,
        weeks=weeks,
        out=out_path,
        plot=plot,
        force=force,
    )
    for line in modelling.summary_lines(summary):
        out.print(line)


@model_app.command("export")
def export_command(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="File to write.", dir_okay=False)],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="sbml (L3V2) or antimony.")] = (
        ExportFormat.sbml
    ),
    variant: VariantOption = Variant.essay,
    phenotype: PhenotypeOption = None,
    protocol: ProtocolOption = None,
    weeks: Annotated[
        float,
        typer.Option("--weeks", help="Horizon: protocol boundaries after it are left out."),
    ] = 52.0,
    force: ForceOption = False,
) -> None:
    """Export a variant and phenotype as SBML L3V2 or Antimony; protocol phases become events."""
    loaded = _load(protocol)
    written = modelling.export_model(
        fmt=fmt.value,
        variant=variant.value,
        phenotype=phenotype,
        protocol=loaded,
        out=out_path,
        weeks=weeks,
        force=force,
    )
    out.print(modelling.HYPOTHESIS_NOTE)
    out.print(f"wrote {fmt.value} ({variant.value}) to {written}")


@model_app.command("card")
def card_command(
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Markdown file; the causal diagram PNG is written beside it.",
            dir_okay=False,
        ),
    ] = Path("docs/model-card.md"),
    force: ForceOption = False,
) -> None:
    """Write the model card (every state, parameter, edge, variant) and its causal diagram."""
    for path in modelling.write_model_card(out_path, force=force):
        out.print(f"wrote {path}")
    out.print(modelling.HYPOTHESIS_NOTE)
