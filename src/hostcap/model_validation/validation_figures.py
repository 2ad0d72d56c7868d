"""Figures of the literature validation: model value per variant against the published spread.

One figure per measure family (NAD⁺ after NR, SCFA/butyrate, tryptase level, tryptase kinetics,
CRP, antihistamines, ...): each published result is a black point with its range, each variant's
model value a coloured marker beside it. Results the model cannot express show the published
value alone. Figures are returned, not written (the services layer saves them).
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from hostcap.mechanistic_model import HYPOTHESIS_NOTE, VARIANTS
from hostcap.model_validation.literature_results import LiteratureResult, literature_results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["FAMILY_TITLES", "validation_figures"]

#: Panel titles of the measure families, in the order figures are drawn.
FAMILY_TITLES: dict[str, str] = {
    "nad_precursor": "NAD⁺ after nicotinamide riboside",
    "scfa_butyrate": "Gut SCFA / butyrate",
    "tryptase_level": "Serum tryptase level",
    "tryptase_kinetics": "Tryptase kinetics",
    "crp_level": "C-reactive protein level",
    "crp_kinetics": "C-reactive protein kinetics",
    "antihistamine_onset": "H1 antihistamine onset",
    "antihistamine_effect": "H1 antihistamine effect on symptoms",
    "mcas_intervention": "MCAS interventions",
}

_COLOURS = dict(zip(VARIANTS, ("tab:blue", "tab:orange", "tab:green", "tab:red"), strict=True))


def validation_figures(
    frame: pd.DataFrame,
    results: Sequence[LiteratureResult] | None = None,
) -> dict[str, Figure]:
    """One figure per measure family that has at least one published value.

    Parameters
    ----------
    frame
        The output of :func:`validate_literature`.
    results
        The results it evaluated (default: the packaged ones).

    Returns
    -------
    dict
        ``family -> matplotlib Figure``.
    """
    from matplotlib.figure import Figure

    by_id = {r.id: r for r in (literature_results() if results is None else results)}
    figures: dict[str, Figure] = {}
    families = list(FAMILY_TITLES) + sorted({r.family for r in by_id.values()} - set(FAMILY_TITLES))
    variants = [v for v in VARIANTS if v in set(frame["variant"])]
    for family in families:
        chosen = [
            r
            for rid in dict.fromkeys(frame["result_id"])
            if (r := by_id.get(rid)) is not None and r.family == family and r.published is not None
        ]
        if not chosen:
            continue
        units = list(dict.fromkeys(r.unit for r in chosen))
        groups = [[r for r in chosen if r.unit == unit] for unit in units]
        fig = Figure(figsize=(max(6.0, 1.3 * len(chosen) + 2.5 * len(units)), 4.6))
        axes = fig.subplots(
            1, len(units), squeeze=False, gridspec_kw={"width_ratios": [len(g) for g in groups]}
        )[0]
        for ax, unit, group in zip(axes, units, groups, strict=True):
            _draw_panel(ax, group, frame, variants)
            ax.set_ylabel(unit)
        handles, labels = axes[0].get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        axes[0].legend(unique.values(), unique.keys(), fontsize=7, loc="best")
        # The hypothesis note wrapped to the figure's width (about 14 characters per inch at
        # this size), so no part of it is cut off at the edges.
        note = textwrap.fill(HYPOTHESIS_NOTE, width=int(14 * fig.get_figwidth()))
        fig.suptitle(
            f"{FAMILY_TITLES.get(family, family)}: model vs published (hypothesis testing)\n{note}",
            fontsize=8,
        )
        fig.tight_layout()
        figures[family] = fig
    return figures


def _draw_panel(
    ax: Any, chosen: Sequence[LiteratureResult], frame: pd.DataFrame, variants: Sequence[str]
) -> None:
    """Published point and range per result, each variant's model value beside it."""
    for x, result in enumerate(chosen):
        lo = result.published_low if result.published_low is not None else result.published
        hi = result.published_high if result.published_high is not None else result.published
        assert result.published is not None and lo is not None and hi is not None
        ax.errorbar(
            [x],
            [result.published],
            yerr=[[result.published - lo], [hi - result.published]],
            fmt="o",
            color="black",
            capsize=4,
            label="published (range)",
        )
        rows = frame[frame["result_id"] == result.id]
        for k, variant in enumerate(variants):
            value = rows.loc[rows["variant"] == variant, "model"]
            if value.empty or not math.isfinite(float(value.iloc[0])):
                continue
            ax.plot(
                [x + 0.12 * (k + 1)],
                [float(value.iloc[0])],
                marker="s",
                linestyle="none",
                color=_COLOURS.get(variant, "grey"),
                label=variant,  # repeated labels are merged in the legend
            )
        if not result.expressible:
            ax.annotate(
                result.status.value.replace("_", " "),
                (x, result.published),
                textcoords="offset points",
                xytext=(6, -12),
                fontsize=7,
                color="grey",
            )
    ax.set_xticks(range(len(chosen)))
    ax.set_xticklabels(_tick_labels(chosen), fontsize=7, rotation=20)
    ax.set_xlim(-0.5, len(chosen) - 0.2)
    ax.grid(alpha=0.3)


def _tick_labels(chosen: Sequence[LiteratureResult]) -> list[str]:
    """Source and split per result; where one source gives several results in a panel, what
    each one is (its id without the source's prefix, e.g. ``cetirizine onset``)."""
    counts = Counter(r.source for r in chosen)
    labels = []
    for r in chosen:
        what = ""
        if counts[r.source] > 1:
            words = r.id.split("_")
            what = " ".join(words[1:] if len(words) > 1 else words) + "\n"
        labels.append(f"{r.source}\n{what}({r.split.value})")
    return labels
