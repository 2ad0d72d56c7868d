"""Which marker moves first: time to sustained reliable improvement, Kaplan–Meier, and order.

Definitions (stated before the data are seen):

* **Event** — the first visit at week > 0 whose value is a reliable improvement on baseline
  (:meth:`MeasureSpec.classify`) *and* stays one at the next observed visit of that measure, or
  is the client's last visit of that measure. Improvements before week 0 are not responses to
  the protocol and are ignored. A single good value followed by a relapse is not an event.
* **Censoring** — a client without an event is censored at the week of their last visit of that
  measure; a client with no visit after week 0 does not enter that measure's analysis.
* **Cohort order** — measures ranked by the restricted mean time to improvement (the area under
  the Kaplan–Meier "not yet improved" curve up to the longest follow-up of the cohort). Unlike the
  median it exists even when fewer than half the clients improve. Uncertainty: ranks recomputed
  on bootstrap resamples of clients (percentile intervals).
* **Pairwise order** — P(A before B): over clients in whom the order is determined (both
  improved; or one improved while the other was still unimproved at that time), the share in
  whom A improved first (ties count one half), with a bootstrap interval over clients.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times
from scipy import stats

from hostcap.errors import ValidationError
from hostcap.outcome_analytics.measure_specs import MeasureSpec, get_measure
from hostcap.outcome_analytics.reliable_change import follow_up_changes

__all__ = [
    "KaplanMeierCurve",
    "MarkerOrder",
    "OrderComparison",
    "compare_orders",
    "kaplan_meier",
    "km_not_improved",
    "marker_order",
    "predicted_order",
    "time_to_improvement",
]


def time_to_improvement(
    measurements: pd.DataFrame, specs: Mapping[str, MeasureSpec] | None = None
) -> pd.DataFrame:
    """Per client and measure: the week of the first sustained reliable improvement, or censoring.

    Returns
    -------
    pandas.DataFrame
        ``client, measure, time, event`` (``event`` True for an improvement at ``time``, False
        for censoring at the last visit).

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"client": "c1", "measure": "tryptase",
    ...                   "week": [0.0, 4.0, 8.0, 12.0], "value": [10.0, 7.0, 10.0, 7.0]})
    >>> row = time_to_improvement(m).iloc[0]
    >>> float(row["time"]), bool(row["event"])
    (12.0, True)
    """
    changes = follow_up_changes(measurements, specs)
    changes = changes.loc[changes["week"] > 0]
    changes = changes.sort_values(["client", "measure", "week"], kind="stable")
    return first_sustained(changes, ["client", "measure"], changes["status"] == "improved")


def first_sustained(frame: pd.DataFrame, keys: list[str], met: pd.Series) -> pd.DataFrame:
    """Per group (``keys``, rows sorted by week within it): the first week at which ``met``
    holds and still holds at the group's next row (or it is the last row) → ``time, event``;
    otherwise the group's last week, censored."""
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "time", "event"])
    grouped = met.groupby([frame[k] for k in keys], sort=False)
    following = grouped.shift(-1).astype("boolean").fillna(True).astype(bool)
    sustained = met.astype(bool) & following
    work = frame.loc[:, keys].assign(week=frame["week"].to_numpy(dtype=float), hit=sustained)
    last = work.groupby(keys, sort=True)["week"].last()
    first_hit = work.loc[work["hit"]].groupby(keys, sort=True)["week"].first()
    out = pd.DataFrame({"time": last, "event": False})
    out.loc[first_hit.index, "time"] = first_hit
    out.loc[first_hit.index, "event"] = True
    out["event"] = out["event"].astype(bool)
    return out.reset_index()[[*keys, "time", "event"]]


def km_not_improved(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier estimate of P(not yet improved) as step points ``(times, survival)``.

    A small vectorised estimator for bootstrap loops; :func:`kaplan_meier` uses lifelines for
    the reported curves and medians (a test checks that the two agree).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    if time.size == 0:
        return np.array([0.0]), np.array([1.0])
    distinct = np.unique(time[event])
    at_risk = (time[None, :] >= distinct[:, None]).sum(axis=1)
    deaths = (time[event][None, :] == distinct[:, None]).sum(axis=1)
    surv = np.cumprod(1.0 - deaths / at_risk)
    return np.concatenate([[0.0], distinct]), np.concatenate([[1.0], surv])


def _rmst(time: np.ndarray, event: np.ndarray, tau: float) -> float:
    """Restricted mean time to improvement: ∫₀^τ S(t) dt."""
    t, s = km_not_improved(time, event)
    keep = t < tau
    t, s = t[keep], s[keep]
    edges = np.append(t, tau)
    return float(np.sum(s * np.diff(edges)))


@dataclass(frozen=True)
class KaplanMeierCurve:
    """One Kaplan–Meier fit: the curve of P(not yet improved) and its median with 95 % CI."""

    group: tuple[str, ...]
    n: int
    events: int
    median: float
    median_ci_low: float
    median_ci_high: float
    timeline: tuple[float, ...]
    not_improved: tuple[float, ...]
    ci_low: tuple[float, ...]
    ci_high: tuple[float, ...]


def kaplan_meier(
    times: pd.DataFrame,
    by: Sequence[str] = ("measure",),
    *,
    groups: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, list[KaplanMeierCurve]]:
    """Kaplan–Meier (lifelines) of time to improvement per group, with median and 95 % CI.

    Parameters
    ----------
    times
        From :func:`time_to_improvement`.
    by
        Grouping columns, e.g. ``("measure",)`` or ``("phenotype", "measure")``.
    groups
        Extra per-client columns to merge in (e.g. the ``clients`` frame for ``phenotype``).

    Returns
    -------
    (pandas.DataFrame, list of KaplanMeierCurve)
        The table has the ``by`` columns and ``n, events, median_weeks, ci_low, ci_high``;
        a median of ``inf`` means fewer than half improved during follow-up.
    """
    data = times
    if groups is not None:
        data = times.merge(groups, on="client", how="left")
    missing = [c for c in (*by, "time", "event") if c not in data.columns]
    if missing:
        raise ValidationError.single(
            "by", list(by), f"columns present in the times frame; missing {missing}"
        )
    rows = []
    curves = []
    for key, part in data.groupby(list(by), sort=True, dropna=False):
        key_t = tuple(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        kmf = KaplanMeierFitter()
        kmf.fit(part["time"].astype(float), part["event"].astype(bool))
        median = float(kmf.median_survival_time_)
        ci = median_survival_times(kmf.confidence_interval_)
        low, high = (float(v) for v in ci.iloc[0, :2])
        frame = kmf.survival_function_
        band = kmf.confidence_interval_
        curves.append(
            KaplanMeierCurve(
                group=key_t,
                n=len(part),
                events=int(part["event"].sum()),
                median=median,
                median_ci_low=low,
                median_ci_high=high,
                timeline=tuple(float(t) for t in frame.index),
                not_improved=tuple(float(v) for v in frame.iloc[:, 0]),
                ci_low=tuple(float(v) for v in band.iloc[:, 0]),
                ci_high=tuple(float(v) for v in band.iloc[:, 1]),
            )
        )
        rows.append(
            dict(zip(by, key_t, strict=True))
            | {
                "n": len(part),
                "events": int(part["event"].sum()),
                "median_weeks": median,
                "ci_low": low,
                "ci_high": high,
            }
        )
    columns = [*by, "n", "events", "median_weeks", "ci_low", "ci_high"]
    return pd.DataFrame(rows, columns=columns), curves


@dataclass(frozen=True)
class MarkerOrder:
    """The observed order in which measures improve.

    Attributes
    ----------
    per_client
        ``client, measure, time, event, rank`` (rank among the client's improved measures,
        1 = first; ties share the mean rank; censored measures have no rank).
    cohort
        ``measure, n, events, rmst_weeks, rank, rank_ci_low, rank_ci_high, mean_boot_rank``.
    pairwise
        ``first, second, p_first_before_second, ci_low, ci_high, n_determined``.
    tau_weeks
        Horizon of the restricted mean.
    n_bootstrap
        Bootstrap resamples of clients.
    """

    per_client: pd.DataFrame
    cohort: pd.DataFrame
    pairwise: pd.DataFrame
    tau_weeks: float
    n_bootstrap: int

    @property
    def order(self) -> list[str]:
        """Measures, earliest improvement first."""
        return list(self.cohort.sort_values(["rank", "measure"])["measure"])


def _pair_outcomes(wide_t: np.ndarray, wide_e: np.ndarray, a: int, b: int) -> np.ndarray:
    """Per client: 1 when measure a improved first, 0 when b did, 0.5 for a tie, NaN unknown."""
    ta, tb, ea, eb = wide_t[:, a], wide_t[:, b], wide_e[:, a], wide_e[:, b]
    out = np.full(ta.shape, np.nan)
    both = ea & eb
    out[both] = np.where(ta[both] < tb[both], 1.0, np.where(ta[both] > tb[both], 0.0, 0.5))
    a_only = ea & ~eb & ~np.isnan(tb)
    out[a_only & (ta <= tb)] = 1.0
    b_only = eb & ~ea & ~np.isnan(ta)
    out[b_only & (tb <= ta)] = 0.0
    return out


def marker_order(times: pd.DataFrame, *, n_bootstrap: int = 200, seed: int = 0) -> MarkerOrder:
    """Order of improvement per client and across the cohort, with bootstrap uncertainty.

    Parameters
    ----------
    times
        From :func:`time_to_improvement`.
    n_bootstrap
        Resamples of clients for the rank and pairwise intervals (≥ 20).
    seed
        Seed of the resampling (same seed, same intervals).
    """
    if n_bootstrap < 20:
        raise ValidationError.single("n_bootstrap", n_bootstrap, "an integer ≥ 20")
    missing = [c for c in ("client", "measure", "time", "event") if c not in times.columns]
    if missing:
        raise ValidationError.single(
            "times", sorted(times.columns), f"a time_to_improvement frame (missing {missing})"
        )
    per_client = times.copy()
    per_client["rank"] = (
        per_client["time"].where(per_client["event"]).groupby(per_client["client"]).rank()
    )
    measures = sorted(per_client["measure"].unique())
    clients = sorted(per_client["client"].unique())
    wide_t = (
        per_client.pivot(index="client", columns="measure", values="time")
        .reindex(index=clients, columns=measures)
        .to_numpy(dtype=float)
    )
    # Events as 0/1 floats so that a client without a measure is a plain 0, not an object NaN.
    wide_e = (
        per_client.assign(event_value=per_client["event"].astype(float))
        .pivot(index="client", columns="measure", values="event_value")
        .reindex(index=clients, columns=measures)
        .fillna(0.0)
        .to_numpy(dtype=float)
        > 0.5
    )
    tau = float(np.nanmax(wide_t)) if wide_t.size else 0.0
    rng = np.random.default_rng(seed)
    n = len(clients)
    boot_idx = rng.integers(0, n, size=(n_bootstrap, n)) if n else np.zeros((0, 0), int)

    def rmst_all(idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(measures))
        for j in range(len(measures)):
            t, e = wide_t[idx, j], wide_e[idx, j]
            ok = ~np.isnan(t)
            out[j] = _rmst(t[ok], e[ok], tau) if ok.any() else np.nan
        return out

    point = rmst_all(np.arange(n))
    point_rank = stats.rankdata(np.where(np.isnan(point), np.inf, point))
    boot_ranks = np.array(
        [
            stats.rankdata(np.where(np.isnan(r), np.inf, r))
            for r in (rmst_all(idx) for idx in boot_idx)
        ]
    ).reshape(n_bootstrap, len(measures))
    cohort = pd.DataFrame(
        {
            "measure": measures,
            "n": (~np.isnan(wide_t)).sum(axis=0),
            "events": wide_e.sum(axis=0),
            "rmst_weeks": point,
            "rank": point_rank,
            # Observed ranks, not interpolated ones: the interval ends are ranks that occurred.
            "rank_ci_low": np.percentile(boot_ranks, 2.5, axis=0, method="lower"),
            "rank_ci_high": np.percentile(boot_ranks, 97.5, axis=0, method="higher"),
            "mean_boot_rank": boot_ranks.mean(axis=0),
        }
    )
    pair_rows = []
    for a, b in itertools.permutations(range(len(measures)), 2):
        outcome = _pair_outcomes(wide_t, wide_e, a, b)
        determined = ~np.isnan(outcome)
        p = float(np.nanmean(outcome)) if determined.any() else math.nan
        boot = outcome[boot_idx]
        with np.errstate(invalid="ignore"):
            counts = (~np.isnan(boot)).sum(axis=1)
            sums = np.nansum(boot, axis=1)
            boot_p = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        boot_p = boot_p[~np.isnan(boot_p)]
        low, high = (
            (float(np.percentile(boot_p, 2.5)), float(np.percentile(boot_p, 97.5)))
            if boot_p.size
            else (math.nan, math.nan)
        )
        pair_rows.append((measures[a], measures[b], p, low, high, int(determined.sum())))
    pairwise = pd.DataFrame(
        pair_rows,
        columns=["first", "second", "p_first_before_second", "ci_low", "ci_high", "n_determined"],
    )
    return MarkerOrder(
        per_client=per_client,
        cohort=cohort,
        pairwise=pairwise,
        tau_weeks=tau,
        n_bootstrap=n_bootstrap,
    )


@dataclass(frozen=True)
class OrderComparison:
    """Observed order beside each model variant's predicted order.

    ``table``: one row per measure with ``observed_rank``, ``observed_rank_ci_low/high`` and a
    ``rank_<variant>`` column per variant. ``agreement``: per variant, Kendall's τ between
    predicted and observed ranks and the mean observed P(A before B) over the pairs the variant
    orders A before B (0.5 = no better than chance, 1 = every predicted pair observed so).
    """

    table: pd.DataFrame
    agreement: pd.DataFrame
    notes: tuple[str, ...] = field(default=())


def compare_orders(
    observed: MarkerOrder, predicted: Mapping[str, Sequence[str]]
) -> OrderComparison:
    """Lay each variant's predicted marker order beside the observed one.

    Parameters
    ----------
    observed
        From :func:`marker_order`.
    predicted
        Variant name → measures in predicted order of improvement (earliest first); an empty
        list means the variant predicts no measure to improve. Measures the cohort did not
        observe are kept in the table with no observed rank and left out of the agreement
        statistics.

    Raises
    ------
    ValidationError
        For a measure listed twice, naming the variant.
    """
    issues = []
    for variant, order in predicted.items():
        if len(set(order)) != len(order):
            issues.append((variant, list(order)))
    if issues:
        variant, order = issues[0]
        raise ValidationError.single(
            f"predicted[{variant!r}]", order, "a list of distinct measure ids"
        )
    table = observed.cohort.set_index("measure")[["rank", "rank_ci_low", "rank_ci_high"]]
    table = table.rename(
        columns={
            "rank": "observed_rank",
            "rank_ci_low": "observed_rank_ci_low",
            "rank_ci_high": "observed_rank_ci_high",
        }
    )
    all_measures = list(table.index) + [
        m for order in predicted.values() for m in order if m not in table.index
    ]
    table = table.reindex(list(dict.fromkeys(all_measures)))
    pair_p = dict(
        zip(
            zip(observed.pairwise["first"], observed.pairwise["second"], strict=True),
            observed.pairwise["p_first_before_second"].to_numpy(dtype=float),
            strict=True,
        )
    )
    rows = []
    notes = []
    for variant, order in predicted.items():
        ranks = {m: float(i + 1) for i, m in enumerate(order)}
        table[f"rank_{variant}"] = [ranks.get(m, np.nan) for m in table.index]
        shared = [m for m in order if m in observed.cohort["measure"].values]
        unobserved = [m for m in order if m not in shared]
        if not order:
            notes.append(f"{variant}: predicts no measure to improve")
        if unobserved:
            notes.append(f"{variant}: not observed in the cohort: {', '.join(unobserved)}")
        if len(shared) >= 2:
            obs = table.loc[shared, "observed_rank"].to_numpy(dtype=float)
            predicted_ranks = [ranks[m] for m in shared]
            # Kendall's τ is undefined (and scipy warns) when either ranking is constant.
            constant = len(set(obs.tolist())) < 2 or np.isnan(obs).any()
            tau = math.nan if constant else float(stats.kendalltau(predicted_ranks, obs).statistic)
            ps = [float(pair_p.get((a, b), math.nan)) for a, b in itertools.combinations(shared, 2)]
            finite = [p for p in ps if not math.isnan(p)]
            agreement = float(np.mean(finite)) if finite else math.nan
        else:
            tau, agreement = math.nan, math.nan
        rows.append(
            {
                "variant": variant,
                "n_shared_measures": len(shared),
                "kendall_tau": tau,
                "mean_pairwise_agreement": agreement,
            }
        )
    return OrderComparison(
        table=table.rename_axis("measure").reset_index(),
        agreement=pd.DataFrame(
            rows, columns=["variant", "n_shared_measures", "kendall_tau", "mean_pairwise_agreement"]
        ),
        notes=tuple(notes),
    )


def predicted_order(
    trajectory: pd.DataFrame, specs: Mapping[str, MeasureSpec] | None = None
) -> tuple[list[str], dict[str, float]]:
    """The order in which a noise-free model trajectory crosses each reliable-change threshold.

    The same rule as for observed data, applied to a prediction: a measure "improves" at the
    first week > 0 at which its predicted value is a reliable improvement on its week-0 value
    (:meth:`MeasureSpec.classify`), i.e. when the model says the change would be large enough
    to see through measurement noise. Measures the model never moves that far are left out of
    the order (the model predicts no visible improvement for them).

    Parameters
    ----------
    trajectory
        ``measure, week, value`` on a fine time grid (e.g. daily), starting at week 0.

    Returns
    -------
    (list of str, dict of str to float)
        Measures in predicted order (ties by name) and each one's crossing week.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"measure": ["tryptase"] * 3 + ["symptom_load"] * 3,
    ...                   "week": [0.0, 4.0, 8.0] * 2,
    ...                   "value": [10.0, 9.0, 7.5, 7.0, 4.0, 4.0]})
    >>> predicted_order(t)
    (['symptom_load', 'tryptase'], {'symptom_load': 4.0, 'tryptase': 8.0})
    """
    missing = [c for c in ("measure", "week", "value") if c not in trajectory.columns]
    if missing:
        raise ValidationError.single(
            "trajectory", sorted(map(str, trajectory.columns)), "columns measure, week, value"
        )
    crossings: dict[str, float] = {}
    for measure, rows in trajectory.sort_values("week").groupby("measure", sort=True):
        spec = get_measure(str(measure), specs)
        weeks = rows["week"].to_numpy(dtype=float)
        values = rows["value"].to_numpy(dtype=float)
        start = np.flatnonzero(weeks <= 0)
        if start.size == 0:
            continue
        baseline = float(values[start[-1]])
        for week, value in zip(weeks, values, strict=True):
            if week > 0 and spec.classify(baseline, float(value)) == "improved":
                crossings[str(measure)] = float(week)
                break
    order = sorted(crossings, key=lambda m: (crossings[m], m))
    return order, crossings
