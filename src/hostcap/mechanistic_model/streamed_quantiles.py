"""Quantiles of many cells (time × name) over a stream of members, with a guaranteed error bound.

Each cell keeps a histogram of :data:`BINS` equal bins whose width is a power of two and whose
edges are multiples of that width, plus the exact minimum and maximum seen. A value outside the
grid moves the grid: first by whole bins, and when the cell's observed range no longer fits, the
width doubles and every two neighbouring bins merge into one. Because edges are multiples of the
width, a bin of the old grid always falls inside one bin of the new grid, so no count is ever
split or guessed: the histogram is exact at its resolution, whatever the order of the members.

A cell starts at the finest width its first value allows (``2**-50`` of it, so that edges stay
exact multiples in double precision), and the width only doubles when the observed range
exceeds ``(BINS - 1)`` widths, so at all times
``width < max(2 · (max − min) / (BINS − 1), 2**-49 · max |value|)`` for the cell (the second
term only matters for a cell whose values agree to 12 digits). A quantile is read the way
``numpy.quantile`` (linear) defines it, from the two order statistics around ``q · (n − 1)``;
each order statistic is known to lie in one bin (its rank is exact), its estimate is placed
inside that bin and inside ``[min, max]``. So every estimate lies within one bin width of the
exact quantile, and never outside the members' observed range:

    |estimate − exact| ≤ width < 2 · (max − min) / (BINS − 1) ≈ 4.9e-4 of the cell's range,

which is also at most 4.9e-4 of the range of the whole series (every time of the name), the
scale :func:`error_bounds` reports against. Memory is ``cells × BINS`` 32-bit counts (54 MB for
113 daily times × 29 names), whatever the number of members. The binning loop is compiled by
numba (``cache=True``; numba is already needed by the batch integrator).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["BINS", "METHOD", "StreamedQuantiles"]

Array = NDArray[np.float64]

#: Bins per cell.
BINS = 4096
#: What the bands' metadata calls this method.
METHOD = (
    "mergeable fixed-resolution histogram per time and name: power-of-two bin widths on "
    "aligned edges (exact counts), exact minimum and maximum; error at most one bin width, "
    f"< 2·range/{BINS - 1} of the cell's observed range, never outside it"
)

# The smallest width a cell starts with (a normal double, far below any model value).
_MIN_WIDTH = 2.0**-1000


def _fit_grid(lo_v: float, hi_v: float, width: float, bins: int) -> tuple[float, float]:
    """The smallest power-of-two width ≥ ``width`` whose aligned grid covers [lo_v, hi_v]."""
    w = width
    while True:
        origin = np.floor(lo_v / w) * w
        if hi_v < origin + bins * w:
            return origin, w
        w *= 2.0


def _regrid(
    counts: Any, c: int, origin: float, width: float, new_origin: float, new_width: float
) -> None:
    """Move cell ``c``'s counts from one aligned grid to a coarser or shifted one."""
    bins = counts.shape[1]
    moved = np.zeros(bins, dtype=np.uint32)
    for i in range(bins):
        k = counts[c, i]
        if k:
            j = int(np.floor((origin + i * width - new_origin) / new_width))
            j = min(max(j, 0), bins - 1)
            moved[j] += k
    for i in range(bins):
        counts[c, i] = moved[i]


def _bin_into(
    values: Any, origin: Any, width: Any, low: Any, high: Any, counts: Any, seen: Any
) -> None:
    """Add ``values`` (members × cells) to the cells' histograms (in place).

    Cells are taken in blocks of 64, each block's values copied once into cell-major order, so
    that a cell's values are read contiguously and its counts (16 kB) stay in the first-level
    cache. Per cell: the block's minimum and maximum first, then at most one move of the grid
    (to the smallest power-of-two width and aligned origin that covers the cell's new range),
    then every value binned. The grid widths only double and origins only fall, so this is the
    grid that moving it value by value would reach, and the counts are the same exact counts.
    """
    n, cells = values.shape
    bins = counts.shape[1]
    block = np.empty((64, n))
    for first in range(0, cells, 64):
        last = min(first + 64, cells)
        for m in range(n):
            for c in range(first, last):
                block[c - first, m] = values[m, c]
        for c in range(first, last):
            row = block[c - first]
            if not seen[c]:
                v0 = row[0]
                start = max(abs(v0) * 2.0**-50, _MIN_WIDTH)
                width[c] = 2.0 ** np.ceil(np.log2(start))
                origin[c] = np.floor(v0 / width[c]) * width[c]
                low[c] = v0
                high[c] = v0
                seen[c] = True
            lo_v = low[c]
            hi_v = high[c]
            for m in range(n):
                v = row[m]
                lo_v = min(lo_v, v)
                hi_v = max(hi_v, v)
            low[c] = lo_v
            high[c] = hi_v
            o = origin[c]
            w = width[c]
            if lo_v < o or hi_v >= o + bins * w:
                new_o, new_w = _fit_grid(lo_v, hi_v, w, bins)
                _regrid(counts, c, o, w, new_o, new_w)
                origin[c] = o = new_o
                width[c] = w = new_w
            # w is a power of two, so multiplying by 1 / w is exactly dividing by w.
            inv = 1.0 / w
            for m in range(n):
                j = min(max(int((row[m] - o) * inv), 0), bins - 1)
                counts[c, j] += 1


def _order_statistics(
    counts: Any, origin: Any, width: Any, low: Any, high: Any, ranks: Any, out: Any
) -> None:
    """``out[r, c]``: estimate of the ``ranks[r]``-th smallest value (0-based) of cell ``c``.

    ``ranks`` ascending. The value lies in the bin where the running count passes the rank; it
    is placed inside that bin (evenly among the bin's members) and inside ``[low, high]``.
    """
    cells, bins = counts.shape
    n_ranks = ranks.shape[0]
    for c in range(cells):
        r = 0
        before = 0
        for b in range(bins):
            k = counts[c, b]
            while r < n_ranks and ranks[r] < before + k:
                value = origin[c] + (b + (ranks[r] - before + 0.5) / k) * width[c]
                out[r, c] = min(max(value, low[c]), high[c])
                r += 1
            before += k
            if r == n_ranks:
                break


@cache
def _compiled() -> tuple[Callable[..., None], Callable[..., None]]:
    import numba

    options: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
    fit = numba.njit(**options)(_fit_grid)
    regrid = numba.njit(**options)(_regrid)
    # The binning loop resolves these names when it is compiled: bind the compiled helpers.
    namespace = dict(_bin_into.__globals__)
    namespace["_fit_grid"] = fit
    namespace["_regrid"] = regrid
    bound = types.FunctionType(_bin_into.__code__, namespace, "_bin_into")
    return numba.njit(**options)(bound), numba.njit(**options)(_order_statistics)


class StreamedQuantiles:
    """Histograms of ``cells`` cells, fed members × cells blocks; see the module docstring."""

    def __init__(self, cells: int, *, bins: int = BINS) -> None:
        if bins < 4:
            raise ValueError(f"bins must be at least 4, got {bins}")
        self.cells = cells
        self.bins = bins
        self.counts = np.zeros((cells, bins), dtype=np.uint32)
        self.origin = np.zeros(cells)
        self.width = np.zeros(cells)
        self.low = np.full(cells, np.inf)
        self.high = np.full(cells, -np.inf)
        self.seen = np.zeros(cells, dtype=np.bool_)
        self.n = 0

    def add(self, values: Array) -> None:
        """Add finite values, shape ``(members, cells)``."""
        block = np.asarray(values, dtype=np.float64)
        if block.ndim != 2 or block.shape[1] != self.cells:
            raise ValueError(f"expected shape (members, {self.cells}), got {block.shape}")
        if not block.shape[0]:
            return
        if self.n + block.shape[0] >= 2**32:
            raise ValueError("more than 2**32 - 1 members in one histogram")
        _compiled()[0](block, self.origin, self.width, self.low, self.high, self.counts, self.seen)
        self.n += block.shape[0]

    def quantiles(self, qs: Sequence[float]) -> Array:
        """``(len(qs), cells)`` estimates of ``numpy.quantile(values, qs, axis=0)`` (linear)."""
        out = np.full((len(qs), self.cells), np.nan)
        if self.n == 0:
            return out
        # numpy's linear rule: between the order statistics k and k + 1 around q · (n - 1).
        h = np.asarray(qs, dtype=float) * (self.n - 1)
        k = np.floor(h).astype(np.int64)
        g = h - k
        ranks = np.unique(np.concatenate([k, np.minimum(k + 1, self.n - 1)]))
        stats = np.empty((ranks.size, self.cells))
        _compiled()[1](self.counts, self.origin, self.width, self.low, self.high, ranks, stats)
        # The smallest and largest are known exactly.
        stats[ranks == 0] = self.low
        stats[ranks == self.n - 1] = self.high
        below = stats[np.searchsorted(ranks, k)]
        above = stats[np.searchsorted(ranks, np.minimum(k + 1, self.n - 1))]
        out[:] = below + g[:, None] * (above - below)
        return np.asarray(np.clip(out, self.low, self.high), dtype=np.float64)

    def error_bounds(self) -> Array:
        """Per cell, the largest possible |estimate − exact|: one bin width (or the range)."""
        bound = np.minimum(self.width, np.maximum(self.high - self.low, 0.0))
        return np.asarray(bound, dtype=np.float64)
