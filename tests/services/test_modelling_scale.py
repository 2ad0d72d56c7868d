"""The local Dask cluster the main job fits on."""

from __future__ import annotations

import operator

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
