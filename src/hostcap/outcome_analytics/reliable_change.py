"""Change from baseline, reliable change and responder status, per measure and as a composite.

Per client and measure, the *last* observation after baseline is compared with the baseline
(:func:`hostcap.outcome_analytics.baseline_rows`) under the measure's rule
(:class:`hostcap.outcome_analytics.MeasureSpec`). A client responds on a measure when the change
is a reliable improvement.

The composite responder rule (stated before looking at any data, as a pre/post protocol should):
a reliable improvement on at least ``min_improved`` (default 2) of the core measures
(:data:`~hostcap.outcome_analytics.CORE_MEASURES`) *and* no reliable worsening on any core
measure. A client with fewer than ``min_improved`` assessable core measures is
``insufficient_data``, never a non-responder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hostcap.errors import ValidationError
from hostcap.outcome_analytics.input_frames import baseline_rows, validate_measurements
from hostcap.outcome_analytics.measure_specs import (
    CORE_MEASURES,
    MEASURES,
    MeasureSpec,
    get_measure,
)

__all__ = [
    "RESPONDER_COLUMNS",
    "composite_responders",
    "follow_up_changes",
    "responder_table",
]

#: Columns of the per-measure responder table (``responders.csv`` keeps the first seven).
RESPONDER_COLUMNS: tuple[str, ...] = (
    "client",
    "measure",
    "baseline",
    "last",
    "change",
    "reliable_change",
    "responder",
    "baseline_week",
    "last_week",
    "rule_scale_change",
    "threshold",
)


def _known(specs: Mapping[str, MeasureSpec] | None) -> list[str]:
    return sorted(set(MEASURES) | set(specs or {}))


def follow_up_changes(
    measurements: pd.DataFrame, specs: Mapping[str, MeasureSpec] | None = None
) -> pd.DataFrame:
    """Every observation after baseline, classified against that baseline.

    Returns
    -------
    pandas.DataFrame
        ``client, measure, week, value, baseline, baseline_week, status`` where ``status`` is
        ``improved``, ``worsened``, ``no reliable change`` or ``not assessable``.
    """
    data = validate_measurements(measurements, known_measures=_known(specs))
    base = baseline_rows(data).rename(columns={"value": "baseline", "week": "baseline_week"})
    merged = data.merge(
        base[["client", "measure", "baseline", "baseline_week"]], on=["client", "measure"]
    )
    after = merged.loc[merged["week"] > merged["baseline_week"]].copy()
    status = np.empty(len(after), dtype=object)
    measures = after["measure"].to_numpy()
    for measure in np.unique(measures):
        rows = measures == measure
        spec = get_measure(str(measure), specs)
        status[rows] = spec.classify_many(
            after["baseline"].to_numpy(dtype=float)[rows],
            after["value"].to_numpy(dtype=float)[rows],
        )
    after["status"] = status
    columns = ["client", "measure", "week", "value", "baseline", "baseline_week", "status"]
    return after.loc[:, columns].reset_index(drop=True)


def responder_table(
    measurements: pd.DataFrame, specs: Mapping[str, MeasureSpec] | None = None
) -> pd.DataFrame:
    """Per client and measure: baseline, last value, change and reliable-change status.

    Parameters
    ----------
    measurements
        The tidy measurements frame (``hostcap.outcome_analytics.input_frames``).
    specs
        Measure specs that replace the defaults (e.g. a sensitivity analysis).

    Returns
    -------
    pandas.DataFrame
        :data:`RESPONDER_COLUMNS`. ``change`` is ``last − baseline`` in the measure's unit;
        ``rule_scale_change`` is what the threshold applies to (the log ratio for ``rcv``
        measures). A client with only a baseline is ``not assessable`` (``last`` empty,
        ``responder`` False).

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame({"client": ["c1", "c1"], "measure": ["tryptase"] * 2,
    ...                   "week": [0.0, 12.0], "value": [10.0, 7.5]})
    >>> row = responder_table(m).iloc[0]
    >>> row["reliable_change"], bool(row["responder"])
    ('improved', True)
    """
    data = validate_measurements(measurements, known_measures=_known(specs))
    base = baseline_rows(data)
    last = data.groupby(["client", "measure"], sort=True).tail(1)
    table = base.merge(last, on=["client", "measure"], suffixes=("_base", "_last"))
    rows = []
    for client, measure, week_base, value_base, week_last, value_last in zip(
        table["client"].astype(str),
        table["measure"].astype(str),
        table["week_base"].to_numpy(dtype=float),
        table["value_base"].to_numpy(dtype=float),
        table["week_last"].to_numpy(dtype=float),
        table["value_last"].to_numpy(dtype=float),
        strict=True,
    ):
        spec = get_measure(measure, specs)
        has_follow_up = bool(week_last > week_base)
        baseline = float(value_base)
        last_value = float(value_last) if has_follow_up else math.nan
        status = spec.classify(baseline, last_value) if has_follow_up else "not assessable"
        rows.append(
            {
                "client": client,
                "measure": measure,
                "baseline": baseline,
                "last": last_value,
                "change": last_value - baseline,
                "reliable_change": status,
                "responder": status == "improved",
                "baseline_week": float(week_base),
                "last_week": float(week_last) if has_follow_up else math.nan,
                "rule_scale_change": spec.change_on_rule_scale(baseline, last_value),
                "threshold": spec.threshold(),
            }
        )
    return pd.DataFrame(rows, columns=list(RESPONDER_COLUMNS))


def composite_responders(
    responders: pd.DataFrame,
    *,
    core: Sequence[str] = CORE_MEASURES,
    min_improved: int = 2,
) -> pd.DataFrame:
    """The composite responder status per client from a :func:`responder_table`.

    Returns
    -------
    pandas.DataFrame
        ``client, n_assessable, n_improved, n_worsened, composite`` with ``composite`` one of
        ``responder``, ``non_responder``, ``insufficient_data``.
    """
    missing = [c for c in ("client", "measure", "reliable_change") if c not in responders]
    if missing:
        raise ValidationError.single(
            "responders", sorted(responders.columns), f"a responder table with columns {missing}"
        )
    if min_improved < 1:
        raise ValidationError.single("min_improved", min_improved, "an integer ≥ 1")
    core_rows = responders.loc[responders["measure"].isin(list(core))]
    assessable = core_rows["reliable_change"].isin(["improved", "worsened", "no reliable change"])
    summary = (
        core_rows.assign(
            assessable=assessable,
            improved=core_rows["reliable_change"] == "improved",
            worsened=core_rows["reliable_change"] == "worsened",
        )
        .groupby("client", sort=True)[["assessable", "improved", "worsened"]]
        .sum()
        .astype(int)
        .rename(
            columns={
                "assessable": "n_assessable",
                "improved": "n_improved",
                "worsened": "n_worsened",
            }
        )
    )
    all_clients = pd.Index(sorted(responders["client"].unique()), name="client")
    summary = summary.reindex(all_clients, fill_value=0)
    status = np.where(
        summary["n_assessable"] < min_improved,
        "insufficient_data",
        np.where(
            (summary["n_improved"] >= min_improved) & (summary["n_worsened"] == 0),
            "responder",
            "non_responder",
        ),
    )
    return summary.assign(composite=status).reset_index()
