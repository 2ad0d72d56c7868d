"""Data-driven phenotype discovery, to test the hypothesis labels A/B/C against the data.

Baseline features are standardised (z-scores over the clients with every feature present);
Gaussian mixtures with k = 1 … ``max_k`` components are fitted (scikit-learn, full covariance,
several initialisations) and k is chosen by the lowest BIC (Schwarz 1978). Stability: the chosen
model is refitted on bootstrap resamples of clients, each refit labels every client, and the
adjusted Rand index (Hubert & Arabie 1985) between the refit's and the original labels is
averaged — near 1 means the clusters are reproducible, near 0 that they are noise. Agreement
with the rule-based labels: the adjusted Rand index and the confusion table, over clients whose
rule-based label is not ``insufficient_data``.

The rule-based labels are hypothesis labels (grade S,
``docs/evidence.md#hostcap_phenotype_hypothesis``); a high agreement says the
features that define them also cluster, not that the essay's mechanism is true.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from hostcap.errors import ValidationError
from hostcap.outcome_analytics.blas_threads import single_blas_thread
from hostcap.outcome_analytics.input_frames import validate_clients

__all__ = ["PhenotypeDiscovery", "default_features", "discover_phenotypes"]

#: ``clients`` columns never used as clustering features by default.
NON_FEATURES = frozenset({"client", "phenotype", "protocol", "sex", "age_years"})


@dataclass(frozen=True)
class PhenotypeDiscovery:
    """Result of :func:`discover_phenotypes`.

    Attributes
    ----------
    features
        Feature columns used.
    n_clients, n_excluded
        Clients clustered, and clients left out for a missing feature.
    bic
        BIC by k.
    chosen_k
        Number of components with the lowest BIC.
    labels
        ``client, cluster, phenotype`` (cluster numbered 0 … k−1 by size, largest first).
    stability_ari_mean, stability_ari_ci
        Mean and 2.5–97.5 % range of the bootstrap ARIs (NaN when k = 1).
    agreement_ari
        ARI between clusters and rule-based labels (NaN with fewer than two labelled clients).
    confusion
        Rule-based label (rows) × cluster (columns) counts.
    cluster_means
        Mean of each raw (unstandardised) feature per cluster.
    warnings
        Warnings raised by the fits (e.g. EM not converged), captured, not ignored.
    """

    features: tuple[str, ...]
    n_clients: int
    n_excluded: int
    bic: dict[int, float]
    chosen_k: int
    labels: pd.DataFrame
    stability_ari_mean: float
    stability_ari_ci: tuple[float, float]
    agreement_ari: float
    confusion: pd.DataFrame
    cluster_means: pd.DataFrame
    n_bootstrap: int
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (``phenotype_discovery.json``)."""

        def clean(x: float) -> float | None:
            return None if not math.isfinite(x) else float(x)

        return {
            "method": "Gaussian mixture on standardised baseline features; k by BIC",
            "hypothesis_note": "A/B/C are hypothesis labels (grade S); agreement measures "
            "whether their defining features cluster, not whether the mechanism is true.",
            "features": list(self.features),
            "n_clients": self.n_clients,
            "n_excluded_missing_features": self.n_excluded,
            "bic_by_k": {str(k): clean(v) for k, v in self.bic.items()},
            "chosen_k": self.chosen_k,
            "stability": {
                "n_bootstrap": self.n_bootstrap,
                "mean_adjusted_rand_index": clean(self.stability_ari_mean),
                "ari_2_5_97_5": [clean(self.stability_ari_ci[0]), clean(self.stability_ari_ci[1])],
            },
            "agreement_with_rule_labels": {
                "adjusted_rand_index": clean(self.agreement_ari),
                "confusion": {
                    str(label): {str(c): int(n) for c, n in row.items()}
                    for label, row in self.confusion.iterrows()
                },
            },
            "cluster_means": {
                str(c): {str(f): clean(float(v)) for f, v in row.items()}
                for c, row in self.cluster_means.iterrows()
            },
            "cluster_sizes": {
                str(k): int(v)
                for k, v in self.labels["cluster"].value_counts().sort_index().items()
            },
            "warnings": list(self.warnings),
        }


def default_features(clients: pd.DataFrame) -> list[str]:
    """Numeric (not boolean) columns of ``clients`` other than identifiers and demographics."""
    return [
        str(c)
        for c in clients.columns
        if c not in NON_FEATURES
        and pd.api.types.is_numeric_dtype(clients[c])
        and not pd.api.types.is_bool_dtype(clients[c])
    ]


def _fit(x: np.ndarray, k: int, seed: int, caught: list[str]) -> GaussianMixture:
    with warnings.catch_warnings(record=True) as got, single_blas_thread():
        warnings.simplefilter("always")
        gmm = GaussianMixture(
            n_components=k, covariance_type="full", n_init=3, random_state=seed, reg_covar=1e-4
        ).fit(x)
    caught.extend(f"{w.category.__name__}: {w.message}" for w in got)
    return gmm


def discover_phenotypes(
    clients: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    max_k: int = 5,
    n_bootstrap: int = 50,
    seed: int = 0,
) -> PhenotypeDiscovery:
    """Cluster clients on standardised baseline features and compare with the rule labels.

    Parameters
    ----------
    clients
        The clients frame with numeric baseline feature columns.
    features
        Columns to use (default :func:`default_features`).
    max_k
        Largest number of components tried (capped at the number of clients − 1).
    n_bootstrap
        Bootstrap refits for the stability index (0 to skip).
    seed
        Seed for the fits and the resampling.

    Raises
    ------
    ValidationError
        For an unknown or non-numeric feature, or fewer than 3 clients with every feature.
    """
    people = validate_clients(clients)
    chosen = list(features) if features is not None else default_features(people)
    if not chosen:
        raise ValidationError.single(
            "features", chosen, "at least one numeric baseline feature column in clients"
        )
    for f in chosen:
        if f not in people.columns:
            raise ValidationError.single(
                "features", f, f"a column of clients (have {sorted(map(str, people.columns))})"
            )
        if not pd.api.types.is_numeric_dtype(people[f]):
            raise ValidationError.single(
                f"clients.{f}", str(people[f].dtype), "a numeric feature column"
            )
    if max_k < 1:
        raise ValidationError.single("max_k", max_k, "an integer ≥ 1")
    complete = people.dropna(subset=chosen).reset_index(drop=True)
    if len(complete) < 3:
        raise ValidationError.single(
            "clients", len(complete), "at least 3 clients with every feature present"
        )
    caught: list[str] = []
    constant = [f for f in chosen if complete[f].nunique() < 2]
    if constant:
        # A feature with one value carries no information about clusters; say it was dropped.
        caught.append(f"constant feature(s) left out: {', '.join(constant)}")
        chosen = [f for f in chosen if f not in constant]
    if not chosen:
        raise ValidationError.single(
            "features", constant, "at least one feature that varies between clients"
        )
    raw = complete[chosen].to_numpy(dtype=float)
    x = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    bic: dict[int, float] = {}
    models: dict[int, GaussianMixture] = {}
    for k in range(1, min(max_k, len(complete) - 1) + 1):
        models[k] = _fit(x, k, seed, caught)
        bic[k] = float(models[k].bic(x))
    k_best = min(bic, key=lambda k: bic[k])
    raw_labels = models[k_best].predict(x)
    # Number clusters by size so that labels are comparable between runs.
    order = pd.Series(raw_labels).value_counts().index.tolist()
    relabel = {old: new for new, old in enumerate(order)}
    labels = np.array([relabel[v] for v in raw_labels])

    rng = np.random.default_rng(seed)
    aris: list[float] = []
    if k_best > 1:
        for b in range(n_bootstrap):
            idx = rng.integers(0, len(x), size=len(x))
            if len(np.unique(idx)) <= k_best:
                continue
            refit = _fit(x[idx], k_best, seed + b + 1, caught)
            aris.append(float(adjusted_rand_score(labels, refit.predict(x))))
    stab_mean = float(np.mean(aris)) if aris else math.nan
    stab_ci = (
        (float(np.percentile(aris, 2.5)), float(np.percentile(aris, 97.5)))
        if aris
        else (math.nan, math.nan)
    )
    table = pd.DataFrame(
        {"client": complete["client"], "cluster": labels, "phenotype": complete["phenotype"]}
    )
    labelled = table.loc[table["phenotype"] != "insufficient_data"]
    agreement = (
        float(adjusted_rand_score(labelled["phenotype"], labelled["cluster"]))
        if len(labelled) >= 2
        else math.nan
    )
    confusion = pd.crosstab(table["phenotype"], table["cluster"]).rename_axis(
        index="phenotype", columns="cluster"
    )
    means = complete[chosen].assign(cluster=labels).groupby("cluster").mean()
    return PhenotypeDiscovery(
        features=tuple(chosen),
        n_clients=len(complete),
        n_excluded=len(people) - len(complete),
        bic=bic,
        chosen_k=k_best,
        labels=table,
        stability_ari_mean=stab_mean,
        stability_ari_ci=stab_ci,
        agreement_ari=agreement,
        confusion=confusion,
        cluster_means=means,
        n_bootstrap=len(aris),
        warnings=tuple(dict.fromkeys(caught)),
    )
