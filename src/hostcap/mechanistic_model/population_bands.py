"""Quantile bands across the members of a virtual population, accumulated chunk by chunk.

Exact while the values of up to ``exact_limit`` members are held, then a histogram per time and
name with a guaranteed error bound (:mod:`~hostcap.mechanistic_model.streamed_quantiles`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hostcap.mechanistic_model.streamed_quantiles import BINS, METHOD, StreamedQuantiles

Array = NDArray[np.float64]
DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


#: Values held for exact quantiles when no ``exact_limit`` is given (bytes).
EXACT_HOLD_BYTES = 128 * 2**20


class QuantileBands:
    """Quantiles across members per time and name, accumulated chunk by chunk.

    Exact (``numpy.quantile``, linear) while at most ``exact_limit`` members have been added;
    beyond that, the held values seed a :class:`StreamedQuantiles` histogram per (time, name)
    whose estimates are within one bin width of the exact quantiles (less than
    ``2 · range / (bins − 1)`` of that time's observed range) and never outside the members'
    observed range; :meth:`describe` states the method and the bound reached. Memory is
    ``exact_limit × T × K`` floats, then ``T × K × bins`` 32-bit counts, whatever the number of
    members.

    ``exact_limit=None`` holds at most :data:`EXACT_HOLD_BYTES` of values (for 113 daily times and
    the 29 states and observables of a variant, about 5,100 members).
    """

    def __init__(
        self,
        names: Sequence[str],
        time_h: Array,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        *,
        exact_limit: int | None = None,
        bins: int = BINS,
    ) -> None:
        self.names = tuple(names)
        self.time_h = np.asarray(time_h, dtype=float)
        self.quantiles = tuple(float(q) for q in quantiles)
        cells = max(1, self.time_h.size * len(self.names))
        self.exact_limit = (
            max(1_000, EXACT_HOLD_BYTES // (8 * cells)) if exact_limit is None else exact_limit
        )
        self.bins = bins
        self._held: list[tuple[Array, ...]] = []
        self._n_held = 0
        self._sketches: list[StreamedQuantiles] | None = None
        self.n_members = 0

    @property
    def exact(self) -> bool:
        return self._sketches is None

    def add(self, values: Array | Sequence[Array]) -> None:
        """Add members' values, shape ``(n, T, K)``, or parts ``(n, T, K_i)`` whose names are
        ``names`` in order (binned part by part, never concatenated). Members with a non-finite
        value (failed members) are skipped."""
        parts = (values,) if isinstance(values, np.ndarray) else tuple(values)
        parts = tuple(np.asarray(p, dtype=float) for p in parts)
        finite = np.ones(parts[0].shape[0], dtype=bool)
        for p in parts:
            finite &= np.isfinite(p).all(axis=(1, 2))
        if not finite.all():
            parts = tuple(p[finite] for p in parts)
        n = parts[0].shape[0]
        self.n_members += n
        if self._sketches is None:
            self._held.append(parts)
            self._n_held += n
            if self._n_held > self.exact_limit:
                # The held chunks seed the histograms one by one (never concatenated: that
                # copy of up to 128 MB cost more than binning it; histograms do not depend on
                # how the members are chunked).
                held, self._held = self._held, []
                self._sketches = [StreamedQuantiles(p[0].size, bins=self.bins) for p in parts]
                for chunk in held:
                    for sketch, p in zip(self._sketches, chunk, strict=True):
                        sketch.add(p.reshape(p.shape[0], -1))
            return
        for sketch, p in zip(self._sketches, parts, strict=True):
            sketch.add(p.reshape(n, -1))

    def _values(self) -> Array:
        """``(Q, T, K)`` quantile values."""
        t, k = self.time_h.size, len(self.names)
        if self._sketches is not None:
            blocks = [
                s.quantiles(self.quantiles).reshape(len(self.quantiles), t, -1)
                for s in self._sketches
            ]
            return np.concatenate(blocks, axis=2)
        if not self._held:
            return np.full((len(self.quantiles), t, k), np.nan)
        held = np.concatenate(
            [np.concatenate(h, axis=2) if len(h) > 1 else h[0] for h in self._held]
        )
        if not held.shape[0]:
            return np.full((len(self.quantiles), t, k), np.nan)
        return np.asarray(np.quantile(held, self.quantiles, axis=0))

    def describe(self) -> dict[str, Any]:
        """The method, the members counted and the error bound, overall and per name.

        ``error_bound`` per name is the largest possible |estimate − exact quantile| over its
        times, and ``relative_error_bound`` that bound over the name's range across all members
        and times (its scale); both 0 for exact quantiles.
        """
        if self._sketches is None:
            return {
                "method": "exact (numpy.quantile, linear interpolation)",
                "members": self.n_members,
                "relative_error_bound": 0.0,
                "guaranteed_relative_error_bound": 0.0,
            }
        t = self.time_h.size
        sketches = self._sketches

        def joined(values: Callable[[StreamedQuantiles], Array]) -> Array:
            return np.concatenate([values(s).reshape(t, -1) for s in sketches], axis=1)

        bound = joined(lambda s: s.error_bounds())
        low = joined(lambda s: s.low).min(axis=0)
        high = joined(lambda s: s.high).max(axis=0)
        scale = high - low
        per_name = {}
        for j, name in enumerate(self.names):
            b = float(bound[:, j].max())
            rel = b / float(scale[j]) if scale[j] > 0 else 0.0
            per_name[name] = {"error_bound": b, "relative_error_bound": rel}
        return {
            "method": METHOD,
            "members": self.n_members,
            "bins": self.bins,
            "guaranteed_relative_error_bound": 2.0 / (self.bins - 1),
            "relative_error_bound": max(
                (v["relative_error_bound"] for v in per_name.values()), default=0.0
            ),
            "per_name": per_name,
        }

    def result(self) -> pd.DataFrame:
        """Long frame ``time_h, name, quantile, value``, sorted by time, name and quantile."""
        t, k, nq = self.time_h.size, len(self.names), len(self.quantiles)
        qv = self._values()  # (Q, T, K)
        # Sorted by time, then name, then quantile, without a general sort.
        order = np.argsort(np.asarray(self.names), kind="stable")
        q_order = np.argsort(np.asarray(self.quantiles), kind="stable")
        values = qv[q_order][:, :, order].transpose(1, 2, 0)  # (T, K, Q)
        return pd.DataFrame(
            {
                "time_h": np.repeat(self.time_h, k * nq),
                "name": np.tile(np.repeat(np.asarray(self.names)[order], nq), t),
                "quantile": np.tile(np.asarray(self.quantiles)[q_order], t * k),
                "value": values.reshape(-1),
            }
        )
