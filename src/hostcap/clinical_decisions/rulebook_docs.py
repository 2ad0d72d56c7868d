"""``docs/rulebook.md`` and ``docs/rulebook.schema.json``, generated from the packaged rulebook."""

from __future__ import annotations

from hostcap.citations import all_citations
from hostcap.clinical_decisions.rule_schema import (
    CriterionRule,
    PhenotypeRule,
    ProtocolRule,
    SafetyRule,
    rulebook_json_schema,
)
from hostcap.clinical_decisions.rulebook_loading import load_rulebook

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
        "(EVIDENCE.md). Safety rules run first on every assessment and can never be overridden "
        "or removed by a practice file (`--rulebook-extra`). Phenotype and protocol rules are "
        "**hypothesis-based** (after the Host Capacity essay) and unvalidated.",
        "",
        "Decisions documented here: missing data is never *not met* (a criterion is "
        "`indeterminate` and lists the missing input fields); the consensus-1 acute window "
        "includes both bounds (1 h and 4 h) and the rise must exceed 1.2 × baseline + 2 ng/mL; "
        "a tryptase threshold above which HαT could matter stays open without a genotype; "
        "safety rules use the highest raw baseline tryptase; on `emergency` every criterion is "
        "`suppressed`, the phenotype label is `suppressed` and the plan is null.",
        "",
    ]
    sections = [
        ("Safety rules", SafetyRule),
        ("Criteria", CriterionRule),
        ("Phenotype features (hypothesis)", PhenotypeRule),
        ("Protocol templates (hypothesis)", ProtocolRule),
    ]
    for title, kind in sections:
        out += [f"## {title}", ""]
        if kind is SafetyRule:
            out += [
                "| id | v | level | grade | citation | thresholds | message |",
                "|---|---|---|---|---|---|---|",
            ]
            for r in book.safety_rules:
                out.append(
                    _row(
                        f"`{r.id}`",
                        r.version,
                        r.level,
                        r.evidence_grade,
                        f"`{r.citation}`",
                        _params(dict(r.params)),
                        r.message,
                    )
                )
        elif kind is CriterionRule:
            out += [
                "| id | v | output key | grade | citation | thresholds | title |",
                "|---|---|---|---|---|---|---|",
            ]
            for c in book.criterion_rules:
                label = c.title + (" (contested)" if c.contested else "")
                out.append(
                    _row(
                        f"`{c.id}`",
                        c.version,
                        f"`{c.criterion}`",
                        c.evidence_grade,
                        f"`{c.citation}`",
                        _params(dict(c.params)),
                        label,
                    )
                )
        elif kind is PhenotypeRule:
            out += [
                "| id | v | phenotype | grade | citation | field | transform | weight |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for p in book.phenotype_rules:
                shape = {
                    "flag": "flag",
                    "at_least": f"≥ {p.threshold}",
                    "ramp": f"ramp {p.ramp_from}→{p.ramp_to}",
                }[p.transform]
                out.append(
                    _row(
                        f"`{p.id}`",
                        p.version,
                        p.phenotype,
                        p.evidence_grade,
                        f"`{p.citation}`",
                        f"`{p.field}`",
                        shape,
                        f"{p.weight:g}",
                    )
                )
        else:
            out += [
                "| id | v | applies to | grade | citation | phases |",
                "|---|---|---|---|---|---|",
            ]
            for pr in book.protocol_rules:
                phases = "; ".join(
                    f"wk {ph.start_week}-{ph.end_week} {ph.name}: "
                    + ", ".join(
                        f"{d.intervention} {d.low:g}-{d.high:g} {d.unit}" for d in ph.interventions
                    )
                    for ph in pr.phases
                )
                out.append(
                    _row(
                        f"`{pr.id}`",
                        pr.version,
                        ", ".join(pr.applies_to),
                        pr.evidence_grade,
                        f"`{pr.citation}`",
                        phases,
                    )
                )
        out.append("")
    out += ["## Notes", ""]
    for note in book.notes:
        out.append(f"- **{note.get('id')}**: {note.get('text')} (`{note.get('citation')}`)")
    out += ["", "## References", ""]
    keys = sorted({r.citation for r in book.rules})
    for key in keys:
        ref = cites[key]
        out.append(f"- `{key}`: {ref.text}" + ("" if ref.verified else " **[UNVERIFIED]**"))
    return "\n".join(out) + "\n"


def rulebook_schema_json() -> str:
    """The JSON Schema of rulebook files, for editors."""
    return rulebook_json_schema()
