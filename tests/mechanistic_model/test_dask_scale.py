"""Dask scale-out: a LocalCluster with 2 worker processes gives the same numbers as in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from dask.distributed import Client

from hostcap.mechanistic_model import (
    generate_population,
    sensitivity_analysis,
    simulate_population,
)
from hostcap.services.modelling_scale import local_cluster


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    with local_cluster(2, silence_logs=50) as cluster, Client(cluster) as client:
        yield client


def test_population_is_identical_with_and_without_dask(dask_client: Any) -> None:
    local = generate_population("essay", "A", 10, seed=4, chunk_size=6)
    remote = generate_population("essay", "A", 10, seed=4, chunk_size=6, client=dask_client)
    assert np.array_equal(local.parameters, remote.parameters)
    # States agree to rounding: worker processes may run other BLAS kernels (values near 1e-80
    # of an extinct producer population differ in their last digits).
    assert np.allclose(local.initial_states, remote.initial_states, rtol=1e-9, atol=1e-12)
    a = simulate_population(local, weeks=2, names=["symptom_load"], chunk_size=4)
    b = simulate_population(
        remote, weeks=2, names=["symptom_load"], chunk_size=4, client=dask_client
    )
    assert a.bands[["time_h", "name", "quantile"]].equals(b.bands[["time_h", "name", "quantile"]])
    assert np.allclose(a.bands["value"], b.bands["value"], rtol=1e-9, atol=1e-12)
    assert list(a.status) == list(b.status)


def test_sensitivity_is_identical_with_and_without_dask(dask_client: Any) -> None:
    kwargs: dict[str, Any] = {
        "method": "morris",
        "n": 3,
        "at_week": 1.0,
        "parameters": ["trigger_load", "d_prod"],
        "chunk_size": 4,
    }
    local = sensitivity_analysis("essay", "A", **kwargs)
    remote = sensitivity_analysis("essay", "A", client=dask_client, **kwargs)
    assert local.indices["parameter"].tolist() == remote.indices["parameter"].tolist()
    assert np.allclose(
        local.indices[["mu", "mu_star", "sigma"]],
        remote.indices[["mu", "mu_star", "sigma"]],
        rtol=1e-9,
        atol=1e-12,
    )
