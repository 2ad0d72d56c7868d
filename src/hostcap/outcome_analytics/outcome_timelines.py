"""Outcome timelines per phenotype: time to composite response and trajectory bands.

*Composite response over time.* At each of a client's follow-up weeks (> 0), each core measure
contributes its most recent status on or before that week (last observation carried forward,
because measures are drawn on different days); the composite rule of
:func:`hostcap.outcome_analytics.composite_responders` (≥ ``min_improved`` reliable improvements,
no reliable worsening) is applied to those statuses. As for single markers, the response must be
sustained — met again at the next follow-up week, or met at the last one. Time to response is
analysed by Kaplan–Meier per phenotype (median with 95 % CI; censoring at the last visit).

*Trajectory bands.* Per phenotype, measure and week bin (visits rounded to the nearest
``bin_weeks``), the 10/25/50/75/90 % quantiles of the observed values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hostcap.errors import ValidationError
from hostcap.outcome_analytics.input_frames import validate_clients, validate_measurements
from hostcap.outcome_analytics.marker_order import (
    KaplanMeierCurve,
    first_sustained,
    kaplan_meier,
)
from hostcap.outcome_analytics.measure_specs import CORE_MEASURES, MEASURES, MeasureSpec
from hostcap.outcome_analytics.reliable_change import follow_up_changes

__all__ = ["OutcomeTimelines", "composite_response_times", "outcome_timelines", "trajectory_bands"]

QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)


def composite_response_times(
    measurements: pd.DataFrame,
    specs: Mapping[str, MeasureSpec] | None = None,
    *,
    core: Sequence[str] = CORE_MEASURES,
    min_improved: int = 2,
) -> pd.DataFrame:
    """Per client (``client, time, event``): the week of the first sustained composite
    response, or the censoring week."""
    changes = follow_up_changes(measurements, specs)
    changes = changes.loc[(changes["week"] > 0) & changes["measure"].isin(list(core))]
    if changes.empty:
        return pd.DataFrame(columns=["client", "time", "event"])
    # One row per client and follow-up week; each measure's latest status carried forward.
    wide = (
        changes.pivot_table(
            index=["client", "week"], columns="measure", values="status", aggfunc="last"
        )
        .sort_index()
        .groupby(level="client", sort=False)
        .ffill()
    )
    improved = (wide == "improved").sum(axis=1)
    worsened = (wide == "worsened").sum(axis=1)
    met = pd.Series(((improved >= min_improved) & (worsened == 0)).to_numpy(), name="met")
    frame = wide.index.to_frame(index=False)
    return first_sustained(frame, ["client"], met)


def trajectory_bands(
    measurements: pd.DataFrame, clients: pd.DataFrame, *, bin_weeks: float = 2.0
) -> pd.DataFrame:
    """Quantiles of each measure per phenotype and week bin.

    Returns
    -------
    pandas.DataFrame
        ``phenotype, measure, week, n, q10, q25, q50, q75, q90``.
    """
    if not bin_weeks > 0:
        raise ValidationError.single("bin_weeks", bin_weeks, "a positive number of weeks")
    data = validate_measurements(measurements, known_measures=None)
    people = validate_clients(clients)
    data = data.merge(people[["client", "phenotype"]], on="client", how="inner")
    data = data.assign(week_bin=np.round(data["week"] / bin_weeks) * bin_weeks)
    grouped = data.groupby(["phenotype", "measure", "week_bin"], sort=True)["value"]
    bands = grouped.quantile(np.asarray(QUANTILES)).unstack()
    bands.columns = [f"q{round(q * 100)}" for q in QUANTILES]
    bands.insert(0, "n", grouped.size())
    return bands.rename_axis(index=["phenotype", "measure", "week"]).reset_index()


@dataclass(frozen=True)
class OutcomeTimelines:
    """Time to composite response per phenotype, with trajectory bands.

    ``medians``: ``phenotype, n, events, median_weeks, ci_low, ci_high`` (``inf`` when fewer
    than half responded in follow-up); ``curves``: the Kaplan–Meier curves; ``response_times``:
    per client; ``bands``: :func:`trajectory_bands`.
    """

    response_times: pd.DataFrame
    medians: pd.DataFrame
    curves: tuple[KaplanMeierCurve, ...]
    bands: pd.DataFrame


def outcome_timelines(
    measurements: pd.DataFrame,
    clients: pd.DataFrame,
    specs: Mapping[str, MeasureSpec] | None = None,
    *,
    bin_weeks: float = 2.0,
    min_improved: int = 2,
) -> OutcomeTimelines:
    """Median time to composite response per phenotype (with CI) and trajectory bands."""
    known = sorted(set(MEASURES) | set(specs or {}))
    data = validate_measurements(measurements, known_measures=known)
    people = validate_clients(clients)
    times = composite_response_times(data, specs, min_improved=min_improved)
    times = times.merge(people[["client", "phenotype"]], on="client", how="inner")
    if times.empty:
        medians = pd.DataFrame(
            columns=["phenotype", "n", "events", "median_weeks", "ci_low", "ci_high"]
        )
        curves: list[KaplanMeierCurve] = []
    else:
        medians, curves = kaplan_meier(times, by=("phenotype",))
    return OutcomeTimelines(
        response_times=times,
        medians=medians,
        curves=tuple(curves),
        bands=trajectory_bands(data, people, bin_weeks=bin_weeks),
    )
