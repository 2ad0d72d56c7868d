"""Run small linear algebra on one BLAS thread.

The analyses solve thousands of tiny systems (Gaussian-mixture covariances, mixed-model
iterations). A multi-threaded BLAS spends more time starting and synchronising threads than
computing on matrices this small, and on a shared 2-core machine threads spin against other
work: measured 25× slower for the mixture fits than one thread. Results do not depend on it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["single_blas_thread"]


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Limit BLAS/OpenMP thread pools to one thread inside the block (threadpoolctl)."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:  # pragma: no cover - installed with scikit-learn
        yield
        return
    with threadpoolctl.threadpool_limits(limits=1):
        yield
