"""``hostcap demo``: the main job of ``make run`` on the embedded SQLite default."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.rule import Rule

from hostcap.cli.consoles import console, err
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption
from hostcap.cli.store_commands import _render_overview
from hostcap.errors import ValidationError
from hostcap.output_files import output_folder
from hostcap.services.main_job_options import MainJobOptions

if TYPE_CHECKING:
    from hostcap.services import assessment_reports, client_view, main_job
    from hostcap.services import store as store_services
    from hostcap.services.main_job import MainJobResult
else:
    assessment_reports = LazyModule("hostcap.services.assessment_reports")
    client_view = LazyModule("hostcap.services.client_view")
    main_job = LazyModule("hostcap.services.main_job")
    store_services = LazyModule("hostcap.services.store")

__all__ = ["app"]


def _say(text: str) -> None:
    err.print(f"[dim]… {text}[/]")


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="directory for demo outputs")] = Path(
        "hostcap-demo"
    ),
    database: DatabaseOption = None,
    cohort_database: Annotated[
        str | None,
        typer.Option(
            "--cohort-database",
            help="store for the synthetic research cohort (default: a fresh OUT/cohort.sqlite; "
            "kept apart from the practice store)",
        ),
    ] = None,
    cohort_size: Annotated[
        int, typer.Option("--cohort-size", help="synthetic clients in the research loop")
    ] = MainJobOptions.cohort_size,
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="seed of the synthetic cohort")
    ] = 1,
    skip_cohort: Annotated[
        bool, typer.Option("--skip-cohort", help="only the practice demo and the model examples")
    ] = False,
    max_fit_clients: Annotated[
        int,
        typer.Option(
            "--max-fit-clients",
            help="cohort clients fitted under every model variant (0 skips the fits)",
        ),
    ] = MainJobOptions.max_fit_clients,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Dask scheduler address for the fits (default: a local cluster of up to 4 "
            "worker processes)",
        ),
    ] = None,
) -> None:
    """Demo clients (assessed), model examples, and a synthetic cohort analysed end to end."""
    if cohort_size < 20:
        raise ValidationError.single("--cohort-size", cohort_size, "at least 20 clients")
    if max_fit_clients < 0:
        raise ValidationError.single("--max-fit-clients", max_fit_clients, "an integer ≥ 0")
    started = time.perf_counter()
    output_folder(out, option="--out")
    result = main_job.MainJobResult()
    store = store_services.open_store(database, require_schema=False)
    store.init()
    console.print(Rule("hostcap demo — invented DEMONSTRATION data, not real clients"))
    console.print(f"practice store: {store.engine.url!r}", markup=False)
    try:
        lines = main_job.run_demo_clients(store, out, result, _say)
        for line in lines:
            console.print(Rule(f"{line['code']}: resembles {line['resembles']}"))
            _render_overview(client_view.client_view(store, line["code"]))
        console.print(Rule("assessments (saved with the rulebook version and hash)"))
        for summary in result.demo_assessments:
            console.print(assessment_reports.format_summary(summary), markup=False, end="")
        check = store.verify_audit()
        console.print(
            f"audit chain: {'intact' if check.ok else 'BROKEN'} ({check.entries} entries)"
        )
    finally:
        store.dispose()
    console.print(Rule("mechanistic model (essay variant — a hypothesis, not established biology)"))
    for path in result.trajectories:
        console.print(f"  {path}", markup=False)
    if not skip_cohort:
        options = MainJobOptions(
            cohort_size=cohort_size, seed=seed, max_fit_clients=max_fit_clients
        )
        _research_loop(out, cohort_database, options, scheduler, result)
    console.print(Rule("timings (s)"))
    console.print(", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()), markup=False)
    console.print(f"total {time.perf_counter() - started:.1f} s; outputs under {out}", markup=False)


def _research_loop(
    out: Path,
    cohort_database: str | None,
    options: MainJobOptions,
    scheduler: str | None,
    result: MainJobResult,
) -> None:
    if cohort_database is None:
        path = out / "cohort.sqlite"
        # A fresh cohort each run: the old store goes with its audit key and head files.
        for suffix in ("", "-wal", "-shm", ".audit-key", ".audit-key.head", ".audit-key.lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        cohort_database = f"sqlite:///{path}"
    console.print(Rule("research loop on a SYNTHETIC cohort (known ground truth, no real people)"))
    main_job.run_research_loop(cohort_database, out, options, result, _say, scheduler=scheduler)
    cohort = result.cohort
    console.print(
        f"cohort store: {cohort_database}; {cohort['n_clients']} clients, phenotypes "
        f"{cohort['phenotypes']}, HaT carriers {cohort['hat_carriers']}, "
        f"dropouts {cohort['dropouts']}; truth: {cohort['truth']}",
        markup=False,
    )
    levels = Counter(s.triage_level or "not assessed" for s in result.cohort_assessments)
    labels = Counter(s.phenotype_label or "-" for s in result.cohort_assessments)
    console.print(f"assessed {len(result.cohort_assessments)} clients: triage {dict(levels)}")
    console.print(f"rule-based phenotype labels (hypothesis): {dict(labels)}")
    console.print("analysis:")
    for name, path in result.analysis.items():
        console.print(f"  {name}: {path}", markup=False)
    console.print(Rule("publishing (de-identified; SYNTHETIC clients labelled as such)"))
    for name in ("article.pdf", "article.html", "methods.md", "table1.csv"):
        if name in result.article:
            console.print(f"  article pack: {result.article[name]}", markup=False)
    for name in ("case-report.pdf", "case-report.html", "care-checklist.csv"):
        if name in result.case_report:
            console.print(f"  case report: {result.case_report[name]}", markup=False)
