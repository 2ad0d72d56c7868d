"""Cohort analysis: the store's records → tidy frames → outcome analytics → files and figures.

How the store's records become the analytics' ``measurements`` frame (one row per client, measure
and week; ``week`` = days since the client's first enrolment start ÷ 7):

============================  ===============================================================
measure                       source
============================  ===============================================================
``tryptase``, ``hs_crp``      labs in the canonical unit (ng/mL, mg/L). Samples with context
                              ``acute`` are left out: they answer "was this episode mast-cell
                              mediated?" (consensus-1 criterion B), not "is the baseline
                              falling?" (docs/evidence.md#valent2012_mcas_criteria).
``fss_mean``, ``gsrs_mean``   questionnaires: the item mean the catalog scored on entry.
``compass31_total``,          questionnaires: the catalog's total.
``mct_total``
``symptom_load``              the ``symptom_diary`` questionnaire's total (mean of six 0–10
                              ratings), or a finding with field ``symptom_load`` (numeric);
                              both on one day are averaged.
``antihistamine_ddd``         at each date on which the client has any other observation or a
                              recorded visit: Σ ``ddd_per_day`` of H1 and H2 antihistamines
                              active that day (start ≤ date ≤ end, open end = ongoing). Only
                              clients with at least one medication record get this measure (no
                              record is not the same as "takes none").
``food_tolerance``            at each food-trial date: of the foods trialled so far, the share
                              whose most recent trial had reaction grade 0 (tolerated).
============================  ===============================================================

Repeated values of a measure on the same day are combined (geometric mean for the log-scale
laboratory measures, arithmetic mean otherwise). The ``phase`` column comes from the first
enrolment's protocol phases: ``1_phase``, ``2_phase`` … is the first, second … phase of the
client's own protocol (an index, not the phase's name, because each phenotype's protocol names
its phases differently and names would coincide with phenotype), ``0_before`` before the first
phase and ``9_after`` after the last; only when any client has phases.

The ``clients`` frame: ``phenotype`` is the first enrolment's ``phenotype_label`` (a rule-based
hypothesis label; empty → ``insufficient_data``), ``protocol`` its protocol, ``sex``,
``age_years`` at enrolment, ``demo`` (demo or synthetic clients), ``enrolled_on`` (the enrolment
start, ISO date) and baseline features for
phenotype discovery (``baseline_<measure>``, log scale for tryptase and hs-CRP: ``baseline_ln_…``).
Clients without an enrolment have no week 0 and are left out (the notes say how many).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import select

from hostcap.clinical_store import Store
from hostcap.clinical_store.tables import ClientRow, EnrolmentRow, ProtocolPhaseRow
from hostcap.errors import HostcapError, InputError, ValidationError
from hostcap.mechanistic_model import compare_variants as fit_every_variant
from hostcap.outcome_analytics import (
    CORE_MEASURES,
    MIXED_MODEL_COLUMNS,
    PHENOTYPE_LABELS,
    RESPONDER_COLUMNS,
    VARIANT_COMPARISON_COLUMNS,
    MarkerOrder,
    MixedModelFit,
    OrderComparison,
    OutcomeTimelines,
    PhenotypeDiscovery,
    VariantComparison,
    compare_orders,
    compare_variants,
    composite_responders,
    discover_phenotypes,
    fit_mixed_models,
    forest_figure,
    get_measure,
    kaplan_meier,
    km_figure,
    marker_order,
    measure_specs,
    outcome_timelines,
    predicted_order,
    responder_table,
    spaghetti_figure,
    time_to_improvement,
    variant_figure,
)
from hostcap.output_files import (
    check_output_file,
    output_folder,
    save_figure,
    write_csv,
    write_text,
)
from hostcap.services.modelling_scale import dask_client
from hostcap.services.store import open_store

__all__ = [
    "ANALYSIS_FILES",
    "MODEL_OBSERVABLES",
    "CohortFrames",
    "analyze_cohort",
    "analyze_cohort_at",
    "cohort_frames",
    "load_cohort",
    "model_predicted_orders",
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
#: The contract columns of ``responders.csv`` (issue 6), the first seven of the table.
RESPONDER_CSV_COLUMNS: tuple[str, ...] = RESPONDER_COLUMNS[:7]
QUESTIONNAIRE_MEASURES: Mapping[str, tuple[str, str]] = {
    "fss": ("fss_mean", "mean"),
    "gsrs": ("gsrs_mean", "mean"),
    "compass31": ("compass31_total", "total"),
    "mct": ("mct_total", "total"),
    "symptom_diary": ("symptom_load", "total"),
}
ANTIHISTAMINE_CLASSES: tuple[str, ...] = ("h1_antihistamine", "h2_antihistamine")
LAB_MEASURES: tuple[str, ...] = ("tryptase", "hs_crp")
#: A baseline measure becomes a discovery feature when at least this share of clients has it.
FEATURE_COVERAGE = 0.8


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


@dataclass(frozen=True)
class CohortFrames:
    """The two tidy frames of :mod:`hostcap.outcome_analytics` and what was left out."""

    measurements: pd.DataFrame
    clients: pd.DataFrame
    notes: tuple[str, ...]


# ------------------------------------------------------------------------------------------------
# store → frames


def _enrolments(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """First enrolment per client (all clients, enrolled or not) and its phases."""
    with store.reading() as session:
        rows = session.execute(
            select(
                ClientRow.code,
                ClientRow.sex,
                ClientRow.birth_year,
                ClientRow.demo,
                EnrolmentRow.id,
                EnrolmentRow.protocol,
                EnrolmentRow.started_on,
                EnrolmentRow.phenotype_label,
            )
            .join(EnrolmentRow, EnrolmentRow.client_id == ClientRow.id, isouter=True)
            .order_by(ClientRow.code, EnrolmentRow.started_on, EnrolmentRow.id)
        ).all()
        phases = session.execute(
            select(
                ProtocolPhaseRow.enrolment_id,
                ProtocolPhaseRow.name,
                ProtocolPhaseRow.start_week,
                ProtocolPhaseRow.end_week,
            ).order_by(ProtocolPhaseRow.enrolment_id, ProtocolPhaseRow.start_week)
        ).all()
    people = pd.DataFrame(
        [tuple(r) for r in rows],
        columns=[
            "client",
            "sex",
            "birth_year",
            "demo",
            "enrolment_id",
            "protocol",
            "started_on",
            "phenotype_label",
        ],
    )
    people = people.drop_duplicates("client", keep="first").reset_index(drop=True)
    phase_frame = pd.DataFrame(
        [tuple(p) for p in phases], columns=["enrolment_id", "name", "start_week", "end_week"]
    )
    return people, phase_frame


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.normalize()


def _combine_same_day(frame: pd.DataFrame) -> pd.DataFrame:
    """One value per client, measure and day (geometric mean on log-scale measures)."""
    if frame.empty:
        return frame
    specs = measure_specs()
    log_scale = frame["measure"].map(lambda m: specs[m].log_scale if m in specs else False)
    positive = frame["value"] > 0
    work = frame.assign(
        v=np.where(
            log_scale & positive, np.log(frame["value"].where(positive, 1.0)), frame["value"]
        ),
        log=log_scale & positive,
    )
    grouped = work.groupby(["client", "measure", "date"], sort=True).agg(
        v=("v", "mean"), log=("log", "all")
    )
    grouped["value"] = np.where(grouped["log"], np.exp(grouped["v"]), grouped["v"])
    return grouped.reset_index()[["client", "measure", "date", "value"]]


def _lab_rows(store: Store) -> tuple[pd.DataFrame, int]:
    labs = store.frame("labs")
    if labs.empty:
        return pd.DataFrame(columns=["client", "measure", "date", "value"]), 0
    labs = labs.loc[labs["analyte"].isin(LAB_MEASURES)]
    acute = labs["context"] == "acute"
    kept = labs.loc[~acute]
    return (
        pd.DataFrame(
            {
                "client": kept["client_code"].astype(str),
                "measure": kept["analyte"].astype(str),
                "date": _dates(kept["collected_at"]),
                "value": kept["value"].astype(float),
            }
        ),
        int(acute.sum()),
    )


def _questionnaire_rows(store: Store) -> pd.DataFrame:
    frame = store.frame("questionnaires")
    parts = []
    for instrument, (measure, column) in QUESTIONNAIRE_MEASURES.items():
        rows = frame.loc[frame["instrument"] == instrument] if len(frame) else frame
        if rows.empty:
            continue
        values = pd.to_numeric(rows[column], errors="coerce")
        parts.append(
            pd.DataFrame(
                {
                    "client": rows["client_code"].astype(str),
                    "measure": measure,
                    "date": _dates(rows["answered_on"]),
                    "value": values.astype(float),
                }
            ).dropna(subset=["value"])
        )
    return _concat(parts, ["client", "measure", "date", "value"])


def _finding_rows(store: Store) -> pd.DataFrame:
    frame = store.frame("findings")
    if frame.empty:
        return _empty_rows()
    rows = frame.loc[frame["field"] == "symptom_load"]

    def number(value: Any) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return math.nan

    return pd.DataFrame(
        {
            "client": rows["client_code"].astype(str),
            "measure": "symptom_load",
            "date": _dates(rows["recorded_on"]),
            "value": [number(v) for v in rows["value"]],
        }
    ).dropna(subset=["value"])


def _empty_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client": pd.Series(dtype=str),
            "measure": pd.Series(dtype=str),
            "date": pd.Series(dtype="datetime64[ns]"),
            "value": pd.Series(dtype=float),
        }
    )


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """Concatenate the non-empty frames (pandas warns about empty ones), keeping ``columns``."""
    kept = [f.loc[:, columns] for f in frames if len(f)]
    if not kept:
        return _empty_rows().loc[:, columns]
    return pd.concat(kept, ignore_index=True)


def _food_rows(store: Store) -> pd.DataFrame:
    frame = store.frame("food")
    if frame.empty:
        return _empty_rows()
    frame = frame.assign(date=_dates(frame["trial_date"])).sort_values(
        ["client_code", "date", "id"], kind="stable"
    )
    out = []
    for client, trials in frame.groupby("client_code", sort=True):
        latest: dict[str, bool] = {}
        for date, day in trials.groupby("date", sort=True):
            for food, grade in zip(day["food"], day["reaction_grade"], strict=True):
                latest[str(food).strip().lower()] = int(grade) == 0
            out.append((str(client), "food_tolerance", date, sum(latest.values()) / len(latest)))
    return pd.DataFrame(out, columns=["client", "measure", "date", "value"])


def _antihistamine_rows(store: Store, visit_dates: pd.DataFrame) -> pd.DataFrame:
    meds = store.frame("meds")
    if meds.empty or visit_dates.empty:
        return _empty_rows()
    with_meds = set(meds["client_code"].astype(str))
    meds = meds.loc[meds["drug_class"].isin(ANTIHISTAMINE_CLASSES)].assign(
        start=_dates(meds["start_date"]),
        end=_dates(meds["end_date"]).fillna(pd.Timestamp.max.normalize()),
    )
    visits = visit_dates.loc[visit_dates["client"].isin(with_meds)]
    by_client = {str(c): rows for c, rows in meds.groupby("client_code", sort=False)}
    out = []
    for client, dates in visits.groupby("client", sort=True):
        rows = by_client.get(str(client))
        for date in sorted(dates["date"].unique()):
            if rows is None:
                total = 0.0
            else:
                active = (rows["start"] <= date) & (rows["end"] >= date)
                total = float(rows.loc[active, "ddd_per_day"].astype(float).sum())
            out.append((str(client), "antihistamine_ddd", pd.Timestamp(date), total))
    return pd.DataFrame(out, columns=["client", "measure", "date", "value"])


def _phase_labels(weeks: pd.Series, enrolment_ids: pd.Series, phases: pd.DataFrame) -> pd.Series:
    labels = pd.Series("0_before", index=weeks.index, dtype=object)
    if phases.empty:
        return labels
    for enrolment_id, rows in phases.groupby("enrolment_id", sort=False):
        mine = enrolment_ids == enrolment_id
        if not mine.any():
            continue
        ordered = rows.sort_values("start_week")
        last_end = float(ordered["end_week"].max())
        labels[mine & (weeks > last_end)] = "9_after"
        for i, (start, end) in enumerate(
            zip(ordered["start_week"], ordered["end_week"], strict=True), 1
        ):
            inside = mine & (weeks >= float(start)) & (weeks <= float(end))
            labels[inside] = f"{i}_phase"
    return labels


def load_cohort(store: Store) -> CohortFrames:
    """Build the analytics frames from a store (see the module docstring for every rule)."""
    people, phases = _enrolments(store)
    notes: list[str] = []
    enrolled = people.loc[people["started_on"].notna()].copy()
    if len(enrolled) < len(people):
        notes.append(
            f"{len(people) - len(enrolled)} client(s) without an enrolment were left out "
            "(no enrolment start, so no week 0)"
        )
    labs, n_acute = _lab_rows(store)
    if n_acute:
        notes.append(f"{n_acute} acute-context lab sample(s) were left out of the trends")
    rows = ["client", "measure", "date", "value"]
    observed = _concat(
        [labs, _questionnaire_rows(store), _finding_rows(store), _food_rows(store)], rows
    )
    visits = store.frame("visits")
    visit_rows = (
        pd.DataFrame(
            {"client": visits["client_code"].astype(str), "date": _dates(visits["visit_date"])}
        )
        if len(visits)
        else pd.DataFrame()
    )
    visit_dates = _concat(
        [observed.loc[observed["measure"] != "food_tolerance"], visit_rows], ["client", "date"]
    ).drop_duplicates()
    observed = _concat([observed, _antihistamine_rows(store, visit_dates)], rows)
    observed = _combine_same_day(observed)
    start = enrolled.set_index("client")["started_on"]
    observed = observed.loc[observed["client"].isin(start.index)]
    start_ts = pd.to_datetime(observed["client"].map(start))
    weeks = (observed["date"] - start_ts).dt.days.astype(float) / 7.0
    measurements = pd.DataFrame(
        {
            "client": observed["client"].astype(str),
            "measure": observed["measure"].astype(str),
            "week": weeks,
            "value": observed["value"].astype(float),
        }
    )
    if not phases.empty and len(measurements):
        enrolment_of = enrolled.set_index("client")["enrolment_id"]
        measurements["phase"] = _phase_labels(
            measurements["week"], measurements["client"].map(enrolment_of), phases
        )
    measurements = measurements.sort_values(["client", "measure", "week"], kind="stable")
    measurements = measurements.reset_index(drop=True)

    labels = enrolled["phenotype_label"].fillna("insufficient_data").astype(str)
    unknown = sorted(set(labels) - set(PHENOTYPE_LABELS))
    if unknown:
        notes.append(
            f"phenotype label(s) {unknown} are not rule-based labels "
            f"({', '.join(PHENOTYPE_LABELS)}); those clients are treated as insufficient_data"
        )
        labels = labels.where(labels.isin(PHENOTYPE_LABELS), "insufficient_data")
    started = pd.to_datetime(enrolled["started_on"])
    clients = pd.DataFrame(
        {
            "client": enrolled["client"].astype(str),
            "phenotype": labels,
            "protocol": enrolled["protocol"].astype(str),
            "sex": enrolled["sex"].astype(str),
            "age_years": (started.dt.year - enrolled["birth_year"]).astype(float),
            "demo": enrolled["demo"].astype(bool),
            "enrolled_on": started.dt.strftime("%Y-%m-%d"),
        }
    ).reset_index(drop=True)
    clients = _with_baseline_features(clients, measurements)
    return CohortFrames(measurements, clients, tuple(notes))


def _with_baseline_features(clients: pd.DataFrame, measurements: pd.DataFrame) -> pd.DataFrame:
    """Add ``baseline_<measure>`` columns for measures most clients have at baseline."""
    if measurements.empty or clients.empty:
        return clients
    pre = measurements.loc[measurements["week"] <= 0]
    base = pre.groupby(["client", "measure"], sort=True)["value"].last().unstack()
    specs = measure_specs()
    out = clients.copy()
    for measure in sorted(base.columns):
        values = base[measure].reindex(out["client"]).to_numpy(dtype=float)
        if np.isfinite(values).mean() < FEATURE_COVERAGE:
            continue
        if measure in specs and specs[measure].log_scale:
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"baseline_ln_{measure}"] = np.where(values > 0, np.log(values), np.nan)
        else:
            out[f"baseline_{measure}"] = values
    return out


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
    model = importlib.import_module("hostcap.mechanistic_model")
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
                    model.InterventionDose(id=str(iv), dose=float(dose))
                    for iv, dose in zip(
                        rows.loc[active, "intervention"], rows.loc[active, "dose"], strict=True
                    )
                )
                phases.append(model.Phase(id=f"phase_{i}", start_week=week, interventions=doses))
        if not phases or phases[0].start_week > 0:
            phases.insert(0, model.Phase(id="before", start_week=0.0, interventions=()))
        phenotype = str(label) if str(label) in MODEL_PHENOTYPES else None
        out[str(code)] = model.Protocol(
            id=f"recorded_{code}", phenotype=phenotype, phases=tuple(phases)
        )
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
    try:
        model = importlib.import_module("hostcap.mechanistic_model")
        modelling = importlib.import_module("hostcap.services.modelling")
    except ImportError as exc:
        return {}, f"no model predictions: {exc}"
    example = getattr(modelling, "example_protocol", None)
    if example is None:
        return {}, "no model predictions: no example protocols to simulate"
    orders: dict[str, list[str]] = {}
    failed: list[str] = []
    for variant in model.VARIANTS:
        try:
            traj = model.simulate(variant, example(phenotype), phenotype=phenotype, weeks=weeks)
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


@dataclass
class _Results:
    frames: CohortFrames
    responders: pd.DataFrame
    composite: pd.DataFrame
    times: pd.DataFrame
    order: MarkerOrder | None
    order_by_phenotype: dict[str, MarkerOrder]
    order_comparisons: dict[str, OrderComparison]
    order_notes: list[str]
    km_table: pd.DataFrame
    km_by_phenotype: pd.DataFrame
    fits: list[MixedModelFit]
    discovery: PhenotypeDiscovery | None
    discovery_reason: str
    timelines: OutcomeTimelines | None
    variants: VariantComparison | None
    variant_note: str


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


def _marker_order_rows(results: _Results) -> pd.DataFrame:
    columns = [
        "scope",
        "measure",
        "n",
        "events",
        "median_weeks",
        "median_ci_low",
        "median_ci_high",
        "rmst_weeks",
        "rank",
        "rank_ci_low",
        "rank_ci_high",
    ]
    parts = []
    scopes: list[tuple[str, MarkerOrder | None, pd.DataFrame]] = [
        ("cohort", results.order, results.km_table)
    ]
    for phenotype, order in sorted(results.order_by_phenotype.items()):
        km = results.km_by_phenotype
        km = km.loc[km["phenotype"] == phenotype].drop(columns="phenotype")
        scopes.append((f"phenotype {phenotype}", order, km))
    for scope, scoped_order, km in scopes:
        if scoped_order is None or km.empty:
            continue
        table = scoped_order.cohort.merge(
            km.rename(columns={"ci_low": "median_ci_low", "ci_high": "median_ci_high"}).drop(
                columns=["n", "events"]
            ),
            on="measure",
            how="left",
        )
        table = table.assign(scope=scope)[columns]
        phenotype = scope.removeprefix("phenotype ")
        if scope != "cohort" and phenotype in results.order_comparisons:
            predicted = results.order_comparisons[phenotype].table
            ranks = [c for c in predicted.columns if str(c).startswith("rank_")]
            table = table.merge(predicted[["measure", *ranks]], on="measure", how="left")
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def _run_analysis(
    store: Store,
    frames: CohortFrames,
    step: Callable[[str], None],
    *,
    scheduler: str | None,
    max_fit_clients: int,
    n_bootstrap: int,
    seed: int,
    model_orders: bool,
) -> _Results:
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
    if model_orders:
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
    return _Results(
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


def _save(fig: Figure, path: Path) -> Path:
    # Figures are regenerated as a set; the folder was checked before the analysis ran.
    return save_figure(fig, path, force=True, option="--out", dpi=110)


def _write_figures(results: _Results, folder: Path) -> dict[str, Path]:
    output_folder(folder, option="--out")
    m, c = results.frames.measurements, results.frames.clients
    written: dict[str, Path] = {}
    bands = results.timelines.bands if results.timelines is not None else None
    for measure in sorted(m["measure"].unique()):
        name = f"spaghetti_{measure}.png"
        written[f"figures/{name}"] = _save(spaghetti_figure(m, c, measure, bands), folder / name)
    if len(results.times):
        _, curves = kaplan_meier(results.times)
        written["figures/km_measures.png"] = _save(
            km_figure(curves, "Time to sustained reliable improvement, per measure"),
            folder / "km_measures.png",
        )
        with_phen = results.times.merge(c[["client", "phenotype"]], on="client")
        for measure, part in with_phen.groupby("measure", sort=True):
            _, by_phen = kaplan_meier(part, by=("phenotype",))
            name = f"km_{measure!s}.png"
            written[f"figures/{name}"] = _save(
                km_figure(
                    by_phen,
                    f"{measure!s}: time to sustained reliable improvement by phenotype "
                    "(hypothesis labels)",
                ),
                folder / name,
            )
    written["figures/forest_mixed_models.png"] = _save(
        forest_figure(results.fits), folder / "forest_mixed_models.png"
    )
    comparison = results.variants or VariantComparison(
        table=pd.DataFrame(columns=list(VARIANT_COMPARISON_COLUMNS)),
        reference="null",
        n_clients=0,
        n_excluded=0,
        n_bootstrap=0,
        note=results.variant_note,
    )
    written["figures/variant_comparison.png"] = _save(
        variant_figure(comparison), folder / "variant_comparison.png"
    )
    return written


def _fmt(value: Any, digits: int = 2) -> str:
    """A number for the summary: ``–`` when missing, ``not reached`` for an infinite median."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "not reached"
    return f"{x:.{digits}f}"


def _share(k: int, n: int) -> str:
    return f"{k} ({100 * k / n:.0f} %)" if n else str(k)


def _summary(results: _Results, source: str, files: Mapping[str, Path]) -> str:
    m, c = results.frames.measurements, results.frames.clients
    n_demo = int(c["demo"].sum()) if "demo" in c else 0
    lines = [
        "# Cohort analysis",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from `{source}` by "
        "`hostcap analyze cohort`.",
        "",
        "## Read this first",
        "",
        "- **The phenotypes A, B and C are hypothesis labels** assigned by transparent rules "
        "(the essay's patterns; evidence grade S). Nothing here shows that they are real "
        "biological subtypes; the phenotype-discovery section only asks whether the features "
        "behind them cluster.",
        "- The data are a **single-arm, pre/post protocol** without a control group. A reliable "
        "change says the value moved more than measurement noise and within-person variation "
        "would explain; it does **not** say the protocol caused it (regression to the mean, "
        "natural course, other treatments and expectation effects all produce change).",
        "- Under the reliable-change rules a client whose true value does not move shows a "
        "reliable improvement on a measure by chance about 2.5 % of the time (RCV / RCI rules, "
        "z = 1.96); thresholds marked *assumed* below rest on assumptions, not data.",
        "- The Host Capacity Model is a hypothesis; the model-variant comparison is the place "
        "where the data can favour or disfavour it, and only with enough clients.",
    ]
    if n_demo:
        lines.append(
            f"- **{n_demo} of {len(c)} clients are demo or synthetic** (flagged in the store): "
            "these results describe invented data, not people."
        )
    lines += ["", "## Data", ""]
    lines.append(
        f"{len(c)} enrolled client(s), {m['client'].nunique()} with measurements, "
        f"{len(m)} measurement(s) of {m['measure'].nunique()} measure(s)."
    )
    for note in results.frames.notes:
        lines.append(f"- {note}")
    if len(c):
        counts = c["phenotype"].value_counts().sort_index()
        lines.append(
            "Rule-based phenotype labels: "
            + ", ".join(f"{k}: {int(v)}" for k, v in counts.items())
            + "."
        )

    lines += ["", "## Reliable change thresholds", ""]
    lines += ["| measure | rule | threshold | better | basis |", "|---|---|---|---|---|"]
    for measure in sorted(m["measure"].unique()):
        spec = get_measure(measure)
        scale = "ln ratio" if spec.rule == "rcv" else spec.unit
        lines.append(
            f"| {measure} | {spec.rule} | {spec.threshold():.3g} ({scale}) | "
            f"{'lower' if spec.lower_is_better else 'higher'} | {spec.note}; "
            f"{', '.join(spec.citations)} |"
        )

    lines += ["", "## Responders (baseline vs last visit)", ""]
    r = results.responders
    if len(r):
        lines += [
            "| measure | assessable | reliably improved | reliably worse |",
            "|---|---|---|---|",
        ]
        for measure, part in r.groupby("measure", sort=True):
            assessable = part["reliable_change"] != "not assessable"
            n = int(assessable.sum())
            imp = int((part["reliable_change"] == "improved").sum())
            wor = int((part["reliable_change"] == "worsened").sum())
            lines.append(f"| {measure!s} | {n} | {_share(imp, n)} | {_share(wor, n)} |")
        comp = results.composite["composite"].value_counts()
        lines += [
            "",
            "Composite (reliable improvement on ≥ 2 of the core measures "
            f"{', '.join(CORE_MEASURES)} and no reliable worsening on any): "
            + ", ".join(f"{k}: {int(v)}" for k, v in comp.sort_index().items())
            + ".",
        ]
    else:
        lines.append("No measurements to assess.")

    lines += ["", "## Which marker moves first", ""]
    if results.order is not None:
        table = results.order.cohort.sort_values("rank")
        lines += [
            "Time to the first *sustained* reliable improvement (still improved at the next "
            "visit, or at the last visit), censored at the last visit. Order by restricted mean "
            f"time over {results.order.tau_weeks:g} weeks; rank intervals from "
            f"{results.order.n_bootstrap} bootstrap resamples of clients.",
            "",
            "| rank (95 % interval) | measure | improved / followed | median weeks (95 % CI) |",
            "|---|---|---|---|",
        ]
        km = results.km_table.set_index("measure")
        for row in table.itertuples():
            k = km.loc[str(row.measure)]
            lines.append(
                f"| {row.rank:g} ({row.rank_ci_low:g}–{row.rank_ci_high:g}) | {row.measure} | "
                f"{_fmt(row.events, 0)} / {_fmt(row.n, 0)} | {_fmt(k['median_weeks'], 1)} "
                f"({_fmt(k['ci_low'], 1)}–{_fmt(k['ci_high'], 1)}) |"
            )
        lines += [
            "",
            "Wide rank intervals mean the data do not settle the order. A model variant's "
            "predicted order can be compared with this one by "
            "`hostcap.outcome_analytics.compare_orders`.",
        ]
    else:
        lines.append("No follow-up after week 0: no time-to-improvement analysis.")

    lines += ["", "## Observed order beside each model variant's prediction", ""]
    if results.order_comparisons:
        lines += [
            "| phenotype | variant | predicted order (reliable improvement, earliest first) "
            "| Kendall τ with observed | mean P(observed as predicted) |",
            "|---|---|---|---|---|",
        ]
        for phenotype, comparison in sorted(results.order_comparisons.items()):
            table = comparison.table.set_index("measure")
            for row in comparison.agreement.itertuples():
                column = f"rank_{row.variant}"
                ranked: list[str] = (
                    [str(m) for m in table[column].dropna().sort_values().index]
                    if column in table
                    else []
                )
                order = ", ".join(ranked) or "(none)"
                lines.append(
                    f"| {phenotype} | {row.variant} | {order} | {_fmt(row.kendall_tau)} | "
                    f"{_fmt(row.mean_pairwise_agreement)} |"
                )
        lines += [
            "",
            "τ compares ranks over the measures the variant predicts to improve; the pairwise "
            "column is the observed probability that A improved before B, averaged over the "
            "pairs the variant orders A before B (0.5 = chance). Predicted ranks are also in "
            "`marker_order.csv` (columns `rank_<variant>`).",
        ]
    elif results.order_notes:
        lines.append("No variant predicted an order that could be compared.")
    else:
        lines.append(
            "Not compared: no phenotype A, B or C has 5 or more clients with follow-up"
            if results.order is not None
            else "Not compared: no follow-up."
        )
    for note in dict.fromkeys(results.order_notes):
        lines.append(f"- {note}")

    lines += ["", "## Mixed models", ""]
    if results.fits:
        lines += [
            "Random intercept and slope on week per client; fixed effects week × phenotype "
            "(+ protocol phase when recorded); ln scale for tryptase and hs-CRP (the week "
            "coefficient is then the change of ln value per week).",
            "",
            "| measure | week effect (95 % CI) | p | converged | warnings |",
            "|---|---|---|---|---|",
        ]
        for fit in results.fits:
            t = fit.table.set_index("term")
            if "week" in t.index:
                w = t.loc["week"]
                effect = (
                    f"{_fmt(w['estimate'], 4)} ({_fmt(w['ci_low'], 4)} to {_fmt(w['ci_high'], 4)})"
                )
                p = _fmt(w["p"], 3)
            else:
                effect, p = "not fitted", "–"
            lines.append(
                f"| {fit.measure} | {effect} | {p} | {'yes' if fit.converged else '**no**'} "
                f"| {len(fit.warnings)} |"
            )
        lines += [
            "",
            "The week effect is for the reference phenotype; other terms, and every warning "
            "in full, are in `mixed_models.csv`. Estimates from fits with warnings (a variance "
            "on the boundary, a non-positive-definite Hessian) deserve less trust than their "
            "intervals suggest.",
        ]
    else:
        lines.append("No mixed models fitted (no measurements).")

    lines += ["", "## Phenotype discovery", ""]
    if results.discovery is not None:
        d = results.discovery
        lines.append(
            f"Gaussian mixtures on standardised baseline features ({', '.join(d.features)}) "
            f"for {d.n_clients} client(s) ({d.n_excluded} left out for a missing feature): "
            f"BIC chose k = {d.chosen_k}. Bootstrap stability (mean ARI): "
            f"{_fmt(d.stability_ari_mean)}; agreement with the rule-based labels (ARI): "
            f"{_fmt(d.agreement_ari)}. Details in `phenotype_discovery.json`."
        )
    else:
        lines.append(f"Phenotype discovery {results.discovery_reason or 'not run'}.")

    lines += ["", "## Time to composite response by phenotype", ""]
    if results.timelines is not None and len(results.timelines.medians):
        lines += ["| phenotype | n | responded | median weeks (95 % CI) |", "|---|---|---|---|"]
        for row in results.timelines.medians.itertuples():
            lines.append(
                f"| {row.phenotype} | {row.n} | {row.events} | {_fmt(row.median_weeks, 1)}"
                f" ({_fmt(row.ci_low, 1)}–{_fmt(row.ci_high, 1)}) |"
            )
    else:
        lines.append("Not enough follow-up.")

    lines += ["", "## Model variants vs data", ""]
    if results.variants is not None and len(results.variants.table):
        lines += [
            "| variant | mean held-out error | vs null (95 % CI) | verdict |",
            "|---|---|---|---|",
        ]
        for row in results.variants.table.itertuples():
            lines.append(
                f"| {row.variant} | {_fmt(row.mean_error, 3)} | "
                f"{_fmt(row.diff_vs_reference, 3)} ({_fmt(row.diff_ci_low, 3)} to "
                f"{_fmt(row.diff_ci_high, 3)}) | {row.verdict} |"
            )
        lines.append("")
    lines.append(results.variant_note + ".")

    lines += ["", "## Files", ""]
    lines += [f"- `{name}`" for name in sorted(files)]
    lines.append("")
    return "\n".join(lines)


def analyze_cohort(
    store: Store,
    out_dir: Path,
    scheduler: str | None = None,
    *,
    max_fit_clients: int = 30,
    n_bootstrap: int = 200,
    seed: int = 0,
    model_orders: bool = True,
    progress: bool = False,
    console: Console | None = None,
    force: bool = False,
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
    if max_fit_clients < 0:
        raise ValidationError.single("max_fit_clients", max_fit_clients, "an integer ≥ 0")
    out = _check_analysis_folder(Path(out_dir), force=force)
    with _progress(progress, console) as step:
        step("reading the store")
        frames = load_cohort(store)
        results = _run_analysis(
            store,
            frames,
            step,
            scheduler=scheduler,
            max_fit_clients=max_fit_clients,
            n_bootstrap=n_bootstrap,
            seed=seed,
            model_orders=model_orders,
        )
        step("writing tables and figures")
        files: dict[str, Path] = {}
        responders = results.responders.loc[:, list(RESPONDER_CSV_COLUMNS)]
        composite = results.composite.assign(
            measure="composite",
            baseline=math.nan,
            last=math.nan,
            change=math.nan,
            reliable_change=results.composite["composite"],
            responder=results.composite["composite"] == "responder",
        ).loc[:, list(RESPONDER_CSV_COLUMNS)]
        table = (
            pd.concat([responders, composite], ignore_index=True) if len(responders) else responders
        )
        files["responders.csv"] = _csv(table, out / "responders.csv")
        files["marker_order.csv"] = _csv(_marker_order_rows(results), out / "marker_order.csv")
        mixed = (
            pd.concat([f.table for f in results.fits], ignore_index=True)
            if results.fits
            else pd.DataFrame(columns=list(MIXED_MODEL_COLUMNS))
        )
        files["mixed_models.csv"] = _csv(mixed, out / "mixed_models.csv")
        discovery_json: dict[str, Any] = (
            results.discovery.to_dict()
            if results.discovery is not None
            else {"status": results.discovery_reason or "not run"}
        )
        path = out / "phenotype_discovery.json"
        write_text(
            path,
            json.dumps(discovery_json, indent=2, allow_nan=False) + "\n",
            force=True,
            option="--out",
        )
        files["phenotype_discovery.json"] = path
        if results.variants is not None and len(results.variants.table):
            variants = results.variants.table.assign(note=results.variant_note)
        else:
            variants = pd.DataFrame(
                [
                    {
                        c: (results.variant_note if c == "note" else None)
                        for c in VARIANT_COMPARISON_COLUMNS
                    }
                ],
                columns=list(VARIANT_COMPARISON_COLUMNS),
            )
        files["variant_comparison.csv"] = _csv(variants, out / "variant_comparison.csv")
        files.update(_write_figures(results, out / "figures"))
        source = store.engine.url.render_as_string(hide_password=True)
        summary = out / "summary.md"
        files["summary.md"] = summary
        write_text(summary, _summary(results, source, files), force=True, option="--out")
    return files


def _check_analysis_folder(out: Path, *, force: bool) -> Path:
    """Refuse, before minutes of work, a folder holding an analysis unless ``force``."""
    output_folder(out, option="--out")
    for name in ANALYSIS_FILES:
        check_output_file(out / name, force=force, option="--out")
    figures = out / "figures"
    if figures.is_symlink() or figures.exists():
        output_folder(figures, option="--out")
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
    return write_csv(frame, path, force=True, option="--out", float_format="%.10g")


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
