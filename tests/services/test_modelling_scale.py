"""The local Dask cluster the main job fits on."""

from __future__ import annotations

import operator
import os

from dask.distributed import Client

from hostcap.services.modelling_scale import local_scheduler


def test_one_worker_means_in_process() -> None:
    with local_scheduler(1) as address:
        assert address is None


def test_two_workers_give_a_reachable_cluster_of_two_processes() -> None:
    with local_scheduler(2) as address:
        assert address is not None and address.startswith("tcp://")
        with Client(address) as client:
            assert len(client.scheduler_info()["workers"]) == 2
            assert client.submit(operator.add, 2, 3).result() == 5


def test_workers_do_not_get_dasks_malloc_trim_setting_that_slows_numpy_temporaries() -> None:
    # Dask's nanny puts MALLOC_TRIM_THRESHOLD_=65536 in each worker's environment (and its own);
    # the integrator then ran 2.6x slower in a worker. Neither may reach hostcap's workers.
    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"
    try:
        with local_scheduler(2) as address, Client(address) as client:
            seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(seen.values()) == [None, None]
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # the caller's own is restored
    finally:
        del os.environ["MALLOC_TRIM_THRESHOLD_"]


def test_workers_share_the_cpus_for_the_compiled_integrators_threads() -> None:
    expected = str(max(1, len(os.sched_getaffinity(0)) // 2))
    with local_scheduler(2) as address, Client(address) as client:
        seen = client.run(lambda: os.environ.get("HOSTCAP_SOLVER_THREADS"))
    assert list(seen.values()) == [expected, expected]
