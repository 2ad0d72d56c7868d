"""What the web app's pages show, as plain data: the faces render it, nothing here is HTML.

Every function reads through the same services the CLI uses (``client_view`` for the safety
banner and overview, ``records.record_fields`` for entry forms, ``Store.add_one`` for writes,
``assessment.assess_stored_client`` for assessments), so the web app has no copy of a rule, a
validation or a query. Every view of an identified client page is audited with the user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import ticker

from hostcap.catalog import get_instrument, instruments
from hostcap.clinical_store import EXPORT_FILES, ImportReport, Store
from hostcap.errors import HostcapError, Issue, ValidationError, describe_value
from hostcap.services.assessment import (
    ClientAssessment,
    StoredAssessment,
    assess_stored_client,
    format_result,
)
from hostcap.services.assessment_reports import client_safety_banner, stored_assessments
from hostcap.services.client_view import client_view
from hostcap.services.records import Column, ColumnType, record_fields

__all__ = [
    "ENTRY_KINDS",
    "FormField",
    "InstrumentItemField",
    "Timeline",
    "assessment_page",
    "audit_view",
    "client_list",
    "client_page",
    "client_records",
    "entry_fields",
    "issues_by_field",
    "questionnaire_instruments",
    "questionnaire_items",
    "require_client",
    "research_view",
    "save_assessment",
    "save_enrolment",
    "save_record",
    "svg_text",
    "timeline",
    "verify_audit",
    "what_if",
]

#: Record kinds with an entry form, by the URL word: (store kind, title).
ENTRY_KINDS: Mapping[str, tuple[str, str]] = {
    "labs": ("labs", "Laboratory result"),
    "meds": ("meds", "Medication"),
    "questionnaires": ("questionnaires", "Questionnaire"),
    "food": ("food", "Food reintroduction trial"),
    "episodes": ("episodes", "Episode"),
    "visits": ("visits", "Visit"),
    "findings": ("findings", "Clinical finding"),
    "interventions": ("interventions", "Protocol intervention"),
}

_INPUT_TYPES = {
    ColumnType.FLOAT: "text",  # text + inputmode: the store's parser gives the messages
    ColumnType.INT: "text",
    ColumnType.DATE: "date",
    ColumnType.DATETIME: "datetime-local",
    ColumnType.BOOL: "checkbox",
    ColumnType.CHOICE: "select",
    ColumnType.LIST: "checkboxes",
    ColumnType.TEXT: "text",
}


@dataclass(frozen=True)
class FormField:
    """One input of an entry form, derived from a record kind's column declaration."""

    name: str
    label: str
    input_type: str
    required: bool
    choices: tuple[str, ...]
    unit: str
    help: str
    expected: str
    inputmode: str = ""
    multiline: bool = False


@dataclass(frozen=True)
class InstrumentItemField:
    """One item of a questionnaire: a labelled input of its own."""

    name: str
    index: int
    label: str
    minimum: float
    maximum: float


def _field(column: Column) -> FormField:
    numeric = column.type in (ColumnType.FLOAT, ColumnType.INT)
    return FormField(
        name=column.name,
        label=column.display_label,
        input_type=_INPUT_TYPES[column.type],
        required=column.required,
        choices=column.choices,
        unit=column.unit,
        help=column.help,
        expected=column.expected,
        inputmode=("numeric" if column.type == ColumnType.INT else "decimal") if numeric else "",
        multiline=column.free_text and column.name == "notes",
    )


def entry_fields(kind: str) -> list[FormField]:
    """The inputs of ``kind``'s entry form: every declared column but the client code."""
    store_kind = ENTRY_KINDS[kind][0]
    return [_field(c) for c in record_fields(store_kind) if c.name != "client_code"]


def questionnaire_instruments() -> list[tuple[str, str]]:
    """``(id, name)`` of every catalog instrument, for the questionnaire form."""
    return [(i.id, f"{i.name} ({i.abbreviation})") for i in instruments().values()]


def questionnaire_items(instrument: str) -> list[InstrumentItemField]:
    """One field per item of the catalog instrument (``item_1`` …), in the catalog's order."""
    inst = get_instrument(instrument)
    return [
        InstrumentItemField(
            name=f"item_{item.index}",
            index=item.index,
            label=f"{item.index}. {item.label}",
            minimum=item.min,
            maximum=item.max,
        )
        for item in inst.items
    ]


def _form_value(column: Column, form: Mapping[str, Any]) -> str | None:
    raw = form.get(column.name)
    if column.type == ColumnType.BOOL:
        # An unticked checkbox sends nothing: that means "no"; anything else is checked by
        # the store (``true``/``false``/``yes``/``no`` …), never guessed here.
        return "false" if raw in (None, "") else str(raw)
    if column.type == ColumnType.LIST and isinstance(raw, list | tuple):
        return ";".join(str(v) for v in raw if str(v).strip()) or None
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    if raw is None:
        return None
    text = str(raw)
    if column.type == ColumnType.DATETIME and len(text) == 16 and "T" in text:
        return text  # datetime-local sends YYYY-MM-DDTHH:MM: what the parser expects
    return text if text.strip() else None


def _questionnaire_answers(instrument: str, form: Mapping[str, Any]) -> str | None:
    try:
        items = questionnaire_items(instrument)
    except (HostcapError, KeyError):  # an unknown instrument: the store's check names it
        return None
    answers = []
    for item in items:
        value = form.get(item.name)
        answers.append("" if value is None else str(value).strip())
    return ",".join(answers) if any(answers) else None


def save_record(
    store: Store,
    kind: str,
    code: str,
    form: Mapping[str, Any],
    *,
    actor: str,
    only_declared: bool = False,
) -> ImportReport:
    """Store one record from a submitted form, through the store's one validating path.

    The values go to ``Store.add_one`` as strings, exactly as the CLI's ``KIND add`` sends
    them; a :class:`ValidationError` names each problem by its column and nothing is stored.
    ``only_declared`` (the JSON API): a field the kind does not declare is refused rather than
    ignored (a form also sends its CSRF token and buttons).
    """
    store_kind = ENTRY_KINDS[kind][0]
    columns = [c for c in record_fields(store_kind) if c.name != "client_code"]
    if only_declared:
        known = [c.name for c in columns]
        unknown = sorted(k for k in form if k not in known)
        if unknown:
            raise ValidationError(
                [
                    Issue(
                        k,
                        f"unknown field {k!r}; expected fields: {', '.join(known)}",
                        value=k,
                        expected=", ".join(known),
                    )
                    for k in unknown
                ]
            )
    values: dict[str, str | None] = {"client_code": code}
    for column in columns:
        values[column.name] = _form_value(column, form)
    if store_kind == "questionnaires" and values.get("instrument") and not values.get("answers"):
        values["answers"] = _questionnaire_answers(str(values["instrument"]), form)
    return store.add_one(store_kind, values, actor=actor)


def issues_by_field(error: ValidationError, fields: Sequence[str]) -> dict[str, list[str]]:
    """Each issue's message under the field it names (``""``: the form as a whole)."""
    out: dict[str, list[str]] = {}
    names = sorted(fields, key=len, reverse=True)
    for issue in error.issues:
        location = issue.location.removeprefix("column ").strip()
        target = next((n for n in names if location == n or location.startswith(n + " ")), "")
        if not target and location.startswith("answers"):
            target = "answers"
        out.setdefault(target, []).append(issue.message)
    return out


def save_enrolment(
    store: Store,
    code: str,
    *,
    protocol: str,
    start: str,
    phenotype_label: str | None,
    phases: str,
    actor: str,
) -> int:
    """Enrol a client from the enrolment form (the same store call as ``hostcap enrol``).

    ``phases``: one ``NAME:START_WEEK:END_WEEK`` per line.
    """
    issues: list[Issue] = []
    try:
        started_on = dt.date.fromisoformat(start.strip())
    except ValueError:
        issues.append(
            Issue(
                "start",
                f"start value {describe_value(start)} is not a valid date; expected a date "
                "YYYY-MM-DD",
                value=start,
                expected="a date YYYY-MM-DD",
            )
        )
        started_on = dt.date.today()
    parsed: list[tuple[str, float, float]] = []
    for line in (p.strip() for p in phases.splitlines()):
        if not line:
            continue
        name, _, weeks = line.partition(":")
        first, _, last = weeks.partition(":")
        try:
            parsed.append((name.strip(), float(first), float(last)))
        except ValueError:
            issues.append(
                Issue(
                    "phases",
                    f"phase {describe_value(line)} is not NAME:START_WEEK:END_WEEK; expected "
                    "e.g. restore:0:8",
                    value=line,
                    expected="NAME:START_WEEK:END_WEEK",
                )
            )
    if issues:
        raise ValidationError(issues, context="enrolment: nothing was written")
    return store.add_enrolment(
        code,
        protocol=protocol,
        started_on=started_on,
        phenotype_label=phenotype_label or None,
        phases=parsed,
        actor=actor,
    )


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


def _rows_of(frames: Mapping[str, pd.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    return {
        kind: [{str(k): _clean(v) for k, v in r.items()} for r in frame.to_dict("records")]
        for kind, frame in frames.items()
    }


def client_records(store: Store, code: str) -> dict[str, list[dict[str, Any]]]:
    """Every stored record of ``code``, by kind (as the export's tables)."""
    return _rows_of(_client_frames(store, code))


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


def client_page(store: Store, code: str, *, actor: str) -> dict[str, Any]:
    """The client page: the safety banner and overview (``client_view``), the timeline and
    every record; the view is audited."""
    view = client_view(store, code)
    frames = _client_frames(store, code)
    view["timeline"] = timeline(store, code, figure=False, loaded=frames)
    view["records"] = _rows_of(frames)
    audit_view(store, code, "client", actor=actor)
    return view


# -- assessment ------------------------------------------------------------------------------


def assessment_page(store: Store, code: str, *, actor: str) -> dict[str, Any]:
    """A fresh (unsaved) assessment of the stored data, the banner and the stored history."""
    outcome: ClientAssessment | None = None
    problems: list[Issue] = []
    try:
        outcome = assess_stored_client(store, code, save=False)
    except ValidationError as exc:
        problems = exc.issues
    history: list[StoredAssessment] = stored_assessments(store, code)
    audit_view(store, code, "assessment", actor=actor)
    return {
        "code": code,
        "safety": client_view_banner(store, code),
        "result": outcome.result.model_dump(mode="json") if outcome else None,
        "text": format_result(outcome.result, "text") if outcome else "",
        "skipped": [i.message for i in outcome.skipped] if outcome else [],
        "problems": [str(p) for p in problems],
        "history": [h.as_dict() for h in reversed(history)],
    }


def client_view_banner(store: Store, code: str) -> list[str]:
    """The safety banner lines alone (the same as ``client show`` prints first)."""
    return client_safety_banner(store, code)


def save_assessment(store: Store, code: str, *, actor: str) -> int:
    """Assess the stored data and save it (rulebook version and sha256) as ``hostcap assess``."""
    outcome = assess_stored_client(store, code, save=True, actor=actor)
    assert outcome.assessment_id is not None
    return outcome.assessment_id


# -- what-if ----------------------------------------------------------------------------------


def what_if(store: Store, code: str, *, variant: str, protocol: str, actor: str) -> dict[str, Any]:
    """The simulated band of ``code``'s phenotype under a protocol: HYPOTHESIS.

    ``protocol``: ``example`` (the phenotype's shipped example), ``plan`` (the phases of the
    client's plan from the rulebook) or ``none``. The phenotype is the rule-based label of a
    fresh assessment; without one (``insufficient_data``, ``mixed``) the page says so.
    """
    from hostcap.mechanistic_model import VARIANTS, expected_trajectory_band
    from hostcap.services.assessment import _model_protocol
    from hostcap.services.modelling import example_protocol

    if variant not in VARIANTS:
        raise ValidationError.single("variant", variant, "one of " + ", ".join(VARIANTS))
    if protocol not in ("example", "plan", "none"):
        raise ValidationError.single("protocol", protocol, "one of example, plan, none")
    outcome = assess_stored_client(store, code, save=False)
    label = outcome.result.phenotype.label
    audit_view(store, code, "what-if", actor=actor)
    base = {
        "code": code,
        "variant": variant,
        "variants": list(VARIANTS),
        "protocol": protocol,
        "phenotype": label,
        "safety": client_view_banner(store, code),
        "client_fit": None,
        "fit_note": "No per-client fit is stored for this client, so only the phenotype's "
        "band is shown.",
    }
    if label not in ("A", "B", "C"):
        return base | {
            "svg": "",
            "rows": [],
            "note": f"The rule-based phenotype is {label!r}: there is no model preset to "
            "simulate. Record more data and assess again.",
        }
    chosen = None
    if protocol == "example":
        chosen = example_protocol(label)
    elif protocol == "plan" and outcome.result.plan is not None:
        chosen = _model_protocol(label, outcome.result.plan.phases)
    band = expected_trajectory_band(label, protocol=chosen, weeks=16, variant=variant)
    names = list(dict.fromkeys(band["name"]))
    fig, axes = plt.subplots(
        len(names), 1, sharex=True, figsize=(8, 1.8 * len(names)), layout="constrained"
    )
    axes_list = list(axes) if len(names) > 1 else [axes]
    for ax, name in zip(axes_list, names, strict=True):
        part = band[band["name"] == name]
        ax.fill_between(part["week"], part["low"], part["high"], alpha=0.3, label="10–90 %")
        ax.plot(part["week"], part["median"], label="median")
        ax.set_ylabel(name.replace("_", " "), fontsize=8)
        ax.tick_params(which="both", labelsize=7)
    axes_list[-1].set_xlabel("week")
    axes_list[0].legend(fontsize=7)
    fig.suptitle(f"HYPOTHESIS — simulated band, phenotype {label}, variant {variant}", fontsize=10)
    rows = [
        {
            "week": int(r["week"]),
            "name": str(r["name"]),
            "low": float(r["low"]),
            "median": float(r["median"]),
            "high": float(r["high"]),
        }
        for r in band.to_dict("records")
    ]
    return base | {
        "svg": svg_text(fig),
        "rows": rows,
        "note": "HYPOTHESIS: a mechanistic model's simulation for the phenotype preset, not a "
        "prediction for this person; discuss any medication question with the prescriber.",
    }


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
