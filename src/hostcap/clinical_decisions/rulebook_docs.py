"""``docs/rulebook.md`` and ``docs/rulebook.schema.json``, generated from the packaged rulebook."""

from __future__ import annotations

from hostcap.citations import all_citations
from hostcap.clinical_decisions.rule_schema import (
    PhenotypeRule,
    SafetyRule,
    rulebook_json_schema,
)
from hostcap.clinical_decisions.rulebook_loading import Rulebook, load_rulebook

__all__ = ["rulebook_markdown", "rulebook_schema_json"]


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _params(params: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "—"


def rulebook_markdown() -> str:
    """The rulebook table (id, version, grade, citation, what it does) as Markdown."""
    book = load_rulebook()
    cites = all_citations()
    out = [
        "# Rulebook",
        "",
        "<!-- Generated from src/hostcap/clinical_decisions/rulebook/*.yaml by "
        "hostcap.clinical_decisions.rulebook_docs; do not edit. -->",
        "",
        f"Rulebook version **{book.version}**, sha256 `{book.sha256}`.",
        "",
        "Evidence grades: E established, A animal/cell, P plausible, S speculative "
        "([evidence.md](evidence.md) lists every source with the rules citing it). Safety rules "
        "run first on every assessment and can never be overridden or removed by a practice file "
        "(`--rulebook-extra`). Phenotype and protocol rules are "
        "**hypothesis-based** (after the Host Capacity essay) and unvalidated.",
        "",
        "Decisions documented here:",
        "",
        "- Missing data is never *not met*: a criterion is `indeterminate` and lists the missing "
        "input fields, until the missing items can no longer change the result (then it is "
        "settled: three-valued logic evaluated over every completion of the unknown items).",
        "- Diagnostic criteria are not triage thresholds: current shock, collapse, syncope, "
        "hypotension for age (NIAID/FAAN limits or a > 30 % fall) or airway / breathing "
        "compromise is an `emergency` whatever its cause and whatever else is known "
        "(`safety.emergency.current_compromise`, first of all rules); the anaphylaxis criteria "
        "are evaluated beside it. On `emergency` every criterion is `suppressed`, the phenotype "
        "label is `suppressed` and the plan is null.",
        "- What a referral does to the plan (`plan effect`): every clonal or organ red flag, and "
        "every urgent referral, puts the plan `on_hold_until_specialist_review`; a person under "
        "18 gets a held plan with no phases and no doses (`hold_without_doses`); only the "
        "non-clonal referrals marked `alongside` (each saying why) leave the plan "
        "`proposed_alongside_referral`.",
        "- Consensus-1: the acute sample counts when drawn within 4 h of onset (earlier samples "
        "count), the baseline when drawn before the event or ≥ 24 h after resolution; the rise "
        "must exceed 1.2 × baseline + 2 ng/mL.",
        "- Tryptase is HαT-adjusted (÷ (1 + extra α copies)) only when the TPSAB1 genotype is "
        "recorded; without one the raw value counts for WHO / ICC and every threshold. Safety "
        "rules always use the highest raw baseline.",
        "- REMA and NICAS were derived in adults: `indeterminate` under 18. NICAS applies only "
        "to idiopathic anaphylaxis (an anaphylaxis episode with no sting and no identified "
        "trigger); its +3 is syncope, not presyncope.",
        "",
    ]
    sections = [
        ("Safety rules", _safety_table),
        ("Criteria", _criteria_table),
        ("Phenotype features (hypothesis)", _phenotype_table),
        ("Protocol templates (hypothesis)", _protocol_table),
    ]
    for title, table in sections:
        out += [f"## {title}", "", *table(book), ""]
    out += ["## Notes", ""]
    for note in book.notes:
        out.append(f"- **{note.get('id')}**: {note.get('text')} (`{note.get('citation')}`)")
    out += ["", "## References", ""]
    keys = sorted({r.citation for r in book.rules})
    for key in keys:
        ref = cites[key]
        out.append(
            f"- [`{key}`](evidence.md#{key}): {ref.text}"
            + ("" if ref.verified else " **[UNVERIFIED]**")
        )
    return "\n".join(out) + "\n"


def _plan_effect(rule: SafetyRule) -> str:
    if rule.level == "emergency":
        return "suppressed (emergency)"
    if rule.plan_effect == "alongside":
        return f"alongside: {rule.alongside_reason}"
    return rule.plan_effect


def _safety_table(book: Rulebook) -> list[str]:
    return [
        "| id | v | level | plan effect | grade | citation | thresholds | message |",
        "|---|---|---|---|---|---|---|---|",
        *(
            _row(
                f"`{r.id}`",
                r.version,
                r.level,
                _plan_effect(r),
                r.evidence_grade,
                f"`{r.citation}`",
                _params(dict(r.params)),
                r.message,
            )
            for r in book.safety_rules
        ),
    ]


def _criteria_table(book: Rulebook) -> list[str]:
    return [
        "| id | v | output key | grade | citation | thresholds | title |",
        "|---|---|---|---|---|---|---|",
        *(
            _row(
                f"`{c.id}`",
                c.version,
                f"`{c.criterion}`",
                c.evidence_grade,
                f"`{c.citation}`",
                _params(dict(c.params)),
                c.title + (" (contested)" if c.contested else ""),
            )
            for c in book.criterion_rules
        ),
    ]


def _phenotype_shape(rule: PhenotypeRule) -> str:
    return {
        "flag": "flag",
        "at_least": f"≥ {rule.threshold}",
        "ramp": f"ramp {rule.ramp_from}→{rule.ramp_to}",
    }[rule.transform]


def _phenotype_table(book: Rulebook) -> list[str]:
    return [
        "| id | v | phenotype | grade | citation | field | transform | weight |",
        "|---|---|---|---|---|---|---|---|",
        *(
            _row(
                f"`{p.id}`",
                p.version,
                p.phenotype,
                p.evidence_grade,
                f"`{p.citation}`",
                f"`{p.field}`",
                _phenotype_shape(p),
                f"{p.weight:g}",
            )
            for p in book.phenotype_rules
        ),
    ]


def _protocol_table(book: Rulebook) -> list[str]:
    rows = []
    for pr in book.protocol_rules:
        phases = "; ".join(
            f"wk {ph.start_week}-{ph.end_week} {ph.name}: "
            + ", ".join(f"{d.intervention} {d.low:g}-{d.high:g} {d.unit}" for d in ph.interventions)
            for ph in pr.phases
        )
        rows.append(
            _row(
                f"`{pr.id}`",
                pr.version,
                ", ".join(pr.applies_to),
                pr.evidence_grade,
                f"`{pr.citation}`",
                phases,
            )
        )
    return [
        "| id | v | applies to | grade | citation | phases |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def rulebook_schema_json() -> str:
    """The JSON Schema of rulebook files, for editors."""
    return rulebook_json_schema()
