"""Discrimination design service: which case study would tell the model variants apart.

``hostcap design discriminate`` calls :func:`run_discrimination`. The pure core
(:mod:`hostcap.model_validation.variant_discrimination`) simulates and scores; this module reads
protocol files, writes ``discrimination.csv`` and formats the ranking. Everything it says is about
HYPOTHESES: which data would separate them, not what any client should do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hostcap.errors import InputError
from hostcap.mechanistic_model import HYPOTHESIS_NOTE
from hostcap.model_validation.variant_discrimination import (
    DEFAULT_MEASURES,
    DEFAULT_MEMBERS,
    CandidateProtocol,
    candidate_protocols,
    discriminate_variants,
)
from hostcap.services.modelling import load_protocol

__all__ = ["DISCRIMINATION_CSV", "DiscriminationRun", "discrimination_lines", "run_discrimination"]

DISCRIMINATION_CSV = "discrimination.csv"


@dataclass(frozen=True)
class DiscriminationRun:
    """The ranking and where it was written (``None`` when no ``out`` was given)."""

    ranking: pd.DataFrame
    csv: Path | None


def run_discrimination(
    *,
    variants: str = "essay,biochemical,butyrate_direct,null",
    protocols: list[Path] | None = None,
    weeks: float = 12.0,
    measures: list[str] | None = None,
    phenotype: str = "A",
    n_clients: int = 20,
    members: int = DEFAULT_MEMBERS,
    seed: int = 1,
    out: Path | None = None,
    force: bool = False,
) -> DiscriminationRun:
    """Rank designs by how well they separate the variants; write the CSV when ``out`` is given.

    Parameters
    ----------
    variants
        Comma-separated variant names.
    protocols
        Protocol YAML files (default: the packaged candidates, no prescription drugs).
    weeks
        Length of each protocol file's run (the packaged candidates carry their own).
    measures
        Observable ids (default: symptom load, food tolerance, tryptase, hs-CRP).

    Raises
    ------
    InputError
        ``out`` is not empty without ``force``, or ``weeks`` is not positive.
    """
    if weeks <= 0:
        raise InputError(
            f"--weeks {weeks:g}; expected a positive number of weeks",
            field="--weeks",
            value=weeks,
            expected="> 0",
        )
    csv_path = None
    if out is not None:
        csv_path = out / DISCRIMINATION_CSV
        if csv_path.exists() and not force:
            raise InputError(
                f"--out {out} already holds {DISCRIMINATION_CSV}; expected a new directory "
                "(pass --force to overwrite it)",
                field="--out",
                value=str(out),
                expected="a directory without discrimination.csv, or --force",
            )
    candidates: tuple[CandidateProtocol, ...] = (
        tuple(CandidateProtocol(load_protocol(p), weeks, f"from {p.name}") for p in protocols)
        if protocols
        else candidate_protocols()
    )
    names = [v.strip() for v in variants.split(",") if v.strip()]
    ranking = discriminate_variants(
        candidates,
        tuple(measures) if measures else DEFAULT_MEASURES,
        variants=names,
        phenotype=phenotype,
        n_clients=n_clients,
        members=members,
        seed=seed,
    )
    if out is not None and csv_path is not None:
        out.mkdir(parents=True, exist_ok=True)
        ranking.to_csv(csv_path, index=False, float_format="%.6g")
    return DiscriminationRun(ranking, csv_path)


def _clients(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "not separable"
    return f"{int(float(str(value)))}"


def discrimination_lines(run: DiscriminationRun, top: int = 10) -> list[str]:
    """The hypothesis note, then the ``top`` designs, best first."""
    ranking = run.ranking
    lines = [
        HYPOTHESIS_NOTE,
        f"{len(ranking)} designs ranked by the expected posterior probability of the true "
        f"variant with {int(ranking['n_clients'].iloc[0])} clients (1/k = no better than a "
        "guess among k variants):",
    ]
    for _, row in ranking.head(top).iterrows():
        lines.append(
            f"{int(row['rank'])}. {row['protocol']}, {row['measure']} at week {row['read_week']:g} "
            f"vs baseline: P(true) {row['expected_posterior_true']:.2f}; clients for a decisive "
            f"essay vs null answer: {_clients(row['clients_essay_vs_null'])}; for every pair: "
            f"{_clients(row['clients_all_pairs'])} (hardest {row['hardest_pair']})"
        )
    if run.csv is not None:
        lines.append(f"wrote {run.csv}")
    return lines
