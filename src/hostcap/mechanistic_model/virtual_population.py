"""Virtual populations: phenotype-conditioned parameter draws, acceptance, streamed quantile bands.

A virtual client is a parameter set. Each varied parameter is log-normal with its median at the
phenotype preset value and a log-scale spread set by its documented plausible range
(``σ = spread · ln(hi/lo) / (2 · 1.96)``, so ``spread = 1`` puts 95 % of an untruncated draw across
the range), truncated to the range; optional correlations enter through a Gaussian copula
(Cholesky factor of the correlation matrix of the log-parameters). Parameters whose range or
preset value includes 0 are held at the preset value. A candidate joins the cohort when its
pre-treatment steady state satisfies the acceptance rules (e.g. baseline tryptase and symptom
load in a realistic range). Everything is reproducible by seed, with or without Dask: candidates
are drawn in a fixed sequence on the caller's side and simulated in fixed chunks.

The cohort is then simulated under a protocol; quantile bands across members are accumulated
chunk by chunk (exact while the values of up to ``exact_limit`` members are held, then a
fine per-time histogram seeded from those values), so memory stays bounded for any N.
THIS IS A HYPOTHESIS-BASED MODEL: a virtual cohort is not a prediction for real people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model.batch_simulation import (
    BatchResult,
    _initial_overrides,
    _resolve,
    batch_steady_state,
    iter_batches,
)
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.definition import HYPOTHESIS_NOTE
from hostcap.mechanistic_model.protocols import Protocol, protocol_from_mapping
from hostcap.mechanistic_model.simulation import initial_state

__all__ = [
    "DEFAULT_QUANTILES",
    "AcceptanceRule",
    "PopulationRun",
    "QuantileBands",
    "VirtualPopulation",
    "default_acceptance",
    "generate_population",
    "sample_parameters",
    "simulate_population",
]

Array = NDArray[np.float64]
DEFAULT_QUANTILES: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class AcceptanceRule:
    """Keep a candidate when ``low <= name <= high`` at its pre-treatment steady state."""

    name: str
    low: float = -np.inf
    high: float = np.inf
    rationale: str = ""


def default_acceptance(phenotype: str) -> tuple[AcceptanceRule, ...]:
    """Realistic pre-treatment ranges: healthy reference vs symptomatic MCAS phenotypes.

    Baseline serum tryptase 1.5–30 ng/mL (symptomatic) or 1.5–11.4 ng/mL (healthy; 11.4 is the
    usual upper reference limit); hs-CRP below 10 mg/L (no acute inflammation at baseline);
    symptom load at least 3/10 for a client seeking care, at most 3/10 for the healthy reference.
    """
    if phenotype == "healthy":
        return (
            AcceptanceRule("tryptase_serum", 1.5, 11.4, "within the usual reference range"),
            AcceptanceRule("hs_crp", 0.0, 10.0, "no acute inflammation"),
            AcceptanceRule("symptom_load", 0.0, 3.0, "no more than mild symptoms"),
        )
    return (
        AcceptanceRule("tryptase_serum", 1.5, 30.0, "realistic baseline tryptase"),
        AcceptanceRule("hs_crp", 0.0, 10.0, "no acute inflammation at baseline"),
        AcceptanceRule("symptom_load", 3.0, 10.0, "symptomatic enough to seek care"),
    )


def _varied(m: CompiledModel, phenotype: str, vary: Sequence[str] | None) -> list[str]:
    values = m.parameter_values(phenotype)
    if vary is None:
        return [
            p.id
            for p in m.definition.parameters
            if p.range[0] > 0 and p.range[1] > p.range[0] and values[p.id] > 0
        ]
    out = []
    for pid in vary:
        if pid not in values:
            raise UnknownIdError(f"parameter of variant {m.variant}", pid, m.parameter_ids)
        spec = m.definition.parameter(pid)
        if spec.range[0] <= 0 or values[pid] <= 0:
            raise ValidationError.single(
                f"vary.{pid}", spec.range, "a parameter with a positive plausible range and value"
            )
        out.append(pid)
    return out


def sample_parameters(
    model: CompiledModel | str,
    phenotype: str,
    n: int,
    rng: np.random.Generator,
    *,
    spread: float = 0.5,
    vary: Sequence[str] | None = None,
    correlations: Mapping[tuple[str, str], float] | None = None,
) -> Array:
    """Draw ``n`` parameter sets, shape ``(P, n)`` in :attr:`CompiledModel.parameter_ids` order.

    Parameters
    ----------
    spread
        Scales the log-normal spread relative to the plausible range (see module docstring).
    vary
        Parameters to vary (default: every parameter with a positive range and preset value).
    correlations
        Correlations of log-parameters, e.g. ``{("d_prod", "barrier_insult"): 0.5}``.

    Raises
    ------
    ValidationError
        Non-positive spread, or a correlation matrix that is not positive definite.
    """
    m = _resolve(model)
    if not spread > 0:
        raise ValidationError.single("spread", spread, "a positive number")
    names = _varied(m, phenotype, vary)
    base = m.parameter_vector(phenotype)
    k = len(names)
    corr = np.eye(k)
    for (a, b), r in (correlations or {}).items():
        for pid in (a, b):
            if pid not in names:
                raise UnknownIdError("varied parameter", pid, names)
        i, j = names.index(a), names.index(b)
        corr[i, j] = corr[j, i] = float(r)
    try:
        chol = np.linalg.cholesky(corr)
    except np.linalg.LinAlgError as exc:
        raise ValidationError.single(
            "correlations", dict(correlations or {}), "a positive-definite correlation matrix"
        ) from exc
    z = chol @ rng.standard_normal((k, n))
    out = np.repeat(base.reshape(-1, 1), n, axis=1)
    for row, pid in enumerate(names):
        lo, hi = m.definition.parameter(pid).range
        mu = float(np.log(np.clip(base[m.parameter_ids.index(pid)], lo, hi)))
        sigma = spread * float(np.log(hi / lo)) / (2 * 1.96)
        a, b = ndtr((np.log(lo) - mu) / sigma), ndtr((np.log(hi) - mu) / sigma)
        u = a + ndtr(z[row]) * (b - a)
        values = np.exp(mu + sigma * ndtri(np.clip(u, 1e-15, 1 - 1e-15)))
        out[m.parameter_ids.index(pid)] = np.clip(values, lo, hi)
    return out


@dataclass(frozen=True)
class VirtualPopulation:
    """An accepted virtual cohort: parameters and pre-treatment states of every member."""

    variant: str
    phenotype: str
    seed: int
    parameter_ids: tuple[str, ...]
    parameters: Array  # (P, N)
    state_ids: tuple[str, ...]
    initial_states: Array  # (S, N)
    n_drawn: int
    acceptance: tuple[AcceptanceRule, ...]
    varied: tuple[str, ...]
    hypothesis_note: str = HYPOTHESIS_NOTE

    @property
    def n(self) -> int:
        return int(self.parameters.shape[1])

    @property
    def acceptance_rate(self) -> float:
        return self.n / self.n_drawn if self.n_drawn else 0.0

    def parameters_frame(self) -> pd.DataFrame:
        """``member`` plus every parameter and initial state value, by SBML id."""
        frame = pd.DataFrame(self.parameters.T, columns=list(self.parameter_ids))
        init = pd.DataFrame(self.initial_states.T, columns=list(self.state_ids))
        out = pd.concat([frame, init], axis=1)
        out.insert(0, "member", np.arange(self.n))
        return out


def _map_ordered(
    fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], client: Any | None
) -> Iterator[Any]:
    """Run ``fn(*job)`` for every job, yielding results in job order (locally or on Dask)."""
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


def _screen_chunk(
    variant: str, phenotype: str, params: Array, rules: tuple[AcceptanceRule, ...]
) -> tuple[Array, NDArray[np.bool_]]:
    m = _resolve(variant)
    guess = np.array(initial_state(m, phenotype))
    y, found = batch_steady_state(m, params, guess)
    y = _initial_overrides(m, y, params)
    u = np.zeros((len(m.input_ids), params.shape[1]))
    with np.errstate(invalid="ignore"):
        obs = m.observables(0.0, y, params, u)
    keep = found.copy()
    for rule in rules:
        if rule.name in m.observable_ids:
            values = obs[m.observable_ids.index(rule.name)]
        else:
            values = y[m.state_ids.index(rule.name)]
        keep &= (values >= rule.low) & (values <= rule.high)
    return y, keep


def generate_population(
    variant: str,
    phenotype: str,
    n: int,
    *,
    seed: int = 1,
    spread: float = 0.5,
    vary: Sequence[str] | None = None,
    correlations: Mapping[tuple[str, str], float] | None = None,
    acceptance: Iterable[AcceptanceRule] | None = None,
    chunk_size: int = 2_000,
    max_draws: int | None = None,
    client: Any | None = None,
) -> VirtualPopulation:
    """Draw candidates and keep those whose pre-treatment state passes the acceptance rules.

    Parameters
    ----------
    variant, phenotype
        Model variant and the phenotype preset the distributions are centred on.
    n
        Members wanted.
    seed
        Seed of the draws (same seed, same cohort, with or without Dask).
    acceptance
        Rules; default :func:`default_acceptance` for the phenotype.
    chunk_size
        Candidates screened per task.
    max_draws
        Stop after this many candidates (default ``50 * n``).
    client
        A ``dask.distributed.Client``; ``None`` screens in-process.

    Raises
    ------
    ValidationError
        When fewer than ``n`` candidates pass within ``max_draws`` (the message gives the rate).
    """
    m = _resolve(variant)
    if n < 1:
        raise ValidationError.single("n", n, "a positive integer")
    rules = tuple(acceptance) if acceptance is not None else default_acceptance(phenotype)
    for rule in rules:
        if rule.name not in m.observable_ids and rule.name not in m.state_ids:
            raise UnknownIdError("acceptance name", rule.name, (*m.observable_ids, *m.state_ids))
    limit = max_draws if max_draws is not None else 50 * n
    rng = np.random.default_rng(seed)
    accepted_p: list[Array] = []
    accepted_y: list[Array] = []
    have = 0
    drawn = 0
    names = _varied(m, phenotype, vary)
    while have < n and drawn < limit:
        # Draw a round of fixed-size chunks; the sequence of draws depends only on the seed.
        rate = have / drawn if drawn else 1.0
        want = int(min(limit - drawn, max(chunk_size, 1.2 * (n - have) / max(rate, 0.02))))
        sizes = [chunk_size] * (want // chunk_size) + (
            [want % chunk_size] if want % chunk_size else []
        )
        chunks = [
            sample_parameters(
                m, phenotype, s, rng, spread=spread, vary=names, correlations=correlations
            )
            for s in sizes
        ]
        jobs = [(m.variant, phenotype, c, rules) for c in chunks]
        for params, (y, keep) in zip(
            chunks, _map_ordered(_screen_chunk, jobs, client), strict=True
        ):
            drawn += params.shape[1]
            take = np.flatnonzero(keep)[: n - have]
            accepted_p.append(params[:, take])
            accepted_y.append(y[:, take])
            have += take.size
            if have >= n:
                break
    if have < n:
        raise ValidationError.single(
            "acceptance",
            [f"{r.name} in [{r.low:g}, {r.high:g}]" for r in rules],
            f"rules that at least {n} of {drawn} candidates pass (only {have} did); widen the "
            "rules, lower spread or raise max_draws",
        )
    return VirtualPopulation(
        variant=m.variant,
        phenotype=phenotype,
        seed=seed,
        parameter_ids=m.parameter_ids,
        parameters=np.concatenate(accepted_p, axis=1),
        state_ids=m.state_ids,
        initial_states=np.concatenate(accepted_y, axis=1),
        n_drawn=drawn,
        acceptance=rules,
        varied=tuple(names),
    )


#: Values held for exact quantiles when no ``exact_limit`` is given (bytes).
EXACT_HOLD_BYTES = 128 * 2**20
#: Values binned at once into the quantile histogram.
BIN_SLICE_VALUES = 2_000_000


class QuantileBands:
    """Quantiles across members per time and name, accumulated chunk by chunk.

    Exact (``numpy.quantile``, linear) while at most ``exact_limit`` members have been added;
    beyond that, the held values fix a per-(time, name) histogram of ``bins`` bins on a linear or
    (for positive values) logarithmic scale spanning the observed range widened by half its
    width each side, with open end bins, and the quantiles are interpolated within bins. Memory
    is ``exact_limit × T × K`` floats, then ``T × K × bins`` counts, whatever the number of members;
    values are binned in slices of at most :data:`BIN_SLICE_VALUES` so temporaries stay small.

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
        bins: int = 2048,
    ) -> None:
        self.names = tuple(names)
        self.time_h = np.asarray(time_h, dtype=float)
        self.quantiles = tuple(float(q) for q in quantiles)
        cells = max(1, self.time_h.size * len(self.names))
        self.exact_limit = (
            max(1_000, EXACT_HOLD_BYTES // (8 * cells)) if exact_limit is None else exact_limit
        )
        self.bins = bins
        self._held: list[Array] = []
        self._n_held = 0
        self._counts: NDArray[np.int64] | None = None
        self._lo: Array | None = None
        self._width: Array | None = None
        self._log: NDArray[np.bool_] | None = None
        self.n_members = 0

    @property
    def exact(self) -> bool:
        return self._counts is None

    def add(self, values: Array) -> None:
        """Add members' values, shape ``(n, T, K)`` (NaN rows, i.e. failed members, are skipped)."""
        values = np.asarray(values, dtype=float)
        values = values[np.all(np.isfinite(values), axis=(1, 2))]
        self.n_members += values.shape[0]
        if self._counts is None:
            self._held.append(values)
            self._n_held += values.shape[0]
            if self._n_held > self.exact_limit:
                held = np.concatenate(self._held)
                self._held = []
                self._start_histogram(held)
                self._bin(held)
            return
        self._bin(values)

    def _start_histogram(self, held: Array) -> None:
        lo, hi = np.min(held, axis=0), np.max(held, axis=0)
        self._log = lo > 0
        tlo = np.where(self._log, np.log(np.where(self._log, lo, 1.0)), lo)
        thi = np.where(self._log, np.log(np.where(self._log, hi, 1.0)), hi)
        span = np.maximum(thi - tlo, 1e-12 * np.maximum(np.abs(thi), 1.0))
        self._lo = tlo - 0.5 * span
        self._width = 2.0 * span / (self.bins - 2)
        t, k = lo.shape
        self._counts = np.zeros(t * k * self.bins, dtype=np.int64)

    def _bin(self, values: Array) -> None:
        # Each slice makes a few temporaries of its size (log values, positions, bin indices).
        per_member = max(1, values[0].size if values.shape[0] else 1)
        step = max(1, BIN_SLICE_VALUES // per_member)
        for lo in range(0, values.shape[0], step):
            self._bin_slice(values[lo : lo + step])

    def _bin_slice(self, values: Array) -> None:
        assert self._log is not None and self._lo is not None and self._width is not None
        assert self._counts is not None
        with np.errstate(divide="ignore", invalid="ignore"):
            tv = np.where(self._log, np.log(np.where(values > 0, values, np.nan)), values)
        pos = (tv - self._lo) / self._width + 1.0
        pos = np.where(np.isnan(pos), 0.0, pos)
        idx = np.clip(np.floor(pos), 0, self.bins - 1).astype(np.int64)
        t, k = self._lo.shape
        cell = (np.arange(t).reshape(t, 1) * k + np.arange(k).reshape(1, k)) * self.bins
        self._counts += np.bincount((idx + cell).reshape(-1), minlength=t * k * self.bins).astype(
            np.int64
        )

    def result(self) -> pd.DataFrame:
        """Long frame ``time_h, name, quantile, value``."""
        t, k = self.time_h.size, len(self.names)
        if self._counts is None:
            held = np.concatenate(self._held) if self._held else np.full((0, t, k), np.nan)
            if held.shape[0]:
                qv = np.quantile(held, self.quantiles, axis=0)  # (Q, T, K)
            else:
                qv = np.full((len(self.quantiles), t, k), np.nan)
        else:
            assert self._lo is not None and self._width is not None and self._log is not None
            counts = self._counts.reshape(t, k, self.bins)
            cum = np.cumsum(counts, axis=2)
            total = cum[:, :, -1:]
            qv = np.empty((len(self.quantiles), t, k))
            for qi, q in enumerate(self.quantiles):
                target = q * total[:, :, 0]
                b = np.argmax(cum >= target[:, :, None], axis=2)
                below = (
                    np.take_along_axis(cum, b[:, :, None], axis=2)[:, :, 0]
                    - np.take_along_axis(counts, b[:, :, None], axis=2)[:, :, 0]
                )
                inside = np.take_along_axis(counts, b[:, :, None], axis=2)[:, :, 0]
                frac = np.where(inside > 0, (target - below) / np.maximum(inside, 1), 0.5)
                tv = self._lo + (b - 1 + frac) * self._width
                qv[qi] = np.where(self._log, np.exp(tv), tv)
        q_idx, t_idx, k_idx = np.meshgrid(
            np.arange(len(self.quantiles)), np.arange(t), np.arange(k), indexing="ij"
        )
        frame = pd.DataFrame(
            {
                "time_h": self.time_h[t_idx.reshape(-1)],
                "name": np.asarray(self.names)[k_idx.reshape(-1)],
                "quantile": np.asarray(self.quantiles)[q_idx.reshape(-1)],
                "value": qv.reshape(-1),
            }
        )
        return frame.sort_values(["time_h", "name", "quantile"], kind="stable").reset_index(
            drop=True
        )


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
    names: Sequence[str] | None = None,
) -> BatchResult:
    """One chunk of a population; with ``names``, only those states and observables are kept
    (a Dask worker then sends back a fraction of the chunk, not every state, observable and
    parameter of every member)."""
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
    if names is None:
        return result
    states = [i for i, sid in enumerate(result.state_ids) if sid in names]
    observables = [i for i, oid in enumerate(result.observable_ids) if oid in names]
    return replace(
        result,
        state_ids=tuple(result.state_ids[i] for i in states),
        states=np.ascontiguousarray(result.states[:, :, states]),
        initial_states=np.ascontiguousarray(result.initial_states[:, states]),
        observable_ids=tuple(result.observable_ids[i] for i in observables),
        observables=np.ascontiguousarray(result.observables[:, :, observables]),
        parameter_ids=(),
        parameters=np.empty((result.n, 0)),
    )


def simulate_population(
    population: VirtualPopulation,
    protocol: Protocol | None = None,
    *,
    weeks: float = 16.0,
    names: Sequence[str] | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    keep_members: bool = False,
    summary_weeks: Sequence[float] = (),
    rtol: float = 1e-6,
    atol: float = 1e-9,
    chunk_size: int = 2_000,
    exact_limit: int | None = None,
    client: Any | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PopulationRun:
    """Simulate a cohort under one protocol, streaming quantile bands over members.

    Parameters
    ----------
    names
        States and observables for the bands (default: every state and observable).
    keep_members
        Also return every member's trajectory as a long frame ``member, time_h, name, value``.
    summary_weeks
        Also return per-member values of every name at these weeks (``summaries``).
    client
        A ``dask.distributed.Client``; ``None`` runs in-process. Chunks are the same either way,
        so the numbers are too.
    progress
        Called as ``progress(done, total)`` after each chunk.
    """
    m = _resolve(population.variant)
    chosen = list(names) if names is not None else [*m.state_ids, *m.observable_ids]
    for name in chosen:
        if name not in m.state_ids and name not in m.observable_ids:
            raise UnknownIdError("population name", name, (*m.state_ids, *m.observable_ids))
    proto = protocol.model_dump(mode="json") if protocol is not None else None
    total = population.n
    jobs = [
        (
            m.variant,
            proto,
            population.phenotype,
            weeks,
            population.parameters[:, lo : lo + chunk_size],
            population.initial_states[:, lo : lo + chunk_size],
            rtol,
            atol,
            lo,
            tuple(chosen),
        )
        for lo in range(0, total, chunk_size)
    ]
    bands: QuantileBands | None = None
    statuses: list[NDArray[np.str_]] = []
    steps: list[NDArray[np.int64]] = []
    members: list[pd.DataFrame] = []
    summaries: list[pd.DataFrame] = []
    done = 0
    for res in _map_ordered(_simulate_chunk, jobs, client):
        if bands is None:
            bands = QuantileBands(chosen, res.time_h, quantiles, exact_limit=exact_limit)
        values = np.stack([res[name] for name in chosen], axis=2)
        bands.add(values)
        statuses.append(res.status)
        steps.append(res.steps)
        if keep_members:
            members.append(res.to_frame(chosen))
        if summary_weeks:
            for w in summary_weeks:
                i = int(np.argmin(np.abs(res.time_h - w * 168.0)))
                block = pd.DataFrame({"member": res.member, "week": w})
                for name in chosen:
                    block[name] = res[name][:, i]
                summaries.append(block)
        done += res.n
        if progress is not None:
            progress(done, total)
    assert bands is not None
    return PopulationRun(
        bands=bands.result(),
        status=np.concatenate(statuses),
        steps=np.concatenate(steps),
        exact_quantiles=bands.exact,
        members=pd.concat(members, ignore_index=True) if keep_members else None,
        summaries=pd.concat(summaries, ignore_index=True) if summary_weeks else None,
    )
