"""``summary.md`` of a cohort analysis: the results as Markdown, with what they cannot show.

Pure rendering: :class:`CohortAnalysis` in, text out. The analysis itself runs in
:mod:`hostcap.services.analytics`; the tables and figures beside the summary come from
:mod:`hostcap.reports.cohort_files`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hostcap.outcome_analytics import (
    CORE_MEASURES,
    CohortFrames,
    MarkerOrder,
    MixedModelFit,
    OrderComparison,
    OutcomeTimelines,
    PhenotypeDiscovery,
    VariantComparison,
    get_measure,
)

__all__ = ["CohortAnalysis", "cohort_summary_markdown"]


@dataclass
class CohortAnalysis:
    """Everything one cohort analysis found, as the reports read it."""

    frames: CohortFrames
    responders: pd.DataFrame
    composite: pd.DataFrame
    times: pd.DataFrame
    order: MarkerOrder | None
    order_by_phenotype: dict[str, MarkerOrder]
    order_comparisons: dict[str, OrderComparison]
    order_notes: list[str]
    km_table: pd.DataFrame
    km_by_phenotype: pd.DataFrame
    fits: list[MixedModelFit]
    discovery: PhenotypeDiscovery | None
    discovery_reason: str
    timelines: OutcomeTimelines | None
    variants: VariantComparison | None
    variant_note: str


def cohort_summary_markdown(results: CohortAnalysis, source: str, files: Mapping[str, Path]) -> str:
    """``summary.md`` of ``hostcap analyze cohort``: what was found, and how far to trust it.

    Parameters
    ----------
    results
        The analysis.
    source
        The store it read (a URL without password), named in the header.
    files
        The files written beside the summary, by name relative to the output folder.
    """
    lines = _read_this_first(results, source)
    lines += _data(results)
    lines += _thresholds(results)
    lines += _responders(results)
    lines += _marker_order(results)
    lines += _order_comparisons(results)
    lines += _mixed_models(results)
    lines += _discovery(results)
    lines += _timelines(results)
    lines += _variants(results)
    lines += _files(results, files)
    return "\n".join(lines)


def _read_this_first(results: CohortAnalysis, source: str) -> list[str]:
    c = results.frames.clients
    n_demo = int(c["demo"].sum()) if "demo" in c else 0
    lines = [
        "# Cohort analysis",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from `{source}` by "
        "`hostcap analyze cohort`.",
        "",
        "## Read this first",
        "",
        "- **The phenotypes A, B and C are hypothesis labels** assigned by transparent rules "
        "(the essay's patterns; evidence grade S). Nothing here shows that they are real "
        "biological subtypes; the phenotype-discovery section only asks whether the features "
        "behind them cluster.",
        "- The data are a **single-arm, pre/post protocol** without a control group. A reliable "
        "change says the value moved more than measurement noise and within-person variation "
        "would explain; it does **not** say the protocol caused it (regression to the mean, "
        "natural course, other treatments and expectation effects all produce change).",
        "- Under the reliable-change rules a client whose true value does not move shows a "
        "reliable improvement on a measure by chance about 2.5 % of the time (RCV / RCI rules, "
        "z = 1.96); thresholds marked *assumed* below rest on assumptions, not data.",
        "- The Host Capacity Model is a hypothesis; the model-variant comparison is the place "
        "where the data can favour or disfavour it, and only with enough clients.",
    ]
    if n_demo:
        lines.append(
            f"- **{n_demo} of {len(c)} clients are demo or synthetic** (flagged in the store): "
            "these results describe invented data, not people."
        )
    return lines


def _data(results: CohortAnalysis) -> list[str]:
    m, c = results.frames.measurements, results.frames.clients
    lines = ["", "## Data", ""]
    lines.append(
        f"{len(c)} enrolled client(s), {m['client'].nunique()} with measurements, "
        f"{len(m)} measurement(s) of {m['measure'].nunique()} measure(s)."
    )
    for note in results.frames.notes:
        lines.append(f"- {note}")
    if len(c):
        counts = c["phenotype"].value_counts().sort_index()
        lines.append(
            "Rule-based phenotype labels: "
            + ", ".join(f"{k}: {int(v)}" for k, v in counts.items())
            + "."
        )
    return lines


def _thresholds(results: CohortAnalysis) -> list[str]:
    m = results.frames.measurements
    lines = ["", "## Reliable change thresholds", ""]
    lines += ["| measure | rule | threshold | better | basis |", "|---|---|---|---|---|"]
    for measure in sorted(m["measure"].unique()):
        spec = get_measure(measure)
        scale = "ln ratio" if spec.rule == "rcv" else spec.unit
        lines.append(
            f"| {measure} | {spec.rule} | {spec.threshold():.3g} ({scale}) | "
            f"{'lower' if spec.lower_is_better else 'higher'} | {spec.note}; "
            f"{', '.join(spec.citations)} |"
        )
    return lines


def _responders(results: CohortAnalysis) -> list[str]:
    lines = ["", "## Responders (baseline vs last visit)", ""]
    r = results.responders
    if len(r):
        lines += [
            "| measure | assessable | reliably improved | reliably worse |",
            "|---|---|---|---|",
        ]
        for measure, part in r.groupby("measure", sort=True):
            assessable = part["reliable_change"] != "not assessable"
            n = int(assessable.sum())
            imp = int((part["reliable_change"] == "improved").sum())
            wor = int((part["reliable_change"] == "worsened").sum())
            lines.append(f"| {measure!s} | {n} | {_share(imp, n)} | {_share(wor, n)} |")
        comp = results.composite["composite"].value_counts()
        lines += [
            "",
            "Composite (reliable improvement on ≥ 2 of the core measures "
            f"{', '.join(CORE_MEASURES)} and no reliable worsening on any): "
            + ", ".join(f"{k}: {int(v)}" for k, v in comp.sort_index().items())
            + ".",
        ]
    else:
        lines.append("No measurements to assess.")
    return lines


def _marker_order(results: CohortAnalysis) -> list[str]:
    lines = ["", "## Which marker moves first", ""]
    if results.order is not None:
        table = results.order.cohort.sort_values("rank")
        lines += [
            "Time to the first *sustained* reliable improvement (still improved at the next "
            "visit, or at the last visit), censored at the last visit. Order by restricted mean "
            f"time over {results.order.tau_weeks:g} weeks; rank intervals from "
            f"{results.order.n_bootstrap} bootstrap resamples of clients.",
            "",
            "| rank (95 % interval) | measure | improved / followed | median weeks (95 % CI) |",
            "|---|---|---|---|",
        ]
        km = results.km_table.set_index("measure")
        for row in table.itertuples():
            k = km.loc[str(row.measure)]
            lines.append(
                f"| {row.rank:g} ({row.rank_ci_low:g}–{row.rank_ci_high:g}) | {row.measure} | "
                f"{_fmt(row.events, 0)} / {_fmt(row.n, 0)} | {_fmt(k['median_weeks'], 1)} "
                f"({_fmt(k['ci_low'], 1)}–{_fmt(k['ci_high'], 1)}) |"
            )
        lines += [
            "",
            "Wide rank intervals mean the data do not settle the order. A model variant's "
            "predicted order can be compared with this one by "
            "`hostcap.outcome_analytics.compare_orders`.",
        ]
    else:
        lines.append("No follow-up after week 0: no time-to-improvement analysis.")
    return lines


def _order_comparisons(results: CohortAnalysis) -> list[str]:
    lines = ["", "## Observed order beside each model variant's prediction", ""]
    if results.order_comparisons:
        lines += [
            "| phenotype | variant | predicted order (reliable improvement, earliest first) "
            "| Kendall τ with observed | mean P(observed as predicted) |",
            "|---|---|---|---|---|",
        ]
        for phenotype, comparison in sorted(results.order_comparisons.items()):
            table = comparison.table.set_index("measure")
            for row in comparison.agreement.itertuples():
                column = f"rank_{row.variant}"
                ranked: list[str] = (
                    [str(m) for m in table[column].dropna().sort_values().index]
                    if column in table
                    else []
                )
                order = ", ".join(ranked) or "(none)"
                lines.append(
                    f"| {phenotype} | {row.variant} | {order} | {_fmt(row.kendall_tau)} | "
                    f"{_fmt(row.mean_pairwise_agreement)} |"
                )
        lines += [
            "",
            "τ compares ranks over the measures the variant predicts to improve; the pairwise "
            "column is the observed probability that A improved before B, averaged over the "
            "pairs the variant orders A before B (0.5 = chance). Predicted ranks are also in "
            "`marker_order.csv` (columns `rank_<variant>`).",
        ]
    elif results.order_notes:
        lines.append("No variant predicted an order that could be compared.")
    else:
        lines.append(
            "Not compared: no phenotype A, B or C has 5 or more clients with follow-up"
            if results.order is not None
            else "Not compared: no follow-up."
        )
    for note in dict.fromkeys(results.order_notes):
        lines.append(f"- {note}")
    return lines


def _mixed_models(results: CohortAnalysis) -> list[str]:
    lines = ["", "## Mixed models", ""]
    if results.fits:
        lines += [
            "Random intercept and slope on week per client; fixed effects week × phenotype "
            "(+ protocol phase when recorded); ln scale for tryptase and hs-CRP (the week "
            "coefficient is then the change of ln value per week).",
            "",
            "| measure | week effect (95 % CI) | p | converged | warnings |",
            "|---|---|---|---|---|",
        ]
        for fit in results.fits:
            t = fit.table.set_index("term")
            if "week" in t.index:
                w = t.loc["week"]
                effect = (
                    f"{_fmt(w['estimate'], 4)} ({_fmt(w['ci_low'], 4)} to {_fmt(w['ci_high'], 4)})"
                )
                p = _fmt(w["p"], 3)
            else:
                effect, p = "not fitted", "–"
            lines.append(
                f"| {fit.measure} | {effect} | {p} | {'yes' if fit.converged else '**no**'} "
                f"| {len(fit.warnings)} |"
            )
        lines += [
            "",
            "The week effect is for the reference phenotype; other terms, and every warning "
            "in full, are in `mixed_models.csv`. Estimates from fits with warnings (a variance "
            "on the boundary, a non-positive-definite Hessian) deserve less trust than their "
            "intervals suggest.",
        ]
    else:
        lines.append("No mixed models fitted (no measurements).")
    return lines


def _discovery(results: CohortAnalysis) -> list[str]:
    lines = ["", "## Phenotype discovery", ""]
    if results.discovery is not None:
        d = results.discovery
        lines.append(
            f"Gaussian mixtures on standardised baseline features ({', '.join(d.features)}) "
            f"for {d.n_clients} client(s) ({d.n_excluded} left out for a missing feature): "
            f"BIC chose k = {d.chosen_k}. Bootstrap stability (mean ARI): "
            f"{_fmt(d.stability_ari_mean)}; agreement with the rule-based labels (ARI): "
            f"{_fmt(d.agreement_ari)}. Details in `phenotype_discovery.json`."
        )
    else:
        lines.append(f"Phenotype discovery {results.discovery_reason or 'not run'}.")
    return lines


def _timelines(results: CohortAnalysis) -> list[str]:
    lines = ["", "## Time to composite response by phenotype", ""]
    if results.timelines is not None and len(results.timelines.medians):
        lines += ["| phenotype | n | responded | median weeks (95 % CI) |", "|---|---|---|---|"]
        for row in results.timelines.medians.itertuples():
            lines.append(
                f"| {row.phenotype} | {row.n} | {row.events} | {_fmt(row.median_weeks, 1)}"
                f" ({_fmt(row.ci_low, 1)}–{_fmt(row.ci_high, 1)}) |"
            )
    else:
        lines.append("Not enough follow-up.")
    return lines


def _variants(results: CohortAnalysis) -> list[str]:
    lines = ["", "## Model variants vs data", ""]
    if results.variants is not None and len(results.variants.table):
        lines += [
            "| variant | mean held-out error | vs null (95 % CI) | verdict |",
            "|---|---|---|---|",
        ]
        for row in results.variants.table.itertuples():
            lines.append(
                f"| {row.variant} | {_fmt(row.mean_error, 3)} | "
                f"{_fmt(row.diff_vs_reference, 3)} ({_fmt(row.diff_ci_low, 3)} to "
                f"{_fmt(row.diff_ci_high, 3)}) | {row.verdict} |"
            )
        lines.append("")
    lines.append(results.variant_note + ".")
    return lines


def _files(results: CohortAnalysis, files: Mapping[str, Path]) -> list[str]:
    lines = ["", "## Files", ""]
    lines += [f"- `{name}`" for name in sorted(files)]
    lines.append("")
    return lines


def _fmt(value: Any, digits: int = 2) -> str:
    """A number for the summary: ``–`` when missing, ``not reached`` for an infinite median."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "not reached"
    return f"{x:.{digits}f}"


def _share(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f} %)" if n else str(k)
