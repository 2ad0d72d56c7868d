"""Cohort analysis (``hostcap analyze cohort``): open the store, read, analyse, write.

The steps, each owned elsewhere:

1. :func:`hostcap.clinical_store.cohort_records` reads the records (its module docstring says
   which record becomes which measure);
2. :func:`hostcap.outcome_analytics.frames_from_records` turns them into the ``measurements``
   and ``clients`` frames (weeks, phases, baseline features);
3. the outcome analytics and the mechanistic model compute;
4. :mod:`hostcap.reports` renders the tables, figures and ``summary.md``, which this module
   writes under the output folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from hostcap import output_files, reports
from hostcap.clinical_store import Store, cohort_records, new_pseudonyms
from hostcap.errors import HostcapError, InputError, ValidationError
from hostcap.mechanistic_model import (
    VARIANTS,
    InterventionDose,
    Phase,
    Protocol,
    simulate,
)
from hostcap.mechanistic_model import compare_variants as fit_every_variant
from hostcap.outcome_analytics import (
    CohortFrames,
    OrderComparison,
    PhenotypeDiscovery,
    compare_orders,
    compare_variants,
    composite_responders,
    discover_phenotypes,
    fit_mixed_models,
    frames_from_records,
    kaplan_meier,
    marker_order,
    outcome_timelines,
    predicted_order,
    responder_table,
    time_to_improvement,
)
from hostcap.services.modelling import example_protocol
from hostcap.services.modelling_scale import dask_client
from hostcap.services.store import open_store

__all__ = [
    "ANALYSIS_FILES",
    "MODEL_OBSERVABLES",
    "AnalysisOptions",
    "AnalysisSettings",
    "CohortFrames",
    "analyze_cohort",
    "analyze_cohort_at",
    "check_analysis_folder",
    "cohort_frames",
    "load_cohort",
    "model_predicted_orders",
    "run_cohort_analysis",
    "write_cohort_analysis",
]

#: The files :func:`analyze_cohort` writes (figures go to ``figures/``).
ANALYSIS_FILES: tuple[str, ...] = (
    "responders.csv",
    "marker_order.csv",
    "mixed_models.csv",
    "phenotype_discovery.json",
    "variant_comparison.csv",
    "summary.md",
)
#: Analytics measure → the mechanistic model's observable that predicts it.
MODEL_OBSERVABLES: Mapping[str, str] = {
    "tryptase": "tryptase_serum",
    "hs_crp": "hs_crp",
    "symptom_load": "symptom_load",
    "antihistamine_ddd": "antihistamine_need",
    "food_tolerance": "food_tolerance",
}
#: Phenotypes with a model preset and an example protocol.
MODEL_PHENOTYPES: tuple[str, ...] = ("A", "B", "C")


def load_cohort(store: Store) -> CohortFrames:
    """Build the analytics frames from a store: the records as
    :mod:`hostcap.clinical_store.cohort_queries` reads them, the frames as
    :mod:`hostcap.outcome_analytics.record_frames` builds them (each docstring says the rules)."""
    records = cohort_records(store)
    return frames_from_records(
        records.people, records.phases, records.observations, records.n_acute_left_out
    )


def cohort_frames(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(measurements, clients)`` for :mod:`hostcap.outcome_analytics` from a store."""
    frames = load_cohort(store)
    return frames.measurements, frames.clients


# ------------------------------------------------------------------------------------------------
# model variants (needs issue 4's per-client fitting)


#: Measures fitted per client: the laboratory values and the symptom load the model observes
#: directly (antihistamine DDD and the food fraction are recorded differently from the model's
#: derived need and 20-food panel, so they are not used as fitting data).
FIT_MEASURES: tuple[str, ...] = ("tryptase", "hs_crp", "symptom_load")


def client_protocols(store: Store, clients: pd.DataFrame) -> dict[str, Any]:
    """Each client's protocol as the model's ``Protocol``, from the stored intervention records.

    A phase starts at every week at which the set of active interventions changes (records are
    active from ``start_date`` to ``end_date`` inclusive, open end = ongoing), each with the
    recorded doses; weeks are counted from the enrolment start (``clients["enrolled_on"]``) and
    anything before it starts at week 0. A client without intervention records gets a protocol
    with no interventions.
    """
    records = store.frame("interventions")
    by_client = (
        {str(c): rows for c, rows in records.groupby("client_code", sort=False)}
        if len(records)
        else {}
    )
    out: dict[str, Any] = {}
    for code, enrolled, label in zip(
        clients["client"], clients["enrolled_on"], clients["phenotype"], strict=True
    ):
        start = pd.Timestamp(enrolled)
        rows = by_client.get(str(code))
        phases = []
        if rows is not None:
            begin = pd.to_datetime(rows["start_date"])
            finish = pd.to_datetime(rows["end_date"]) + pd.Timedelta(days=1)
            changes = sorted(
                {max(0.0, (d - start).days / 7.0) for d in begin}
                | {max(0.0, (d - start).days / 7.0) for d in finish.dropna()}
            )
            for i, week in enumerate(changes):
                day = start + pd.Timedelta(days=round(week * 7))
                active = (begin <= day) & (finish.isna() | (finish > day))
                doses = tuple(
                    InterventionDose(id=str(iv), dose=float(dose))
                    for iv, dose in zip(
                        rows.loc[active, "intervention"], rows.loc[active, "dose"], strict=True
                    )
                )
                phases.append(Phase(id=f"phase_{i}", start_week=week, interventions=doses))
        if not phases or phases[0].start_week > 0:
            phases.insert(0, Phase(id="before", start_week=0.0, interventions=()))
        phenotype = str(label) if str(label) in MODEL_PHENOTYPES else None
        out[str(code)] = Protocol(id=f"recorded_{code}", phenotype=phenotype, phases=tuple(phases))
    return out


def fit_observations(measurements: pd.DataFrame, client: str) -> pd.DataFrame:
    """One client's fitting data: ``measure, time_h, value`` (pre-enrolment values at t = 0,
    where the model starts from the pre-treatment steady state)."""
    rows = measurements.loc[
        (measurements["client"] == client) & measurements["measure"].isin(list(FIT_MEASURES))
    ]
    return pd.DataFrame(
        {
            "measure": [MODEL_OBSERVABLES[str(m)] for m in rows["measure"]],
            "time_h": rows["week"].clip(lower=0.0).to_numpy(dtype=float) * 168.0,
            "value": rows["value"].to_numpy(dtype=float),
        }
    ).reset_index(drop=True)


def fit_candidates(
    measurements: pd.DataFrame, clients: pd.DataFrame, max_clients: int, seed: int
) -> list[str]:
    """Up to ``max_clients`` clients to fit, drawn at random (seeded) among those with a model
    preset (phenotype A, B or C) and fitting data at ≥ 3 distinct times, ≥ 2 of them after
    week 0 (the leave-last-visit-out error needs a visit to hold out and two to refit)."""
    data = measurements.loc[measurements["measure"].isin(list(FIT_MEASURES))]
    times = data.assign(t=data["week"].clip(lower=0.0)).groupby("client")["t"]
    enough = (times.nunique() >= 3) & (
        data.loc[data["week"] > 0]
        .groupby("client")["week"]
        .nunique()
        .reindex(times.nunique().index, fill_value=0)
        >= 2
    )
    labelled = set(clients.loc[clients["phenotype"].isin(MODEL_PHENOTYPES), "client"])
    eligible = sorted(c for c in enough.index[enough.to_numpy()] if c in labelled)
    if len(eligible) <= max_clients:
        return eligible
    rng = np.random.default_rng(seed)
    return sorted(str(c) for c in rng.choice(eligible, size=max_clients, replace=False))


def _variant_errors(
    store: Store,
    frames: CohortFrames,
    scheduler: str | None,
    max_fit_clients: int,
    seed: int,
    step: Callable[[str], None],
) -> tuple[pd.DataFrame | None, str]:
    """Per-client leave-last-visit-out error per variant, or ``None`` and why there is none.

    Uses ``hostcap.mechanistic_model.compare_variants`` (issue 4: every variant fitted to one
    client's observations by :class:`ClientFit`; ``lvo_rmse`` = root mean square of the
    standardised residuals of the held-out last visit). Never invents numbers.
    """
    if max_fit_clients == 0:
        return None, "no numbers: per-client fits were not requested (max_fit_clients = 0)"
    chosen = fit_candidates(frames.measurements, frames.clients, max_fit_clients, seed)
    if not chosen:
        return None, (
            "no numbers: no client has a model preset (phenotype A, B or C) and tryptase, "
            "hs-CRP or symptom load at 3 or more times"
        )
    protocols = client_protocols(store, frames.clients.loc[frames.clients["client"].isin(chosen)])
    phenotype_of = frames.clients.set_index("client")["phenotype"]
    rows: list[tuple[str, str, float]] = []
    failures: list[str] = []
    jobs = {
        code: (
            fit_observations(frames.measurements, code),
            {"phenotype": str(phenotype_of[code]), "protocol": protocols[code], "seed": seed},
        )
        for code in chosen
    }
    tables: dict[str, pd.DataFrame] = {}
    with dask_client(scheduler) as cluster:
        if cluster is None:
            for i, code in enumerate(chosen, 1):
                step(f"fitting every model variant to client {i} of {len(chosen)}")
                try:
                    tables[code] = fit_every_variant(jobs[code][0], **jobs[code][1])
                except HostcapError as exc:
                    failures.append(f"{code}: {exc}")
        else:
            # One task per client (its variants fitted in that worker), all submitted at once:
            # workers stay busy across clients instead of waiting for a client's slowest variant.
            step(f"fitting every model variant to {len(chosen)} clients on the Dask cluster")
            futures = {
                code: cluster.submit(fit_every_variant, obs, **kwargs, pure=False)
                for code, (obs, kwargs) in jobs.items()
            }
            for code, future in futures.items():
                try:
                    tables[code] = future.result()
                except HostcapError as exc:
                    failures.append(f"{code}: {exc}")
    for code in chosen:
        if code not in tables:
            continue
        table = tables[code]
        for variant, error in zip(table["variant"], table["lvo_rmse"], strict=True):
            if np.isfinite(float(error)):
                rows.append((code, str(variant), float(error)))
    note = (
        f"held-out last-visit error (RMS standardised residual, 1 = as good as measurement "
        f"noise allows) of each variant fitted per client to {', '.join(FIT_MEASURES)} under "
        f"the client's recorded interventions; {len(chosen)} client(s) drawn at random "
        f"(at most {max_fit_clients})"
    )
    if failures:
        note += f"; {len(failures)} fit(s) failed: " + "; ".join(failures[:3])
    if not rows:
        return None, "no numbers: " + note
    return pd.DataFrame(rows, columns=["client", "variant", "held_out_error"]), note


def model_predicted_orders(
    phenotype: str, *, weeks: float = 16.0
) -> tuple[dict[str, list[str]], str]:
    """Each model variant's predicted order of improvement for one phenotype, and a note.

    Every variant of :mod:`hostcap.mechanistic_model` is simulated from the phenotype's preset
    under the phenotype's example protocol (``hostcap.services.modelling.example_protocol``)
    for ``weeks``; the noise-free observables (:data:`MODEL_OBSERVABLES`) are read with the same
    reliable-change rules as the data (:func:`hostcap.outcome_analytics.predicted_order`).
    Clients' recorded protocols may differ from the example protocol; the note says so. When
    the model or the example protocols are not available, the mapping is empty and the note
    says why (nothing is invented).
    """
    orders: dict[str, list[str]] = {}
    failed: list[str] = []
    for variant in VARIANTS:
        try:
            traj = simulate(variant, example_protocol(phenotype), phenotype=phenotype, weeks=weeks)
        except HostcapError as exc:
            failed.append(f"{variant}: {exc}")
            continue
        frame = pd.concat(
            [
                pd.DataFrame({"measure": measure, "week": traj.week, "value": traj[observable]})
                for measure, observable in MODEL_OBSERVABLES.items()
            ],
            ignore_index=True,
        )
        orders[str(variant)] = predicted_order(frame)[0]
    note = (
        "model predictions: each variant simulated from the phenotype's preset under that "
        f"phenotype's example protocol for {weeks:g} weeks (clients' own protocols may differ); "
        "a measure is in a variant's order when its noise-free prediction crosses the "
        "reliable-change threshold"
    )
    if failed:
        note += f"; phenotype {phenotype}, not simulated: " + "; ".join(failed)
    return orders, note


# ------------------------------------------------------------------------------------------------
# the analysis


@contextmanager
def _progress(enabled: bool, console: Console | None) -> Iterator[Callable[[str], None]]:
    """A rich progress display of named steps; yields ``step(description)``."""
    if not enabled:
        yield lambda _description: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=False,
    ) as progress:
        task: list[Any] = []

        def step(description: str) -> None:
            if task:
                progress.update(task[-1], completed=1, total=1)
            task.append(progress.add_task(description, total=1))

        yield step
        if task:
            progress.update(task[-1], completed=1, total=1)


class AnalysisOptions(TypedDict, total=False):
    """The keyword options of a cohort analysis (:func:`analyze_cohort` says what each does);
    one left out takes its default from :class:`AnalysisSettings`."""

    max_fit_clients: int
    n_bootstrap: int
    seed: int
    model_orders: bool
    progress: bool
    console: Console | None


@dataclass(frozen=True)
class AnalysisSettings:
    """:class:`AnalysisOptions` with the defaults of ``hostcap analyze cohort`` filled in."""

    max_fit_clients: int = 30
    n_bootstrap: int = 200
    seed: int = 0
    model_orders: bool = True
    progress: bool = False
    console: Console | None = None

    def checked(self) -> AnalysisSettings:
        """These settings, once ``max_fit_clients`` is known to be ≥ 0."""
        if self.max_fit_clients < 0:
            raise ValidationError.single("max_fit_clients", self.max_fit_clients, "an integer ≥ 0")
        return self


def _run_analysis(
    store: Store,
    frames: CohortFrames,
    step: Callable[[str], None],
    scheduler: str | None,
    settings: AnalysisSettings,
) -> reports.CohortAnalysis:
    max_fit_clients, n_bootstrap, seed = (
        settings.max_fit_clients,
        settings.n_bootstrap,
        settings.seed,
    )
    m, c = frames.measurements, frames.clients
    step("responders and reliable change")
    responders = responder_table(m)
    composite = composite_responders(responders)
    step("time to sustained improvement and marker order")
    times = time_to_improvement(m)
    order = marker_order(times, n_bootstrap=n_bootstrap, seed=seed) if len(times) else None
    km_table = kaplan_meier(times)[0] if len(times) else pd.DataFrame()
    with_phen = times.merge(c[["client", "phenotype"]], on="client")
    km_by_phenotype = (
        kaplan_meier(with_phen, by=("phenotype", "measure"))[0]
        if len(with_phen)
        else pd.DataFrame(columns=["phenotype", "measure"])
    )
    order_by_phenotype = {
        str(p): marker_order(part.drop(columns="phenotype"), n_bootstrap=n_bootstrap, seed=seed)
        for p, part in with_phen.groupby("phenotype", sort=True)
        if part["client"].nunique() >= 5
    }
    order_comparisons: dict[str, OrderComparison] = {}
    order_notes: list[str] = []
    if settings.model_orders:
        step("model variants' predicted marker order")
        for phenotype, observed in order_by_phenotype.items():
            if phenotype not in MODEL_PHENOTYPES:
                continue
            predicted, note = model_predicted_orders(phenotype)
            order_notes.append(note)
            if predicted:
                order_comparisons[phenotype] = compare_orders(observed, predicted)
    step("mixed models per measure")
    fits = fit_mixed_models(m, c) if len(m) else []
    step("phenotype discovery")
    discovery: PhenotypeDiscovery | None = None
    reason = ""
    try:
        features = [str(col) for col in c.columns if str(col).startswith("baseline_")]
        discovery = discover_phenotypes(
            c, features=features, max_k=5, n_bootstrap=min(n_bootstrap, 50), seed=seed
        )
    except ValidationError as exc:
        reason = f"not run: {exc}"
    step("outcome timelines per phenotype")
    timelines = outcome_timelines(m, c) if len(m) else None
    step("model variants vs data")
    errors, variant_note = _variant_errors(store, frames, scheduler, max_fit_clients, seed, step)
    variants = None
    if errors is not None:
        variants = compare_variants(errors, n_bootstrap=max(1000, n_bootstrap), seed=seed)
        variant_note = variants.note + "; " + variant_note
    return reports.CohortAnalysis(
        frames=frames,
        responders=responders,
        composite=composite,
        times=times,
        order=order,
        order_by_phenotype=order_by_phenotype,
        order_comparisons=order_comparisons,
        order_notes=order_notes,
        km_table=km_table,
        km_by_phenotype=km_by_phenotype,
        fits=fits,
        discovery=discovery,
        discovery_reason=reason,
        timelines=timelines,
        variants=variants,
        variant_note=variant_note,
    )


def analyze_cohort(
    store: Store,
    out_dir: Path,
    scheduler: str | None = None,
    *,
    force: bool = False,
    identified: bool = False,
    **options: Unpack[AnalysisOptions],
) -> dict[str, Path]:
    """Analyse the whole cohort in ``store`` and write the results under ``out_dir``.

    Parameters
    ----------
    store
        An initialised store.
    out_dir
        Folder for :data:`ANALYSIS_FILES` and ``figures/`` (created). A folder that already
        holds analysis files is refused before any work unless ``force``.
    scheduler
        Address of a Dask scheduler for the per-client model fits (issue 4); ``None`` runs them
        in process.
    max_fit_clients
        At most this many clients (drawn at random with ``seed``) are fitted under every
        variant for the model-vs-data comparison; 0 skips the fits. Fits are slow: about 25 s
        per client for the four variants in one process (pass ``scheduler`` to spread them).
        The default 5 is the fewest clients for which the ranking reports an interval; it can
        show a large difference between variants, not a small one. In
        ``benchmarks/results/variant_ranking.md`` 24 fitted clients separated the true ``null``
        from every mechanistic variant, but not ``essay`` from ``null`` when ``essay`` was true.
    n_bootstrap
        Bootstrap resamples for the marker-order intervals (≥ 20).
    seed
        Seed of every resampling and fit (same seed, same files).
    model_orders
        Simulate each model variant for phenotypes A, B and C (those with ≥ 5 clients) and lay
        its predicted marker order beside the observed one (:func:`model_predicted_orders`).
    progress
        Show a rich progress display of the steps on ``console`` (default stderr).

    Returns
    -------
    dict of str to Path
        Every file written, by its name relative to ``out_dir``.
    """
    settings = AnalysisSettings(**options).checked()
    out = _check_analysis_folder(Path(out_dir), force=force)
    with _progress(settings.progress, settings.console) as step:
        step("reading the store")
        frames = load_cohort(store)
        results = _run_analysis(store, frames, step, scheduler, settings)
        step("writing tables and figures")
        files = _write_results(
            results,
            out,
            store.engine.url.render_as_string(hide_password=True),
            identified=identified,
        )
    if identified:
        store.record_audit(
            action="export_identified",
            entity="analysis",
            after={"folder": str(out), "files": ["responders.csv"]},
        )
    return files


def run_cohort_analysis(
    store: Store,
    frames: CohortFrames | None = None,
    scheduler: str | None = None,
    **options: Unpack[AnalysisOptions],
) -> reports.CohortAnalysis:
    """The analysis :func:`analyze_cohort` runs, returned instead of written (the article
    pack of ``hostcap report cohort`` renders it); ``frames`` default to the whole store."""
    settings = AnalysisSettings(**options).checked()
    with _progress(settings.progress, settings.console) as step:
        if frames is None:
            step("reading the store")
            frames = load_cohort(store)
        return _run_analysis(store, frames, step, scheduler, settings)


def write_cohort_analysis(
    results: reports.CohortAnalysis, store: Store, out_dir: Path, *, force: bool = False
) -> dict[str, Path]:
    """Write ``results`` as :func:`analyze_cohort` writes its analysis (same files)."""
    out = _check_analysis_folder(Path(out_dir), force=force)
    return _write_results(results, out, store.engine.url.render_as_string(hide_password=True))


def _write_results(
    results: reports.CohortAnalysis, out: Path, source: str, *, identified: bool = False
) -> dict[str, Path]:
    """Every table, figure and the summary under ``out``, as :mod:`hostcap.reports` renders
    them (the folder was checked, or --force given, before the analysis ran).

    ``responders.csv`` is the one file that names clients: by fresh random pseudonyms (as in a
    de-identified export) unless ``identified``.
    """
    files: dict[str, Path] = {}
    responders = reports.responders_csv_table(results)
    if not identified and not responders.empty:
        responders["client"] = responders["client"].map(new_pseudonyms(responders["client"]))
    files["responders.csv"] = _csv(responders, out / "responders.csv")
    files["marker_order.csv"] = _csv(reports.marker_order_table(results), out / "marker_order.csv")
    files["mixed_models.csv"] = _csv(reports.mixed_models_table(results), out / "mixed_models.csv")
    path = out / "phenotype_discovery.json"
    output_files.write_text(
        path,
        json.dumps(reports.discovery_document(results), indent=2, allow_nan=False) + "\n",
        force=True,
        option="--out",
    )
    files["phenotype_discovery.json"] = path
    files["variant_comparison.csv"] = _csv(
        reports.variant_table(results), out / "variant_comparison.csv"
    )
    figures = out / "figures"
    output_files.output_folder(figures, option="--out")
    for name, figure in reports.summary_figures(results):
        # Figures are regenerated as a set; the folder was checked before the analysis ran.
        files[f"figures/{name}"] = output_files.save_figure(
            figure, figures / name, force=True, option="--out", dpi=110
        )
    summary = out / "summary.md"
    files["summary.md"] = summary
    output_files.write_text(
        summary, reports.cohort_summary_markdown(results, source, files), force=True, option="--out"
    )
    return files


def check_analysis_folder(out: Path, *, force: bool) -> Path:
    """Refuse, before any work, a folder holding an analysis unless ``force``."""
    return _check_analysis_folder(Path(out), force=force)


def _check_analysis_folder(out: Path, *, force: bool) -> Path:
    """Refuse, before minutes of work, a folder holding an analysis unless ``force``."""
    output_files.output_folder(out, option="--out")
    for name in ANALYSIS_FILES:
        output_files.check_output_file(out / name, force=force, option="--out")
    figures = out / "figures"
    if figures.is_symlink() or figures.exists():
        output_files.output_folder(figures, option="--out")
        if not force and any(figures.glob("*.png")):
            raise InputError(
                f"--out {str(figures)!r} already holds figures; expected a new folder, or "
                "--force to replace them",
                field="--out",
                value=str(figures),
                expected="a new folder, or --force",
            )
    return out


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    # The folder was checked (or --force given) before the analysis ran.
    return output_files.write_csv(frame, path, force=True, option="--out", float_format="%.10g")


def analyze_cohort_at(
    database_url: str | None,
    out_dir: Path,
    scheduler: str | None = None,
    **options: Any,
) -> dict[str, Path]:
    """:func:`analyze_cohort` on the store at ``database_url`` (or the configured default)."""
    store = open_store(database_url)
    try:
        return analyze_cohort(store, out_dir, scheduler, **options)
    finally:
        store.dispose()
