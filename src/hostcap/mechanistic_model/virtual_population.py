"""Virtual populations: phenotype-conditioned parameter draws, acceptance, streamed quantile bands.

A virtual client is a parameter set. Each varied parameter is log-normal with its median at the
phenotype preset value and a log-scale spread set by its documented plausible range
(``σ = spread · ln(hi/lo) / (2 · 1.96)``, so ``spread = 1`` puts 95 % of an untruncated draw across
the range), truncated to the range; optional correlations enter through a Gaussian copula
(Cholesky factor of the correlation matrix of the log-parameters). Parameters whose range or
preset value includes 0 are held at the preset value. A candidate joins the cohort when its
pre-treatment steady state satisfies the acceptance rules (e.g. baseline tryptase and symptom
load in a realistic range). Everything is reproducible by seed, with or without Dask: candidates
are drawn in a fixed sequence on the caller's side and simulated in fixed chunks.

The cohort is then simulated under a protocol; quantile bands across members are accumulated
chunk by chunk (exact while the values of up to ``exact_limit`` members are held, then a
histogram per time and name with a guaranteed error bound,
:mod:`~hostcap.mechanistic_model.streamed_quantiles`). :func:`stream_cohort` and
:func:`simulate_stream` do all of it lazily, chunk by chunk (draw, screen, simulate, bin, hand
each chunk to the caller), so memory does not grow with N; :func:`generate_population` and
:func:`simulate_population` are the same with the cohort and the members' results in memory.
This module gathers the pipeline's public names; the parts live in
:mod:`~hostcap.mechanistic_model.cohort_drawing` (draws, acceptance, cohort streams),
:mod:`~hostcap.mechanistic_model.population_simulation` (simulating a cohort, run and chunk
results) and :mod:`~hostcap.mechanistic_model.population_bands` (:class:`QuantileBands`).
THIS IS A HYPOTHESIS-BASED MODEL: a virtual cohort is not a prediction for real people.
"""

from __future__ import annotations

from hostcap.mechanistic_model.cohort_drawing import (
    AcceptanceRule,
    CohortChunk,
    CohortStream,
    VirtualPopulation,
    default_acceptance,
    generate_population,
    sample_parameters,
    stream_cohort,
)
from hostcap.mechanistic_model.population_bands import DEFAULT_QUANTILES, QuantileBands
from hostcap.mechanistic_model.population_simulation import (
    PopulationChunk,
    PopulationRun,
    StreamedPopulation,
    simulate_population,
    simulate_stream,
)

__all__ = [
    "DEFAULT_QUANTILES",
    "AcceptanceRule",
    "CohortChunk",
    "CohortStream",
    "PopulationChunk",
    "PopulationRun",
    "QuantileBands",
    "StreamedPopulation",
    "VirtualPopulation",
    "default_acceptance",
    "generate_population",
    "sample_parameters",
    "simulate_population",
    "simulate_stream",
    "stream_cohort",
]
