"""Discrimination designs: decisive sample sizes from closed-form divergences, a ranking that
separates the essay from the null model where their predictions differ, and candidates a
practitioner could run (no prescription drug)."""

from __future__ import annotations

import math

import pytest

from hostcap.catalog import get_intervention
from hostcap.errors import UnknownIdError, ValidationError
from hostcap.model_validation import (
    DECISIVE_LOG_BF,
    DEFAULT_MEASURES,
    DISCRIMINATION_COLUMNS,
    candidate_protocols,
    clients_for_decisive,
    discriminate_variants,
)


def test_decisive_clients_follow_the_kullback_leibler_divergence_of_the_outcomes() -> None:
    # Equal SDs: KL = d² / 2 per client, so n = ln 100 / (d² / 2).
    assert clients_for_decisive(0.0, 1.0, 0.5, 1.0) == math.ceil(DECISIVE_LOG_BF / 0.125)
    # Symmetric in the pair; the harder direction (the smaller divergence) decides.
    wide, narrow = (
        clients_for_decisive(0.0, 2.0, 1.0, 1.0),
        clients_for_decisive(1.0, 1.0, 0.0, 2.0),
    )
    assert wide == narrow
    kl_narrow_wide = math.log(2.0) + (1.0 + 1.0) / 8.0 - 0.5
    assert wide == math.ceil(DECISIVE_LOG_BF / kl_narrow_wide)
    assert clients_for_decisive(3.0, 0.7, 3.0, 0.7) is None


def test_the_packaged_candidates_give_ten_or_more_designs_without_a_prescription_drug() -> None:
    candidates = candidate_protocols()
    assert len(candidates) * len(DEFAULT_MEASURES) * 2 >= 10
    for c in candidates:
        assert c.weeks > 0 and c.rationale
        for phase in c.protocol.phases:
            for item in phase.interventions:
                assert not get_intervention(item.id).prescription, (c.protocol.id, item.id)


def test_the_essays_full_protocol_separates_essay_from_null_on_symptoms() -> None:
    (full,) = [c for c in candidate_protocols() if c.protocol.id == "full_essay_16w"]
    ranking = discriminate_variants(
        [full], ["symptom_load"], variants=["essay", "null"], members=30, n_clients=10, seed=2
    )
    assert list(ranking.columns[: len(DISCRIMINATION_COLUMNS)]) == list(DISCRIMINATION_COLUMNS)
    assert list(ranking["rank"]) == [1, 2]
    assert sorted(ranking["read_week"]) == [8.0, 16.0]
    assert ranking["expected_posterior_true"].is_monotonic_decreasing
    end = ranking[ranking["read_week"] == 16.0].iloc[0]
    # The essay's chain lowers symptoms over 16 weeks far more than regression to the mean.
    assert end["mean_essay"] < end["mean_null"] - 1.0
    assert 0.8 < end["expected_posterior_true"] <= 1.0
    assert 1 <= end["clients_essay_vs_null"] <= 30


def test_variants_whose_predictions_coincide_are_reported_not_separable() -> None:
    # Fructans yield no butyrate (calibrated to Birkeland 2020), and the essay and the corrected
    # biochemistry differ only in slow epigenetic writing: over 6 weeks they coincide.
    (fructans,) = [c for c in candidate_protocols() if c.protocol.id == "prebiotic_fructans_6w"]
    ranking = discriminate_variants(
        [fructans],
        ["tryptase_serum"],
        variants=["essay", "biochemical"],
        members=30,
        n_clients=10,
        seed=3,
    )
    assert ranking["clients_all_pairs"].isna().all(), ranking.to_string()
    assert (ranking["expected_posterior_true"] < 0.75).all()


def test_unknown_measures_and_a_single_variant_are_refused() -> None:
    with pytest.raises(UnknownIdError, match="no_such_measure"):
        discriminate_variants(candidate_protocols()[:1], ["no_such_measure"], members=5)
    with pytest.raises(ValidationError, match="two or more variants"):
        discriminate_variants(candidate_protocols()[:1], variants=["essay"], members=5)
