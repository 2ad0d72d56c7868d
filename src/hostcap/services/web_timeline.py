"""A client's course on one time axis: one server-rendered SVG figure and the same data as a
table (the figure's text alternative)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker

from hostcap.clinical_store import Store

__all__ = ["Timeline", "svg_text", "timeline"]


@dataclass
class Timeline:
    """One figure of a client's course on one time axis, and the same data as a table."""

    svg: str
    description: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def svg_text(figure: Any, *, tight: bool = True) -> str:
    """A matplotlib figure as SVG text, byte-identical for the same figure (no date, fixed
    hash salt), without the XML prologue so it can sit inside a page."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "hostcap", "svg.fonttype": "none"}):
        figure.savefig(
            buffer, format="svg", metadata={"Date": None}, bbox_inches="tight" if tight else None
        )
    plt.close(figure)
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _times(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(frame[column], errors="coerce")


def _timeline_frames(
    store: Store, code: str, loaded: Mapping[str, pd.DataFrame] | None = None
) -> dict[str, Any]:
    frames: dict[str, Any] = {
        kind: loaded[kind] if loaded is not None else store.frame(kind, code=code)
        for kind in ("labs", "meds", "questionnaires", "food", "episodes")
    }
    frames["labs"] = frames["labs"].assign(when=_times(frames["labs"], "collected_at"))
    q = frames["questionnaires"]
    frames["questionnaires"] = q.assign(when=_times(q, "answered_on"))
    frames["food"] = frames["food"].assign(when=_times(frames["food"], "trial_date"))
    frames["episodes"] = frames["episodes"].assign(when=_times(frames["episodes"], "onset_at"))
    frames["enrolments"] = store.enrolments(code)
    return frames


def _phase_spans(
    enrolments: list[dict[str, Any]],
) -> list[tuple[str, str, pd.Timestamp, pd.Timestamp, Any]]:
    spans = []
    for enrolment in enrolments:
        day0 = pd.Timestamp(enrolment["started_on"])
        for phase in enrolment["phases"]:
            start = day0 + pd.Timedelta(weeks=float(phase["start_week"]))
            end = day0 + pd.Timedelta(weeks=float(phase["end_week"]))
            spans.append((str(enrolment["protocol"]), str(phase["name"]), start, end, phase))
    return spans


def _timeline_rows(frames: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every point of the timeline, as table rows (the figure's text alternative)."""
    rows: list[dict[str, Any]] = []
    labs, questionnaires = frames["labs"], frames["questionnaires"]
    food, episodes, meds = frames["food"], frames["episodes"], frames["meds"]
    for when, analyte, value, unit, context in zip(
        labs["when"], labs["analyte"], labs["value"], labs["unit"], labs["context"], strict=True
    ):
        rows.append(
            {
                "when": when,
                "series": f"lab: {analyte}",
                "value": f"{value:.4g} {unit}",
                "note": str(context or ""),
            }
        )
    for when, instrument, total, meaning in zip(
        questionnaires["when"],
        questionnaires["instrument"],
        questionnaires["total"],
        questionnaires["interpretation"],
        strict=True,
    ):
        label = "symptom load" if instrument == "symptom_diary" else str(instrument)
        rows.append(
            {
                "when": when,
                "series": f"questionnaire: {label}",
                "value": f"total {total:.4g}",
                "note": str(meaning or ""),
            }
        )
    for when, severity, systems, ana in zip(
        episodes["when"],
        episodes["severity"],
        episodes["organ_systems"],
        episodes["anaphylaxis"],
        strict=True,
    ):
        rows.append(
            {
                "when": when,
                "series": "episode",
                "value": f"severity {severity}",
                "note": ", ".join(systems) + ("; ANAPHYLAXIS" if ana else ""),
            }
        )
    for when, name, grade in zip(food["when"], food["food"], food["reaction_grade"], strict=True):
        rows.append(
            {
                "when": when,
                "series": "food trial",
                "value": f"grade {grade}",
                "note": f"{name}: {'tolerated' if grade == 0 else 'reaction'}",
            }
        )
    today = pd.Timestamp(dt.date.today())
    for _, med in meds.iterrows():
        start = pd.Timestamp(med["start_date"])
        end = pd.Timestamp(med["end_date"]) if pd.notna(med["end_date"]) else today
        ddd = med["ddd_per_day"]
        ddd_text = f"{ddd:.2f} DDD/day" if pd.notna(ddd) else ""
        rows.append(
            {
                "when": start,
                "series": f"medication: {med['drug']}",
                "value": f"{med['dose']:.4g} {med['dose_unit']} × {med['per_day']:.4g}/day",
                "note": (ddd_text + f" until {end:%Y-%m-%d}").strip(),
            }
        )
    for protocol, name, start, _, phase in _phase_spans(frames["enrolments"]):
        rows.append(
            {
                "when": start,
                "series": f"protocol phase: {protocol}",
                "value": name,
                "note": f"weeks {phase['start_week']:g}–{phase['end_week']:g}",
            }
        )
    rows.sort(key=lambda r: (pd.Timestamp(r["when"]), r["series"]))
    return rows


def _timeline_svg(code: str, frames: Mapping[str, Any]) -> str:
    labs, questionnaires = frames["labs"], frames["questionnaires"]
    food, episodes, meds = frames["food"], frames["episodes"], frames["meds"]
    panels = ["Labs", "Question-\nnaires", "Episodes\n(severity)", "Food trials\n(grade)", "Meds"]
    fig, axes = plt.subplots(
        len(panels),
        1,
        sharex=True,
        figsize=(9, 7.5),
        height_ratios=[3, 2, 2, 1.4, 2],
    )
    # Fixed margins: a layout engine or a tight bounding box triples the rendering time.
    fig.subplots_adjust(left=0.08, right=0.98, top=0.95, bottom=0.09, hspace=0.12)
    lab_ax, q_ax, ep_ax, food_ax, med_ax = axes
    markers = "osD^v<>"
    if not labs.empty:
        for i, (analyte, group) in enumerate(labs.sort_values("when").groupby("analyte")):
            unit = str(group["unit"].iloc[0])
            lab_ax.plot(
                group["when"],
                group["value"],
                marker=markers[i % len(markers)],
                label=f"{analyte} ({unit})",
            )
        # Analytes differ by orders of magnitude (tryptase ~5, platelets ~250): log scale.
        if (labs["value"] > 0).all():
            lab_ax.set_yscale("log")
            # Plain numbers (30, not 3×10¹); minor ticks labelled when the range is narrow.
            lab_ax.yaxis.set_major_formatter(ticker.LogFormatter())
            lab_ax.yaxis.set_minor_formatter(
                ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5))
            )
        lab_ax.legend(fontsize=7, loc="upper left")
    if not questionnaires.empty:
        for i, (instrument, group) in enumerate(questionnaires.groupby("instrument", sort=True)):
            group = group.sort_values("when")
            q_ax.plot(group["when"], group["total"], marker=markers[i % 7], label=str(instrument))
        q_ax.legend(fontsize=7, loc="upper left")
    if not episodes.empty:
        colours = ["tab:red" if a else "tab:orange" for a in episodes["anaphylaxis"]]
        ep_ax.scatter(episodes["when"], episodes["severity"], c=colours, marker="x")
        ep_ax.set_ylim(-0.5, 10.5)
    if not food.empty:
        food_ax.scatter(food["when"], food["reaction_grade"], marker="s", color="tab:green")
        food_ax.set_ylim(-0.5, 3.5)
    if not meds.empty:
        today = pd.Timestamp(dt.date.today())
        for i, (_, med) in enumerate(meds.sort_values("start_date").iterrows()):
            start = pd.Timestamp(med["start_date"])
            end = pd.Timestamp(med["end_date"]) if pd.notna(med["end_date"]) else today
            ddd = med["ddd_per_day"]
            med_ax.plot([start, end], [i, i], linewidth=4)
            ddd_text = f"{ddd:.2f} DDD/day" if pd.notna(ddd) else ""
            med_ax.annotate(f"{med['drug']} {ddd_text}", (start, i), fontsize=7, va="bottom")
        med_ax.set_yticks([])
    for j, (_, name, start, end, _) in enumerate(_phase_spans(frames["enrolments"])):
        for ax in axes:
            ax.axvspan(start, end, alpha=0.08 if j % 2 == 0 else 0.16, color="tab:blue")
        lab_ax.annotate(name, (start, 1.0), xycoords=("data", "axes fraction"), fontsize=7)
    shown = [labs, questionnaires, episodes, food, meds]
    for ax, title, frame in zip(axes, panels, shown, strict=True):
        if frame.empty:
            ax.set_yticks([])
            ax.text(0.5, 0.5, "none recorded", transform=ax.transAxes, ha="center", fontsize=7)
        ax.set_ylabel(title, fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    for label in med_ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    fig.suptitle(f"Course of {code}", fontsize=10)
    return svg_text(fig, tight=False)


#: Rendered timelines by the content they show (same data, same bytes; rendering is the cost).
_SVG_CACHE: dict[str, str] = {}
_SVG_CACHE_SIZE = 256


def _content_key(code: str, frames: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(code.encode())
    for name in ("labs", "meds", "questionnaires", "food", "episodes"):
        digest.update(frames[name].to_json(date_format="iso", default_handler=str).encode())
    digest.update(json.dumps(frames["enrolments"], default=str, sort_keys=True).encode())
    digest.update(dt.date.today().isoformat().encode())  # open medication spans end today
    return digest.hexdigest()


def timeline(
    store: Store,
    code: str,
    *,
    figure: bool = True,
    loaded: Mapping[str, pd.DataFrame] | None = None,
) -> Timeline:
    """Labs, symptom load, questionnaires, antihistamine DDD, food tolerance, episodes,
    medications and protocol phases of ``code`` on one shared time axis (SVG + table).

    ``figure=False``: the table and description only (what the page itself shows; the SVG is
    fetched by the browser as an image). The SVG is rendered once per content. ``loaded``:
    the client's frames by kind, when the caller has read them already.
    """
    frames = _timeline_frames(store, code, loaded)
    rows = _timeline_rows(frames)
    kinds = sorted({r["series"].split(":")[0] for r in rows})
    description = (
        f"Timeline of client {code}: {len(rows)} data points ({', '.join(kinds) or 'none'}) "
        "on one time axis; the table below lists every point."
    )
    svg = ""
    if figure:
        key = _content_key(code, frames)
        svg = _SVG_CACHE.get(key, "")
        if not svg:
            svg = _timeline_svg(code, frames)
            if len(_SVG_CACHE) >= _SVG_CACHE_SIZE:
                _SVG_CACHE.pop(next(iter(_SVG_CACHE)))
            _SVG_CACHE[key] = svg
    return Timeline(svg=svg, description=description, rows=rows)
