"""Outcome timelines per phenotype and the figures built from the results."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tests.outcome_analytics.cohort_factory import make_cohort

from hostcap.outcome_analytics import (
    compare_variants,
    composite_response_times,
    fit_mixed_models,
    forest_figure,
    kaplan_meier,
    km_figure,
    outcome_timelines,
    spaghetti_figure,
    time_to_improvement,
    trajectory_bands,
    variant_figure,
)


def test_composite_response_carries_the_last_status_forward_and_must_be_sustained() -> None:
    rows = [
        # Tryptase improves at week 4 (kept), symptom load improves at week 6: response at 6.
        ("r", "tryptase", 0.0, 10.0),
        ("r", "tryptase", 4.0, 7.0),
        ("r", "symptom_load", 0.0, 7.0),
        ("r", "symptom_load", 6.0, 3.0),
        ("r", "symptom_load", 10.0, 3.0),
        # Both improve at week 4 but tryptase relapses at week 8: not sustained, censored at 8.
        ("x", "tryptase", 0.0, 10.0),
        ("x", "tryptase", 4.0, 7.0),
        ("x", "tryptase", 8.0, 10.0),
        ("x", "symptom_load", 0.0, 7.0),
        ("x", "symptom_load", 4.0, 3.0),
    ]
    data = pd.DataFrame(rows, columns=["client", "measure", "week", "value"])
    times = composite_response_times(data).set_index("client")
    assert (times.loc["r", "time"], times.loc["r", "event"]) == (6.0, True)
    assert (times.loc["x", "time"], times.loc["x", "event"]) == (8.0, False)


def test_timelines_give_a_median_per_phenotype_and_ordered_quantile_bands() -> None:
    cohort = make_cohort(30, seed=8)
    result = outcome_timelines(cohort.measurements, cohort.clients)
    assert list(result.medians["phenotype"]) == ["A", "B", "C"]
    assert (result.medians["n"] == 10).all()
    bands = result.bands
    assert {"phenotype", "measure", "week", "n", "q10", "q50", "q90"} <= set(bands.columns)
    assert (bands["q10"] <= bands["q50"]).all() and (bands["q50"] <= bands["q90"]).all()
    # Tryptase falls in phenotype A: the median at week 12 is below the one at week 0.
    a = bands.loc[(bands["phenotype"] == "A") & (bands["measure"] == "tryptase")].set_index("week")
    assert a.loc[12.0, "q50"] < a.loc[0.0, "q50"]


def test_trajectory_bands_bin_weeks() -> None:
    cohort = make_cohort(6, seed=1, weeks=(0, 1.2, 3.1), measures=("symptom_load",))
    bands = trajectory_bands(cohort.measurements, cohort.clients, bin_weeks=2.0)
    assert sorted(bands["week"].unique()) == [0.0, 2.0, 4.0]


def test_every_figure_is_a_figure_with_labelled_content() -> None:
    cohort = make_cohort(12, seed=9, weeks=(0, 4, 8, 12))
    bands = trajectory_bands(cohort.measurements, cohort.clients)
    spaghetti = spaghetti_figure(cohort.measurements, cohort.clients, "tryptase", bands)
    assert isinstance(spaghetti, Figure)
    assert "hypothesis labels" in spaghetti.get_suptitle()
    assert len(spaghetti.axes) == 3
    _, curves = kaplan_meier(time_to_improvement(cohort.measurements))
    km = km_figure(curves, "time to improvement")
    assert len(km.axes[0].get_lines()) == len(curves)
    fits = fit_mixed_models(cohort.measurements, cohort.clients, measures=["symptom_load"])
    forest = forest_figure(fits)
    labels = [t.get_text() for t in forest.axes[0].get_yticklabels()]
    assert labels == ["week", "week × phenotype B (vs A)", "week × phenotype C (vs A)"]
    every = forest_figure(fits, slopes_only=False)
    n_terms = int((fits[0].table["term"] != "Intercept").sum())
    assert len(every.axes[0].get_yticklabels()) == n_terms
    rng = np.random.default_rng(0)
    errors = pd.DataFrame(
        [(f"c{i}", v, rng.random()) for i in range(10) for v in ("null", "essay")],
        columns=["client", "variant", "held_out_error"],
    )
    assert isinstance(variant_figure(compare_variants(errors, n_bootstrap=100)), Figure)
    empty = variant_figure(compare_variants(errors.iloc[:0], n_bootstrap=100))
    assert "no variant comparison yet" in empty.axes[0].texts[0].get_text()
