"""The cohort article pack: Table 1, outcomes, methods, the STROBE/TREND checklist, the article.

Pure rendering: a :class:`~hostcap.reports.cohort_summary.CohortAnalysis` (the analysis of
``hostcap analyze cohort``) and :class:`PackProvenance` in; frames, Markdown, HTML text out.
Marker-order, mixed-model and variant tables are those of :mod:`hostcap.reports.cohort_files`
(the same rows ``hostcap analyze cohort`` writes). Clients appear only as counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hostcap.citations import format_references
from hostcap.outcome_analytics import get_measure
from hostcap.reports.case_report import unit_words
from hostcap.reports.cohort_files import marker_order_table, mixed_models_table, variant_table
from hostcap.reports.cohort_summary import CohortAnalysis
from hostcap.reports.document_rendering import format_number, render_template

__all__ = [
    "CHECKLIST_ITEMS",
    "PackProvenance",
    "article_figure_alt",
    "article_html",
    "methods_markdown",
    "outcomes_table",
    "reporting_checklist",
    "table1",
]

OVERALL = "overall"
#: The reporting checklist of the pack: STROBE (cohort) items, with the TREND item numbers
#: that ask the same, and where the pack answers each.
CHECKLIST_ITEMS: tuple[tuple[str, str, str, str], ...] = (
    ("1", "1", "Title and abstract", "article.html#title"),
    ("2", "2", "Background / rationale", "article.html#introduction"),
    ("3", "2", "Objectives", "article.html#introduction"),
    ("4", "3", "Study design", "methods.md#design"),
    ("5", "3", "Setting", "author to complete (practice, period: dates are not in the pack)"),
    ("6", "3", "Participants (eligibility, follow-up)", "methods.md#participants"),
    (
        "7",
        "5",
        "Variables (outcomes, exposures, confounders)",
        "methods.md#outcomes-and-thresholds",
    ),
    ("8", "6", "Data sources / measurement", "methods.md#outcomes-and-thresholds"),
    ("9", "9", "Bias", "article.html#discussion"),
    ("10", "7", "Study size", "methods.md#participants"),
    ("11", "10", "Quantitative variables", "methods.md#statistical-methods"),
    ("12", "10", "Statistical methods", "methods.md#statistical-methods"),
    ("13", "13", "Participants (numbers at each stage)", "table1.csv; article.html#participants"),
    ("14", "15", "Descriptive data", "table1.csv"),
    ("15", "16", "Outcome data", "outcomes.csv"),
    ("16", "17", "Main results (estimates with CIs)", "outcomes.csv; mixed_models.csv"),
    ("17", "18", "Other analyses", "marker_order.csv; variant_comparison.csv"),
    ("18", "20", "Key results", "article.html#results"),
    ("19", "20", "Limitations", "article.html#discussion"),
    ("20", "20", "Interpretation", "article.html#discussion"),
    ("21", "21", "Generalisability", "article.html#discussion"),
    ("22", "–", "Funding", "author to complete"),
)


@dataclass(frozen=True)
class PackProvenance:
    """What produced the pack, for ``methods.md`` and the article's methods section."""

    versions: Mapping[str, str]
    rulebook_version: str
    rulebook_sha256: str
    model_version: str
    seed: int
    n_bootstrap: int
    max_fit_clients: int
    n_in_store: int
    n_left_out_consent: int
    n_demo: int
    source: str
    analysis_folder: str | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def _median_iqr(values: pd.Series) -> str:
    v = values.dropna().astype(float)
    if v.empty:
        return "–"
    q1, q2, q3 = (float(x) for x in v.quantile([0.25, 0.5, 0.75]))
    return f"{format_number(q2)} [{format_number(q1)}–{format_number(q3)}]"


def _groups(clients: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    groups = [(OVERALL, clients)]
    for label, part in clients.groupby("phenotype", sort=True):
        groups.append((f"phenotype {label}", part))
    return groups


def table1(results: CohortAnalysis) -> pd.DataFrame:
    """Baseline characteristics overall and by phenotype label (hypothesis labels).

    One row per characteristic and group: ``n`` (clients with a value), ``missing`` (clients
    without) and ``value`` (count and % for categories, median [IQR] for numbers). Baseline
    values are the responder table's baselines (the same rule as the reliable-change analysis).
    """
    clients = results.frames.clients
    base = results.responders.pivot_table(
        index="client", columns="measure", values="baseline", aggfunc="first"
    )
    rows: list[dict[str, Any]] = []
    for group, part in _groups(clients):
        total = len(part)
        rows.append(
            {
                "characteristic": "clients",
                "group": group,
                "n": total,
                "missing": 0,
                "value": str(total),
            }
        )
        for sex in sorted(clients["sex"].dropna().unique()):
            k = int((part["sex"] == sex).sum())
            known = int(part["sex"].notna().sum())
            rows.append(
                {
                    "characteristic": f"sex: {sex}, n (%)",
                    "group": group,
                    "n": known,
                    "missing": total - known,
                    "value": f"{k} ({100.0 * k / known:.0f} %)" if known else "–",
                }
            )
        # Safe Harbor: ages over 89 are aggregated into one category, so they count as 90.
        ages = part["age_years"].clip(upper=90.0)
        rows.append(
            {
                "characteristic": "age at protocol start, years (≥ 90 as 90), median [IQR]",
                "group": group,
                "n": int(ages.notna().sum()),
                "missing": int(ages.isna().sum()),
                "value": _median_iqr(ages),
            }
        )
        for measure in sorted(base.columns):
            spec = get_measure(str(measure))
            values = base.reindex(part["client"])[measure]
            rows.append(
                {
                    "characteristic": f"baseline {spec.label}"
                    + (f" ({spec.unit})" if spec.unit else "")
                    + ", median [IQR]",
                    "group": group,
                    "n": int(values.notna().sum()),
                    "missing": int(values.isna().sum()),
                    "value": _median_iqr(values),
                }
            )
    return pd.DataFrame(rows, columns=["characteristic", "group", "n", "missing", "value"])


def outcomes_table(results: CohortAnalysis) -> pd.DataFrame:
    """Per measure: change from baseline, reliable change, responders, mixed-model week effect.

    Counts come from the responder table; the week effect is the mixed model's ``week`` term
    (reference phenotype; log scale for log-scale measures) with its 95 % CI.
    """
    resp = results.responders
    mixed = mixed_models_table(results)
    rows = []
    for measure, part in resp.groupby("measure", sort=True):
        spec = get_measure(str(measure))
        verdicts = part["reliable_change"].astype(str)
        assessable = part.loc[verdicts != "not assessable"]
        week = mixed.loc[(mixed["measure"] == measure) & (mixed["term"] == "week")]
        w = week.iloc[0] if len(week) else None
        rows.append(
            {
                "measure": str(measure),
                "label": spec.label,
                "unit": spec.unit,
                "n": len(part),
                "assessable": len(assessable),
                "median_change": float(assessable["change"].median())
                if len(assessable)
                else math.nan,
                "change_q1": float(assessable["change"].quantile(0.25))
                if len(assessable)
                else math.nan,
                "change_q3": float(assessable["change"].quantile(0.75))
                if len(assessable)
                else math.nan,
                "improved": int((verdicts == "improved").sum()),
                "no_reliable_change": int((verdicts == "no reliable change").sum()),
                "worsened": int((verdicts == "worsened").sum()),
                "not_assessable": int((verdicts == "not assessable").sum()),
                "responders": int(part["responder"].astype(bool).sum()),
                "rule": spec.rule,
                "threshold": float(spec.threshold()),
                "week_effect": float(w["estimate"]) if w is not None else math.nan,
                "week_ci_low": float(w["ci_low"]) if w is not None else math.nan,
                "week_ci_high": float(w["ci_high"]) if w is not None else math.nan,
                "week_effect_scale": (
                    "ln(value) per week" if spec.log_scale else f"{unit_words(spec.unit)} per week"
                )
                if w is not None
                else "",
            }
        )
    return pd.DataFrame(rows)


def reporting_checklist() -> pd.DataFrame:
    """``reporting-checklist.csv``: STROBE item, TREND item, topic, where it is answered."""
    return pd.DataFrame(
        [
            {"strobe_item": s, "trend_item": t, "topic": topic, "where": where}
            for s, t, topic, where in CHECKLIST_ITEMS
        ]
    )


def _thresholds(results: CohortAnalysis) -> list[dict[str, str]]:
    rows = []
    for measure in sorted(results.responders["measure"].astype(str).unique()):
        spec = get_measure(measure)
        rows.append(
            {
                "measure": measure,
                "rule": spec.rule,
                "threshold": format_number(spec.threshold(), 4),
                "scale": "ln ratio" if spec.rule == "rcv" else (spec.unit or "score"),
                "sources": ", ".join(spec.citations) or "–",
            }
        )
    return rows


def _reference_keys(results: CohortAnalysis) -> list[str]:
    keys = ["vonelm2007_strobe", "desjarlais2004_trend"]
    for measure in sorted(results.responders["measure"].astype(str).unique()):
        keys += [k for k in get_measure(measure).citations if k != "assumed"]
    return list(dict.fromkeys(keys))


def methods_markdown(results: CohortAnalysis, provenance: PackProvenance) -> str:
    """``methods.md``: what actually ran, with versions, seeds, n and thresholds."""
    p = provenance
    c = results.frames.clients
    lines = [
        "# Methods (generated from what ran)",
        "",
        '<a id="design"></a>',
        "## Design",
        "",
        "Single-arm, pre/post observational cohort of clients followed under sequenced "
        "protocols, analysed from a hostcap clinical store. No control group. Phenotype labels "
        "A, B and C are rule-based HYPOTHESIS labels, not established subtypes.",
        "",
        '<a id="participants"></a>',
        "## Participants",
        "",
        f"- Clients in the store: {p.n_in_store}.",
        f"- Left out for lack of a standing cohort-research consent (real clients only): "
        f"{p.n_left_out_consent}.",
        f"- Enrolled and analysed: {len(c)}; synthetic or demo clients among them: {p.n_demo}.",
    ]
    lines += [f"- {note}" for note in (*results.frames.notes, *p.notes)]
    lines += [
        "",
        '<a id="outcomes-and-thresholds"></a>',
        "## Outcomes and reliable-change thresholds",
        "",
        "Change = last value − baseline (baseline: the last value at week ≤ 0, else the first). "
        "A change is reliable when it exceeds the measure's threshold (z = 1.96).",
        "",
        "| measure | rule | threshold | scale | sources |",
        "|---|---|---|---|---|",
    ]
    for t in _thresholds(results):
        lines.append(
            f"| {t['measure']} | {t['rule']} | {t['threshold']} | {t['scale']} | {t['sources']} |"
        )
    lines += [
        "",
        '<a id="statistical-methods"></a>',
        "## Statistical methods",
        "",
        "- Responders: reliable improvement per measure; composite: ≥ 2 core measures improved "
        "and none worsened.",
        f"- Marker order: time to sustained reliable improvement, Kaplan–Meier medians and "
        f"restricted mean times; ranks with bootstrap intervals ({p.n_bootstrap} resamples of "
        "clients).",
        "- Mixed models: per measure, linear mixed model of value (ln value for log-scale "
        "measures) on week, phenotype label and their interaction, random intercept and slope "
        "per client (statsmodels MixedLM).",
        f"- Model variants: every variant of the mechanistic model fitted per client (at most "
        f"{p.max_fit_clients} clients drawn with the seed), ranked by held-out last-visit error. "
        f"{results.variant_note}",
        "",
        "## Provenance",
        "",
        f"- hostcap {p.versions.get('hostcap', '?')}; rulebook {p.rulebook_version} "
        f"(sha256 `{p.rulebook_sha256}`); mechanistic model version {p.model_version}.",
        f"- Seed {p.seed} for every resampling and fit; bootstrap resamples {p.n_bootstrap}; "
        f"at most {p.max_fit_clients} clients fitted.",
        f"- Source: `{p.source}`"
        + (
            f"; the full analysis files are in `{p.analysis_folder}`." if p.analysis_folder else "."
        ),
        "- Software: "
        + ", ".join(f"{k} {v}" for k, v in sorted(p.versions.items()) if k != "hostcap")
        + ".",
        "",
        "## References",
        "",
    ]
    lines += format_references(_reference_keys(results))
    return "\n".join(lines) + "\n"


def _table1_wide(t1: pd.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    groups = list(dict.fromkeys(t1["group"]))
    rows = []
    for characteristic, part in t1.groupby("characteristic", sort=False):
        cells = {}
        for _, r in part.iterrows():
            cells[str(r["group"])] = {
                "value": r["value"],
                "n": int(r["n"]),
                "missing": int(r["missing"]),
            }
        rows.append({"characteristic": characteristic, "cells": cells})
    return groups, rows


def article_figure_alt(name: str, results: CohortAnalysis) -> str:
    """A text alternative of the article figure ``name`` from the table it draws."""
    if name == "km_measures":
        order = marker_order_table(results)
        order = order.loc[order["scope"] == "cohort"] if len(order) else order
        if order.empty:
            return "No client had a sustained reliable improvement."
        return (
            "Median weeks to sustained improvement: "
            + "; ".join(
                f"{m} {format_number(w)}"
                for m, w in zip(order["measure"], order["median_weeks"], strict=True)
            )
            + "."
        )
    if name == "forest_mixed_models":
        mixed = mixed_models_table(results)
        week = mixed.loc[mixed["term"] == "week"]
        return (
            "Week effect per measure (reference phenotype): "
            + "; ".join(
                f"{m} {format_number(e)} ({format_number(lo)} to {format_number(hi)})"
                for m, e, lo, hi in zip(
                    week["measure"], week["estimate"], week["ci_low"], week["ci_high"], strict=True
                )
            )
            + "."
        )
    table = variant_table(results)
    if table["variant"].isna().all():
        return "No variant comparison: " + results.variant_note
    return (
        "Mean held-out error per variant: "
        + "; ".join(
            f"{v} {format_number(e)}"
            for v, e in zip(table["variant"], table["mean_error"], strict=True)
        )
        + "."
    )


def article_html(
    results: CohortAnalysis,
    provenance: PackProvenance,
    figures: Sequence[Mapping[str, str]],
) -> str:
    """``article.html`` (and, with figures inlined, the PDF's page).

    ``figures``: dicts with ``src``, ``caption`` and ``alt`` (text alternative), in order.
    """
    c = results.frames.clients
    groups, t1 = _table1_wide(table1(results))
    outcomes = outcomes_table(results)
    order = marker_order_table(results)
    order = order.loc[order["scope"] == "cohort"] if len(order) else order
    variants = variant_table(results)
    comp = results.composite
    composite_counts = (
        {str(k): int(v) for k, v in comp["composite"].value_counts().sort_index().items()}
        if len(comp)
        else {}
    )
    return render_template(
        "cohort_article.html.j2",
        {
            "p": provenance,
            "n_clients": len(c),
            "synthetic": provenance.n_demo > 0,
            "groups": groups,
            "table1": t1,
            "outcomes": outcomes.to_dict("records"),
            "composite": composite_counts,
            "order": order.to_dict("records"),
            "variants": variants.to_dict("records"),
            "variant_note": results.variant_note,
            "figures": figures,
            "thresholds": _thresholds(results),
            "checklist": CHECKLIST_ITEMS,
            "references": [
                r.split("] ", 1)[1] if "] " in r else r
                for r in format_references(_reference_keys(results))
            ],
            "num": format_number,
        },
    )
