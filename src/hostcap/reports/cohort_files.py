"""The tables and figures written beside ``summary.md`` by a cohort analysis.

Pure rendering: :class:`~hostcap.reports.cohort_summary.CohortAnalysis` in, frames, JSON-ready
data and matplotlib figures out; the service writes them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from hostcap.outcome_analytics import (
    MIXED_MODEL_COLUMNS,
    RESPONDER_COLUMNS,
    VARIANT_COMPARISON_COLUMNS,
    MarkerOrder,
    VariantComparison,
    forest_figure,
    kaplan_meier,
    km_figure,
    spaghetti_figure,
    variant_figure,
)
from hostcap.reports.cohort_summary import CohortAnalysis

__all__ = [
    "RESPONDER_CSV_COLUMNS",
    "discovery_document",
    "marker_order_table",
    "mixed_models_table",
    "responders_csv_table",
    "summary_figures",
    "variant_table",
]

#: The contract columns of ``responders.csv`` (issue 6), the first seven of the table.
RESPONDER_CSV_COLUMNS: tuple[str, ...] = RESPONDER_COLUMNS[:7]


def responders_csv_table(results: CohortAnalysis) -> pd.DataFrame:
    """``responders.csv``: one row per client and measure, then each client's composite."""
    responders = results.responders.loc[:, list(RESPONDER_CSV_COLUMNS)]
    composite = results.composite.assign(
        measure="composite",
        baseline=math.nan,
        last=math.nan,
        change=math.nan,
        reliable_change=results.composite["composite"],
        responder=results.composite["composite"] == "responder",
    ).loc[:, list(RESPONDER_CSV_COLUMNS)]
    return pd.concat([responders, composite], ignore_index=True) if len(responders) else responders


def marker_order_table(results: CohortAnalysis) -> pd.DataFrame:
    """``marker_order.csv``: the order per scope (cohort, each phenotype) with its medians and
    the model variants' predicted ranks beside each phenotype."""
    columns = [
        "scope",
        "measure",
        "n",
        "events",
        "median_weeks",
        "median_ci_low",
        "median_ci_high",
        "rmst_weeks",
        "rank",
        "rank_ci_low",
        "rank_ci_high",
    ]
    parts = []
    scopes: list[tuple[str, MarkerOrder | None, pd.DataFrame]] = [
        ("cohort", results.order, results.km_table)
    ]
    for phenotype, order in sorted(results.order_by_phenotype.items()):
        km = results.km_by_phenotype
        km = km.loc[km["phenotype"] == phenotype].drop(columns="phenotype")
        scopes.append((f"phenotype {phenotype}", order, km))
    for scope, scoped_order, km in scopes:
        if scoped_order is None or km.empty:
            continue
        table = scoped_order.cohort.merge(
            km.rename(columns={"ci_low": "median_ci_low", "ci_high": "median_ci_high"}).drop(
                columns=["n", "events"]
            ),
            on="measure",
            how="left",
        )
        table = table.assign(scope=scope)[columns]
        phenotype = scope.removeprefix("phenotype ")
        if scope != "cohort" and phenotype in results.order_comparisons:
            predicted = results.order_comparisons[phenotype].table
            ranks = [c for c in predicted.columns if str(c).startswith("rank_")]
            table = table.merge(predicted[["measure", *ranks]], on="measure", how="left")
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def mixed_models_table(results: CohortAnalysis) -> pd.DataFrame:
    """``mixed_models.csv``: every term of every measure's mixed model."""
    return (
        pd.concat([f.table for f in results.fits], ignore_index=True)
        if results.fits
        else pd.DataFrame(columns=list(MIXED_MODEL_COLUMNS))
    )


def discovery_document(results: CohortAnalysis) -> dict[str, Any]:
    """``phenotype_discovery.json``: the discovery's result, or why it did not run."""
    return (
        results.discovery.to_dict()
        if results.discovery is not None
        else {"status": results.discovery_reason or "not run"}
    )


def variant_table(results: CohortAnalysis) -> pd.DataFrame:
    """``variant_comparison.csv``: the ranking with its note, or one row holding the note."""
    if results.variants is not None and len(results.variants.table):
        return results.variants.table.assign(note=results.variant_note)
    return pd.DataFrame(
        [{c: (results.variant_note if c == "note" else None) for c in VARIANT_COMPARISON_COLUMNS}],
        columns=list(VARIANT_COMPARISON_COLUMNS),
    )


def summary_figures(results: CohortAnalysis) -> Iterator[tuple[str, Figure]]:
    """Each figure of the analysis with its file name, one at a time (so that the caller can
    save and drop each before the next is drawn)."""
    m, c = results.frames.measurements, results.frames.clients
    bands = results.timelines.bands if results.timelines is not None else None
    for measure in sorted(m["measure"].unique()):
        yield f"spaghetti_{measure}.png", spaghetti_figure(m, c, measure, bands)
    if len(results.times):
        _, curves = kaplan_meier(results.times)
        yield (
            "km_measures.png",
            km_figure(curves, "Time to sustained reliable improvement, per measure"),
        )
        with_phen = results.times.merge(c[["client", "phenotype"]], on="client")
        for measure, part in with_phen.groupby("measure", sort=True):
            _, by_phen = kaplan_meier(part, by=("phenotype",))
            yield (
                f"km_{measure!s}.png",
                km_figure(
                    by_phen,
                    f"{measure!s}: time to sustained reliable improvement by phenotype "
                    "(hypothesis labels)",
                ),
            )
    yield "forest_mixed_models.png", forest_figure(results.fits)
    comparison = results.variants or VariantComparison(
        table=pd.DataFrame(columns=list(VARIANT_COMPARISON_COLUMNS)),
        reference="null",
        n_clients=0,
        n_excluded=0,
        n_bootstrap=0,
        note=results.variant_note,
    )
    yield "variant_comparison.png", variant_figure(comparison)
