"""A de-identified CARE case report of one client: content, checklist, figure, HTML and PDF.

Pure rendering: :class:`CaseRecords` (what the service read from the store and the analytics
computed) in, :class:`CaseReport` (de-identified content), HTML text, PDF bytes, a figure and
the CARE checklist out. Nothing here opens a store or writes a file.

De-identification (HIPAA Safe Harbor as the floor, 45 CFR 164.514(b)(2)):

- no client code, name, contact or date: every date becomes weeks from the protocol start
  (CARE item 7 allows "week 4" instead of dates); the year of birth becomes a 5-year age band
  at the protocol start, 90 or more as "90 or older";
- free text (visit, episode and food-trial notes, episode treatment, finding sources,
  enrolment notes, the patient's perspective: a visit note starting "Patient perspective:")
  is left out unless ``include_notes``; then it is shown in a box marked "check before
  sending";
- the assessment's stored numbers are shown, never its input identifiers.

References
----------
Gagnier JJ, Kienle G, Altman DG, et al. The CARE guidelines: consensus-based clinical case
reporting guideline development. BMJ Case Rep. 2013 (the 13 CARE items of
:data:`CARE_ITEMS`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from hostcap.citations import format_references
from hostcap.outcome_analytics import get_measure
from hostcap.reports.document_rendering import format_number, render_template

__all__ = [
    "CARE_ITEMS",
    "CaseRecords",
    "CaseReport",
    "age_band",
    "build_case_report",
    "care_checklist",
    "case_figure",
    "case_report_html",
    "unit_words",
]

#: CARE 2013 items: (number, item, section id in the report).
CARE_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("1", "Title", "title"),
    ("2", "Keywords", "keywords"),
    ("3", "Abstract", "abstract"),
    ("4", "Introduction", "introduction"),
    ("5", "Patient information", "patient-information"),
    ("6", "Clinical findings", "clinical-findings"),
    ("7", "Timeline", "timeline"),
    ("8", "Diagnostic assessment", "diagnostic-assessment"),
    ("9", "Therapeutic intervention", "therapeutic-intervention"),
    ("10", "Follow-up and outcomes", "follow-up-and-outcomes"),
    ("11", "Discussion", "discussion"),
    ("12", "Patient perspective", "patient-perspective"),
    ("13", "Informed consent", "informed-consent"),
)

#: The criteria sets named in the abstract (all are in the diagnostic assessment).
ABSTRACT_CRITERIA: tuple[str, ...] = ("consensus_1", "consensus_2", "who_2022_sm")
#: A visit note that starts with this (any case) records the patient's perspective (CARE 12).
PERSPECTIVE_PREFIX = "patient perspective:"


@dataclass(frozen=True)
class CaseRecords:
    """What a case report is made from (read by the service, identifying fields excluded).

    Attributes
    ----------
    sex, birth_year, demo
        From the client record (never the code).
    protocol, started_on, phenotype_label, phases
        The first enrolment; ``phases`` are ``(name, start_week, end_week)``.
    records
        The client's stored records by kind (``labs``, ``meds``, ``questionnaires``, ``food``,
        ``episodes``, ``interventions``, ``findings``, ``visits``), dated as stored.
    enrolment_notes
        The enrolment's free-text note, if any.
    assessment
        The newest stored assessment (``result``, ``rulebook_version``, ``rulebook_sha256``,
        ``package_version``), or ``None``.
    responders
        The client's rows of :func:`hostcap.outcome_analytics.responder_table`.
    measurements
        The client's rows of the analytics ``measurements`` frame (``measure, week, value``).
    model_fit
        :func:`hostcap.mechanistic_model.compare_variants` for this client, or ``None``.
    model_note
        How the fit was made, or why there is none.
    reference_keys
        Citation keys of exactly the rules, criteria, instruments and thresholds used.
    versions
        ``hostcap`` version and the like, for the provenance line.
    safety
        The client's safety banner (emergency, specialist referral), de-identified; shown
        before anything else.
    """

    sex: str
    birth_year: int
    demo: bool
    protocol: str
    started_on: dt.date
    phenotype_label: str | None
    phases: Sequence[tuple[str, float, float]]
    records: Mapping[str, pd.DataFrame]
    enrolment_notes: str | None
    assessment: Mapping[str, Any] | None
    responders: pd.DataFrame
    measurements: pd.DataFrame
    model_fit: pd.DataFrame | None
    model_note: str
    reference_keys: Sequence[str]
    versions: Mapping[str, str]
    safety: Sequence[str] = ()


@dataclass
class CaseReport:
    """The de-identified content of a case report, section by section (CARE order)."""

    title: str
    keywords: list[str]
    synthetic: bool
    abstract: list[str]
    introduction: list[str]
    patient: dict[str, str]
    findings: list[dict[str, str]]
    baseline: list[dict[str, str]]
    timeline: list[dict[str, str]]
    criteria: list[dict[str, Any]]
    phenotype: dict[str, Any] | None
    phases: list[dict[str, Any]]
    interventions: list[dict[str, str]]
    medications: list[dict[str, str]]
    plan_note: str
    outcomes: list[dict[str, Any]]
    episodes: list[dict[str, str]]
    adverse_events: list[str]
    discussion: list[str]
    model_fit: list[dict[str, str]]
    model_note: str
    perspective: str | None
    consent: str
    references: list[str]
    provenance: list[str]
    notes: list[dict[str, str]] = field(default_factory=list)
    notes_left_out: int = 0
    figure_alt: str = ""
    assessment_available: bool = True
    perspective_recorded: bool = False
    safety: list[str] = field(default_factory=list)


def age_band(age: int) -> str:
    """A 5-year age band (``"40–44"``); 90 and over as ``"90 or older"`` (Safe Harbor)."""
    if age >= 90:
        return "90 or older"
    low = max(0, age - age % 5)
    return f"{low}–{low + 4}"


def _weeks(when: Any, start: dt.date) -> float:
    stamp = pd.Timestamp(when)
    return (stamp.normalize() - pd.Timestamp(start)).days / 7.0


def week_text(week: float) -> str:
    """``week 4``, ``week 2.3``, ``week −1.1`` (never a date)."""
    rounded = round(week, 1)
    text = format_number(rounded, 3) if rounded != 0 else "0"
    return "week " + text.replace("-", "−")


def _label(measure: str) -> tuple[str, str]:
    try:
        spec = get_measure(measure)
    except Exception:  # an unknown measure is shown by its id
        return measure, ""
    return spec.label, spec.unit


def _threshold_text(measure: str) -> str:
    spec = get_measure(measure)
    limit = spec.threshold()
    if spec.rule == "rcv":
        down, up = math.exp(-limit), math.exp(limit)
        return (
            f"reference change value: a change beyond ×{down:.2f} … ×{up:.2f} "
            f"(|ln ratio| > {limit:.3f})"
        )
    if spec.rule == "rci":
        unit = unit_words(spec.unit)
        return f"reliable change index: |change| > {format_number(limit)} {unit}".rstrip()
    unit = unit_words(spec.unit)
    return f"minimal important difference: |change| ≥ {format_number(limit)} {unit}".rstrip()


def _human(name: Any) -> str:
    """A stored id for reading: ``protocol.pattern_a`` → ``protocol pattern a``."""
    return str(name).replace("_", " ").replace(".", " ")


def _as_float(value: Any) -> float:
    return float(value)


def _dose(row: Any) -> str:
    return f"{format_number(row['dose'])} {row['dose_unit']} × {format_number(row['per_day'])}/day"


def unit_words(unit: str) -> str:
    """A unit for running text: score ranges ("0-10", "1-7") become "points"."""
    return "points" if re.fullmatch(r"\d+\s*-\s*\d+", unit.strip()) else unit


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _field_label(name: str) -> str:
    return (
        name.replace("history.", "").replace("findings.", "").replace("_", " ").replace(".", ": ")
    )


def build_case_report(records: CaseRecords, *, include_notes: bool = False) -> CaseReport:
    """The report's content from ``records`` (module docstring: what is left out and why)."""
    start = records.started_on
    r = records.records
    synthetic = records.demo
    age = start.year - records.birth_year
    patient = {
        "sex": records.sex,
        "age band": age_band(age) + " years at the protocol start",
    }
    if synthetic:
        patient["data"] = "SYNTHETIC or DEMO client: invented data, not a real person"

    findings, _, notes = _findings(r["findings"], start, include_notes)
    perspective = _perspective(r["visits"])
    baseline = _baseline_values(records.responders)
    timeline = _timeline(records, start)
    criteria, phenotype, plan_note, plan_phases = _assessment_parts(records.assessment)
    interventions = [
        {
            "intervention": str(row["intervention"]).replace("_", " "),
            "dose": f"{format_number(row['dose'])} {row['dose_unit']}",
            "from": week_text(_weeks(row["start_date"], start)),
            "to": week_text(_weeks(row["end_date"], start))
            if _present(row["end_date"])
            else "ongoing",
        }
        for _, row in r["interventions"].sort_values(["start_date", "intervention"]).iterrows()
    ]
    medications = _medications(r["meds"], start)
    outcomes = _outcomes(records.responders)
    episodes, adverse = _episodes(r["episodes"], r["food"], start)
    notes += _free_text_notes(records, start)
    n_notes = len(notes)
    model_fit = _model_rows(records.model_fit)
    keywords = ["mast cell activation syndrome", "case report"]
    if records.phenotype_label:
        keywords.append(f"phenotype {records.phenotype_label} (hypothesis label)")
    keywords += ["reliable change", "Host Capacity Model (hypothesis)"]
    title = (
        ("SYNTHETIC DEMO — " if synthetic else "")
        + "Tracking a person with suspected mast cell activation syndrome through a "
        + f"{_weeks_span(records)}-week sequenced protocol: a case report"
    )
    improved = [o["label"] for o in outcomes if o["verdict"] == "improved"]
    worsened = [o["label"] for o in outcomes if o["verdict"] == "worsened"]
    abstract = [
        f"Patient: {records.sex}, aged {patient['age band']}"
        + (" (synthetic client, not a real person)." if synthetic else "."),
        "Assessment: "
        + (
            "; ".join(
                f"{c['title']}: {c['status']}" for c in criteria if c["id"] in ABSTRACT_CRITERIA
            )
            or "; ".join(f"{c['title']}: {c['status']}" for c in criteria[:3])
            if criteria
            else "no stored assessment"
        )
        + " (all criteria sets: Diagnostic assessment).",
        f"Intervention: {_human(records.protocol)} ({len(records.phases)} phases)"
        + (
            f", phenotype label {records.phenotype_label} (HYPOTHESIS)"
            if records.phenotype_label
            else ""
        )
        + "; prescribed medication continued.",
        "Outcomes: reliable improvement in "
        + (", ".join(improved) if improved else "no measure")
        + "; reliable worsening in "
        + (", ".join(worsened) if worsened else "no measure")
        + f" ({len(outcomes)} measures with a baseline).",
        "Single case without a control: the changes cannot be attributed to the protocol.",
    ]
    introduction = [
        "Mast cell activation syndrome (MCAS) is diagnosed by consensus criteria that differ in "
        "how much they demand; the assessment below reports each set separately.",
        "The protocol followed here sequences non-prescription interventions by a rule-based "
        "phenotype label. HYPOTHESIS: the phenotype labels and the Host Capacity Model behind "
        "the sequence are hypotheses that this kind of record can test, not established "
        "findings.",
    ]
    discussion = [
        "What the data can say: the measures listed under follow-up moved (or did not) by more "
        "than measurement noise and within-person variation would explain, as judged by each "
        "measure's stated reliable-change threshold.",
        "What they cannot say: this is a single case without a control; regression to the "
        "mean (people start a protocol when symptoms are at their worst), the natural course, "
        "other treatments and expectation effects all produce change. A reliable change is "
        "not evidence that the protocol caused it.",
        "HYPOTHESIS: the phenotype label is assigned by transparent rules from the essay's "
        "patterns and the mechanistic model is a hypothesis; a fit of its variants to one "
        "person's data ranks the variants for that person only.",
        "Author to complete: alternative explanations specific to this case, and what the case "
        "adds to the literature.",
    ]
    consent = (
        "Consent for publication of this de-identified case report (scope: case report) is "
        "recorded in the practice's store"
        + (" with a reference to the signed document." if _consent_document(records) else ".")
    )
    if synthetic:
        consent += " This is a synthetic client: no person exists to consent."
    references = format_references(records.reference_keys)
    assessment = records.assessment or {}
    provenance = [
        f"hostcap {records.versions.get('hostcap', '?')}",
        f"rulebook {assessment.get('rulebook_version', 'not available')} "
        f"(sha256 {assessment.get('rulebook_sha256', 'not available')})",
        "assessment made by hostcap " + str(assessment.get("package_version", "not available")),
    ]
    return CaseReport(
        title=title,
        keywords=keywords,
        synthetic=synthetic,
        abstract=abstract,
        introduction=introduction,
        patient=patient,
        findings=findings,
        baseline=baseline,
        timeline=timeline,
        criteria=criteria,
        phenotype=phenotype,
        phases=plan_phases
        or [
            {
                "name": _human(name),
                "weeks": f"{format_number(a)}–{format_number(b)}",
                "interventions": "",
            }
            for name, a, b in records.phases
        ],
        interventions=interventions,
        medications=medications,
        plan_note=plan_note,
        outcomes=outcomes,
        episodes=episodes,
        adverse_events=adverse,
        discussion=discussion,
        model_fit=model_fit,
        model_note=records.model_note,
        perspective=perspective if include_notes else None,
        consent=consent,
        references=references,
        provenance=provenance,
        notes=notes if include_notes else [],
        notes_left_out=0 if include_notes else n_notes + (1 if perspective else 0),
        figure_alt=_figure_alt(records.measurements),
        assessment_available=records.assessment is not None,
        perspective_recorded=perspective is not None,
        safety=list(records.safety),
    )


def _consent_document(records: CaseRecords) -> bool:
    return bool(records.versions.get("consent_document"))


def _weeks_span(records: CaseRecords) -> str:
    if records.phases:
        return format_number(max(b for _, _, b in records.phases))
    weeks = records.measurements["week"] if len(records.measurements) else pd.Series([0.0])
    return format_number(round(float(weeks.max())))


def _findings(
    frame: pd.DataFrame, start: dt.date, include_notes: bool
) -> tuple[list[dict[str, str]], str | None, list[dict[str, str]]]:
    rows: list[dict[str, str]] = []
    perspective: str | None = None
    notes: list[dict[str, str]] = []
    if frame.empty:
        return rows, perspective, notes
    newest = frame.sort_values(["recorded_on", "id"]).groupby("field", sort=True).tail(1)
    for _, row in newest.sort_values("field").iterrows():
        name = str(row["field"])
        value = row["value"]
        shown = "yes" if value is True else "no" if value is False else format_number(value)
        rows.append(
            {
                "finding": _field_label(name),
                "value": shown,
                "when": week_text(_weeks(row["recorded_on"], start)),
            }
        )
    return rows, perspective, notes


def _perspective(visits: pd.DataFrame) -> str | None:
    """The newest visit note that starts with :data:`PERSPECTIVE_PREFIX`, without it."""
    if visits.empty or "notes" not in visits:
        return None
    found = None
    for text in visits.sort_values(["visit_date", "id"])["notes"]:
        if isinstance(text, str) and text.strip().lower().startswith(PERSPECTIVE_PREFIX):
            found = text.strip()[len(PERSPECTIVE_PREFIX) :].strip()
    return found


def _baseline_values(responders: pd.DataFrame) -> list[dict[str, str]]:
    out = []
    for _, row in responders.iterrows():
        label, unit = _label(str(row["measure"]))
        out.append(
            {
                "measure": label,
                "value": format_number(row["baseline"]),
                "unit": unit,
                "when": week_text(float(row["baseline_week"])),
            }
        )
    return out


def _timeline(records: CaseRecords, start: dt.date) -> list[dict[str, str]]:
    r = records.records
    events: list[tuple[float, int, str]] = []

    def add(week: float, order: int, text: str) -> None:
        events.append((round(week, 1), order, text))

    add(0.0, 0, f"protocol start: {_human(records.protocol)}")
    for name, a, b in records.phases:
        add(float(a), 1, f"phase “{_human(name)}” begins (planned to week {format_number(b)})")
    for _, row in r["visits"].iterrows():
        add(_weeks(row["visit_date"], start), 2, f"visit ({str(row['kind']).replace('_', ' ')})")
    for _, row in r["interventions"].iterrows():
        name = str(row["intervention"]).replace("_", " ")
        add(
            _weeks(row["start_date"], start),
            3,
            f"starts {name} {format_number(row['dose'])} {row['dose_unit']}",
        )
        if _present(row["end_date"]):
            add(_weeks(row["end_date"], start), 3, f"stops {name}")
    for _, row in r["meds"].iterrows():
        add(
            _weeks(row["start_date"], start),
            4,
            f"medication {row['drug']} {_dose(row)}",
        )
        if _present(row["end_date"]):
            add(_weeks(row["end_date"], start), 4, f"medication {row['drug']} ended")
    labs = r["labs"]
    for (week, _), part in (
        labs.assign(w=[round(_weeks(t, start), 1) for t in labs["collected_at"]]).groupby(
            ["w", "context"], sort=True
        )
        if len(labs)
        else []
    ):
        values = ", ".join(
            f"{_human(a)} {format_number(v)} {u}"
            for a, v, u in zip(part["analyte"], part["value"], part["unit"], strict=True)
        )
        context = str(part["context"].iloc[0])
        add(_as_float(week), 5, f"labs ({context}): {values}")
    q = r["questionnaires"]
    for week, part in (
        q.assign(w=[round(_weeks(t, start), 1) for t in q["answered_on"]]).groupby("w", sort=True)
        if len(q)
        else []
    ):
        add(
            _as_float(week),
            6,
            "questionnaires: "
            + ", ".join(
                f"{_human(i)} {format_number(t)}"
                for i, t in zip(part["instrument"], part["total"], strict=True)
            ),
        )
    for _, row in r["episodes"].iterrows():
        flags = [
            f
            for f, on in (
                ("anaphylaxis", row["anaphylaxis"]),
                ("emergency care", row["emergency_care"]),
            )
            if on
        ]
        add(
            _weeks(row["onset_at"], start),
            7,
            f"episode, severity {row['severity']}/10, {', '.join(map(str, row['organ_systems']))}"
            + (f" ({', '.join(flags)})" if flags else ""),
        )
    food = r["food"]
    for week, part in (
        food.assign(w=[round(_weeks(t, start), 1) for t in food["trial_date"]]).groupby(
            "w", sort=True
        )
        if len(food)
        else []
    ):
        add(
            _as_float(week),
            8,
            "food trials: "
            + ", ".join(
                f"{f} ({'tolerated' if int(g) == 0 else f'reaction grade {int(g)}'})"
                for f, g in zip(part["food"], part["reaction_grade"], strict=True)
            ),
        )
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    out: list[dict[str, str]] = []
    for week, _, text in events:
        label = week_text(week)
        if out and out[-1]["week"] == label:
            out[-1]["events"].append(text)  # type: ignore[attr-defined]
        else:
            out.append({"week": label, "events": [text]})  # type: ignore[dict-item]
    return out


def _assessment_parts(
    assessment: Mapping[str, Any] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str, list[dict[str, Any]]]:
    if assessment is None:
        return [], None, "", []
    result = assessment["result"]
    criteria = []
    for key, crit in result.get("criteria", {}).items():
        criteria.append(
            {
                "id": key,
                "title": crit.get("title", key),
                "status": str(crit.get("status", "")).replace("_", " "),
                "contested": bool(crit.get("contested")),
                "items": [
                    {
                        "id": item.get("id", ""),
                        "description": item.get("description", ""),
                        "status": str(item.get("status", "")).replace("_", " "),
                        "missing": ", ".join(item.get("missing") or []),
                    }
                    for item in crit.get("items", [])
                ],
                "missing": ", ".join(crit.get("missing") or []),
            }
        )
    phen = result.get("phenotype")
    phenotype = None
    if phen:
        phenotype = {
            "label": phen.get("label"),
            "scores": ", ".join(
                f"{k} {format_number(v)}" for k, v in sorted((phen.get("scores") or {}).items())
            ),
            "statement": phen.get("statement", ""),
            "contributions": [
                {
                    "phenotype": c.get("phenotype", ""),
                    "feature": c.get("feature", ""),
                    "value": format_number(c.get("value"))
                    if not isinstance(c.get("value"), bool)
                    else ("yes" if c.get("value") else "no"),
                    "contribution": format_number(c.get("contribution")),
                }
                for c in phen.get("contributions", [])
            ],
        }
    plan = result.get("plan") or {}
    phases = [
        {
            "name": p.get("name", ""),
            "weeks": f"{format_number(p.get('start_week'))}–{format_number(p.get('end_week'))}",
            "interventions": "; ".join(
                f"{i.get('name', i.get('intervention'))} "
                f"{format_number(i.get('low'))}–{format_number(i.get('high'))} {i.get('unit', '')}"
                for i in p.get("interventions", [])
            ),
        }
        for p in plan.get("phases", [])
    ]
    note = " ".join(
        s for s in (plan.get("statement", ""), plan.get("conventional_therapy", "")) if s
    )
    return criteria, phenotype, note, phases


def _medications(frame: pd.DataFrame, start: dt.date) -> list[dict[str, str]]:
    out = []
    for _, row in frame.sort_values(["start_date", "drug"]).iterrows():
        out.append(
            {
                "drug": str(row["drug"]),
                "class": str(row["drug_class"]).replace("_", " "),
                "dose": _dose(row),
                "ddd": format_number(row["ddd_per_day"]),
                "from": week_text(_weeks(row["start_date"], start)),
                "to": week_text(_weeks(row["end_date"], start))
                if _present(row["end_date"])
                else "continued",
            }
        )
    return out


def _outcomes(responders: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for _, row in responders.iterrows():
        measure = str(row["measure"])
        label, unit = _label(measure)
        out.append(
            {
                "measure": measure,
                "label": label,
                "unit": unit,
                "baseline": float(row["baseline"]),
                "baseline_week": week_text(float(row["baseline_week"])),
                "last": float(row["last"]),
                "last_week": week_text(float(row["last_week"]))
                if _present(row["last_week"])
                else "–",
                "change": float(row["change"]),
                "verdict": str(row["reliable_change"]),
                "threshold": _threshold_text(measure),
            }
        )
    return out


def _episodes(
    episodes: pd.DataFrame, food: pd.DataFrame, start: dt.date
) -> tuple[list[dict[str, str]], list[str]]:
    rows = []
    adverse = []
    if len(episodes):
        weeks = [_weeks(t, start) for t in episodes["onset_at"]]
        frame = episodes.assign(week=weeks)
        before = frame.loc[frame["week"] < 0]
        during = frame.loc[frame["week"] >= 0]
        for name, part in (
            ("before the protocol start", before),
            ("during and after the protocol", during),
        ):
            rows.append(
                {
                    "period": name,
                    "episodes": str(len(part)),
                    "median severity": format_number(part["severity"].median())
                    if len(part)
                    else "–",
                    "anaphylaxis": str(int(part["anaphylaxis"].sum())),
                    "emergency care": str(int(part["emergency_care"].sum())),
                }
            )
        for _, row in during.iterrows():
            if row["anaphylaxis"] or row["emergency_care"]:
                adverse.append(
                    f"{week_text(float(row['week']))}: episode with "
                    + " and ".join(
                        f
                        for f, on in (
                            ("anaphylaxis", row["anaphylaxis"]),
                            ("emergency care", row["emergency_care"]),
                        )
                        if on
                    )
                    + f", severity {row['severity']}/10"
                )
    if len(food):
        reactions = food.loc[(food["reaction_grade"] >= 2)]
        for _, row in reactions.iterrows():
            week = _weeks(row["trial_date"], start)
            if week >= 0:
                adverse.append(
                    f"{week_text(week)}: food trial ({row['food']}) with reaction grade "
                    f"{int(row['reaction_grade'])}"
                )
    if not adverse:
        adverse.append(
            "none recorded (no episode with anaphylaxis or emergency care, and no food-trial "
            "reaction of grade 2 or more, after the protocol start)"
        )
    return rows, adverse


def _free_text_notes(records: CaseRecords, start: dt.date) -> list[dict[str, str]]:
    r = records.records
    notes: list[dict[str, str]] = []
    if records.enrolment_notes:
        notes.append({"where": "enrolment", "text": records.enrolment_notes})
    for kind, column, when in (
        ("visits", "notes", "visit_date"),
        ("episodes", "notes", "onset_at"),
        ("episodes", "treatment", "onset_at"),
        ("food", "notes", "trial_date"),
        ("findings", "source", "recorded_on"),
        ("interventions", "phase", "start_date"),
    ):
        frame = r[kind]
        if column not in frame:
            continue
        for text, stamp in zip(frame[column], frame[when], strict=True):
            if isinstance(text, str) and text.strip():
                if text.strip().lower().startswith(PERSPECTIVE_PREFIX):
                    continue  # shown as the patient's perspective
                notes.append(
                    {"where": f"{kind} {column}, {week_text(_weeks(stamp, start))}", "text": text}
                )
    return notes


def _model_rows(table: pd.DataFrame | None) -> list[dict[str, str]]:
    if table is None or table.empty:
        return []
    return [
        {
            "variant": str(row["variant"]),
            "parameters": str(int(row["n_parameters"])),
            "observations": str(int(row["n_observations"])),
            "AIC": format_number(row["aic"], 4),
            "ΔAIC": format_number(row["delta_aic"], 3),
            "held-out error": format_number(row["lvo_rmse"], 3),
            "converged": "yes" if bool(row["converged"]) else "no",
        }
        for _, row in table.iterrows()
    ]


def _figure_alt(measurements: pd.DataFrame) -> str:
    if measurements.empty:
        return "No measurements to plot."
    parts = []
    for measure, part in measurements.groupby("measure", sort=True):
        label = _label(str(measure))[0]
        first, last = part.iloc[0], part.iloc[-1]
        parts.append(
            f"{label}: {format_number(first['value'])} at {week_text(float(first['week']))} "
            f"to {format_number(last['value'])} at {week_text(float(last['week']))} "
            f"({len(part)} values)"
        )
    return (
        "Line charts of each measure against weeks from the protocol start. "
        + "; ".join(parts)
        + "."
    )


def case_figure(measurements: pd.DataFrame, phases: Sequence[tuple[str, float, float]]) -> Figure:
    """Small multiples: each measure against weeks from the protocol start, phases shaded."""
    measures = sorted(measurements["measure"].unique()) if len(measurements) else []
    n = max(1, len(measures))
    cols = 3 if n > 4 else 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(7.0, 1.9 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, measure in zip(axes.flat, measures, strict=False):
        part = measurements.loc[measurements["measure"] == measure]
        label, unit = _label(str(measure))
        for i, (_, a, b) in enumerate(phases):
            if i % 2 == 0:
                ax.axvspan(float(a), float(b), color="0.92", lw=0)
        ax.plot(part["week"], part["value"], marker="o", ms=3, lw=1.2, color="#1f4e79")
        title = textwrap.fill(label + (f" ({unit})" if unit else ""), 34)
        ax.set_title(title, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.axvline(0, color="0.4", lw=0.8, ls="--")
    for ax in axes[-1]:
        ax.set_xlabel("weeks from protocol start", fontsize=7)
    fig.suptitle("Measures over the protocol (shaded: alternate protocol phases)", fontsize=9)
    fig.tight_layout()
    return fig


def care_checklist(report: CaseReport, *, html_name: str = "case-report.html") -> pd.DataFrame:
    """``care-checklist.csv``: item, section, status (present | not_available), where."""
    available = {
        "patient-perspective": report.perspective is not None,
        "diagnostic-assessment": report.assessment_available,
        "follow-up-and-outcomes": bool(report.outcomes),
        "timeline": bool(report.timeline),
    }
    rows = []
    for number, item, section in CARE_ITEMS:
        ok = available.get(section, True)
        rows.append(
            {
                "item": number,
                "section": item,
                "status": "present" if ok else "not_available",
                "where": f"{html_name}#{section}",
            }
        )
    return pd.DataFrame(rows, columns=["item", "section", "status", "where"])


def case_report_html(report: CaseReport, figure_src: Mapping[str, str]) -> str:
    """The case report page; ``figure_src`` maps figure names to file paths or data URIs."""
    return render_template(
        "case_report.html.j2",
        {"r": report, "figures": figure_src, "care_items": CARE_ITEMS, "num": format_number},
    )
