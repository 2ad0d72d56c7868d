"""The main job's sizes, apart from the job itself.

Kept free of the model and analytics imports, so the ``hostcap demo`` command can show these
defaults in its help without loading them (:mod:`hostcap.cli.lazy`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["MainJobOptions"]


@dataclass(frozen=True)
class MainJobOptions:
    """Sizes of the research loop, chosen so ``make run`` ends in under 5 minutes on 2 cores."""

    cohort_size: int = 150
    seed: int = 1
    variant: str = "essay"
    effect_scale: float = 1.0
    weeks: int = 16
    max_fit_clients: int = 30
    n_bootstrap: int = 100
    #: Worker processes of the local Dask cluster the variant fits run on when no scheduler is
    #: given (one task per client); 1 fits in-process.
    fit_workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
