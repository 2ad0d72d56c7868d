"""Dask for the model at scale: a client for a running scheduler, or a local cluster.

Population runs, sensitivity analyses and analytics hand their chunks to a client from
:func:`dask_client`; :func:`local_cluster` and :func:`local_scheduler` start worker processes
set up for the compiled integrator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hostcap.errors import InputError

__all__ = ["WORKER_DASK_CONFIG", "dask_client", "local_cluster", "local_scheduler"]


@contextmanager
def dask_client(scheduler: str | None) -> Iterator[Any | None]:
    """A ``dask.distributed.Client`` connected to ``scheduler``, or ``None`` (in-process)."""
    if scheduler is None:
        yield None
        return
    from dask.distributed import Client

    try:
        client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise InputError(
            f"cannot reach the Dask scheduler {scheduler!r} ({exc}); expected an address such "
            "as tcp://127.0.0.1:8786 of a running scheduler"
        ) from exc
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


#: Dask settings for the worker processes hostcap starts. Dask's nanny sets
#: ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker's environment; glibc then stops adapting its
#: mmap threshold, every numpy temporary over 128 kB becomes an mmap/munmap pair, and the
#: vectorised integrator (many (18, 2000) temporaries per step) ran 2.6x slower in a worker than
#: in the parent (7.5 s vs 2.9 s per 2,000-member chunk). ``None`` leaves the variable unset.
_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
WORKER_DASK_CONFIG: dict[str, Any] = {f"distributed.nanny.pre-spawn-environ.{_MALLOC_TRIM}": None}


@contextmanager
def local_cluster(n_workers: int, **options: Any) -> Iterator[Any]:
    """A Dask ``LocalCluster`` of ``n_workers`` single-threaded worker processes, closed on exit.

    Processes, not threads: the model's integrator is a Python loop over steps. The scheduler's
    HTTP server takes any free port (8787 may belong to another cluster, and distributed then
    warns). ``options`` go to ``LocalCluster``.
    """
    import dask
    from dask.distributed import LocalCluster

    settings: dict[str, Any] = {
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",
        **options,
    }
    # Workers inherit this process's environment, which an earlier nanny may have set.
    inherited = os.environ.pop(_MALLOC_TRIM, None)
    # The compiled batch integrator splits members over threads; worker processes share the
    # machine's CPUs between them instead of each taking all of them.
    threads = max(1, len(os.sched_getaffinity(0)) // max(1, n_workers))
    worker_env = {"distributed.nanny.pre-spawn-environ.HOSTCAP_SOLVER_THREADS": str(threads)}
    try:
        with dask.config.set({**WORKER_DASK_CONFIG, **worker_env}):
            cluster = LocalCluster(n_workers=n_workers, **settings)  # type: ignore[no-untyped-call]
    finally:
        if inherited is not None:
            os.environ[_MALLOC_TRIM] = inherited
    try:
        yield cluster
    finally:
        cluster.close()


@contextmanager
def local_scheduler(n_workers: int) -> Iterator[str | None]:
    """The address of a fresh :func:`local_cluster`, closed on exit; ``None`` (in-process)
    when fewer than two workers are asked for."""
    if n_workers < 2:
        yield None
        return
    with local_cluster(n_workers) as cluster:
        yield str(cluster.scheduler_address)
