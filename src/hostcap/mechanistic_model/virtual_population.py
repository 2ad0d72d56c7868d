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
histogram per time and name with a guaranteed error bound,
:mod:`~hostcap.mechanistic_model.streamed_quantiles`). :func:`stream_cohort` and
:func:`simulate_stream` do all of it lazily, chunk by chunk (draw, screen, simulate, bin, hand
each chunk to the caller), so memory does not grow with N; :func:`generate_population` and
:func:`simulate_population` are the same with the cohort and the members' results in memory.
THIS IS A HYPOTHESIS-BASED MODEL: a virtual cohort is not a prediction for real people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
from hostcap.mechanistic_model.streamed_quantiles import BINS, METHOD, StreamedQuantiles

__all__ = [
    "DEFAULT_QUANTILES",
    "AcceptanceRule",
    "CohortChunk",
    "CohortStream",
    "PopulationChunk",
    "PopulationRun",
    "QuantileBands",
    "StreamedPopulation",
    "VirtualPopulation",
    "default_acceptance",
    "generate_population",
    "sample_parameters",
    "simulate_population",
    "simulate_stream",
    "stream_cohort",
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


#: Tolerances (rtol, atol) of the settling run that screens candidates. The run only has to
#: find the state a candidate settles to; Newton iterations on the analytic Jacobian then make
#: it exact to the same residual test as at the default 1e-6 / 1e-9. Measured on 4,000
#: phenotype-A candidates: 5.3x faster; the same 3,981 found and the same accepted; their states
#: agree with the default's to 8.8e-10 relative (the 19 not found are members whose producers
#: wash out, still in a slow transient at 10^4 h).
SCREEN_SETTLE_TOL = (1e-3, 1e-6)


def _screen_chunk(
    variant: str, phenotype: str, params: Array, rules: tuple[AcceptanceRule, ...]
) -> tuple[Array, NDArray[np.bool_]]:
    m = _resolve(variant)
    guess = np.array(initial_state(m, phenotype))
    y, found = batch_steady_state(
        m, params, guess, rtol=SCREEN_SETTLE_TOL[0], atol=SCREEN_SETTLE_TOL[1]
    )
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


@dataclass(frozen=True)
class CohortChunk:
    """Consecutive accepted members: parameters ``(P, c)`` and pre-treatment states ``(S, c)``."""

    first_member: int
    parameters: Array
    initial_states: Array

    @property
    def n(self) -> int:
        return int(self.parameters.shape[1])

    @property
    def member(self) -> NDArray[np.int64]:
        return np.arange(self.first_member, self.first_member + self.n, dtype=np.int64)


@dataclass
class CohortStream:
    """Accepted members of a cohort, drawn and screened lazily in chunks (bounded memory).

    Iterate :meth:`chunks` once; ``n_drawn`` counts the candidates screened so far (final when
    the iteration ends). Made by :func:`stream_cohort`.
    """

    variant: str
    phenotype: str
    seed: int
    n: int
    parameter_ids: tuple[str, ...]
    state_ids: tuple[str, ...]
    acceptance: tuple[AcceptanceRule, ...]
    varied: tuple[str, ...]
    chunk_size: int
    n_drawn: int = 0
    _pieces: Iterator[tuple[Array, Array]] | None = None

    @property
    def acceptance_rate(self) -> float:
        return self.n / self.n_drawn if self.n_drawn else 0.0

    def chunks(self) -> Iterator[CohortChunk]:
        """Accepted members in chunks of ``chunk_size`` (the last may be smaller)."""
        assert self._pieces is not None, "a cohort stream is iterated once"
        pieces, self._pieces = self._pieces, None
        buffer_p: list[Array] = []
        buffer_y: list[Array] = []
        buffered = 0
        first = 0
        for params, y in pieces:
            buffer_p.append(params)
            buffer_y.append(y)
            buffered += params.shape[1]
            while buffered >= self.chunk_size or (buffered and first + buffered >= self.n):
                all_p = np.concatenate(buffer_p, axis=1)
                all_y = np.concatenate(buffer_y, axis=1)
                take = min(self.chunk_size, buffered)
                yield CohortChunk(first, all_p[:, :take], all_y[:, :take])
                first += take
                buffer_p, buffer_y = [all_p[:, take:]], [all_y[:, take:]]
                buffered -= take


def _accepted_pieces(
    stream: CohortStream,
    m: CompiledModel,
    rng: np.random.Generator,
    *,
    spread: float,
    correlations: Mapping[tuple[str, str], float] | None,
    limit: int,
    client: Any | None,
) -> Iterator[tuple[Array, Array]]:
    """Accepted members as they are screened, in draw order; raises when too few pass."""
    n, chunk_size, rules = stream.n, stream.chunk_size, stream.acceptance
    names = list(stream.varied)
    have = 0
    while have < n and stream.n_drawn < limit:
        # Rounds of fixed-size chunks; the sequence of draws depends only on the seed. Each
        # chunk is drawn just before it is screened (the same draws, in the same order, as
        # drawing the whole round first), so a round of any size takes no memory.
        drawn = stream.n_drawn
        rate = have / drawn if drawn else 1.0
        want = int(min(limit - drawn, max(chunk_size, 1.2 * (n - have) / max(rate, 0.02))))
        sizes = [chunk_size] * (want // chunk_size) + (
            [want % chunk_size] if want % chunk_size else []
        )

        def jobs(sizes: list[int] = sizes) -> Iterator[tuple[Any, ...]]:
            for size in sizes:
                params = sample_parameters(
                    m,
                    stream.phenotype,
                    size,
                    rng,
                    spread=spread,
                    vary=names,
                    correlations=correlations,
                )
                yield (m.variant, stream.phenotype, params, rules)

        job_list = jobs()
        for params, (y, keep) in _map_ordered_with_jobs(_screen_chunk, job_list, client):
            stream.n_drawn += params.shape[1]
            take = np.flatnonzero(keep)[: n - have]
            have += take.size
            if take.size:
                yield params[:, take], y[:, take]
            if have >= n:
                break
    if have < n:
        raise ValidationError.single(
            "acceptance",
            [f"{r.name} in [{r.low:g}, {r.high:g}]" for r in rules],
            f"rules that at least {n} of {stream.n_drawn} candidates pass (only {have} did); "
            "widen the rules, lower spread or raise max_draws",
        )


def _map_ordered_with_jobs(
    fn: Callable[..., Any], jobs: Iterator[tuple[Any, ...]], client: Any | None
) -> Iterator[tuple[Array, Any]]:
    """:func:`_map_ordered` over a lazy job sequence, pairing each result with its parameters
    (the third item of the job)."""
    sent: list[Array] = []

    def tracked() -> Iterator[tuple[Any, ...]]:
        for job in jobs:
            sent.append(job[2])
            yield job

    for result in _map_ordered(fn, tracked(), client):
        yield sent.pop(0), result


def stream_cohort(
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
) -> CohortStream:
    """The accepted cohort of :func:`generate_population`, as a lazy stream of chunks.

    The same arguments give the same members in the same order as :func:`generate_population`;
    only one round of screening and one chunk of accepted members are held at a time.
    Validation errors about the arguments are raised here; too few accepted candidates when the
    stream is iterated.
    """
    m = _resolve(variant)
    if n < 1:
        raise ValidationError.single("n", n, "a positive integer")
    if chunk_size < 1:
        raise ValidationError.single("chunk_size", chunk_size, "a positive integer")
    rules = tuple(acceptance) if acceptance is not None else default_acceptance(phenotype)
    for rule in rules:
        if rule.name not in m.observable_ids and rule.name not in m.state_ids:
            raise UnknownIdError("acceptance name", rule.name, (*m.observable_ids, *m.state_ids))
    if not spread > 0:
        raise ValidationError.single("spread", spread, "a positive number")
    limit = max_draws if max_draws is not None else 50 * n
    names = _varied(m, phenotype, vary)
    stream = CohortStream(
        variant=m.variant,
        phenotype=phenotype,
        seed=seed,
        n=n,
        parameter_ids=m.parameter_ids,
        state_ids=m.state_ids,
        acceptance=rules,
        varied=tuple(names),
        chunk_size=chunk_size,
    )
    stream._pieces = _accepted_pieces(
        stream,
        m,
        np.random.default_rng(seed),
        spread=spread,
        correlations=correlations,
        limit=limit,
        client=client,
    )
    return stream


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

    The whole cohort in memory; :func:`stream_cohort` gives the same members chunk by chunk.

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
    stream = stream_cohort(
        variant,
        phenotype,
        n,
        seed=seed,
        spread=spread,
        vary=vary,
        correlations=correlations,
        acceptance=acceptance,
        chunk_size=chunk_size,
        max_draws=max_draws,
        client=client,
    )
    chunks = list(stream.chunks())
    return VirtualPopulation(
        variant=stream.variant,
        phenotype=phenotype,
        seed=seed,
        parameter_ids=stream.parameter_ids,
        parameters=np.concatenate([c.parameters for c in chunks], axis=1),
        state_ids=stream.state_ids,
        initial_states=np.concatenate([c.initial_states for c in chunks], axis=1),
        n_drawn=stream.n_drawn,
        acceptance=stream.acceptance,
        varied=stream.varied,
    )


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
                held = [np.concatenate([h[i] for h in self._held]) for i in range(len(parts))]
                self._held = []
                self._sketches = [StreamedQuantiles(h[0].size, bins=self.bins) for h in held]
                for sketch, h in zip(self._sketches, held, strict=True):
                    sketch.add(h.reshape(h.shape[0], -1))
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
    ``on_chunk(members, simulated)`` sees every chunk in member order (e.g. to write files chunk
    by chunk). With a client, chunks run on Dask; the numbers are the same either way.
    """
    m = _resolve(cohort.variant)
    chosen = _chosen_names(m, names)
    proto = protocol.model_dump(mode="json") if protocol is not None else None
    total = cohort.n
    if isinstance(cohort, VirtualPopulation):
        population = cohort
        members: Iterator[CohortChunk] = (
            CohortChunk(
                lo,
                population.parameters[:, lo : lo + chunk_size],
                population.initial_states[:, lo : lo + chunk_size],
            )
            for lo in range(0, total, chunk_size)
        )
    else:
        members = cohort.chunks()
    sent: list[CohortChunk] = []

    def jobs() -> Iterator[tuple[Any, ...]]:
        for chunk in members:
            sent.append(chunk)
            yield (
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

    bands: QuantileBands | None = None
    counts: dict[str, int] = {}
    steps = 0
    done = 0
    results = _map_ordered(_simulate_chunk, jobs(), client)
    # In-process, the next chunk is screened and simulated while this one is binned and written
    # (the single-threaded parts then overlap the integrator's threads).
    for res in results if client is not None else _ahead(results):
        chunk = sent.pop(0)
        if bands is None:
            bands = QuantileBands(chosen, res.time_h, quantiles, exact_limit=exact_limit)
        bands.add(res.parts)
        values, number = np.unique(res.status, return_counts=True)
        for v, c in zip(values, number, strict=True):
            counts[str(v)] = counts.get(str(v), 0) + int(c)
        steps += int(res.steps.sum())
        if on_chunk is not None:
            on_chunk(chunk, res)
        done += res.n
        if progress is not None:
            progress(done, total)
    assert bands is not None
    return StreamedPopulation(
        bands=bands.result(),
        band_method=bands.describe(),
        status=dict(sorted(counts.items())),
        n=done,
        exact_quantiles=bands.exact,
        steps_mean=steps / done if done else 0.0,
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
    chosen = _chosen_names(m, names)
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

    run = simulate_stream(
        population,
        protocol,
        weeks=weeks,
        names=chosen,
        quantiles=quantiles,
        rtol=rtol,
        atol=atol,
        chunk_size=chunk_size,
        exact_limit=exact_limit,
        client=client,
        progress=progress,
        on_chunk=collect,
    )
    return PopulationRun(
        bands=run.bands,
        status=np.concatenate(statuses),
        steps=np.concatenate(steps),
        exact_quantiles=run.exact_quantiles,
        members=pd.concat(members, ignore_index=True) if keep_members else None,
        summaries=pd.concat(summaries, ignore_index=True) if summary_weeks else None,
        extra={"band_method": run.band_method},
    )
