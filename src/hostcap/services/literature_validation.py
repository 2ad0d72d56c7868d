"""Literature validation service: published human results in, CSV, JSON summary and figures out.

``hostcap validate literature`` calls :func:`run_literature_validation`. The pure core
(:mod:`hostcap.model_validation`) simulates and judges; this module writes the files and formats
the one-line summaries. Everything written is HYPOTHESIS TESTING of the Host Capacity Model.

Files written under ``out``:

- ``validation.csv`` — exactly the columns ``result_id, source, measure, split, published,
  published_low, published_high, variant, model, verdict``, one row per result and variant;
- ``summary.json`` — counts per verdict, per split and per variant, and held-out and calibration
  performance per variant (within-range and within-2× percentages);
- ``figures/<family>.png`` — model value per variant against the published point and spread,
  one figure per measure family.

``hostcap validate calibrate`` calls :func:`run_literature_calibration`: the calibrated
parameters fitted to the calibration results only (held-out results never enter), written as
``calibration.json`` (fitted values, 95 % profile intervals, χ² before and after),
``residuals.csv``, ``profiles.csv`` and a PEtab-style ``petab/`` folder (``parameters.tsv``,
``measurements.tsv``, ``model.xml`` of the variant, ``problem.yaml``).

An existing non-empty ``out`` is refused unless ``force`` is set, so results are never silently
overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostcap.errors import InputError
from hostcap.mechanistic_model import HYPOTHESIS_NOTE, VARIANTS, to_sbml
from hostcap.model_validation import (
    VALIDATION_COLUMNS,
    LiteratureCalibration,
    calibrate_literature,
    calibration_petab_tables,
    resolve_variants,
    summarise_validation,
    validate_literature,
    validation_figures,
)

__all__ = [
    "CALIBRATION_NAME",
    "CSV_NAME",
    "FIGURES_DIR",
    "SUMMARY_NAME",
    "LiteratureCalibrationRun",
    "LiteratureValidationRun",
    "literature_calibration_lines",
    "literature_validation_lines",
    "run_literature_calibration",
    "run_literature_validation",
]

CSV_NAME = "validation.csv"
CALIBRATION_NAME = "calibration.json"
SUMMARY_NAME = "summary.json"
FIGURES_DIR = "figures"


@dataclass(frozen=True)
class LiteratureValidationRun:
    """What a validation run wrote, and its summary."""

    out: Path
    csv: Path
    summary_path: Path
    figures: list[Path]
    summary: dict[str, Any] = field(default_factory=dict)


def _prepare(out: Path, force: bool, figures: bool = True) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(
            f"--out {out} is a file; expected a directory",
            field="--out",
            value=str(out),
            expected="a new or empty directory",
        )
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(
            f"--out {out} exists and is not empty; expected a new or empty directory "
            "(pass --force to overwrite its validation files)",
            field="--out",
            value=str(out),
            expected="a new or empty directory, or --force",
        )
    out.mkdir(parents=True, exist_ok=True)
    if figures:
        (out / FIGURES_DIR).mkdir(exist_ok=True)


def run_literature_validation(
    out: Path,
    variants: str = "all",
    *,
    force: bool = False,
) -> LiteratureValidationRun:
    """Evaluate every published result for the chosen variants and write the files.

    Parameters
    ----------
    out
        Output directory (created; refused when it exists and is not empty, unless ``force``).
    variants
        ``all`` or one variant name.
    force
        Overwrite the validation files in an existing non-empty directory.

    Raises
    ------
    InputError
        ``out`` is a file, or a non-empty directory without ``force``.
    UnknownIdError
        ``variants`` names no variant.
    """
    names = resolve_variants(variants)
    _prepare(out, force)
    frame = validate_literature(names)
    assert tuple(frame.columns) == VALIDATION_COLUMNS
    csv_path = out / CSV_NAME
    frame.to_csv(csv_path, index=False, float_format="%.6g")
    summary = summarise_validation(frame)
    summary["hypothesis_note"] = HYPOTHESIS_NOTE
    summary["variants"] = list(names)
    summary_path = out / SUMMARY_NAME
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    written: list[Path] = []
    for family, figure in validation_figures(frame).items():
        path = out / FIGURES_DIR / f"{family}.png"
        figure.savefig(path, dpi=110)
        written.append(path)
    return LiteratureValidationRun(out, csv_path, summary_path, written, summary)


def literature_validation_lines(run: LiteratureValidationRun) -> list[str]:
    """One-line summaries of a run, held-out performance first."""
    lines = [HYPOTHESIS_NOTE]
    for split in ("held_out", "calibration"):
        for variant, p in run.summary["performance"].get(split, {}).items():
            lines.append(
                f"{split} {variant}: {p['within']}/{p['decidable']} within range "
                f"({p['within_pct']} %), {p['within_or_2x']}/{p['decidable']} within range or 2x "
                f"({p['within_2x_pct']} %)"
            )
    lines.append(f"wrote {run.csv}, {run.summary_path} and {len(run.figures)} figures")
    return lines


@dataclass(frozen=True)
class LiteratureCalibrationRun:
    """What a calibration run wrote, and the calibration."""

    out: Path
    calibration: LiteratureCalibration
    files: list[Path]


def _tsv(frame: Any) -> str:
    return str(frame.to_csv(sep="\t", index=False, lineterminator="\n"))


def run_literature_calibration(
    out: Path,
    variant: str = "essay",
    *,
    parameters: list[str] | None = None,
    profile_points: int = 9,
    force: bool = False,
) -> LiteratureCalibrationRun:
    """Fit the calibrated parameters to the calibration results and write the files.

    Parameters
    ----------
    out
        Output directory (created; refused when it exists and is not empty, unless ``force``).
    variant
        The variant simulated (the calibrated parameters are shared by every variant).
    parameters
        Parameter ids to fit (default: those marked ``estimation: calibrated``).
    profile_points
        Points of each profile likelihood across the parameter's range.
    force
        Overwrite the files in an existing non-empty directory.

    Raises
    ------
    InputError
        ``out`` is a file, or a non-empty directory without ``force``.
    UnknownIdError
        ``variant`` or a parameter id is unknown.
    """
    (name,) = resolve_variants(variant) if variant != "all" else ("essay",)
    if variant == "all" or name not in VARIANTS:
        raise InputError(
            f"--variant {variant!r}: a calibration runs one variant; expected one of: "
            + ", ".join(VARIANTS),
            field="--variant",
            value=variant,
            expected="one of: " + ", ".join(VARIANTS),
        )
    _prepare(out, force, figures=False)
    calibration = calibrate_literature(name, parameters=parameters, profile_points=profile_points)
    petab_dir = out / "petab"
    petab_dir.mkdir(exist_ok=True)
    tables = calibration_petab_tables(calibration)
    files = {
        out / CALIBRATION_NAME: json.dumps(_calibration_json(calibration), indent=2) + "\n",
        out / "residuals.csv": calibration.residuals.to_csv(index=False, float_format="%.6g"),
        out / "profiles.csv": calibration.profiles.to_csv(index=False, float_format="%.6g"),
        petab_dir / "parameters.tsv": _tsv(tables["parameters"]),
        petab_dir / "measurements.tsv": _tsv(tables["measurements"]),
        petab_dir / "model.xml": to_sbml(name, "healthy"),
        petab_dir / "problem.yaml": (
            "# PEtab-style problem of the literature calibration (hostcap validate calibrate).\n"
            "# Measurements are derived measures (percent changes, half-lives, onsets) that\n"
            "# hostcap.model_validation reads from simulations; each row names its mapping.\n"
            "format_version: 1\n"
            "parameter_file: parameters.tsv\n"
            "problems:\n"
            "  - sbml_files: [model.xml]\n"
            "    measurement_files: [measurements.tsv]\n"
        ),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return LiteratureCalibrationRun(out, calibration, sorted(files))


def _calibration_json(calibration: LiteratureCalibration) -> dict[str, Any]:
    return {
        "hypothesis_note": HYPOTHESIS_NOTE,
        "note": "Fitted to calibration results only; held-out results never enter the fit.",
        "variant": calibration.variant,
        "chi2_start": calibration.chi2_start,
        "chi2_fitted": calibration.chi2_fitted,
        "held_out_ignored": calibration.held_out_ignored,
        "parameters": [
            {
                "id": p.id,
                "unit": p.unit,
                "range": [p.lower, p.upper],
                "start": p.start,
                "fitted": p.value,
                "profile_95": [p.ci_low, p.ci_high],
                "identifiable": [p.identifiable_low, p.identifiable_high],
                "results": list(p.results),
            }
            for p in calibration.parameters
        ],
    }


def literature_calibration_lines(run: LiteratureCalibrationRun) -> list[str]:
    """One line per fitted parameter, then the fit and what was written."""
    cal = run.calibration
    lines = [HYPOTHESIS_NOTE]
    for p in cal.parameters:
        low = f"{p.ci_low:.4g}" + ("" if p.identifiable_low else " (range limit)")
        high = f"{p.ci_high:.4g}" + ("" if p.identifiable_high else " (range limit)")
        lines.append(
            f"{p.id} = {p.value:.4g} {p.unit} (start {p.start:.4g}; 95 % profile {low} to {high})"
        )
    lines.append(
        f"chi2 {cal.chi2_start:.3g} -> {cal.chi2_fitted:.3g} over {len(cal.residuals)} "
        f"calibration results; {cal.held_out_ignored} held-out results left out"
    )
    lines.append(f"wrote {run.out / CALIBRATION_NAME} and {len(run.files) - 1} more files")
    return lines
