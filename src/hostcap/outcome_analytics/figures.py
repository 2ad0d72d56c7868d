"""Figures of the cohort analyses: functions that take results and return a matplotlib Figure.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state, no GUI
backend); the services layer saves them. Every figure that shows phenotypes says in its title that
they are hypothesis labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hostcap.outcome_analytics.cohort_models import MixedModelFit
from hostcap.outcome_analytics.marker_order import KaplanMeierCurve
from hostcap.outcome_analytics.measure_specs import get_measure, measure_specs
from hostcap.outcome_analytics.variant_ranking import VariantComparison

__all__ = ["forest_figure", "km_figure", "spaghetti_figure", "variant_figure"]

# Ten distinguishable colours (matplotlib's tab10), enough for every measure in one panel.
_COLOURS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _label(measure: str) -> str:
    spec = measure_specs().get(measure)
    return f"{spec.label} ({spec.unit})" if spec else measure


def spaghetti_figure(
    measurements: pd.DataFrame,
    clients: pd.DataFrame,
    measure: str,
    bands: pd.DataFrame | None = None,
    *,
    max_lines_per_phenotype: int = 60,
) -> Figure:
    """One panel per phenotype: each client's trajectory, with the median and 25–75 % band.

    ``bands`` comes from :func:`hostcap.outcome_analytics.trajectory_bands`; without it only the
    trajectories are drawn. At most ``max_lines_per_phenotype`` clients per panel are drawn (the
    first by code) so large cohorts stay legible; the bands use every client.
    """
    data = measurements.loc[measurements["measure"] == measure].merge(
        clients[["client", "phenotype"]], on="client"
    )
    phenotypes = sorted(data["phenotype"].unique()) or ["(no data)"]
    fig = Figure(figsize=(3.2 * len(phenotypes), 3.4), layout="constrained")
    axes = fig.subplots(1, len(phenotypes), sharey=True, squeeze=False)[0]
    log = measure in measure_specs() and get_measure(measure).log_scale
    for ax, phenotype, colour in zip(axes, phenotypes, _COLOURS * 4, strict=False):
        part = data.loc[data["phenotype"] == phenotype]
        for i, (_, rows) in enumerate(part.groupby("client", sort=True)):
            if i >= max_lines_per_phenotype:
                break
            ax.plot(rows["week"], rows["value"], color=colour, alpha=0.25, linewidth=0.8)
        if bands is not None:
            b = bands.loc[(bands["measure"] == measure) & (bands["phenotype"] == phenotype)]
            if len(b):
                ax.fill_between(b["week"], b["q25"], b["q75"], color="black", alpha=0.15)
                ax.plot(b["week"], b["q50"], color="black", linewidth=1.8, label="median")
        ax.set_title(f"phenotype {phenotype} (n={part['client'].nunique()})", fontsize=9)
        ax.set_xlabel("week")
        if log:
            ax.set_yscale("log")
    axes[0].set_ylabel(_label(measure))
    fig.suptitle(
        f"{_label(measure)}: clients, median and 25–75 % band by phenotype "
        "(phenotypes are hypothesis labels)",
        fontsize=9,
    )
    return fig


def km_figure(curves: Sequence[KaplanMeierCurve], title: str) -> Figure:
    """Kaplan–Meier curves of the share improved (1 − P(not yet improved)) with 95 % bands."""
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    for curve, colour in zip(curves, _COLOURS * 4, strict=False):
        t = np.asarray(curve.timeline)
        label = " / ".join(curve.group) + f" (n={curve.n}, events={curve.events})"
        ax.step(t, 1 - np.asarray(curve.not_improved), where="post", color=colour, label=label)
        ax.fill_between(
            t,
            1 - np.asarray(curve.ci_high),
            1 - np.asarray(curve.ci_low),
            step="post",
            color=colour,
            alpha=0.15,
        )
    ax.set_xlabel("week")
    ax.set_ylabel("share with sustained reliable improvement")
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    if curves:
        ax.legend(fontsize=7, loc="upper left")
    return fig


def _short_term(term: str) -> str:
    """``week:C(phenotype, Treatment('A'))[T.B]`` → ``week × phenotype B (vs A)``."""
    text = re.sub(
        r"C\(phenotype, Treatment\('([^']*)'\)\)\[T\.([^\]]*)\]", r"phenotype \2 (vs \1)", term
    )
    text = re.sub(r"C\(phase\)\[T\.([^\]]*)\]", r"phase \1", text)
    return text.replace(":", " × ")


def forest_figure(fits: Sequence[MixedModelFit], *, slopes_only: bool = True) -> Figure:
    """Forest plot of the mixed-model effects with 95 % CIs, one panel (own scale) per measure.

    With ``slopes_only`` (default) only the terms involving ``week`` are drawn (the change per
    week and how it differs by phenotype), which are the effects the questions are about; the
    intercept, level and phase terms are in the table. Terms from models that did not converge
    are drawn hollow and marked "(not converged)".
    """
    tables = [f.table for f in fits if len(f.table)]
    rows = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(rows):
        keep = (rows["term"] != "Intercept") & rows["estimate"].notna()
        if slopes_only:
            keep &= rows["term"].astype(str).str.contains("week")
        rows = rows.loc[keep]
    measures = list(dict.fromkeys(rows["measure"])) if len(rows) else []
    heights = [max(1, int((rows["measure"] == m).sum())) for m in measures] or [1]
    fig = Figure(
        figsize=(7.5, 0.9 + 0.32 * sum(heights) + 0.45 * len(heights)), layout="constrained"
    )
    if not measures:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "no fitted effects", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = fig.subplots(len(measures), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, measure in zip(axes, measures, strict=True):
        part = rows.loc[rows["measure"] == measure]
        y = np.arange(len(part))[::-1]
        est = part["estimate"].to_numpy(dtype=float)
        low = part["ci_low"].to_numpy(dtype=float)
        high = part["ci_high"].to_numpy(dtype=float)
        converged = part["converged"].to_numpy(dtype=bool)
        ax.errorbar(
            est, y, xerr=np.vstack([est - low, high - est]), fmt="none", ecolor="#333333", capsize=2
        )
        ax.scatter(est[converged], y[converged], color="#1b9e77", zorder=3)
        ax.scatter(est[~converged], y[~converged], facecolors="none", edgecolors="#d95f02")
        ax.axvline(0, color="grey", linewidth=0.8)
        labels = [
            _short_term(str(t)) + ("" if c else " (not converged)")
            for t, c in zip(part["term"], converged, strict=True)
        ]
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_ylim(-0.7, len(part) - 0.3)
        scale = "ln units" if measure in measure_specs() and get_measure(measure).log_scale else ""
        ax.set_title(f"{_label(measure)}{' — ' + scale if scale else ''}", fontsize=8, loc="left")
        ax.tick_params(axis="x", labelsize=7)
    axes[-1].set_xlabel(
        "effect per week with 95 % CI (phenotypes are hypothesis labels)", fontsize=8
    )
    fig.suptitle("Mixed models: change per week and its differences by phenotype", fontsize=9)
    return fig


def variant_figure(comparison: VariantComparison) -> Figure:
    """Paired difference in held-out error vs the reference, with 95 % bootstrap CIs."""
    fig = Figure(figsize=(6.0, 3.5), layout="constrained")
    ax = fig.subplots()
    table = comparison.table.loc[comparison.table["variant"] != comparison.reference]
    if table.empty:
        ax.text(
            0.5,
            0.5,
            "no variant comparison yet:\n" + comparison.note,
            ha="center",
            va="center",
            wrap=True,
            fontsize=8,
        )
        ax.set_axis_off()
        return fig
    y = np.arange(len(table))[::-1]
    diff = table["diff_vs_reference"].to_numpy(dtype=float)
    low = table["diff_ci_low"].to_numpy(dtype=float)
    high = table["diff_ci_high"].to_numpy(dtype=float)
    ax.errorbar(
        diff,
        y,
        xerr=np.vstack([diff - low, high - diff]),
        fmt="o",
        color="#7570b3",
        capsize=3,
    )
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(y, list(table["variant"]))
    ax.set_xlabel(f"held-out error − {comparison.reference} (below 0: better than reference)")
    ax.set_title(f"Model variants vs {comparison.reference} ({comparison.n_clients} clients)")
    return fig
