"""The analytics' two input frames from the records a store holds.

:func:`hostcap.clinical_store.cohort_queries.cohort_records` reads the records as rows
``client, measure, date, value``; :func:`frames_from_records` turns them into the
``measurements`` and ``clients`` frames of :mod:`hostcap.outcome_analytics.input_frames`:

- Repeated values of a measure on the same day are combined (geometric mean for the log-scale
  laboratory measures, arithmetic mean otherwise). ``week`` = days since the client's first
  enrolment start ÷ 7.
- The ``phase`` column comes from the first enrolment's protocol phases: ``1_phase``,
  ``2_phase`` … is the first, second … phase of the client's own protocol (an index, not the
  phase's name, because each phenotype's protocol names its phases differently and names would
  coincide with phenotype), ``0_before`` before the first phase and ``9_after`` after the last;
  only when any client has phases.
- The ``clients`` frame: ``phenotype`` is the first enrolment's ``phenotype_label`` (a
  rule-based hypothesis label; empty → ``insufficient_data``), ``protocol`` its protocol,
  ``sex``, ``age_years`` at enrolment, ``demo`` (demo or synthetic clients), ``enrolled_on``
  (the enrolment start, ISO date) and baseline features for phenotype discovery
  (``baseline_<measure>``, log scale for tryptase and hs-CRP: ``baseline_ln_…``). Clients
  without an enrolment have no week 0 and are left out (the notes say how many).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.outcome_analytics.input_frames import PHENOTYPE_LABELS
from hostcap.outcome_analytics.measure_specs import measure_specs

__all__ = ["FEATURE_COVERAGE", "CohortFrames", "frames_from_records"]

#: A baseline measure becomes a discovery feature when at least this share of clients has it.
FEATURE_COVERAGE = 0.8


@dataclass(frozen=True)
class CohortFrames:
    """The two tidy frames of :mod:`hostcap.outcome_analytics` and what was left out."""

    measurements: pd.DataFrame
    clients: pd.DataFrame
    notes: tuple[str, ...]


def frames_from_records(
    people: pd.DataFrame,
    phases: pd.DataFrame,
    observations: pd.DataFrame,
    n_acute_left_out: int = 0,
) -> CohortFrames:
    """The analytics frames from a store's cohort records (see the module docstring).

    Parameters
    ----------
    people
        One row per client: ``client, sex, birth_year, demo, enrolment_id, protocol,
        started_on, phenotype_label`` of the first enrolment (``started_on`` empty when none).
    phases
        ``enrolment_id, name, start_week, end_week``.
    observations
        ``client, measure, date, value``, dates normalised to midnight.
    n_acute_left_out
        Acute lab samples the query left out, for the notes.
    """
    notes: list[str] = []
    enrolled = people.loc[people["started_on"].notna()].copy()
    if len(enrolled) < len(people):
        notes.append(
            f"{len(people) - len(enrolled)} client(s) without an enrolment were left out "
            "(no enrolment start, so no week 0)"
        )
    if n_acute_left_out:
        notes.append(f"{n_acute_left_out} acute-context lab sample(s) were left out of the trends")
    observed = observations
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
