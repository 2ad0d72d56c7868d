"""The main job (``hostcap demo`` / ``make run``): the whole loop on the embedded SQLite default.

1. *Practice demo*: four clearly labelled demo clients in the practice store, each shown with
   its safety banner first, then assessed (triage, criteria, hypothesis phenotype, plan) and
   the assessment saved with the rulebook version and hash.
2. *Mechanistic model*: phenotypes A, B and C simulated under their example protocols
   (``essay`` variant, a hypothesis), tidy CSV plus a plot each.
3. *Research loop* on a separate synthetic cohort store (never mixed with practice data):
   synthesise a cohort with known ground truth, assess every client, fit and compare the model
   variants on a capped number of clients, analyse the cohort, and write the summary and figures.
4. *Publishing*: the cohort article pack (``article/``, from the same analysis run as
   ``analysis/``) and a de-identified CARE case report of one synthetic client
   (``case-report/``; its case-report consent is recorded first, marked as the demo's).

Each step reports through a callback, so the CLI stays a thin face; the steps' wall times are
returned so the closing note and the README can quote them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostcap.clinical_store import Store
from hostcap.services.assessment import AssessmentSummary, assess_stored_clients
from hostcap.services.demo import record_demo_clients
from hostcap.services.main_job_options import MainJobOptions
from hostcap.services.modelling import simulate_example_protocols
from hostcap.services.modelling_scale import local_scheduler
from hostcap.services.publishing import add_consent, case_report, cohort_pack
from hostcap.services.synthesis import synthesize_cohort

__all__ = ["MainJobOptions", "MainJobResult", "run_demo_clients", "run_research_loop"]

Say = Callable[[str], None]


@dataclass
class MainJobResult:
    """What the main job made, and how long each step took (seconds)."""

    demo_codes: list[str] = field(default_factory=list)
    demo_assessments: list[AssessmentSummary] = field(default_factory=list)
    trajectories: list[Path] = field(default_factory=list)
    cohort: dict[str, Any] = field(default_factory=dict)
    cohort_assessments: list[AssessmentSummary] = field(default_factory=list)
    analysis: dict[str, Path] = field(default_factory=dict)
    article: dict[str, Path] = field(default_factory=dict)
    case_report: dict[str, Path] = field(default_factory=dict)
    case_report_code: str = ""
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(result: MainJobResult, step: str, say: Say, text: str) -> Iterator[None]:
    say(text)
    start = time.perf_counter()
    yield
    result.seconds[step] = round(time.perf_counter() - start, 2)


def run_demo_clients(
    store: Store, out_dir: Path, result: MainJobResult, say: Say
) -> list[dict[str, Any]]:
    """Steps 1–2: the demo clients (recorded, then assessed and saved) and the model examples.

    Returns one line per demo client (code and the pattern it resembles) for the face to show.
    """
    with _timed(result, "demo_clients", say, "recording the demo clients"):
        lines = record_demo_clients(store)
        result.demo_codes = [str(line["code"]) for line in lines]
    with _timed(result, "demo_assessments", say, "assessing the demo clients"):
        result.demo_assessments = assess_stored_clients(store, result.demo_codes)
    with _timed(result, "model_examples", say, "simulating phenotypes A, B, C (essay variant)"):
        # The demo regenerates its own output folder as a whole.
        result.trajectories = simulate_example_protocols(out_dir / "trajectories", force=True)
    return lines


@contextmanager
def _fit_scheduler(scheduler: str | None, options: MainJobOptions) -> Iterator[str | None]:
    """The given scheduler, else a local cluster for the variant fits (when there are fits)."""
    if scheduler is not None or options.max_fit_clients == 0:
        yield scheduler
        return
    with local_scheduler(options.fit_workers) as address:
        yield address


def run_research_loop(
    cohort_url: str,
    out_dir: Path,
    options: MainJobOptions,
    result: MainJobResult,
    say: Say,
    *,
    scheduler: str | None = None,
) -> None:
    """Step 3: synthesise → assess every client → fit and compare variants → analyse."""
    with _timed(result, "synthesise", say, f"synthesising {options.cohort_size} clients"):
        result.cohort = synthesize_cohort(
            cohort_url,
            options.cohort_size,
            options.seed,
            variant=options.variant,
            effect_scale=options.effect_scale,
            weeks=options.weeks,
            truth_out=out_dir / "cohort-truth.json",
            force=True,
        )
    store = Store(cohort_url)
    try:
        with _timed(result, "assess_cohort", say, "assessing every cohort client"):
            result.cohort_assessments = assess_stored_clients(store)
        with (
            _timed(result, "analyse", say, "fitting variants, analysing, writing the article"),
            _fit_scheduler(scheduler, options) as address,
        ):
            # One analysis run gives both analysis/ (as `analyze cohort`) and article/.
            files = cohort_pack(
                store,
                out_dir / "article",
                scheduler=address,
                analysis_dir=out_dir / "analysis",
                max_fit_clients=options.max_fit_clients,
                n_bootstrap=options.n_bootstrap,
                seed=options.seed,
                force=True,
            )
            result.analysis = {
                k.removeprefix("analysis/"): v
                for k, v in files.items()
                if k.startswith("analysis/")
            }
            result.article = {k: v for k, v in files.items() if not k.startswith("analysis/")}
        with _timed(result, "case_report", say, "writing a de-identified case report"):
            code = next((s.code for s in result.cohort_assessments if not s.error), "")
            if code:
                # A synthetic client cannot consent; the demo records the consent the report
                # requires, so that the refusal path stays the only path.
                add_consent(store, code, scope="case_report", consented_on=dt.date.today())
                result.case_report = case_report(store, code, out_dir / "case-report", force=True)
                result.case_report_code = code
    finally:
        store.dispose()
