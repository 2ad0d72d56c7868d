"""``hostcap population`` as a service: estimate, limits, and a streamed run that writes files.

Candidates are drawn, screened, simulated, binned into quantile bands and written chunk by
chunk (:func:`~hostcap.mechanistic_model.simulate_stream`), so memory does not grow with the
number of members. THE MODEL IS A HYPOTHESIS: a virtual cohort is not a prediction for real
people.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hostcap.errors import InputError, ValidationError
from hostcap.mechanistic_model import (
    HYPOTHESIS_NOTE,
    CohortChunk,
    CohortStream,
    PopulationChunk,
    Protocol,
    StreamedPopulation,
    compile_model,
    simulate_stream,
    stream_cohort,
)
from hostcap.output_files import check_output_file, writing
from hostcap.services.dask_clusters import dask_client
from hostcap.services.modelling import resolve_protocol

__all__ = [
    "CONFIRM_ABOVE_S",
    "MAX_BAND_CELLS",
    "MAX_CHUNK",
    "MAX_MEMBERS",
    "MAX_WEEKS",
    "estimate_population",
    "run_population",
]

Progress = Callable[[int, int], None]


def _protocol_label(protocol: Protocol | None) -> str:
    return protocol.id if protocol is not None else "none (pre-treatment steady state held)"


#: Longest horizon ``hostcap population`` simulates (weeks).
MAX_WEEKS = 104.0
#: Most band cells (daily save times × states and observables): the streamed bands hold
#: ``cells × 4096`` 32-bit counts, 16 kB a cell (36,000 cells ≈ 0.6 GB).
MAX_BAND_CELLS = 36_000
#: Most members per chunk (memory of a chunk grows with it).
MAX_CHUNK = 20_000
#: Most members of one run (the streamed bands count members in 32 bits).
MAX_MEMBERS = 2**32 - 2
#: Runs estimated to take longer than this need ``confirm`` (``--yes``).
CONFIRM_ABOVE_S = 600.0

# Measured rates (benchmarks/model_scale.py, `memory` stage: N = 10^5 in 101 s on the 2-core
# machine under a load average of about 7; about half that on a quiet machine), seconds per
# member per solver thread; the estimate errs on the slow side.
_STARTUP_S = 10.0  # imports, model compile or kernel load
_SCREEN_S = 1.2e-4  # per candidate screened (steady state)
_SIM_S_PER_WEEK = 6e-5  # per member and simulated week (16 weeks daily: 9.6e-4)
_BAND_S_PER_CELL = 4e-8  # per member and band cell (one thread)
_MEMBERS_S_PER_ROW = 1e-7  # per row of --full output
_ACCEPTANCE_GUESS = 0.5  # candidates drawn per member wanted ≈ 1 / acceptance rate
_BASE_MB = 450.0  # interpreter, libraries, compiled kernels


def estimate_population(
    *,
    variant: str,
    n: int,
    weeks: float,
    chunk_size: int = 2_000,
    full: bool = False,
    threads: int | None = None,
) -> dict[str, Any]:
    """What a :func:`run_population` call will cost: members, time and peak memory (estimates).

    From measured per-member rates on a 2-core machine; a rough guide (±50 %), not a promise.
    """
    m = compile_model(variant)
    cores = max(1, threads or len(os.sched_getaffinity(0)))
    times = int(np.floor(weeks * 7 + 1e-9)) + 1 + (1 if (weeks * 7) % 1 > 1e-9 else 0)
    names = len(m.state_ids) + len(m.observable_ids)
    cells = times * names
    candidates = n / _ACCEPTANCE_GUESS
    seconds = (
        _STARTUP_S
        + candidates * _SCREEN_S / cores
        + n * max(weeks, 1.0) * _SIM_S_PER_WEEK / cores
        + n * cells * _BAND_S_PER_CELL
        + (n * cells * _MEMBERS_S_PER_ROW if full else 0.0)
    )
    # Two chunks in flight (one simulated ahead) and their copies; the exact values held
    # before the bands stream (at most 128 MB); then 4096 32-bit counts per band cell.
    chunk_mb = 3 * chunk_size * cells * 8 / 2**20
    hold_mb = min(128.0, n * cells * 8 / 2**20)
    bands_mb = cells * 4096 * 4 / 2**20 if n * cells * 8 > 128 * 2**20 else 0.0
    return {
        "members": n,
        "candidates_estimated": int(candidates),
        "band_cells": cells,
        "seconds": round(seconds, 1),
        "peak_memory_mb": round(_BASE_MB + chunk_mb + hold_mb + bands_mb),
        "member_rows": n * cells if full else 0,
    }


def _describe_estimate(estimate: dict[str, Any]) -> str:
    seconds = estimate["seconds"]
    took = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    text = (
        f"{estimate['members']:,} members (about {estimate['candidates_estimated']:,} candidates "
        f"screened), about {took} on this machine, peak memory about "
        f"{estimate['peak_memory_mb']:,} MB"
    )
    if estimate["member_rows"]:
        text += f", {estimate['member_rows']:,} member rows (--full)"
    return text


def _check_limits(n: int, weeks: float, chunk_size: int, cells: int) -> None:
    if not 0 <= weeks <= MAX_WEEKS:
        raise ValidationError.single(
            "--weeks", weeks, f"a horizon from 0 to {MAX_WEEKS:g} weeks (the population limit)"
        )
    if cells > MAX_BAND_CELLS:
        raise ValidationError.single(
            "--weeks",
            weeks,
            f"an output grid of at most {MAX_BAND_CELLS:,} band cells (daily save times × "
            f"states and observables; this one has {cells:,})",
        )
    if not 1 <= chunk_size <= MAX_CHUNK:
        raise ValidationError.single("--chunk-size", chunk_size, f"1 to {MAX_CHUNK:,} members")
    if not 1 <= n <= MAX_MEMBERS:
        raise ValidationError.single("--n", n, f"1 to {MAX_MEMBERS:,} members")


def _params_schema(parameter_ids: tuple[str, ...], state_ids: tuple[str, ...]) -> Any:
    import pyarrow as pa

    fields = [pa.field("member", pa.int64())]
    fields += [pa.field(name, pa.float64()) for name in (*parameter_ids, *state_ids)]
    return pa.schema(fields)


def _params_table(schema: Any, chunk: CohortChunk) -> Any:
    import pyarrow as pa

    columns = [pa.array(chunk.member)]
    columns += [pa.array(row) for row in chunk.parameters]
    columns += [pa.array(row) for row in chunk.initial_states]
    return pa.Table.from_arrays(columns, schema=schema)


def _members_table(schema: Any, res: PopulationChunk) -> Any:
    import pyarrow as pa

    frame = res.to_frame()
    return pa.Table.from_arrays(
        [
            pa.array(frame["member"].to_numpy()),
            pa.array(frame["time_h"].to_numpy()),
            pa.array(frame["name"].to_numpy(), type=pa.string()),
            pa.array(frame["value"].to_numpy()),
        ],
        schema=schema,
    )


def _confirmed_estimate(
    *,
    variant: str,
    n: int,
    weeks: float,
    chunk_size: int,
    full: bool,
    confirm: bool,
    on_estimate: Callable[[str], None] | None,
) -> dict[str, Any]:
    """The run's estimate, once its limits are checked and a long run is confirmed."""
    estimate = estimate_population(
        variant=variant, n=n, weeks=weeks, chunk_size=chunk_size, full=full
    )
    _check_limits(n, weeks, chunk_size, estimate["band_cells"])
    text = _describe_estimate(estimate)
    if estimate["seconds"] > CONFIRM_ABOVE_S and not confirm:
        raise InputError(
            f"--n {n}: estimated {text}; this is over {CONFIRM_ABOVE_S / 60:.0f} min, so it needs "
            "--yes to start (or ask for fewer members)"
        )
    if on_estimate is not None:
        on_estimate(text)
    return estimate


def _members_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}-members.parquet")


def _check_outputs(out: Path, params_out: Path | None, *, full: bool, force: bool) -> None:
    """Refuses files that exist (without ``force``) before minutes of simulation, not after."""
    check_output_file(out, force=force, option="--out", make_parents=True)
    if full:
        check_output_file(_members_path(out), force=force, option="--out")
    if params_out is not None:
        check_output_file(params_out, force=force, option="--params-out", make_parents=True)


class _ChunkWriters:
    """The ``--params-out`` and ``--full`` files, opened (under temporary names) on ``files``
    and written chunk by chunk when called as ``on_chunk(members, simulated)``."""

    def __init__(
        self,
        files: contextlib.ExitStack,
        cohort: CohortStream,
        *,
        out: Path,
        params_out: Path | None,
        full: bool,
        force: bool,
    ) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        self.params_writer: Any = None
        self.members_writer: Any = None
        self.written: list[str] = []
        self.params_schema = _params_schema(cohort.parameter_ids, cohort.state_ids)
        self.members_schema = pa.schema(
            [
                ("member", pa.int64()),
                ("time_h", pa.float64()),
                ("name", pa.string()),
                ("value", pa.float64()),
            ]
        )
        if params_out is not None:
            handle = files.enter_context(
                writing(params_out, force=force, option="--params-out", binary=True)
            )
            if params_out.suffix.lower() == ".parquet":
                writer: Any = pq.ParquetWriter(handle, self.params_schema)
            else:
                writer = pa_csv.CSVWriter(handle, self.params_schema)
            self.params_writer = files.enter_context(writer)
            self.written.append(str(params_out))
        if full:
            path = _members_path(out)
            handle = files.enter_context(writing(path, force=force, option="--out", binary=True))
            self.members_writer = files.enter_context(pq.ParquetWriter(handle, self.members_schema))
            self.written.append(str(path))

    def __call__(self, chunk: CohortChunk, res: PopulationChunk) -> None:
        if self.params_writer is not None:
            self.params_writer.write_table(_params_table(self.params_schema, chunk))
        if self.members_writer is not None:
            self.members_writer.write_table(_members_table(self.members_schema, res))


def _summary(
    variant: str,
    phenotype: str,
    cohort: CohortStream,
    run: StreamedPopulation,
    protocol: Protocol | None,
    estimate: dict[str, Any],
    files: list[str],
) -> dict[str, Any]:
    """What :func:`run_population` returns (and the CLI prints as JSON)."""
    return {
        "variant": variant,
        "phenotype": phenotype,
        "protocol": _protocol_label(protocol),
        "members": run.n,
        "candidates_drawn": cohort.n_drawn,
        "acceptance_rate": round(cohort.acceptance_rate, 4),
        "acceptance": [f"{r.name} in [{r.low:g}, {r.high:g}]" for r in cohort.acceptance],
        "status": run.status,
        "exact_quantiles": run.exact_quantiles,
        "bands": {k: v for k, v in run.band_method.items() if k != "per_name"},
        "band_error_bounds": {
            name: v["relative_error_bound"]
            for name, v in run.band_method.get("per_name", {}).items()
        },
        "estimate": estimate,
        "files": files,
        "note": HYPOTHESIS_NOTE,
    }


def run_population(
    *,
    variant: str,
    phenotype: str,
    n: int,
    seed: int,
    weeks: float,
    out: Path,
    protocol: str | Path | None = None,
    params_out: Path | None = None,
    full: bool = False,
    scheduler: str | None = None,
    chunk_size: int = 2_000,
    progress: Progress | None = None,
    force: bool = False,
    confirm: bool = False,
    on_estimate: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate a virtual cohort, simulate it, and write the quantile bands (and members).

    ``protocol``: a YAML file, ``"example"``, ``"none"`` or ``None`` for the phenotype's example
    protocol where it has one (:func:`~hostcap.services.modelling.resolve_protocol`).

    Writes ``out`` (parquet: ``time_h, name, quantile, value``), with ``full`` also
    ``<out stem>-members.parquet`` (``member, time_h, name, value``), and with ``params_out``
    every member's parameters and initial states by SBML id (``member`` first): parquet when the
    name ends in ``.parquet``, otherwise CSV (shortest round-trip decimal for every double).

    Everything streams: candidates are drawn, screened, simulated, binned into the bands and
    written chunk by chunk, so memory does not grow with ``n``. Every file is written under a
    temporary name and renamed when the run has finished: an interrupted or failed run leaves
    no output file. A run estimated (:func:`estimate_population`) to take more than
    :data:`CONFIRM_ABOVE_S` needs ``confirm``; ``on_estimate`` receives the estimate's text.

    Returns
    -------
    dict
        A summary: counts, acceptance rate, statuses, the band method and the files written.
    """
    estimate = _confirmed_estimate(
        variant=variant,
        n=n,
        weeks=weeks,
        chunk_size=chunk_size,
        full=full,
        confirm=confirm,
        on_estimate=on_estimate,
    )
    _check_outputs(out, params_out, full=full, force=force)
    protocol_used = resolve_protocol(protocol, phenotype)
    import pyarrow as pa
    import pyarrow.parquet as pq

    with contextlib.ExitStack() as files, dask_client(scheduler) as client:
        cohort = stream_cohort(
            variant, phenotype, n, seed=seed, chunk_size=chunk_size, client=client
        )
        writers = _ChunkWriters(
            files, cohort, out=out, params_out=params_out, full=full, force=force
        )
        run = simulate_stream(
            cohort,
            protocol_used,
            weeks=weeks,
            chunk_size=chunk_size,
            client=client,
            progress=progress,
            on_chunk=writers,
        )
        handle = files.enter_context(writing(out, force=force, option="--out", binary=True))
        pq.write_table(pa.Table.from_pandas(run.bands, preserve_index=False), handle)
    files_written = [str(out), *writers.written]
    return _summary(variant, phenotype, cohort, run, protocol_used, estimate, files_written)
