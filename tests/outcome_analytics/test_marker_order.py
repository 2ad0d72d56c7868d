"""Time to sustained improvement with censoring, Kaplan–Meier, and the order markers move in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter

from hostcap.errors import ValidationError
from hostcap.outcome_analytics import (
    compare_orders,
    kaplan_meier,
    km_not_improved,
    marker_order,
    time_to_improvement,
)


def _series(client: str, measure: str, weeks: list[float], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"client": client, "measure": measure, "week": weeks, "value": values})


def _times(*frames: pd.DataFrame) -> dict[tuple[str, str], tuple[float, bool]]:
    table = time_to_improvement(pd.concat(frames, ignore_index=True))
    return {
        (str(c), str(m)): (float(t), bool(e))
        for c, m, t, e in zip(
            table["client"], table["measure"], table["time"], table["event"], strict=True
        )
    }


def test_sustained_improvement_is_the_event_and_non_improvers_are_censored_at_last_visit() -> None:
    weeks = [0.0, 4.0, 8.0, 12.0]
    result = _times(
        _series("sustained", "tryptase", weeks, [10.0, 7.0, 7.2, 7.1]),
        _series("relapse_then_last", "tryptase", weeks, [10.0, 7.0, 10.0, 7.0]),
        _series("transient", "tryptase", weeks, [10.0, 7.0, 10.0, 10.0]),
        _series("never", "tryptase", weeks, [10.0, 9.5, 9.8, 10.1]),
        _series("dropout", "tryptase", [0.0, 4.0], [10.0, 9.9]),
    )
    assert result[("sustained", "tryptase")] == (4.0, True)
    assert result[("relapse_then_last", "tryptase")] == (12.0, True)
    assert result[("transient", "tryptase")] == (12.0, False)
    assert result[("never", "tryptase")] == (12.0, False)
    assert result[("dropout", "tryptase")] == (4.0, False)


def test_improvement_before_week_zero_is_not_a_response_and_baseline_only_clients_leave() -> None:
    result = _times(
        # Baseline at week −4 (10), a pre-protocol dip at −1 is the baseline used (7.0).
        _series("pre", "tryptase", [-4.0, -1.0, 6.0], [10.0, 7.0, 7.1]),
        _series("baseline_only", "tryptase", [0.0], [10.0]),
    )
    assert result[("pre", "tryptase")] == (6.0, False)
    assert ("baseline_only", "tryptase") not in result


def test_vectorised_kaplan_meier_agrees_with_lifelines() -> None:
    rng = np.random.default_rng(5)
    time = rng.choice([2.0, 4.0, 6.0, 8.0, 12.0], size=80)
    event = rng.random(80) < 0.6
    t, s = km_not_improved(time, event)
    kmf = KaplanMeierFitter().fit(time, event)
    reference = kmf.survival_function_.iloc[:, 0]
    for ti, si in zip(t, s, strict=True):
        assert si == pytest.approx(float(reference.loc[ti]), abs=1e-12)


def test_kaplan_meier_median_and_censoring_counts_per_measure() -> None:
    times = pd.DataFrame(
        {
            "client": [f"c{i}" for i in range(6)] * 2,
            "measure": ["tryptase"] * 6 + ["hs_crp"] * 6,
            "time": [2.0, 4.0, 4.0, 4.0, 12.0, 12.0] + [12.0] * 6,
            "event": [True, True, True, True, False, False] + [False] * 6,
        }
    )
    table, curves = kaplan_meier(times)
    row = table.set_index("measure")
    # S drops to 5/6 at week 2 and 2/6 at week 4: the median is 4 weeks.
    assert row.loc["tryptase", "median_weeks"] == 4.0
    assert row.loc["tryptase", "events"] == 4
    assert row.loc["hs_crp", "events"] == 0
    assert np.isinf(row.loc["hs_crp", "median_weeks"])
    assert {c.group for c in curves} == {("tryptase",), ("hs_crp",)}


def test_kaplan_meier_by_phenotype_uses_the_clients_frame() -> None:
    times = pd.DataFrame(
        {"client": ["a1", "a2", "b1", "b2"], "measure": "tryptase", "time": 4.0, "event": True}
    )
    clients = pd.DataFrame({"client": ["a1", "a2", "b1", "b2"], "phenotype": list("AABB")})
    table, _ = kaplan_meier(times, by=("phenotype", "measure"), groups=clients)
    assert list(table["phenotype"]) == ["A", "B"]
    assert list(table["n"]) == [2, 2]
    with pytest.raises(ValidationError, match="phenotype"):
        kaplan_meier(times, by=("phenotype",))


def _ordered_cohort(n: int) -> pd.DataFrame:
    """Symptom load improves at week 2, tryptase at 6, hs-CRP never (in every client)."""
    frames = []
    weeks = [0.0, 2.0, 4.0, 6.0, 8.0]
    for i in range(n):
        c = f"c{i}"
        frames.append(_series(c, "symptom_load", weeks, [7.0, 3.0, 3.0, 3.0, 3.0]))
        frames.append(_series(c, "tryptase", weeks, [10.0, 10.0, 10.0, 7.0, 7.0]))
        frames.append(_series(c, "hs_crp", weeks, [3.0, 3.0, 3.0, 3.0, 3.0]))
    return pd.concat(frames, ignore_index=True)


def test_marker_order_ranks_the_earliest_improving_measure_first_with_certain_pairs() -> None:
    order = marker_order(time_to_improvement(_ordered_cohort(12)), n_bootstrap=50, seed=1)
    assert order.order == ["symptom_load", "tryptase", "hs_crp"]
    pairs = order.pairwise.set_index(["first", "second"])
    assert pairs.loc[("symptom_load", "tryptase"), "p_first_before_second"] == 1.0
    assert pairs.loc[("tryptase", "symptom_load"), "p_first_before_second"] == 0.0
    # hs-CRP never improved, but tryptase did at week 6 while hs-CRP was still followed.
    assert pairs.loc[("tryptase", "hs_crp"), "p_first_before_second"] == 1.0
    per_client = order.per_client.set_index(["client", "measure"])
    assert per_client.loc[("c0", "symptom_load"), "rank"] == 1.0
    assert np.isnan(per_client.loc[("c0", "hs_crp"), "rank"])


def test_marker_order_bootstrap_is_reproducible_and_intervals_cover_the_point_rank() -> None:
    times = time_to_improvement(_ordered_cohort(8))
    a = marker_order(times, n_bootstrap=40, seed=3)
    b = marker_order(times, n_bootstrap=40, seed=3)
    pd.testing.assert_frame_equal(a.cohort, b.cohort)
    assert (a.cohort["rank_ci_low"] <= a.cohort["rank"]).all()
    assert (a.cohort["rank"] <= a.cohort["rank_ci_high"]).all()
    with pytest.raises(ValidationError, match="n_bootstrap"):
        marker_order(times, n_bootstrap=5)


def test_predicted_orders_are_laid_beside_the_observed_one() -> None:
    observed = marker_order(time_to_improvement(_ordered_cohort(10)), n_bootstrap=30)
    comparison = compare_orders(
        observed,
        {
            "essay": ["symptom_load", "tryptase", "hs_crp"],
            "reversed": ["hs_crp", "tryptase", "symptom_load"],
            "partial": ["tryptase", "food_tolerance"],
            "nothing": [],
        },
    )
    agreement = comparison.agreement.set_index("variant")
    assert agreement.loc["essay", "kendall_tau"] == pytest.approx(1.0)
    assert agreement.loc["reversed", "kendall_tau"] == pytest.approx(-1.0)
    assert agreement.loc["essay", "mean_pairwise_agreement"] == pytest.approx(1.0)
    assert agreement.loc["reversed", "mean_pairwise_agreement"] == pytest.approx(0.0)
    table = comparison.table.set_index("measure")
    assert table.loc["symptom_load", "rank_essay"] == 1.0
    assert np.isnan(table.loc["food_tolerance", "observed_rank"])
    assert any("food_tolerance" in note for note in comparison.notes)
    assert "nothing: predicts no measure to improve" in comparison.notes
    assert np.isnan(agreement.loc["nothing", "kendall_tau"])
    assert table["rank_nothing"].isna().all()
    with pytest.raises(ValidationError, match=r"predicted\['bad'\]"):
        compare_orders(observed, {"bad": ["tryptase", "tryptase"]})


def test_a_client_without_one_measure_neither_counts_for_nor_against_it() -> None:
    frames = [_ordered_cohort(6)]
    # c_extra has symptom load only: followed for it, absent (not censored) for the others.
    frames.append(_series("c_extra", "symptom_load", [0.0, 2.0, 4.0], [7.0, 3.0, 3.0]))
    order = marker_order(time_to_improvement(pd.concat(frames)), n_bootstrap=30)
    cohort = order.cohort.set_index("measure")
    assert cohort.loc["symptom_load", "n"] == 7
    assert cohort.loc["tryptase", "n"] == 6
    assert order.order == ["symptom_load", "tryptase", "hs_crp"]
