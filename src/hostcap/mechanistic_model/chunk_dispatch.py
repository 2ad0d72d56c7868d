"""Chunks of work run in order, in-process or on Dask, and a one-item look-ahead thread.

Population generation and simulation and the sensitivity analysis hand fixed chunks to
:func:`_map_ordered`; the results come back in job order either way, so the numbers do not
depend on where they were computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _map_ordered(
    fn: Callable[..., Any], jobs: Iterable[tuple[Any, ...]], client: Any | None
) -> Iterator[Any]:
    """Run ``fn(*job)`` for every job, yielding results in job order (locally or on Dask).

    ``jobs`` may be lazy: with Dask, only a window of jobs ahead of the result being yielded
    is made and submitted."""
    if client is None:
        for job in jobs:
            yield fn(*job)
        return
    window = max(2, 2 * len(client.scheduler_info().get("workers", {})) or 2)
    futures: list[Any] = []
    pending = iter(jobs)
    for job in pending:
        futures.append(client.submit(fn, *job, pure=False))
        if len(futures) >= window:
            break
    while futures:
        head = futures.pop(0)
        nxt = next(pending, None)
        if nxt is not None:
            futures.append(client.submit(fn, *nxt, pure=False))
        yield head.result()
        head.release()


def _map_paired(
    fn: Callable[..., Any], pairs: Iterable[tuple[Any, tuple[Any, ...]]], client: Any | None
) -> Iterator[tuple[Any, Any]]:
    """:func:`_map_ordered` over ``(tag, job)`` pairs (lazy), yielding ``(tag, fn(*job))``: each
    result with what the caller keeps about its job (the chunk it came from), in job order."""
    sent: list[Any] = []

    def jobs() -> Iterator[tuple[Any, ...]]:
        for tag, job in pairs:
            sent.append(tag)
            yield job

    for result in _map_ordered(fn, jobs(), client):
        yield sent.pop(0), result


_END = object()


def _ahead(items: Iterator[Any]) -> Iterator[Any]:
    """``items``, each computed on a helper thread while the caller handles the previous one.

    The compiled integrator and the band kernel release the GIL, so the two overlap. An
    exception from ``items`` is raised here; when the caller stops early (or is interrupted),
    the item being computed is finished and dropped.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hostcap-ahead") as pool:
        pending = pool.submit(next, items, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, items, _END)
            yield item
