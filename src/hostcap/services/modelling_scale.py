"""Services for the model at scale: virtual populations, global sensitivity, per-client fitting.

The CLI (``hostcap population``, ``hostcap sensitivity``, ``hostcap fit``) is a thin face over these
functions; they read inputs (protocol files, the clinical store), call the pure core in
:mod:`hostcap.mechanistic_model` and write the result files. THE MODEL IS A HYPOTHESIS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hostcap.errors import InputError
from hostcap.mechanistic_model import (
    HYPOTHESIS_NOTE,
    Protocol,
    generate_population,
    protocol_from_yaml,
    simulate_population,
)

__all__ = ["dask_client", "load_protocol", "run_population"]

Progress = Callable[[int, int], None]


def load_protocol(path: Path | None) -> Protocol | None:
    """A protocol YAML file, validated (``None`` for no file)."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read protocol file {path}: {exc.strerror}") from exc
    return protocol_from_yaml(text)


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


def run_population(
    *,
    variant: str,
    phenotype: str,
    n: int,
    seed: int,
    weeks: float,
    out: Path,
    protocol_path: Path | None = None,
    params_out: Path | None = None,
    full: bool = False,
    scheduler: str | None = None,
    chunk_size: int = 2_000,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate a virtual cohort, simulate it, and write the quantile bands (and members).

    Writes ``out`` (parquet: ``time_h, name, quantile, value``), with ``full`` also
    ``<out stem>-members.parquet`` (``member, time_h, name, value``), and with ``params_out`` a CSV
    of ``member`` plus every parameter and initial state by SBML id.

    Returns
    -------
    dict
        A summary: counts, acceptance rate, statuses and the files written.
    """
    protocol = load_protocol(protocol_path)
    with dask_client(scheduler) as client:
        population = generate_population(
            variant, phenotype, n, seed=seed, chunk_size=chunk_size, client=client
        )
        run = simulate_population(
            population,
            protocol,
            weeks=weeks,
            keep_members=full,
            chunk_size=chunk_size,
            client=client,
            progress=progress,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    run.bands.to_parquet(out, index=False)
    written = [str(out)]
    if full and run.members is not None:
        members_path = out.with_name(f"{out.stem}-members.parquet")
        run.members.to_parquet(members_path, index=False)
        written.append(str(members_path))
    if params_out is not None:
        params_out.parent.mkdir(parents=True, exist_ok=True)
        population.parameters_frame().to_csv(params_out, index=False, float_format="%.17g")
        written.append(str(params_out))
    return {
        "variant": variant,
        "phenotype": phenotype,
        "protocol": protocol.id if protocol is not None else None,
        "members": population.n,
        "candidates_drawn": population.n_drawn,
        "acceptance_rate": round(population.acceptance_rate, 4),
        "acceptance": [f"{r.name} in [{r.low:g}, {r.high:g}]" for r in population.acceptance],
        "status": run.status_counts(),
        "exact_quantiles": run.exact_quantiles,
        "files": written,
        "note": HYPOTHESIS_NOTE,
    }
