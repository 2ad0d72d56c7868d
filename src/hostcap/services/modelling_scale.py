"""Services for the model at scale: virtual populations, global sensitivity, per-client fitting.

The CLI (``hostcap population``, ``hostcap sensitivity``, ``hostcap fit``) is a thin face over these
functions; they read inputs (protocol files, the clinical store), call the pure core in
:mod:`hostcap.mechanistic_model` and write the result files. THE MODEL IS A HYPOTHESIS.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hostcap.errors import InputError, ValidationError
from hostcap.mechanistic_model import (
    HYPOTHESIS_NOTE,
    INTERVAL_METHODS,
    PHENOTYPES,
    VARIANTS,
    ClientFit,
    CohortChunk,
    PopulationChunk,
    Protocol,
    compare_variants,
    compile_model,
    petab_problem,
    protocol_from_mapping,
    sensitivity_analysis,
    simulate_stream,
    stream_cohort,
)
from hostcap.output_files import (
    check_output_file,
    output_folder,
    save_figure,
    write_csv,
    write_text,
    writing,
)
from hostcap.services.modelling import resolve_protocol

__all__ = [
    "client_observations",
    "dask_client",
    "estimate_population",
    "local_cluster",
    "local_scheduler",
    "run_fit",
    "run_population",
    "run_sensitivity",
]

#: Store records → model observables: labs ``tryptase`` → ``tryptase_serum`` (acute samples taken
#: after an episode are left out: the model describes the baseline level), labs ``hs_crp`` →
#: ``hs_crp``, the ``symptom_diary`` questionnaire total (mean of six 0–10 ratings) →
#: ``symptom_load``.
STORE_MEASURES = {"tryptase": "tryptase_serum", "hs_crp": "hs_crp"}

Progress = Callable[[int, int], None]


def _protocol_label(protocol: Protocol | None) -> str:
    return protocol.id if protocol is not None else "none (pre-treatment steady state held)"


@contextmanager
def dask_client(scheduler: str | None) -> Iterator[Any | None]:
    """A ``dask.distributed.Client`` connected to ``scheduler``, or ``None`` (in-process)."""
    if scheduler is None:
        yield None
        return
    from dask.distributed import Client

    try:
        client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
    except OSError as exc:
        raise InputError(
            f"cannot reach the Dask scheduler {scheduler!r} ({exc}); expected an address such "
            "as tcp://127.0.0.1:8786 of a running scheduler"
        ) from exc
    try:
        yield client
    finally:
        client.close()  # type: ignore[no-untyped-call]


#: Dask settings for the worker processes hostcap starts. Dask's nanny sets
#: ``MALLOC_TRIM_THRESHOLD_=65536`` in every worker's environment; glibc then stops adapting its
#: mmap threshold, every numpy temporary over 128 kB becomes an mmap/munmap pair, and the
#: vectorised integrator (many (18, 2000) temporaries per step) ran 2.6x slower in a worker than
#: in the parent (7.5 s vs 2.9 s per 2,000-member chunk). ``None`` leaves the variable unset.
_MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
WORKER_DASK_CONFIG: dict[str, Any] = {f"distributed.nanny.pre-spawn-environ.{_MALLOC_TRIM}": None}


@contextmanager
def local_cluster(n_workers: int, **options: Any) -> Iterator[Any]:
    """A Dask ``LocalCluster`` of ``n_workers`` single-threaded worker processes, closed on exit.

    Processes, not threads: the model's integrator is a Python loop over steps. The scheduler's
    HTTP server takes any free port (8787 may belong to another cluster, and distributed then
    warns). ``options`` go to ``LocalCluster``.
    """
    import dask
    from dask.distributed import LocalCluster

    settings: dict[str, Any] = {
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": ":0",
        **options,
    }
    # Workers inherit this process's environment, which an earlier nanny may have set.
    inherited = os.environ.pop(_MALLOC_TRIM, None)
    # The compiled batch integrator splits members over threads; worker processes share the
    # machine's CPUs between them instead of each taking all of them.
    threads = max(1, len(os.sched_getaffinity(0)) // max(1, n_workers))
    worker_env = {"distributed.nanny.pre-spawn-environ.HOSTCAP_SOLVER_THREADS": str(threads)}
    try:
        with dask.config.set({**WORKER_DASK_CONFIG, **worker_env}):
            cluster = LocalCluster(n_workers=n_workers, **settings)  # type: ignore[no-untyped-call]
    finally:
        if inherited is not None:
            os.environ[_MALLOC_TRIM] = inherited
    try:
        yield cluster
    finally:
        cluster.close()


@contextmanager
def local_scheduler(n_workers: int) -> Iterator[str | None]:
    """The address of a fresh :func:`local_cluster`, closed on exit; ``None`` (in-process)
    when fewer than two workers are asked for."""
    if n_workers < 2:
        yield None
        return
    with local_cluster(n_workers) as cluster:
        yield str(cluster.scheduler_address)


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
    members_path = out.with_name(f"{out.stem}-members.parquet")
    # Refused before minutes of simulation, not after.
    check_output_file(out, force=force, option="--out", make_parents=True)
    if full:
        check_output_file(members_path, force=force, option="--out")
    if params_out is not None:
        check_output_file(params_out, force=force, option="--params-out", make_parents=True)
    protocol_used = resolve_protocol(protocol, phenotype)
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    written = [str(out)]
    with contextlib.ExitStack() as files, dask_client(scheduler) as client:
        cohort = stream_cohort(
            variant, phenotype, n, seed=seed, chunk_size=chunk_size, client=client
        )
        params_writer: Any = None
        members_writer: Any = None
        params_schema = _params_schema(cohort.parameter_ids, cohort.state_ids)
        members_schema = pa.schema(
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
                params_writer = files.enter_context(pq.ParquetWriter(handle, params_schema))
            else:
                params_writer = files.enter_context(pa_csv.CSVWriter(handle, params_schema))
            written.append(str(params_out))
        if full:
            handle = files.enter_context(
                writing(members_path, force=force, option="--out", binary=True)
            )
            members_writer = files.enter_context(pq.ParquetWriter(handle, members_schema))
            written.append(str(members_path))

        def on_chunk(chunk: CohortChunk, res: PopulationChunk) -> None:
            if params_writer is not None:
                params_writer.write_table(_params_table(params_schema, chunk))
            if members_writer is not None:
                members_writer.write_table(_members_table(members_schema, res))

        run = simulate_stream(
            cohort,
            protocol_used,
            weeks=weeks,
            chunk_size=chunk_size,
            client=client,
            progress=progress,
            on_chunk=on_chunk,
        )
        handle = files.enter_context(writing(out, force=force, option="--out", binary=True))
        pq.write_table(pa.Table.from_pandas(run.bands, preserve_index=False), handle)
    return {
        "variant": variant,
        "phenotype": phenotype,
        "protocol": _protocol_label(protocol_used),
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
        "files": written,
        "note": HYPOTHESIS_NOTE,
    }


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def client_observations(
    code: str, database: str | None = None
) -> tuple[pd.DataFrame, Protocol | None, str | None, list[str]]:
    """A stored client's observations, what they took (as a protocol) and phenotype label.

    Time zero is the first enrolment's start, or the first observation when not enrolled.
    Interventions the model has an input for become protocol phases (one phase per date on
    which the set of running interventions changes); others are listed in the notes.

    Returns
    -------
    tuple
        ``(observations, protocol, phenotype_label, notes)``; observations are
        ``measure, time_h, value, unit``.
    """
    # Imported here: the clinical store (SQLAlchemy, ~1 s) is not needed by `hostcap population`.
    from hostcap.services.store import open_store

    store = open_store(database)
    try:
        labs = store.frame("labs", code=code)
        diary = store.frame("questionnaires", code=code)
        interventions = store.frame("interventions", code=code)
        enrolments = store.enrolments(code)
    finally:  # opened here, so closed here: no pooled connection outlives the call
        store.dispose()
    rows: list[tuple[str, dt.datetime, float, str]] = []
    if not labs.empty:
        keep = labs[labs["analyte"].isin(list(STORE_MEASURES)) & (labs["context"] != "acute")]
        for analyte, when, value, unit in zip(
            keep["analyte"], keep["collected_at"], keep["value"], keep["unit"], strict=True
        ):
            rows.append(
                (
                    STORE_MEASURES[str(analyte)],
                    pd.Timestamp(when).to_pydatetime(),
                    float(value),
                    str(unit),
                )
            )
    if not diary.empty:
        keep = diary[diary["instrument"] == "symptom_diary"]
        for when, total in zip(keep["answered_on"], keep["total"], strict=True):
            day = _as_date(when)
            rows.append(
                ("symptom_load", dt.datetime(day.year, day.month, day.day, 12), float(total), "1")
            )
    if not rows:
        raise ValidationError.single(
            f"client {code}",
            "no tryptase, hs_crp or symptom_diary records",
            "at least one stored tryptase / hs_crp lab or symptom_diary questionnaire",
        )
    notes: list[str] = []
    if enrolments:
        origin = _as_date(enrolments[0]["started_on"])
    else:
        origin = min(r[1] for r in rows).date()
        notes.append("not enrolled: time zero is the first observation")
    start = dt.datetime(origin.year, origin.month, origin.day)
    frame = (
        pd.DataFrame(
            {
                "measure": [r[0] for r in rows],
                "time_h": [max((r[1] - start).total_seconds() / 3600.0, 0.0) for r in rows],
                "value": [r[2] for r in rows],
                "unit": [r[3] for r in rows],
            }
        )
        .sort_values(["time_h", "measure"], kind="stable")
        .reset_index(drop=True)
    )
    if (frame["time_h"] == 0).any() and any(r[1] < start for r in rows):
        notes.append("observations before time zero were placed at time zero")
    protocol = _protocol_from_interventions(interventions, origin, notes)
    label = next((e.get("phenotype_label") for e in enrolments if e.get("phenotype_label")), None)
    return frame, protocol, label, notes


def _protocol_from_interventions(
    frame: pd.DataFrame, origin: dt.date, notes: list[str]
) -> Protocol | None:
    if frame.empty:
        return None
    known = set(compile_model("essay").definition.input_map)
    modelled = frame[frame["intervention"].isin(known)]
    skipped = sorted(set(frame["intervention"]) - known)
    if skipped:
        notes.append("interventions without a model input (not simulated): " + ", ".join(skipped))
    if modelled.empty:
        return None
    starts = [_as_date(d) for d in modelled["start_date"]]
    ends = [None if pd.isna(d) else _as_date(d) for d in modelled["end_date"]]
    cuts = sorted(
        {max(d, origin) for d in starts} | {e for e in ends if e is not None and e > origin}
    )
    phases = []
    for k, day in enumerate(cuts):
        items = [
            {"id": str(i), "dose": float(dose)}
            for i, dose, s0, e0 in zip(
                modelled["intervention"], modelled["dose"], starts, ends, strict=True
            )
            if s0 <= day and (e0 is None or e0 > day)
        ]
        phases.append(
            {
                "id": f"phase_{k + 1}",
                "start_week": (day - origin).days / 7.0,
                "interventions": items,
            }
        )
    return protocol_from_mapping({"id": "stored_interventions", "phases": phases})


def run_fit(
    code: str,
    *,
    variant: str,
    database: str | None = None,
    phenotype: str | None = None,
    petab_dir: Path | None = None,
    n_starts: int = 4,
    seed: int = 0,
    scheduler: str | None = None,
    intervals: str = "wald",
    force: bool = False,
) -> dict[str, Any]:
    """Fit a stored client under one variant (or ``all``, with the comparison table).

    ``intervals``: ``"wald"`` or ``"profile"`` (profile likelihood; a few times slower).
    ``force``: replace existing files in ``petab_dir``.
    """
    if intervals not in INTERVAL_METHODS:
        raise ValidationError.single("--intervals", intervals, " or ".join(INTERVAL_METHODS))
    if petab_dir is not None:
        output_folder(petab_dir, option="--petab")
    observations, protocol, label, notes = client_observations(code, database)
    chosen = phenotype or (label if label in PHENOTYPES else None) or "A"
    if phenotype is None and label not in PHENOTYPES:
        notes.append(f"phenotype preset {chosen!r} used for the parameters not fitted")
    variants = list(VARIANTS) if variant == "all" else [variant]
    for v in variants:
        if v not in VARIANTS:
            raise ValidationError.single("--variant", v, "one of " + ", ".join([*VARIANTS, "all"]))
    result: dict[str, Any] = {
        "client": code,
        "phenotype": chosen,
        "protocol": protocol.model_dump(mode="json") if protocol is not None else None,
        "n_observations": len(observations),
        "measures": sorted(observations["measure"].unique()),
        "intervals": intervals,
        "notes": notes,
        "fits": {},
        "note": HYPOTHESIS_NOTE,
    }
    fits: dict[str, ClientFit] = {}
    if len(variants) > 1:
        # The comparison fits every variant to all observations anyway; report those fits.
        with dask_client(scheduler) as client:
            table = compare_variants(
                observations,
                variants,
                phenotype=chosen,
                protocol=protocol,
                n_starts=n_starts,
                seed=seed,
                client=client,
                fits=fits,
                intervals=intervals,
            )
        result["comparison"] = table.replace({np.nan: None}).to_dict(orient="records")
    else:
        fits[variants[0]] = ClientFit(
            variants[0],
            chosen,
            protocol=protocol,
            n_starts=n_starts,
            seed=seed,
            intervals=intervals,
        ).fit(observations)
    for v in variants:
        fit = fits[v]
        result["fits"][v] = {
            "estimates": fit.estimates_.to_dict(orient="records"),
            "log_likelihood": fit.log_likelihood_,
            "aic": fit.aic_,
            "bic": fit.bic_,
            "warnings": list(fit.interval_warnings_),
        }
        notes.extend(f"{v}: {w}" for w in fit.interval_warnings_)
        if intervals == "profile":
            result["fits"][v]["profile"] = fit.profile_.to_dict(orient="records")
    if petab_dir is not None:
        files = petab_problem(
            observations, variant=variants[0], phenotype=chosen, protocol=protocol
        )
        for name in files:  # every refusal before the first file is written
            check_output_file(petab_dir / name, force=force, option="--petab")
        for name, text in files.items():
            write_text(petab_dir / name, text, force=force, option="--petab")
        result["petab"] = {
            "directory": str(petab_dir),
            "variant": variants[0],
            "files": sorted(files),
        }
    return result


_SENSITIVITY_FILES = ("indices.csv", "time_resolved.csv", "sensitivity.png")


def run_sensitivity(
    *,
    variant: str,
    phenotype: str,
    method: str,
    n: int,
    output: str,
    at_week: float,
    out_dir: Path,
    summary: str = "value",
    protocol: str | Path | None = None,
    parameters: list[str] | None = None,
    seed: int = 1,
    scheduler: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Sobol or Morris indices; writes ``indices.csv``, ``time_resolved.csv`` and a figure.

    ``protocol`` as in :func:`run_population`: by default the phenotype's example protocol, so
    an output at week 16 is the output under treatment (with ``"none"`` every week repeats the
    pre-treatment steady state).
    """
    if method not in ("sobol", "morris"):
        raise ValidationError.single("--method", method, "sobol or morris")
    if summary not in ("value", "change"):
        raise ValidationError.single("--summary", summary, "value or change")
    output_folder(out_dir, option="--out")
    for name in _SENSITIVITY_FILES:
        check_output_file(out_dir / name, force=force, option="--out")
    protocol_used = resolve_protocol(protocol, phenotype)
    with dask_client(scheduler) as client:
        res = sensitivity_analysis(
            variant,
            phenotype,
            protocol_used,
            method=method,  # type: ignore[arg-type]
            n=n,
            output=output,
            at_week=at_week,
            summary=summary,  # type: ignore[arg-type]
            parameters=parameters,
            seed=seed,
            client=client,
            progress=progress,
        )
    indices, time_resolved, figure = _SENSITIVITY_FILES
    write_csv(res.indices, out_dir / indices, force=force, option="--out")
    write_csv(res.time_resolved, out_dir / time_resolved, force=force, option="--out")
    save_figure(res.figure(), out_dir / figure, force=force, option="--out", dpi=110)
    return {
        "method": method,
        "variant": variant,
        "phenotype": phenotype,
        "protocol": _protocol_label(protocol_used),
        "output": output,
        "summary": summary,
        "at_week": res.at_week,
        "runs": res.n_runs,
        "failed_runs": res.n_failed,
        "indices": res.indices.to_dict(orient="records"),
        "files": [
            str(out_dir / f) for f in ("indices.csv", "time_resolved.csv", "sensitivity.png")
        ],
        "note": HYPOTHESIS_NOTE,
    }
