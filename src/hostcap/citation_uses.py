"""Who cites what: every citation key with each place in hostcap that uses it.

Rules, catalog entries, model parameters, edges, observables, variants, outcome measures and
synthetic design defaults are read through their loaders; ``citation_uses()`` returns, per key,
one line per use with the numbers taken from it. ``docs/evidence.md`` is written from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hostcap.evidence_formatting import format_thresholds, num, unit_text, with_unit

__all__ = ["ASSUMED", "PARTS", "CitationUse", "citation_uses", "range_text"]

#: The pseudo-key of a value with no source (a modelling or design assumption).
ASSUMED = "assumed"

#: Kinds of use, in the order a reference section lists them.
PARTS: tuple[str, ...] = (
    "Safety rules",
    "Criteria",
    "Phenotype features (hypothesis)",
    "Protocol templates (hypothesis)",
    "Rulebook notes",
    "Analytes",
    "Medications",
    "Instruments",
    "Interventions",
    "Model parameters",
    "Model causal edges",
    "Model observables",
    "Model variants",
    "Outcome measures",
    "Synthetic cohort design",
)


@dataclass(frozen=True)
class CitationUse:
    """One place that cites a key: which part of hostcap, which item, and what it takes from it.

    Attributes
    ----------
    key
        The citation key (or ``assumed``).
    part
        One of ``PARTS``.
    item
        The id of the rule, entry, parameter ... that cites it.
    text
        One line of Markdown: the item with its thresholds or numbers, readable by a clinician.
    grade
        The evidence grade (E, A, P, S) where the item carries one.
    """

    key: str
    part: str
    item: str
    text: str
    grade: str | None = None


# --- who cites what --------------------------------------------------------------------------


def _rule_uses() -> Iterator[CitationUse]:
    from hostcap.catalog import interventions
    from hostcap.clinical_decisions import load_rulebook
    from hostcap.clinical_decisions.rule_schema import (
        CriterionRule,
        PhenotypeRule,
        ProtocolRule,
        SafetyRule,
    )

    book = load_rulebook()
    names = {v.id: v.name for v in interventions().values()}
    for rule in book.rules:
        head = f"`{rule.id}` (v{rule.version}, grade {rule.evidence_grade})"
        if isinstance(rule, SafetyRule):
            effect = getattr(rule, "plan_effect", None)
            plan = {
                "hold": "; plan held until specialist review",
                "hold_without_doses": "; plan held, no doses",
                "alongside": "; plan may run alongside",
            }.get(str(effect), "")
            if rule.level == "emergency":
                plan = ""
            thresholds = format_thresholds(rule.params)
            level = rule.level.replace("_", " ")
            text = f"{head}, level **{level}**{plan}: {rule.title}" + (
                f" — {thresholds}" if thresholds else ""
            )
            yield CitationUse(rule.citation, "Safety rules", rule.id, text, rule.evidence_grade)
        elif isinstance(rule, CriterionRule):
            thresholds = format_thresholds(rule.params)
            text = (
                f"{head}, output `{rule.criterion}`: {rule.title}"
                + (" (contested)" if rule.contested and "contested" not in rule.title else "")
                + (f" — {thresholds}" if thresholds else "")
                + (f". {rule.note}" if rule.note else "")
            )
            yield CitationUse(rule.citation, "Criteria", rule.id, text, rule.evidence_grade)
        elif isinstance(rule, PhenotypeRule):
            if rule.transform == "flag":
                shape = "when recorded"
            elif rule.transform == "at_least":
                shape = f"when ≥ {num(rule.threshold or 0.0)}"
            else:
                shape = (
                    f"rising from {num(rule.ramp_from or 0.0)} (0) "
                    f"to {num(rule.ramp_to or 0.0)} (full weight)"
                )
            text = (
                f"{head}, phenotype {rule.phenotype}: {rule.title} — `{rule.field}` "
                f"{shape}, weight {num(rule.weight)}"
            )
            part = "Phenotype features (hypothesis)"
            yield CitationUse(rule.citation, part, rule.id, text, rule.evidence_grade)
        elif isinstance(rule, ProtocolRule):
            phases = "; ".join(
                f"weeks {ph.start_week}–{ph.end_week} {ph.name}: "
                + ", ".join(
                    f"{names.get(d.intervention, d.intervention)} "
                    f"{with_unit(f'{num(d.low)}–{num(d.high)}', d.unit)}"
                    for d in ph.interventions
                )
                for ph in rule.phases
            )
            labels = ", ".join(f"`{label}`" for label in rule.applies_to)
            text = f"{head}, for {labels}: {rule.title} — {phases}"
            part = "Protocol templates (hypothesis)"
            yield CitationUse(rule.citation, part, rule.id, text, rule.evidence_grade)
    for note in book.notes:
        key = note.get("citation")
        if key:
            note_id = note.get("id", "")
            yield CitationUse(key, "Rulebook notes", note_id, f"`{note_id}`: {note.get('text')}")


def range_text(low: float | None, high: float | None, unit: str) -> str | None:
    if low is None and high is None:
        return None
    if low is None:
        return f"≤ {with_unit(num(high or 0.0), unit)}"
    if high is None:
        return f"≥ {with_unit(num(low), unit)}"
    return with_unit(f"{num(low)}–{num(high)}", unit)


def _band_text(low: float | None, high: float | None, unit: str) -> str:
    """An interpretation band, ``low <= value < high``."""
    if low is None and high is None:
        return "any value"
    if low is None:
        return f"< {with_unit(num(high or 0.0), unit)}"
    if high is None:
        return f"≥ {with_unit(num(low), unit)}"
    return f"{with_unit(num(low), unit)} to < {with_unit(num(high), unit)}"


def _catalog_uses() -> Iterator[CitationUse]:
    from hostcap.catalog import analytes, instruments, interventions, medications

    for a in analytes().values():
        unit = a.canonical_unit
        code = f"LOINC {a.loinc}" if a.loinc else f"local code {a.local_code}"
        parts = [f"`{a.id}` {a.name} ({a.specimen}; {code})"]
        reference = range_text(a.reference_low, a.reference_high, unit)
        if reference:
            parts.append(f"reference interval {reference}")
        if a.bands:
            parts.append(
                "bands "
                + ", ".join(f"{b.label} ({_band_text(b.low, b.high, unit)})" for b in a.bands)
            )
        variation = [
            f"{label} {num(v)} %"
            for label, v in (
                ("within-subject CV", a.within_subject_cv_pct),
                ("analytical CV", a.analytical_cv_pct),
                ("reference change value", a.rcv_pct),
            )
            if v is not None
        ]
        if variation:
            parts.append(", ".join(variation))
        if a.half_life_hours is not None:
            parts.append(f"half-life {num(a.half_life_hours)} h")
        parts.append(
            f"accepted {with_unit(f'{num(a.hard_min)}–{num(a.hard_max)}', unit)}, "
            f"usual {with_unit(f'{num(a.soft_min)}–{num(a.soft_max)}', unit)}"
        )
        text = "; ".join(parts) + (f". {a.reference_note}" if a.reference_note else "")
        for key in dict.fromkeys(a.citation_keys()):
            yield CitationUse(key, "Analytes", a.id, text)
    for m in medications().values():
        checked = "" if m.ddd_verified else " (DDD not checked against the current index)"
        text = (
            f"`{m.id}` {m.name} (ATC {m.atc}, {str(m.drug_class).replace('_', ' ')}): "
            f"DDD {num(m.ddd)} {m.ddd_unit} {m.route}{checked}"
        )
        yield CitationUse(m.citation, "Medications", m.id, text)
    signs = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
    for i in instruments().values():
        basis = "item mean" if i.score_basis == "mean" else "total"
        parts = [f"`{i.id}` {i.name} ({i.n_items} items, {basis})"]
        parts += [
            f"{basis} {signs[c.direction]} {num(c.threshold)} = {c.meaning}"
            + (f" ({c.condition})" if c.condition else "")
            for c in i.cutoffs
        ]
        note = (i.mcid_note or "").rstrip(".")
        if i.mcid is not None:
            detail = re.sub(r"^Minimal important difference ", "", note)
            parts.append(
                f"minimal important difference {num(i.mcid)}" + (f" ({detail})" if detail else "")
            )
        elif note:
            parts.append(re.sub(r"^None:", "no minimal important difference:", note))
        population = i.validated_population
        parts.append(population if population.startswith("NON-") else f"validated in {population}")
        text = "; ".join(parts)
        for key in dict.fromkeys(i.citation_keys()):
            yield CitationUse(key, "Instruments", i.id, text)
    for v in interventions().values():
        span = (
            num(v.typical_min)
            if v.typical_min == v.typical_max
            else f"{num(v.typical_min)}–{num(v.typical_max)}"
        )
        dose = with_unit(span, v.dose_unit)
        if v.dose_unit == "course_days":
            dose = f"courses of {num(v.typical_min)}–{num(v.typical_max)} days"
        text = (
            f"`{v.id}` {v.name}: typical {dose}, grade {v.evidence_grade}"
            + (" (prescriber's decision)" if v.prescription else "")
            + f". {v.evidence_note}"
        )
        for key in dict.fromkeys(v.citation_keys()):
            yield CitationUse(key, "Interventions", v.id, text, v.evidence_grade)


def _variant_note(present: Sequence[str], variants: Sequence[str]) -> str:
    if len(present) == len(variants):
        return ""
    names = ", ".join(f"`{v}`" for v in present)
    return f" (variant{'s' if len(present) > 1 else ''} {names})"


def _model_uses() -> Iterator[CitationUse]:
    from hostcap.mechanistic_model import (
        VARIANTS,
        Edge,
        ParameterSpec,
        load_definition,
        variant_specs,
    )

    definitions = {v: load_definition(v) for v in VARIANTS}
    meaning: dict[str, str] = {}
    for model in definitions.values():
        for node, text in (
            *((s.id, s.meaning) for s in model.states),
            *((i.id, i.meaning) for i in model.inputs),
            *((x.id, x.meaning) for x in model.expressions),
            *((o.id, o.meaning) for o in model.observables),
            *((p.id, p.rationale) for p in model.parameters),
        ):
            short = re.sub(r" \([^)]*\)", "", text)
            meaning.setdefault(node, re.split(r", |; ", short, maxsplit=1)[0])
    params: dict[str, dict[str, list[str]]] = {}
    param_spec: dict[str, ParameterSpec] = {}
    edges: dict[str, list[str]] = {}
    edge_spec: dict[str, Edge] = {}
    for variant, model in definitions.items():
        for p in model.parameters:
            param_spec.setdefault(p.id, p)
            shown = with_unit(num(p.value), p.unit)
            params.setdefault(p.id, {}).setdefault(shown, []).append(variant)
        for e in model.edges:
            edge_spec.setdefault(e.id, e)
            edges.setdefault(e.id, []).append(variant)
    for pid, values in params.items():
        p = param_spec[pid]
        present = [v for vs in values.values() for v in vs]
        if len(values) == 1:
            value = next(iter(values))
        else:
            value = ", ".join(f"{shown} ({', '.join(vs)})" for shown, vs in values.items())
        low, high = p.range
        span = with_unit(f"{num(low)}–{num(high)}", p.unit)
        text = (
            f"`{pid}` = {value}, plausible range {span}"
            f"{_variant_note(present, VARIANTS)}: {p.rationale}"
        )
        yield CitationUse(p.source, "Model parameters", pid, text)
    for eid, present in edges.items():
        e = edge_spec[eid]
        sign = "+, raises" if e.sign == "+" else "−, lowers"
        source, target = meaning.get(e.source, e.source), meaning.get(e.target, e.target)
        text = (
            f"`{eid}`: {source} → {target} (`{e.source}` → `{e.target}`; {sign}), "
            f"grade **{e.grade}**"
            f"{_variant_note(present, VARIANTS)}" + (f" — {e.note}" if e.note else "")
        )
        yield CitationUse(e.citation, "Model causal edges", eid, text, e.grade)
    for o in definitions[VARIANTS[0]].observables:
        noise = o.noise
        if noise.distribution == "lognormal" and noise.cv is not None:
            error = f"log-normal, CV {num(noise.cv * 100)} %"
        elif noise.distribution == "normal" and noise.sd is not None:
            error = f"normal, SD {num(noise.sd)}"
        elif noise.distribution == "binomial" and noise.n is not None:
            error = f"binomial on {noise.n} trials"
        else:
            error = noise.distribution
        unit = unit_text(o.unit)
        code = f"; LOINC {o.loinc}" if o.loinc else ""
        label = f" ({unit}{code})" if unit else (f" ({code[2:]})" if code else "")
        text = f"`{o.id}` {o.meaning}{label}: measurement error {error}" + (
            f" — {o.note}" if o.note else ""
        )
        yield CitationUse(o.citation, "Model observables", o.id, text)
    for name, spec in variant_specs().items():
        yield CitationUse(spec.citation, "Model variants", name, f"`{name}`: {spec.title}")


def _outcome_uses() -> Iterator[CitationUse]:
    from hostcap.outcome_analytics import measure_specs

    for spec in measure_specs().values():
        if spec.rule == "rcv":
            rule = (
                "reliable change outside the log-normal reference change limits for a total "
                f"CV of {spec.cv_total_pct or 0.0:.3g} %"
            )
        elif spec.rule == "rci":
            rule = (
                f"reliable change index with SD {num(spec.sd or 0.0)} and test–retest "
                f"reliability {num(spec.reliability or 0.0)}"
            )
        else:
            unit = "" if re.fullmatch(r"[\d.]+-[\d.]+", spec.unit) else f" {spec.unit}"
            rule = f"smallest change that counts {num(spec.mid or 0.0)}{unit}"
        text = f"`{spec.measure}` {spec.label} ({spec.unit}): {rule}" + (
            f" — {spec.note}" if spec.note else ""
        )
        for key in dict.fromkeys(spec.citations):
            yield CitationUse(key, "Outcome measures", spec.measure, text)


def _synthetic_uses() -> Iterator[CitationUse]:
    from hostcap.synthetic import DEFAULT_DESIGN, DESIGN_CITATIONS

    for field, key in DESIGN_CITATIONS.items():
        value = getattr(DEFAULT_DESIGN, field)
        shown = f"{num(value * 100)} %" if isinstance(value, float) and value < 1 else num(value)
        yield CitationUse(key, "Synthetic cohort design", field, f"`{field}` = {shown}")


def citation_uses() -> dict[str, list[CitationUse]]:
    """Every use of every citation key in the packaged rulebook, catalog, model, outcome
    measures and synthetic design, by key (``assumed`` included), each list in ``PARTS`` order.
    """
    found: dict[str, list[CitationUse]] = {}
    for use in (
        *_rule_uses(),
        *_catalog_uses(),
        *_model_uses(),
        *_outcome_uses(),
        *_synthetic_uses(),
    ):
        found.setdefault(use.key, []).append(use)
    order = {part: i for i, part in enumerate(PARTS)}
    return {k: sorted(v, key=lambda u: order[u.part]) for k, v in found.items()}
