"""Assessment summaries of many clients, the stored history of one, and the safety banner every
view of a client starts with (the same text in the CLI, the web app and the reports)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from hostcap.clinical_decisions import (
    AssessmentResult,
    Rulebook,
    assess,
    load_rulebook,
    render_text,
)
from hostcap.errors import (
    Issue,
    ValidationError,
)

if TYPE_CHECKING:
    from hostcap.clinical_store import Store

from hostcap.services import store as store_services
from hostcap.services.assessment import (
    AssessmentSummary,
    OutputFormat,
    StoredAssessment,
    assess_stored_clients,
    load_rulebook_file,
    skipped_note,
    stored_client_input_checked,
)

__all__ = [
    "assess_all_clients",
    "client_assessment_history",
    "client_safety_banner",
    "format_history",
    "format_summaries_json",
    "format_summary",
    "stored_assessments",
]


def format_summary(summary: AssessmentSummary) -> str:
    """A few lines for one client: triage (with rule ids), criteria statuses, phenotype."""
    if summary.error is not None:
        return f"{summary.code}: NOT ASSESSED — {summary.error}\n"
    reasons = f" ({', '.join(summary.triage_reasons)})" if summary.triage_reasons else ""
    level = (summary.triage_level or "").upper().replace("_", " ")
    lines = [f"{summary.code}: triage {level}{reasons}"]
    if summary.triage_level == "emergency":
        lines.append("  criteria, phenotype and plan suppressed: emergency care first")
    else:
        lines.append("  criteria: " + ", ".join(f"{k} {v}" for k, v in summary.criteria.items()))
        scores = ", ".join(f"{k} {v:.2f}" for k, v in sorted(summary.phenotype_scores.items()))
        lines.append(
            f"  phenotype (hypothesis, unvalidated): {summary.phenotype_label}"
            + (f" [{scores}]" if scores else "")
            + (f"; plan {summary.protocol_id}" if summary.protocol_id else "")
        )
        plan = summary.result.plan if summary.result is not None else None
        if plan is not None and plan.status == "on_hold_until_specialist_review":
            lines.append(
                "  PLAN ON HOLD until the specialist has reviewed the person"
                + (" (no doses: under 18)" if plan.doses_withheld else "")
                + f": {', '.join(plan.hold_reasons)}"
            )
    saved = (
        f"saved as assessment #{summary.assessment_id}, "
        if summary.assessment_id is not None
        else ""
    )
    lines.append(f"  {saved}rulebook {summary.rulebook_version} ({summary.rulebook_sha256[:12]})")
    lines.extend(f"  {note}" for note in summary.notes)
    return "\n".join(lines) + "\n"


def assess_all_clients(
    database_url: str | None = None,
    extra_rulebook: Path | None = None,
    *,
    with_trajectory: bool = True,
    save: bool = True,
) -> list[AssessmentSummary]:
    """``hostcap assess --all``: assess (and save) every client of the store at ``database_url``."""
    book = load_rulebook_file(extra_rulebook)
    store = store_services.open_store(database_url)
    try:
        return assess_stored_clients(
            store, None, save, rulebook=book, with_trajectory=with_trajectory
        )
    finally:
        store.dispose()


def format_summaries_json(summaries: Sequence[AssessmentSummary]) -> str:
    """Summaries as a JSON list (the full results are in the store or ``--history``)."""
    rows = [
        {
            "code": s.code,
            "triage_level": s.triage_level,
            "triage_reasons": list(s.triage_reasons),
            "criteria": s.criteria,
            "phenotype_label": s.phenotype_label,
            "phenotype_scores": s.phenotype_scores,
            "phenotype_hypothesis": True,
            "protocol_id": s.protocol_id,
            "assessment_id": s.assessment_id,
            "rulebook": {"version": s.rulebook_version, "sha256": s.rulebook_sha256},
            "error": s.error,
            "notes": list(s.notes),
        }
        for s in summaries
    ]
    return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"


def stored_assessments(store: Store, code: str) -> list[StoredAssessment]:
    """Every assessment saved for ``code``, oldest first, exactly as stored."""
    return [
        StoredAssessment(
            id=int(row["id"]),
            code=code,
            created_at=row["created_at"],
            rulebook_version=str(row["rulebook_version"]),
            rulebook_sha256=str(row["rulebook_sha256"]),
            package_version=str(row["package_version"]),
            triage_level=str(row["triage_level"]),
            input=dict(row["input"]),
            result=dict(row["result"]),
        )
        for row in store.assessments(code)
    ]


def client_assessment_history(code: str, database_url: str | None = None) -> list[StoredAssessment]:
    """``hostcap assess CODE --history``: the stored assessments of ``code``."""
    store = store_services.open_store(database_url)
    try:
        # The client lookup names an unknown code (NotFoundError) rather than printing nothing.
        return stored_assessments(store, code)
    finally:
        store.dispose()


def format_history(
    history: Sequence[StoredAssessment], fmt: OutputFormat, current: Rulebook | None = None
) -> str:
    """Stored assessments for display: JSON exactly as stored, or each one's text rendering.

    The text form says when the rulebook has changed since an assessment was made; the content
    shown is always the stored result, never a re-assessment.
    """
    if fmt == "json":
        return json.dumps([h.as_dict() for h in history], indent=2, ensure_ascii=False) + "\n"
    if not history:
        return "no stored assessments\n"
    book = current or load_rulebook()
    parts = []
    for h in history:
        header = (
            f"### assessment #{h.id} of {h.code}, {h.created_at:%Y-%m-%d %H:%M} — rulebook "
            f"{h.rulebook_version} (sha256 {h.rulebook_sha256[:12]}), hostcap {h.package_version}"
        )
        if h.rulebook_sha256 != book.sha256:
            header += (
                f"\n(the rulebook has changed since: now {book.version}, sha256 "
                f"{book.sha256[:12]}; shown as stored, not re-assessed)"
            )
        try:
            body = render_text(AssessmentResult.model_validate(h.result))
        except pydantic.ValidationError:
            # Stored under an older output contract: show the stored JSON itself.
            body = json.dumps(h.result, indent=2, ensure_ascii=False) + "\n"
        parts.append(f"{header}\n{body}")
    return "\n".join(parts)


# Banner order, most severe first; a level this version does not know sorts as most severe.
_BANNER_RANK = {"referral": 1, "urgent_referral": 2, "emergency": 3}
_BANNER_LABELS = {
    "emergency": "EMERGENCY",
    "urgent_referral": "URGENT REFERRAL — refer for specialist work-up",
    "referral": "REFER FOR SPECIALIST WORK-UP",
}


def _banner_line(reason: Mapping[str, Any], level: str, source: str) -> str:
    label = _BANNER_LABELS.get(level, level.upper())
    # Reasons stored before plan effects existed count as holding the plan (err towards care).
    effect = reason.get("plan_effect") or "hold"
    plan = (
        ""
        if level == "emergency"
        else (
            " Protocol may run alongside."
            if effect == "alongside"
            else " PROTOCOL ON HOLD until the specialist has reviewed the person."
        )
    )
    return (
        f"{label}: {reason.get('message')} [{reason.get('rule_id')}; {reason.get('citation')}]"
        f"{plan}{source}"
    )


def client_safety_banner(store: Store, code: str) -> list[str]:
    """The safety lines every view of a client must carry, most severe first.

    Live triage on the client's current stored data (packaged rulebook: safety rules cannot be
    changed by a practice file), then every emergency or referral reason of the newest stored
    assessment that live triage does not repeat, marked with its assessment id and date. When
    the stored data cannot be triaged, a line says so — an empty banner always means "no
    safety rule fired", never "could not check". Routine clients get an empty list.
    """
    lines: list[tuple[int, str]] = []
    seen: set[str] = set()
    skipped: tuple[Issue, ...] = ()
    try:
        inp, skipped = stored_client_input_checked(store, code)
        live = assess(inp, load_rulebook()).triage
    except ValidationError as exc:
        lines.append(
            (
                99,
                f"SAFETY TRIAGE COULD NOT RUN on the stored data ({len(exc.issues)} problem(s), "
                f"first: {exc.issues[0] if exc.issues else exc}); run `hostcap assess {code}` "
                "to see every problem. Missing or invalid data cannot rule a red flag out.",
            )
        )
    else:
        if live.level == "emergency":
            lines.append((4, live.headline))
        for reason in live.reasons:
            seen.add(reason.rule_id)
            line = _banner_line(reason.model_dump(), reason.level, "")
            lines.append((_BANNER_RANK.get(reason.level, 3), line))
    history = store.assessments(code)
    if history:
        latest = history[-1]
        triage = latest["result"].get("triage") or {}
        when = latest["created_at"]
        stamp = f"{when:%Y-%m-%d}" if isinstance(when, dt.date) else str(when)
        for reason in triage.get("reasons") or []:
            if reason.get("rule_id") in seen:
                continue
            level = str(reason.get("level") or triage.get("level") or latest["triage_level"])
            source = f" (from assessment #{latest['id']} of {stamp})"
            lines.append((_BANNER_RANK.get(level, 3), _banner_line(reason, level, source)))
    lines.extend((0, skipped_note(issue)) for issue in skipped)
    lines.sort(key=lambda item: -item[0])
    return [text for _, text in lines]
