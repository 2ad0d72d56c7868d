"""Modelling services: protocol files in, trajectories, plots, SBML/Antimony and the model card out.

The pure core (``hostcap.mechanistic_model``) takes data and returns data; this module reads
protocol files, writes CSV/PNG/XML/Markdown and formats one-line summaries. The CLI
(``hostcap simulate``, ``hostcap model export``, ``hostcap model card``) and the demo call these;
nothing here prints.

Everything written here rests on the Host Capacity Model, a HYPOTHESIS, and says so (the CSV's
companion summary line, the plot subtitle, the SBML notes, the Antimony header, the card header).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hostcap.errors import InputError, Severity, UnknownIdError, ValidationError
from hostcap.mechanistic_model import (
    HYPOTHESIS_NOTE,
    PHENOTYPES,
    VARIANTS,
    Protocol,
    Trajectory,
    causal_diagram,
    model_card_markdown,
    protocol_from_yaml,
    simulate,
    to_antimony,
    to_sbml,
    validate_protocol,
)
from hostcap.output_files import (
    check_output_file,
    output_folder,
    save_figure,
    write_csv,
    write_text,
)

__all__ = [
    "DIAGRAM_NAME",
    "EXAMPLE_PROTOCOLS",
    "EXAMPLE_PROTOCOLS_DIR",
    "HYPOTHESIS_NOTE",
    "Protocol",
    "SimulationSummary",
    "example_protocol",
    "export_model",
    "load_protocol",
    "protocol_warnings",
    "resolve_protocol",
    "simulate_example_protocols",
    "simulate_to_files",
    "summary_lines",
    "write_model_card",
]

#: The example protocols shipped with the repository, one per phenotype.
EXAMPLE_PROTOCOLS_DIR = Path(__file__).resolve().parents[3] / "examples" / "protocols"
EXAMPLE_PROTOCOLS: dict[str, str] = {
    "A": "phenotype-a-gut-first.yaml",
    "B": "phenotype-b-nad-first.yaml",
    "C": "phenotype-c-stabilise-first.yaml",
}
#: File name of the causal diagram written next to the model card.
DIAGRAM_NAME = "model-causal-diagram.png"

#: Observables the one-line summaries report, in this order.
_SUMMARY = ("symptom_load", "tryptase_serum", "hs_crp", "food_tolerance", "nad_blood")


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote and how it went."""

    trajectory: Trajectory
    csv: Path
    plot: Path | None
    rows: int


def load_protocol(path: Path) -> Protocol:
    """Read and validate a protocol YAML file (every problem listed on failure)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"protocol file {str(path)!r} not found; expected a YAML protocol file",
            field="--protocol",
            value=str(path),
            expected="an existing YAML file",
        ) from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise InputError(
            f"protocol file {str(path)!r} cannot be read ({type(exc).__name__}); "
            "expected a UTF-8 YAML file",
            field="--protocol",
            value=str(path),
            expected="a readable UTF-8 YAML file",
        ) from None
    try:
        return protocol_from_yaml(text)
    except ValidationError as exc:
        raise ValidationError(exc.issues, context=f"protocol file {path.name}") from None


def protocol_warnings(protocol: Protocol) -> list[str]:
    """The protocol's warnings (e.g. a dose outside the catalog's typical range), as lines."""
    return [
        f"warning: {issue}"
        for issue in validate_protocol(protocol)
        if issue.severity == Severity.WARNING
    ]


def example_protocol(phenotype: str) -> Protocol:
    """The shipped example protocol of phenotype ``A``, ``B`` or ``C``."""
    key = phenotype.upper()
    if key not in EXAMPLE_PROTOCOLS:
        raise UnknownIdError("phenotype with an example protocol", phenotype, EXAMPLE_PROTOCOLS)
    return load_protocol(EXAMPLE_PROTOCOLS_DIR / EXAMPLE_PROTOCOLS[key])


#: ``--protocol`` words of the model-at-scale commands (anything else is a YAML file).
PROTOCOL_EXAMPLE, PROTOCOL_NONE = "example", "none"


def resolve_protocol(spec: str | Path | None, phenotype: str) -> Protocol | None:
    """What ``--protocol`` of ``hostcap population`` / ``sensitivity`` names.

    ``None`` (not given): the phenotype's example protocol for A, B and C, no interventions for
    other presets. ``"example"``: that example protocol (an error for a preset without one).
    ``"none"``: no interventions, so members stay at their pre-treatment steady states and an
    output does not change with the week. Anything else: a protocol YAML file.
    """
    word = None if spec is None else str(spec).strip().lower()
    if word == PROTOCOL_NONE:
        return None
    if word is None and phenotype.upper() not in EXAMPLE_PROTOCOLS:
        return None
    if word is None or word == PROTOCOL_EXAMPLE:
        return example_protocol(phenotype)
    return load_protocol(Path(str(spec)))


def _check_choice(kind: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UnknownIdError(kind, value, choices)


def _phenotype(phenotype: str | None, protocol: Protocol | None) -> str:
    chosen = phenotype or (protocol.phenotype if protocol is not None else None) or "healthy"
    key = chosen.upper() if chosen.upper() in PHENOTYPES else chosen.lower()
    if key not in PHENOTYPES:
        raise UnknownIdError("phenotype", chosen, PHENOTYPES)
    return key


def _parent_exists(path: Path, option: str) -> None:
    if not path.parent.exists():
        raise InputError(
            f"{option}: folder {str(path.parent)!r} does not exist; expected an existing folder",
            field=option,
            value=str(path),
            expected="a path in an existing folder",
        )


def simulate_to_files(
    *,
    variant: str,
    phenotype: str | None,
    protocol: Protocol | None,
    weeks: float,
    out: Path,
    plot: Path | None = None,
    force: bool = False,
) -> SimulationSummary:
    """Simulate, write the tidy CSV (and a plot), and return what was written.

    Parameters
    ----------
    variant
        ``essay``, ``biochemical``, ``butyrate_direct`` or ``null``.
    phenotype
        ``healthy``, ``A``, ``B`` or ``C``; ``None`` takes the protocol's own phenotype (else
        ``healthy``).
    protocol
        Intervention phases, or ``None`` for none.
    weeks
        Length of the run (daily save points).
    out
        CSV path: columns ``time_h, week, name, value, unit``; names are SBML ids.
    plot
        Optional PNG path.
    force
        Replace ``out`` and ``plot`` if they exist (else they are refused before simulating).
    """
    _check_choice("model variant", variant, VARIANTS)
    chosen = _phenotype(phenotype, protocol)
    if not 0 < weeks <= 520:
        raise InputError(
            f"--weeks: got {weeks:g}; expected a length in (0, 520] weeks",
            field="--weeks",
            value=weeks,
            expected="0 < weeks <= 520",
        )
    _parent_exists(out, "--out")
    check_output_file(out, force=force, option="--out")
    if plot is not None:
        _parent_exists(plot, "--plot")
        check_output_file(plot, force=force, option="--plot")
    traj = simulate(variant, protocol, phenotype=chosen, weeks=weeks)
    frame = traj.to_frame()
    write_csv(frame, out, force=force, option="--out", float_format="%.10g")
    if plot is not None:
        fig = traj.plot()
        save_figure(fig, plot, force=force, option="--plot", dpi=90)
    return SimulationSummary(trajectory=traj, csv=out, plot=plot, rows=len(frame))


def summary_lines(summary: SimulationSummary) -> list[str]:
    """Lines for the console: the hypothesis note, the status, start → end of key observables."""
    traj = summary.trajectory
    end = float(traj.week[-1])
    lines = [
        HYPOTHESIS_NOTE,
        f"variant {traj.variant}, phenotype {traj.phenotype}, protocol "
        f"{traj.protocol_id or 'none'}, {end:g} weeks: {traj.status.value} ({traj.message})",
    ]
    for name in _SUMMARY:
        unit = traj.units.get(name, "")
        shown = "" if unit in ("", "1") else f" {unit}"
        lines.append(
            f"  {name}: {traj.at_week(name, 0.0):.3g} -> {traj.at_week(name, end):.3g}{shown} "
            f"(week 0 -> {end:g})"
        )
    lines.append(f"wrote {summary.rows} rows to {summary.csv}")
    if summary.plot is not None:
        lines.append(f"wrote plot to {summary.plot}")
    return lines


def export_model(
    *,
    fmt: Literal["sbml", "antimony"],
    variant: str,
    phenotype: str | None,
    protocol: Protocol | None,
    out: Path,
    weeks: float = 52.0,
    force: bool = False,
) -> Path:
    """Write the model as SBML L3V2 or Antimony (protocol phases become events)."""
    _check_choice("model variant", variant, VARIANTS)
    chosen = _phenotype(phenotype, protocol)
    _parent_exists(out, "--out")
    check_output_file(out, force=force, option="--out")
    if fmt == "sbml":
        text = to_sbml(variant, chosen, protocol, weeks=weeks)
    elif fmt == "antimony":
        text = to_antimony(variant, chosen, protocol, weeks=weeks)
    else:  # pragma: no cover - the CLI offers only the two
        raise UnknownIdError("export format", str(fmt), ("sbml", "antimony"))
    return write_text(out, text, force=force, option="--out")


def write_model_card(out: Path, *, force: bool = False) -> list[Path]:
    """Write the model card (Markdown) and, beside it, the causal diagram (PNG)."""
    _parent_exists(out, "--out")
    diagram = out.parent / DIAGRAM_NAME
    check_output_file(out, force=force, option="--out")
    check_output_file(diagram, force=force, option="--out")
    write_text(out, model_card_markdown(DIAGRAM_NAME), force=force, option="--out")
    save_figure(causal_diagram(), diagram, force=force, option="--out", dpi=80)
    return [out, diagram]


def simulate_example_protocols(
    out_dir: Path, *, weeks: float = 16.0, force: bool = False
) -> list[Path]:
    """Simulate phenotypes A, B and C under their example protocols (``essay`` variant).

    Writes ``traj-<phenotype>.csv`` and ``traj-<phenotype>.png`` into ``out_dir`` (created when
    missing) and returns the paths, CSV then PNG for each phenotype.
    """
    output_folder(out_dir, option="--out")
    for phenotype in EXAMPLE_PROTOCOLS:
        for suffix in ("csv", "png"):
            check_output_file(out_dir / f"traj-{phenotype}.{suffix}", force=force, option="--out")
    written: list[Path] = []
    for phenotype in EXAMPLE_PROTOCOLS:
        summary = simulate_to_files(
            variant="essay",
            phenotype=phenotype,
            protocol=example_protocol(phenotype),
            weeks=weeks,
            out=out_dir / f"traj-{phenotype}.csv",
            plot=out_dir / f"traj-{phenotype}.png",
            force=force,
        )
        written.append(summary.csv)
        if summary.plot is not None:
            written.append(summary.plot)
    return written
