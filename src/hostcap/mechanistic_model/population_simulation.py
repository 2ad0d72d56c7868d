"""Simulation of a virtual cohort, chunk by chunk, into quantile bands (and member results).

Part of the virtual-population pipeline (:mod:`~hostcap.mechanistic_model.virtual_population`).
:func:`simulate_stream` holds a few chunks at a time; :func:`simulate_population` also keeps
statuses, steps and, when asked, every member's trajectory and summaries.
THIS IS A HYPOTHESIS-BASED MODEL: a virtual cohort is not a prediction for real people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hostcap.errors import UnknownIdError
from hostcap.mechanistic_model.batch_simulation import BatchResult, _resolve, iter_batches
from hostcap.mechanistic_model.chunk_dispatch import _ahead, _map_paired
from hostcap.mechanistic_model.cohort_drawing import CohortChunk, CohortStream, VirtualPopulation
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.definition import HYPOTHESIS_NOTE
from hostcap.mechanistic_model.population_bands import DEFAULT_QUANTILES, QuantileBands
from hostcap.mechanistic_model.protocols import Protocol, protocol_from_mapping

Array = NDArray[np.float64]


@dataclass
class PopulationRun:
    """Outcome of :func:`simulate_population`: bands, optional member trajectories, statuses."""

    bands: pd.DataFrame
    status: NDArray[np.str_]
    steps: NDArray[np.int64]
    exact_quantiles: bool
    members: pd.DataFrame | None = None
    summaries: pd.DataFrame | None = None
    hypothesis_note: str = HYPOTHESIS_NOTE
    extra: dict[str, Any] = field(default_factory=dict)

    def status_counts(self) -> dict[str, int]:
        values, counts = np.unique(self.status, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}


@dataclass(frozen=True)
class PopulationChunk:
    """One simulated chunk: values of the chosen names, statuses and steps per member.

    ``parts`` are ``(n, T, K_i)`` arrays whose names, in order, are ``names`` (the default
    selection comes as the integrator's states and observables, uncopied).
    """

    time_h: Array
    member: NDArray[np.int64]
    names: tuple[str, ...]
    parts: tuple[Array, ...]
    status: NDArray[np.str_]
    steps: NDArray[np.int64]

    @property
    def n(self) -> int:
        return int(self.member.size)

    @property
    def values(self) -> Array:
        """``(n, T, K)`` values of ``names``."""
        if len(self.parts) == 1:
            return self.parts[0]
        return np.concatenate(self.parts, axis=2)

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame ``member, time_h, name, value`` (name-major, then member, then time)."""
        n, t = self.n, self.time_h.size
        k = len(self.names)
        flat = np.concatenate(
            [np.ascontiguousarray(p.transpose(2, 0, 1)).reshape(-1) for p in self.parts]
        )
        return pd.DataFrame(
            {
                "member": np.tile(np.repeat(self.member, t), k),
                "time_h": np.tile(self.time_h, n * k),
                "name": np.repeat(np.asarray(self.names, dtype=object), n * t),
                "value": flat,
            }
        )


def _chunk_parts(result: BatchResult, names: Sequence[str]) -> tuple[Array, ...]:
    """Values of ``names`` in that order: the state and observable arrays themselves for the
    default selection, else one ``(n, T, K)`` array."""
    if tuple(names) == result.state_ids + result.observable_ids:
        return (result.states, result.observables)
    out = np.empty((result.n, result.time_h.size, len(names)))
    for j, name in enumerate(names):
        out[:, :, j] = result[name]
    return (out,)


def _simulate_chunk(
    variant: str,
    protocol: dict[str, Any] | None,
    phenotype: str,
    weeks: float,
    params: Array,
    y0: Array,
    rtol: float,
    atol: float,
    first_member: int,
    names: Sequence[str],
) -> PopulationChunk:
    """One chunk of a population: only the chosen states and observables come back (a Dask
    worker sends a fraction of the chunk, not every state, observable and parameter)."""
    proto = protocol_from_mapping(protocol) if protocol is not None else None
    (result,) = iter_batches(
        variant,
        proto,
        params,
        phenotype=phenotype,
        weeks=weeks,
        y0=y0,
        rtol=rtol,
        atol=atol,
        chunk_size=params.shape[1],
        first_member=first_member,
    )
    return PopulationChunk(
        time_h=result.time_h,
        member=result.member,
        names=tuple(names),
        parts=_chunk_parts(result, names),
        status=result.status,
        steps=result.steps,
    )


@dataclass
class StreamedPopulation:
    """Outcome of :func:`simulate_stream`: bands, their method and counts (no per-member data)."""

    bands: pd.DataFrame
    band_method: dict[str, Any]
    status: dict[str, int]
    n: int
    exact_quantiles: bool
    steps_mean: float
    hypothesis_note: str = HYPOTHESIS_NOTE


def _chosen_names(m: CompiledModel, names: Sequence[str] | None) -> list[str]:
    chosen = list(names) if names is not None else [*m.state_ids, *m.observable_ids]
    for name in chosen:
        if name not in m.state_ids and name not in m.observable_ids:
            raise UnknownIdError("population name", name, (*m.state_ids, *m.observable_ids))
    return chosen


class StreamOptions(TypedDict, total=False):
    """Keyword arguments of :func:`simulate_stream` that :func:`simulate_population` takes too."""

    weeks: float
    names: Sequence[str] | None
    quantiles: Sequence[float]
    rtol: float
    atol: float
    chunk_size: int
    exact_limit: int | None
    client: Any | None
    progress: Callable[[int, int], None] | None


def _member_chunks(
    cohort: CohortStream | VirtualPopulation, chunk_size: int
) -> Iterator[CohortChunk]:
    if isinstance(cohort, CohortStream):
        return cohort.chunks()
    return (
        CohortChunk(
            lo,
            cohort.parameters[:, lo : lo + chunk_size],
            cohort.initial_states[:, lo : lo + chunk_size],
        )
        for lo in range(0, cohort.n, chunk_size)
    )


@dataclass
class _Tally:
    """Statuses, integrator steps and members of the chunks simulated so far."""

    counts: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    done: int = 0

    def add(self, res: PopulationChunk) -> None:
        values, number = np.unique(res.status, return_counts=True)
        for v, c in zip(values, number, strict=True):
            self.counts[str(v)] = self.counts.get(str(v), 0) + int(c)
        self.steps += int(res.steps.sum())
        self.done += res.n


def simulate_stream(
    cohort: CohortStream | VirtualPopulation,
    protocol: Protocol | None = None,
    *,
    weeks: float = 16.0,
    names: Sequence[str] | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    chunk_size: int = 2_000,
    exact_limit: int | None = None,
    client: Any | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_chunk: Callable[[CohortChunk, PopulationChunk], None] | None = None,
) -> StreamedPopulation:
    """Simulate a cohort chunk by chunk, streaming quantile bands; memory independent of N.

    ``cohort`` is a :class:`CohortStream` (members drawn and screened as they are needed: the
    whole pipeline holds a few chunks at a time) or a :class:`VirtualPopulation`.

    Parameters
    ----------
    names
        States and observables for the bands (default: every state and observable).
    exact_limit
        Members whose values are held for exact quantiles (:class:`QuantileBands`).
    client
        A ``dask.distributed.Client``; ``None`` runs in-process. Chunks are the same either way,
        so the numbers are too.
    progress
        Called as ``progress(done, total)`` after each chunk.
    on_chunk
        Called as ``on_chunk(members, simulated)`` for every chunk in member order (e.g. to
        write files chunk by chunk).
    """
    m = _resolve(cohort.variant)
    chosen = _chosen_names(m, names)
    proto = protocol.model_dump(mode="json") if protocol is not None else None

    def job(chunk: CohortChunk) -> tuple[Any, ...]:
        """The arguments of :func:`_simulate_chunk` for ``chunk``."""
        return (
            m.variant,
            proto,
            cohort.phenotype,
            weeks,
            chunk.parameters,
            chunk.initial_states,
            rtol,
            atol,
            chunk.first_member,
            tuple(chosen),
        )

    pairs = ((chunk, job(chunk)) for chunk in _member_chunks(cohort, chunk_size))
    results = _map_paired(_simulate_chunk, pairs, client)
    bands: QuantileBands | None = None
    tally = _Tally()
    # In-process, the next chunk is screened and simulated while this one is binned and written
    # (the single-threaded parts then overlap the integrator's threads).
    for chunk, res in results if client is not None else _ahead(results):
        if bands is None:
            bands = QuantileBands(chosen, res.time_h, quantiles, exact_limit=exact_limit)
        bands.add(res.parts)
        tally.add(res)
        if on_chunk is not None:
            on_chunk(chunk, res)
        if progress is not None:
            progress(tally.done, cohort.n)
    assert bands is not None
    return StreamedPopulation(
        bands=bands.result(),
        band_method=bands.describe(),
        status=dict(sorted(tally.counts.items())),
        n=tally.done,
        exact_quantiles=bands.exact,
        steps_mean=tally.steps / tally.done if tally.done else 0.0,
    )


def simulate_population(
    population: VirtualPopulation,
    protocol: Protocol | None = None,
    *,
    keep_members: bool = False,
    summary_weeks: Sequence[float] = (),
    **options: Unpack[StreamOptions],
) -> PopulationRun:
    """Simulate a cohort under one protocol, streaming quantile bands over members.

    Parameters
    ----------
    keep_members
        Also return every member's trajectory as a long frame ``member, time_h, name, value``.
    summary_weeks
        Also return per-member values of every name at these weeks (``summaries``).
    **options
        As for :func:`simulate_stream` (the same defaults): ``weeks``, ``names``,
        ``quantiles``, ``rtol``, ``atol``, ``chunk_size``, ``exact_limit``, ``client``,
        ``progress``.
    """
    m = _resolve(population.variant)
    chosen = _chosen_names(m, options.get("names"))
    statuses: list[NDArray[np.str_]] = []
    steps: list[NDArray[np.int64]] = []
    members: list[pd.DataFrame] = []
    summaries: list[pd.DataFrame] = []

    def collect(_: CohortChunk, res: PopulationChunk) -> None:
        values = res.values if summary_weeks else None
        statuses.append(res.status)
        steps.append(res.steps)
        if keep_members:
            members.append(res.to_frame())
        for w in summary_weeks:
            i = int(np.argmin(np.abs(res.time_h - w * 168.0)))
            block = pd.DataFrame({"member": res.member, "week": w})
            for j, name in enumerate(chosen):
                assert values is not None
                block[name] = values[:, i, j]
            summaries.append(block)

    options["names"] = chosen
    run = simulate_stream(population, protocol, on_chunk=collect, **options)
    return PopulationRun(
        bands=run.bands,
        status=np.concatenate(statuses),
        steps=np.concatenate(steps),
        exact_quantiles=run.exact_quantiles,
        members=pd.concat(members, ignore_index=True) if keep_members else None,
        summaries=pd.concat(summaries, ignore_index=True) if summary_weeks else None,
        extra={"band_method": run.band_method},
    )
