"""Cohort ranking of model variants from per-client held-out errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hostcap.errors import ValidationError
from hostcap.outcome_analytics import VARIANT_COMPARISON_COLUMNS, compare_variants


def _errors(means: dict[str, float], n: int, seed: int, client_sd: float = 0.5) -> pd.DataFrame:
    """Paired errors: a shared per-client difficulty plus a variant effect and noise."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(1.0, client_sd, n)
    rows = [
        (f"c{i}", variant, float(abs(difficulty[i] + mean + rng.normal(0, 0.2))))
        for i in range(n)
        for variant, mean in means.items()
    ]
    return pd.DataFrame(rows, columns=["client", "variant", "held_out_error"])


def test_a_better_variant_ranks_above_null_only_when_the_paired_interval_excludes_zero() -> None:
    errors = _errors({"null": 1.0, "essay": 0.8}, n=60, seed=1)
    # A variant that predicts exactly as null does: difference 0, interval [0, 0].
    same = errors.loc[errors["variant"] == "null"].assign(variant="mast_only")
    result = compare_variants(pd.concat([errors, same]), n_bootstrap=500)
    assert tuple(result.table.columns) == VARIANT_COMPARISON_COLUMNS
    table = result.table.set_index("variant")
    assert result.ranks_above("essay")
    assert table.loc["essay", "diff_ci_high"] < 0
    assert table.loc["mast_only", "verdict"] == "not distinguishable from reference"
    assert table.loc["null", "verdict"] == "reference"
    assert result.table["variant"].iloc[0] == "essay"
    assert table.loc["essay", "p_best"] > 0.9


def test_when_null_is_the_truth_no_variant_is_claimed_better_with_confidence() -> None:
    claimed = 0
    for seed in range(10):
        result = compare_variants(
            _errors({"null": 0.8, "essay": 1.0}, n=40, seed=seed), n_bootstrap=300, seed=seed
        )
        claimed += result.ranks_above("essay")
        assert result.table.set_index("variant").loc["essay", "verdict"] != "ranks above reference"
    assert claimed == 0


def test_paired_difference_is_exactly_the_mean_of_per_client_differences() -> None:
    errors = pd.DataFrame(
        {
            "client": ["a", "a", "b", "b", "c", "c"],
            "variant": ["null", "essay"] * 3,
            "held_out_error": [1.0, 0.5, 2.0, 1.0, 3.0, 3.5],
        }
    )
    result = compare_variants(errors, n_bootstrap=200)
    row = result.table.set_index("variant").loc["essay"]
    assert row["diff_vs_reference"] == pytest.approx((-0.5 - 1.0 + 0.5) / 3)
    assert row["mean_error"] == pytest.approx(5.0 / 3)


def test_clients_lacking_a_variant_are_left_out_and_counted() -> None:
    errors = _errors({"null": 1.0, "essay": 0.9}, n=10, seed=2)
    errors = errors.loc[~((errors["client"] == "c0") & (errors["variant"] == "essay"))]
    result = compare_variants(errors, n_bootstrap=100)
    assert (result.n_clients, result.n_excluded) == (9, 1)
    assert "1 client(s)" in result.note


def test_errors_name_the_problem_value_and_expectation() -> None:
    good = _errors({"null": 1.0, "essay": 0.9}, n=4, seed=3)
    with pytest.raises(ValidationError, match="held_out_error"):
        compare_variants(good.drop(columns="held_out_error"))
    bad = good.copy()
    bad.loc[bad.index[0], "held_out_error"] = np.inf
    with pytest.raises(ValidationError, match=r"not finite.*expected a finite error"):
        compare_variants(bad, n_bootstrap=100)
    with pytest.raises(ValidationError, match=r"'essay_x'.*expected one of"):
        compare_variants(good, reference="essay_x", n_bootstrap=100)
    with pytest.raises(ValidationError, match="more than once"):
        compare_variants(pd.concat([good, good.iloc[:1]]), n_bootstrap=100)
    with pytest.raises(ValidationError, match="n_bootstrap"):
        compare_variants(good, n_bootstrap=10)
    empty = compare_variants(good.iloc[:0], n_bootstrap=100)
    assert empty.table.empty and "no per-client fits" in empty.note


def test_too_few_clients_give_means_but_no_interval_or_verdict() -> None:
    errors = _errors({"null": 1.0, "essay": 0.2}, n=3, seed=4)
    row = compare_variants(errors, n_bootstrap=100).table.set_index("variant").loc["essay"]
    assert row["mean_error"] < 1.5
    assert np.isnan(row["diff_ci_low"]) and np.isnan(row["diff_ci_high"])
    assert row["verdict"] == "too few clients to rank (< 5)"
