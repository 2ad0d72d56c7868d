"""Predictions at one client's observation times for many parameter columns (fitting's batches).

A fit simulates a small batch (its starts, or its profile looks, and their finite-difference
perturbations: 5–80 members) a few dozen times; what a batch simulation sets up per call (the
protocol's input segments, the save grid, the LU plan) is here set up once per fit. Batches
this small run on one thread: starting a thread pool costs more than it saves below a few
hundred members, and the caller may run several fits side by side. The numbers are those of
:func:`~hostcap.mechanistic_model.batch_simulation.iter_batches` with the same members
(each member from its own pre-treatment steady state, with the variant's initial overrides;
the simulation ends at the last observation and saves only at the observation times).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from hostcap.mechanistic_model.batch_simulation import (
    _initial_overrides,
    _integrate,
    _lu,
    _schedule,
    batch_steady_state,
)
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.lane_solver import observe_members
from hostcap.mechanistic_model.protocols import HOURS_PER_WEEK, Protocol
from hostcap.mechanistic_model.simulation import SolverStatus, initial_state, save_times

__all__ = ["ObservationPredictor"]

Array = NDArray[np.float64]

#: Members per batch below which the batch runs on the calling thread.
SINGLE_THREAD_BELOW = 256


class ObservationPredictor:
    """Observables at fixed save times for parameter columns of one variant and protocol.

    Parameters
    ----------
    m
        The compiled variant.
    protocol
        What the client took (``None``: nothing).
    phenotype
        Steady states are settled from this phenotype's initial state.
    times
        Save times in hours (sorted, unique); the simulation ends at the last one.
    rtol, atol
        Solver tolerances of the simulation (the steady state keeps its own).
    """

    def __init__(
        self,
        m: CompiledModel,
        protocol: Protocol | None,
        phenotype: str,
        times: Array,
        *,
        rtol: float,
        atol: float,
    ) -> None:
        self.m = m
        self.lu = _lu(m)
        end_weeks = float(times[-1]) / HOURS_PER_WEEK if times.size else 0.0
        self.times, end_h = save_times(end_weeks, np.unique(times))
        self.schedule = _schedule(m, protocol, end_h, self.times)
        self.u_at = self.schedule.inputs_at_saves()
        self.guess = np.array(initial_state(m, phenotype))
        self.rtol, self.atol = rtol, atol

    def observables(self, p: Array) -> Array:
        """Observables ``(N, T, O)`` for parameter columns ``p`` ``(P, N)``; NaN for members
        without a steady state or whose integration failed."""
        n = p.shape[1]
        threads = 1 if n < SINGLE_THREAD_BELOW else None
        y0, found = batch_steady_state(self.m, p, self.guess, threads=threads)
        y0 = _initial_overrides(self.m, y0, p)
        states = np.full((n, self.times.size, len(self.m.state_ids)), np.nan)
        if np.any(found):
            run = _integrate(
                self.m,
                self.lu,
                p[:, found],
                y0[:, found],
                self.schedule,
                rtol=self.rtol,
                atol=self.atol,
                max_steps=100_000,
                threads=threads,
            )
            ok = run.status == SolverStatus.SUCCESS.value
            states[np.flatnonzero(found)[ok]] = run.states[ok]
        return observe_members(self.m, self.lu, p, states, self.u_at, threads=threads)
