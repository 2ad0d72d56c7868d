"""A small, honest test-cohort generator with KNOWN effects and KNOWN noise.

Not the synthetic cohort generator of issue 6 (``hostcap.synthetic``, built later): a transparent
fixture that draws every measure from a stated model, so that tests can check the analytics
against the truth.

Model per client ``i`` (phenotype ``p``), at week ``t`` (effects act from week 0 on):

* tryptase: ``ln y = μᵢ + (β_p·s + bᵢ)·max(t, 0) + ε``, ``μᵢ ~ N(ln 5, 0.3)`` (between-subject
  CV ≈ 31 %), ``bᵢ ~ N(0, slope_sd)``, ``ε ~ N(0, σ)`` with ``σ`` the log-SD of the catalog's
  total CV (so the reliable-change rule is exactly calibrated to the noise);
* hs-CRP: the same on ``ln(2 mg/L)`` with between-subject SD 0.8 and the hs-CRP CV;
* symptom_load: ``6 + uᵢ + γ_p·s·max(t, 0) + e``, ``e ~ N(0, SD·√(1 − r))`` (the RCI's noise);
* antihistamine_ddd: 2.0 DDD/day, reduced by 1.0 from week 8 in a share ``0.6·s`` of clients;
* food_tolerance: 0.4, rising by ``0.05·s`` per 2 weeks (capped at 1), no noise;
* baseline features (for discovery): ``gsrs``, ``fss``, ``compass`` centred on phenotype means
  ``separation`` SDs apart.

``s`` is ``effect_scale``; ``effect_scale=0`` gives a cohort in which nothing changes but noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hostcap.outcome_analytics import get_measure

#: True per-week slope on ln(tryptase) by phenotype, before ``effect_scale``.
TRYPTASE_SLOPES: Mapping[str, float] = {"A": -0.030, "B": -0.010, "C": 0.0}
CRP_SLOPES: Mapping[str, float] = {"A": -0.04, "B": -0.08, "C": -0.02}
SYMPTOM_SLOPES: Mapping[str, float] = {"A": -0.25, "B": -0.15, "C": -0.05}
FEATURE_MEANS: Mapping[str, tuple[float, float, float]] = {
    "A": (1.0, 0.0, 0.0),
    "B": (0.0, 1.0, 0.0),
    "C": (0.0, 0.0, 1.0),
}


@dataclass(frozen=True)
class Cohort:
    measurements: pd.DataFrame
    clients: pd.DataFrame
    truth: dict[str, float] = field(default_factory=dict)


def make_cohort(
    n_clients: int,
    *,
    seed: int,
    effect_scale: float = 1.0,
    weeks: Sequence[float] = (0, 2, 4, 6, 8, 10, 12),
    phenotypes: Sequence[str] = ("A", "B", "C"),
    slope_sd: float = 0.005,
    separation: float = 0.0,
    measures: Sequence[str] = (
        "tryptase",
        "hs_crp",
        "symptom_load",
        "antihistamine_ddd",
        "food_tolerance",
    ),
) -> Cohort:
    """Draw a cohort from the model in the module docstring."""
    rng = np.random.default_rng(seed)
    t_sigma = get_measure("tryptase").log_sigma
    c_sigma = get_measure("hs_crp").log_sigma
    sl = get_measure("symptom_load")
    assert sl.sd is not None and sl.reliability is not None
    s_noise = sl.sd * math.sqrt(1 - sl.reliability)
    rows: list[tuple[str, str, float, float]] = []
    people = []
    w = np.asarray(weeks, dtype=float)
    active = np.maximum(w, 0.0)
    for i in range(n_clients):
        client = f"C{i:04d}"
        phen = phenotypes[i % len(phenotypes)]
        mu_t = math.log(5.0) + rng.normal(0, 0.3)
        b_t = TRYPTASE_SLOPES[phen] * effect_scale + rng.normal(0, slope_sd)
        mu_c = math.log(2.0) + rng.normal(0, 0.8)
        b_c = CRP_SLOPES[phen] * effect_scale + rng.normal(0, slope_sd)
        u_s = rng.normal(0, 1.0)
        series = {
            "tryptase": np.exp(mu_t + b_t * active + rng.normal(0, t_sigma, w.size)),
            "hs_crp": np.exp(mu_c + b_c * active + rng.normal(0, c_sigma, w.size)),
            "symptom_load": 6.0
            + u_s
            + SYMPTOM_SLOPES[phen] * effect_scale * active
            + rng.normal(0, s_noise, w.size),
            "antihistamine_ddd": np.where((w >= 8) & (rng.random() < 0.6 * effect_scale), 1.0, 2.0),
            "food_tolerance": np.minimum(1.0, 0.4 + 0.05 * effect_scale * active / 2),
        }
        for measure in measures:
            rows += [
                (client, measure, float(t), float(v))
                for t, v in zip(w, series[measure], strict=True)
            ]
        centre = FEATURE_MEANS.get(phen, (0.0, 0.0, 0.0))
        feats = np.asarray(centre) * separation + rng.normal(0, 1.0, 3)
        people.append(
            {
                "client": client,
                "phenotype": phen,
                "protocol": "essay_8_16",
                "sex": "female" if i % 2 else "male",
                "age_years": float(30 + i % 40),
                "gsrs": feats[0],
                "fss": feats[1],
                "compass": feats[2],
            }
        )
    measurements = pd.DataFrame(rows, columns=["client", "measure", "week", "value"])
    truth = {
        "tryptase_week_A": TRYPTASE_SLOPES["A"] * effect_scale,
        "tryptase_week_B_minus_A": (TRYPTASE_SLOPES["B"] - TRYPTASE_SLOPES["A"]) * effect_scale,
        "tryptase_week_C_minus_A": (TRYPTASE_SLOPES["C"] - TRYPTASE_SLOPES["A"]) * effect_scale,
        "tryptase_intercept": math.log(5.0),
    }
    return Cohort(measurements, pd.DataFrame(people), truth)
