"""Cohort analyses started from the web app: one at a time per store, in a background thread.

Each run writes ``hostcap analyze cohort``'s files (de-identified: ``responders.csv`` names
clients by fresh pseudonyms) into its own folder under the analysis folder: the setting
``web_analysis_dir``, else ``STORE.analyses`` beside a SQLite file, else ``analyses/<hash of the
URL>`` in the user data directory. The research page shows the newest finished run's tables
and figures (aggregates over relative weeks only).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import platformdirs
from sqlalchemy.engine import make_url

from hostcap.clinical_store import Store
from hostcap.errors import DuplicateError, HostcapError, NotFoundError
from hostcap.services.analytics import analyze_cohort
from hostcap.settings import setting

__all__ = [
    "AnalysisJob",
    "analysis_figure",
    "analysis_job",
    "analysis_root",
    "last_analysis",
    "start_analysis",
]

#: What a web-started analysis runs (the CLI offers every option; this is the quick default).
WEB_ANALYSIS_OPTIONS: dict[str, Any] = {
    "model_orders": False,
    "max_fit_clients": 8,
    "n_bootstrap": 100,
}
#: Runs are numbered, not dated: the research view shows no dates.
_RUN = re.compile(r"^run_\d{4,}$")
_FIGURE = re.compile(r"^[a-z0-9_]+\.png$")


@dataclass
class AnalysisJob:
    """One analysis started from the web app."""

    run: str
    actor: str
    started: dt.datetime
    state: str = "running"  # running, done, failed
    finished: dt.datetime | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        now = self.finished or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return {
            "run": self.run,
            "state": self.state,
            "elapsed_s": int((now - self.started).total_seconds()),
            "error": self.error,
        }


_JOBS: dict[str, AnalysisJob] = {}
_LOCK = threading.Lock()


def analysis_root(store: Store) -> Path:
    """Where the web app's analyses of ``store`` are written (see the module docstring)."""
    explicit = setting("web_analysis_dir")
    if explicit:
        return Path(explicit).expanduser()
    url = make_url(store.url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(str(url.database)).expanduser()
        return database.with_name(database.name + ".analyses")
    digest = hashlib.sha256(url.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return Path(platformdirs.user_data_dir("hostcap", appauthor=False)) / "analyses" / digest


def analysis_job(store: Store) -> dict[str, Any] | None:
    """The state of the newest analysis started from this process, if any."""
    job = _JOBS.get(store.url)
    return None if job is None else job.as_dict()


def _run(store: Store, job: AnalysisJob, folder: Path) -> None:
    try:
        analyze_cohort(store, folder, **WEB_ANALYSIS_OPTIONS)
        job.state = "done"
    except HostcapError as exc:
        job.state, job.error = "failed", str(exc).splitlines()[0]
    except Exception as exc:  # a background run reports its failure, never raises
        job.state, job.error = "failed", f"the analysis failed ({type(exc).__name__})"
    job.finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.record_audit(
        action="analyze",
        entity="cohort",
        entity_id=job.run,
        after={"state": job.state, "error": job.error},
        actor=job.actor,
    )


def start_analysis(store: Store, *, actor: str) -> AnalysisJob:
    """Start an analysis of the whole cohort in the background (one at a time per store)."""
    with _LOCK:
        current = _JOBS.get(store.url)
        if current is not None and current.state == "running":
            raise DuplicateError(
                f"an analysis is already running (run {current.run}, started by "
                f"{current.actor}); expected it to finish first",
                field="analysis",
                value=current.run,
                expected="no analysis running",
            )
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        root = analysis_root(store)
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        numbers = [int(p.name[4:]) for p in root.glob("run_*") if _RUN.match(p.name)]
        job = AnalysisJob(run=f"run_{max(numbers, default=0) + 1:04d}", actor=actor, started=now)
        folder = root / job.run
        store.record_audit(
            action="analyze",
            entity="cohort",
            entity_id=job.run,
            after={"state": "started"},
            actor=actor,
        )
        _JOBS[store.url] = job
    threading.Thread(target=_run, args=(store, job, folder), daemon=True).start()
    return job


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    frame = pd.read_csv(path)
    return [
        {str(k): (None if pd.isna(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def last_analysis(store: Store) -> dict[str, Any] | None:
    """The newest finished run: its marker order and variant comparison tables and figures."""
    root = analysis_root(store)
    runs = sorted(
        (p for p in root.glob("run_*") if _RUN.match(p.name) and (p / "summary.md").is_file()),
        key=lambda p: int(p.name[4:]),
        reverse=True,
    )
    if not runs:
        return None
    folder = runs[0]
    figures = sorted(p.name for p in (folder / "figures").glob("*.png") if _FIGURE.match(p.name))
    return {
        "run": folder.name,
        "marker_order": _rows(folder / "marker_order.csv"),
        "variant_comparison": _rows(folder / "variant_comparison.csv"),
        "figures": figures,
    }


def analysis_figure(store: Store, run: str, name: str) -> Path:
    """The path of one figure of a run (names checked: nothing outside the analysis folder)."""
    path = analysis_root(store) / run / "figures" / name
    if not (_RUN.match(run) and _FIGURE.match(name) and path.is_file()):
        raise NotFoundError(f"no figure {name!r} in analysis {run!r}")
    return path
