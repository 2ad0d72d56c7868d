"""Phenotype discovery: Gaussian mixtures recover separated groups; agreement with rule labels."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.outcome_analytics.cohort_factory import make_cohort

from hostcap.errors import ValidationError
from hostcap.outcome_analytics import default_features, discover_phenotypes


def test_well_separated_clusters_are_recovered_and_the_confusion_table_is_right() -> None:
    clients = make_cohort(90, seed=2, separation=6.0, measures=()).clients
    result = discover_phenotypes(clients, max_k=4, n_bootstrap=10, seed=0)
    assert result.features == ("gsrs", "fss", "compass")
    assert result.chosen_k == 3
    assert min(result.bic, key=lambda k: result.bic[k]) == 3
    assert result.agreement_ari > 0.9
    assert result.stability_ari_mean > 0.9
    # Each rule label maps onto one cluster with all 30 of its clients.
    confusion = result.confusion
    assert sorted(confusion.sum(axis=1).tolist()) == [30, 30, 30]
    assert sorted(confusion.max(axis=1).tolist()) == [30, 30, 30]
    assert len({int(np.argmax(row)) for row in confusion.to_numpy()}) == 3


def test_features_without_structure_choose_one_cluster_and_report_no_stability() -> None:
    clients = make_cohort(60, seed=3, separation=0.0, measures=()).clients
    result = discover_phenotypes(clients, max_k=3, n_bootstrap=5)
    assert result.chosen_k == 1
    assert np.isnan(result.stability_ari_mean)
    assert result.agreement_ari == pytest.approx(0.0)


def test_summary_is_json_ready_and_says_the_labels_are_hypotheses() -> None:
    clients = make_cohort(30, seed=4, separation=6.0, measures=()).clients
    summary = discover_phenotypes(clients, max_k=3, n_bootstrap=3).to_dict()
    text = json.dumps(summary, allow_nan=False)
    assert "hypothesis" in summary["hypothesis_note"]
    assert set(summary["agreement_with_rule_labels"]["confusion"]) == {"A", "B", "C"}
    assert json.loads(text)["chosen_k"] == summary["chosen_k"]


def test_insufficient_data_clients_are_clustered_but_left_out_of_the_agreement() -> None:
    clients = make_cohort(45, seed=5, separation=6.0, measures=()).clients
    clients.loc[clients.index[:5], "phenotype"] = "insufficient_data"
    result = discover_phenotypes(clients, max_k=4, n_bootstrap=0)
    assert result.n_clients == 45
    assert "insufficient_data" in result.confusion.index
    assert result.agreement_ari > 0.9


def test_clients_missing_a_feature_are_excluded_and_counted() -> None:
    clients = make_cohort(20, seed=6, separation=6.0, measures=()).clients
    clients.loc[clients.index[0], "fss"] = np.nan
    result = discover_phenotypes(clients, max_k=2, n_bootstrap=0)
    assert (result.n_clients, result.n_excluded) == (19, 1)


def test_feature_errors_name_the_column_and_what_was_expected() -> None:
    clients = make_cohort(10, seed=1, measures=()).clients
    assert default_features(clients) == ["gsrs", "fss", "compass"]
    with pytest.raises(ValidationError, match=r"ferritin.*a column of clients"):
        discover_phenotypes(clients, features=["ferritin"])
    with pytest.raises(ValidationError, match=r"clients\.sex.*numeric"):
        discover_phenotypes(clients, features=["sex"])
    with pytest.raises(ValidationError, match="at least one numeric baseline feature"):
        discover_phenotypes(pd.DataFrame({"client": ["a"], "phenotype": ["A"], "protocol": ["p"]}))


def test_a_constant_feature_is_dropped_and_the_drop_is_reported() -> None:
    clients = make_cohort(30, seed=7, separation=6.0, measures=()).clients.assign(flat=2.0)
    result = discover_phenotypes(clients, n_bootstrap=0)
    assert "flat" not in result.features
    assert any("flat" in w for w in result.warnings)
    with pytest.raises(ValidationError, match="varies between clients"):
        discover_phenotypes(clients, features=["flat"])
