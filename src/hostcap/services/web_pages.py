"""What the web app's pages show, as plain data: the faces render it, nothing here is HTML.

Every function reads through the same services the CLI uses (``client_view`` for the safety
banner and overview, the store's frames for the records), so the web app has no copy of a rule,
a validation or a query. Every view of an identified client page is audited with the user.
Entry forms: :mod:`hostcap.services.web_forms`; the timeline:
:mod:`hostcap.services.web_timeline`; assessment and what-if:
:mod:`hostcap.services.web_assessment`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from hostcap.clinical_store import EXPORT_FILES, Store
from hostcap.services.client_view import client_view
from hostcap.services.web_timeline import svg_text, timeline

__all__ = [
    "audit_view",
    "client_list",
    "client_page",
    "client_records",
    "require_client",
    "research_view",
    "verify_audit",
]


# -- pages -----------------------------------------------------------------------------------


def audit_view(store: Store, code: str | None, page: str, *, actor: str) -> None:
    """Record that ``actor`` viewed an identified page (the hash-chained audit keeps it)."""
    store.record_audit(
        action="view", entity="web_page", entity_id=page[:64], client_code=code, actor=actor
    )


def require_client(store: Store, code: str, page: str, *, actor: str) -> None:
    """:class:`NotFoundError` unless ``code`` is stored; the view of ``page`` is audited."""
    with store.reading() as session:
        store.client(session, code)
    audit_view(store, code, page, actor=actor)


def client_list(store: Store, query: str = "") -> list[dict[str, Any]]:
    """Every client (code, sex, birth year, demo), those whose code contains ``query``."""
    needle = query.strip().casefold()
    return [
        {k: c[k] for k in ("code", "sex", "birth_year", "demo")}
        for c in store.list_clients()
        if needle in str(c["code"]).casefold()
    ]


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _client_frames(store: Store, code: str) -> dict[str, pd.DataFrame]:
    return {kind: store.frame(kind, code=code) for kind in EXPORT_FILES if kind != "clients"}


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    # One object array (numbers, booleans and timestamps boxed to Python values as
    # ``to_dict`` boxes them), then plain dicts: several times faster than ``to_dict``.
    names = [str(c) for c in frame.columns]
    return [
        {name: _clean(v) for name, v in zip(names, row, strict=True)}
        for row in frame.to_numpy(dtype=object).tolist()
    ]


def _rows_of(frames: Mapping[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    return {kind: _rows(frame) for kind, frame in frames.items()}


def client_records(store: Store, code: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored record of ``code``, by kind (as the export's tables)."""
    return _rows_of(_client_frames(store, code))


def client_page(store: Store, code: str, *, actor: str) -> dict[str, Any]:
    """The client page: the safety banner and overview (``client_view``), the timeline and
    every record; the view is audited. One read transaction: the banner, the overview and the
    tables show the same state of the store, and each record kind is read once."""
    with store.snapshot():
        view = client_view(store, code)
        frames = _client_frames(store, code)
        view["timeline"] = timeline(store, code, figure=False, loaded=frames)
    view["records"] = _rows_of(frames)
    audit_view(store, code, "client", actor=actor)
    return view


# -- research (de-identified) -------------------------------------------------------------------


def research_view(store: Store, *, actor: str) -> dict[str, Any]:
    """The de-identified cohort view: counts and medians by relative week, responders by
    measure. No client code, name or date: only aggregates over relative weeks."""
    from hostcap.outcome_analytics import composite_responders, responder_table
    from hostcap.services.analytics import cohort_frames

    measurements, _ = cohort_frames(store)
    store.record_audit(action="view", entity="web_page", entity_id="research", actor=actor)
    if measurements.empty:
        return {"n_clients": 0, "weekly": [], "responders": [], "composite": {}, "svg": ""}
    weekly = (
        measurements.assign(week=measurements["week"].round().astype(int))
        .groupby(["measure", "week"], sort=True)
        .agg(n=("client", "nunique"), median=("value", "median"))
        .reset_index()
    )
    responders = responder_table(measurements)
    by_measure = (
        responders.groupby(["measure", "reliable_change"], sort=True)
        .size()
        .rename("clients")
        .reset_index()
    )
    composite = composite_responders(responders)["composite"].value_counts().to_dict()
    fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
    for measure, part in weekly.groupby("measure", sort=True):
        base = part["median"].iloc[0] or 1.0
        ax.plot(part["week"], part["median"] / base, marker=".", label=str(measure))
    ax.set_xlabel("weeks from protocol start (day 0)")
    ax.set_ylabel("median / first week's median")
    ax.legend(fontsize=7, ncol=3)
    ax.set_title("Cohort medians by relative week (de-identified)", fontsize=10)
    return {
        "n_clients": int(measurements["client"].nunique()),
        "weekly": weekly.to_dict("records"),
        "responders": by_measure.to_dict("records"),
        "composite": {str(k): int(v) for k, v in composite.items()},
        "svg": svg_text(fig),
    }


def verify_audit(store: Store, *, actor: str) -> dict[str, Any]:
    """``hostcap audit --verify`` for the admin page; the check itself is audited."""
    result = store.verify_audit()
    store.record_audit(action="verify", entity="audit_log", after={"ok": result.ok}, actor=actor)
    return {
        "ok": result.ok,
        "entries": result.entries,
        "rows_checked": result.rows_checked,
        "head": result.head_hash[:16],
        "problems": [p.message for p in result.problems],
        "notes": list(result.notes),
    }
