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

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from hostcap.citations import format_references
from hostcap.reports.case_content import CARE_ITEMS, CaseRecords, CaseReport
from hostcap.reports.case_sections import (
    age_band,
    assessment_parts,
    baseline_rows,
    episode_rows,
    figure_alt_text,
    findings_rows,
    free_text_notes,
    intervention_rows,
    measure_label,
    medication_rows,
    model_fit_rows,
    outcome_rows,
    patient_perspective,
    readable_id,
    timeline_rows,
    unit_words,
    week_text,
)
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
    "week_text",
]

#: The criteria sets named in the abstract (all are in the diagnostic assessment).
ABSTRACT_CRITERIA: tuple[str, ...] = ("consensus_1", "consensus_2", "who_2022_sm")
#: CARE 4, the same for every client.
INTRODUCTION: tuple[str, ...] = (
    "Mast cell activation syndrome (MCAS) is diagnosed by consensus criteria that differ in "
    "how much they demand; the assessment below reports each set separately.",
    "The protocol followed here sequences non-prescription interventions by a rule-based "
    "phenotype label. HYPOTHESIS: the phenotype labels and the Host Capacity Model behind "
    "the sequence are hypotheses that this kind of record can test, not established "
    "findings.",
)
#: CARE 11: what a single case can and cannot say (the author completes the rest).
DISCUSSION: tuple[str, ...] = (
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
)


def build_case_report(records: CaseRecords, *, include_notes: bool = False) -> CaseReport:
    """The report's content from ``records`` (module docstring: what is left out and why)."""
    start = records.started_on
    r = records.records
    patient = _patient(records)
    findings, _, notes = findings_rows(r["findings"], start, include_notes)
    perspective = patient_perspective(r["visits"])
    criteria, phenotype, plan_note, plan_phases = assessment_parts(records.assessment)
    outcomes = outcome_rows(records.responders)
    episodes, adverse = episode_rows(r["episodes"], r["food"], start)
    notes += free_text_notes(records, start)
    return CaseReport(
        title=_title(records),
        keywords=_keywords(records),
        synthetic=records.demo,
        abstract=_abstract(records, patient, criteria, outcomes),
        introduction=list(INTRODUCTION),
        patient=patient,
        findings=findings,
        baseline=baseline_rows(records.responders),
        timeline=timeline_rows(records, start),
        criteria=criteria,
        phenotype=phenotype,
        phases=plan_phases or _enrolment_phases(records),
        interventions=intervention_rows(r["interventions"], start),
        medications=medication_rows(r["meds"], start),
        plan_note=plan_note,
        outcomes=outcomes,
        episodes=episodes,
        adverse_events=adverse,
        discussion=list(DISCUSSION),
        model_fit=model_fit_rows(records.model_fit),
        model_note=records.model_note,
        perspective=perspective if include_notes else None,
        consent=_consent(records),
        references=format_references(records.reference_keys),
        provenance=_provenance(records),
        notes=notes if include_notes else [],
        notes_left_out=0 if include_notes else len(notes) + (1 if perspective else 0),
        figure_alt=figure_alt_text(records.measurements),
        assessment_available=records.assessment is not None,
        perspective_recorded=perspective is not None,
        safety=list(records.safety),
    )


def _patient(records: CaseRecords) -> dict[str, str]:
    """CARE 5: sex and the age band at the protocol start (never the year of birth)."""
    age = records.started_on.year - records.birth_year
    patient = {
        "sex": records.sex,
        "age band": age_band(age) + " years at the protocol start",
    }
    if records.demo:
        patient["data"] = "SYNTHETIC or DEMO client: invented data, not a real person"
    return patient


def _keywords(records: CaseRecords) -> list[str]:
    keywords = ["mast cell activation syndrome", "case report"]
    if records.phenotype_label:
        keywords.append(f"phenotype {records.phenotype_label} (hypothesis label)")
    keywords += ["reliable change", "Host Capacity Model (hypothesis)"]
    return keywords


def _title(records: CaseRecords) -> str:
    return (
        ("SYNTHETIC DEMO — " if records.demo else "")
        + "Tracking a person with suspected mast cell activation syndrome through a "
        + f"{_weeks_span(records)}-week sequenced protocol: a case report"
    )


def _abstract(
    records: CaseRecords,
    patient: Mapping[str, str],
    criteria: Sequence[Mapping[str, Any]],
    outcomes: Sequence[Mapping[str, Any]],
) -> list[str]:
    """CARE 3: patient, assessment, intervention, outcomes, and the single-case caveat."""
    improved = [o["label"] for o in outcomes if o["verdict"] == "improved"]
    worsened = [o["label"] for o in outcomes if o["verdict"] == "worsened"]
    return [
        f"Patient: {records.sex}, aged {patient['age band']}"
        + (" (synthetic client, not a real person)." if records.demo else "."),
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
        f"Intervention: {readable_id(records.protocol)} ({len(records.phases)} phases)"
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


def _enrolment_phases(records: CaseRecords) -> list[dict[str, Any]]:
    """The enrolment's phases, for a client without a stored plan."""
    return [
        {
            "name": readable_id(name),
            "weeks": f"{format_number(a)}–{format_number(b)}",
            "interventions": "",
        }
        for name, a, b in records.phases
    ]


def _consent(records: CaseRecords) -> str:
    """CARE 13."""
    consent = (
        "Consent for publication of this de-identified case report (scope: case report) is "
        "recorded in the practice's store"
        + (" with a reference to the signed document." if _consent_document(records) else ".")
    )
    if records.demo:
        consent += " This is a synthetic client: no person exists to consent."
    return consent


def _provenance(records: CaseRecords) -> list[str]:
    assessment = records.assessment or {}
    return [
        f"hostcap {records.versions.get('hostcap', '?')}",
        f"rulebook {assessment.get('rulebook_version', 'not available')} "
        f"(sha256 {assessment.get('rulebook_sha256', 'not available')})",
        "assessment made by hostcap " + str(assessment.get("package_version", "not available")),
    ]


def _consent_document(records: CaseRecords) -> bool:
    return bool(records.versions.get("consent_document"))


def _weeks_span(records: CaseRecords) -> str:
    if records.phases:
        return format_number(max(b for _, _, b in records.phases))
    weeks = records.measurements["week"] if len(records.measurements) else pd.Series([0.0])
    return format_number(round(float(weeks.max())))


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
        label, unit = measure_label(str(measure))
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
