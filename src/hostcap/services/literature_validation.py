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

An existing non-empty ``out`` is refused unless ``force`` is set, so results are never silently
overwritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostcap.errors import InputError
from hostcap.mechanistic_model import HYPOTHESIS_NOTE
from hostcap.model_validation import (
    VALIDATION_COLUMNS,
    resolve_variants,
    summarise_validation,
    validate_literature,
    validation_figures,
)

__all__ = [
    "CSV_NAME",
    "FIGURES_DIR",
    "SUMMARY_NAME",
    "LiteratureValidationRun",
    "literature_validation_lines",
    "run_literature_validation",
]

CSV_NAME = "validation.csv"
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


def _prepare(out: Path, force: bool) -> None:
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
    (out / FIGURES_DIR).mkdir(parents=True, exist_ok=True)


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
