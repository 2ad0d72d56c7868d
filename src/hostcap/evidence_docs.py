"""``docs/evidence.md``: the evidence base that ships with hostcap, generated from the code.

Every rule, catalog entry, model parameter, causal edge, observable, variant, outcome measure and
literature-based synthetic design default carries a citation key (``hostcap.citations``). This
module reads all of them through their loaders (``load_rulebook``, the catalog's ``analytes()``
and friends, ``load_definition`` for every model variant, ``measure_specs``,
``DESIGN_CITATIONS``) and writes one page: what the evidence grades and ``verified: false``
mean, the thresholds at a glance, and one section per citation key (anchor ``#KEY``) with the
full reference and every use of it. Keys that nothing cites are kept as background references.

It sits at the top level beside ``citations.py`` and ``generated_docs.py`` because it reads all
four pure-core packages (``catalog``, ``clinical_decisions``, ``mechanistic_model``,
``outcome_analytics``) and ``synthetic``: inside any one of them it would make that package
import its peers, which the layering keeps apart. It only reads packaged data (no store, no
files), and nothing imports it except the docs registry (``GENERATED_DOCS``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from hostcap.citations import Citation, all_citations
from hostcap.errors import Issue, ValidationError

__all__ = [
    "ASSUMED",
    "PARTS",
    "CitationUse",
    "citation_uses",
    "evidence_markdown",
    "format_parameter",
    "format_thresholds",
]

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


# --- formatting ------------------------------------------------------------------------------

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _num(value: float) -> str:
    """A number as a clinician writes it: no trailing ``.0``, powers of ten for large counts."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or float(value).is_integer():
        number = int(value)
        if abs(number) >= 1_000_000:
            exponent = len(str(abs(number))) - 1
            mantissa = number / 10**exponent
            head = "" if mantissa == 1 else f"{mantissa:g} × "
            return f"{head}10{str(exponent).translate(_SUPERSCRIPT)}"
        return str(number)
    text = f"{value:.6g}"
    if "e" in text:  # small rate constants: 0.00005, not 5e-05
        text = f"{value:.12f}".rstrip("0").rstrip(".")
    return text


def _signed(value: float) -> str:
    text = _num(abs(value))
    return ("+" if value > 0 else "−" if value < 0 else "") + text


_UNITS: dict[str, str] = {
    "1": "",
    "1/h": "per h",
    "10*9/L": "× 10⁹/L",
    "{creat}": "",
    "repair_unit": "repair units",
}


def _unit(unit: str) -> str:
    """A UCUM or model unit in clinical spelling (``ug/g{creat}`` → ``µg/g creatinine``)."""
    if unit in _UNITS:
        return _UNITS[unit]
    text = unit.replace("{creat}", " creatinine").replace("10*9", "× 10⁹")
    text = re.sub(r"\b1e(\d+)\b", lambda m: "10" + m.group(1).translate(_SUPERSCRIPT), text)
    return re.sub(r"(?<![A-Za-z])u(?=(g|mol|M|L|m)\b|(g|mol|M|L|m)/)", "µ", text)


def _with_unit(value: str, unit: str) -> str:
    shown = _unit(unit)
    if not shown:
        return value
    if len(shown) > 2 and shown.startswith("10") and shown[2] in "⁰¹²³⁴⁵⁶⁷⁸⁹":
        return f"{value} × {shown}"
    return f"{value} {shown}"


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _link(key: str) -> str:
    return f"[`{key}`](#{key})"


# --- rule thresholds -------------------------------------------------------------------------

#: Multi-word comparator tokens in parameter names, longest first.
_COMPARATORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("at", "least"), "≥"),
    (("at", "most"), "≤"),
    (("below",), "<"),
    (("above",), ">"),
    (("under",), "<"),
    (("over",), ">"),
    (("min",), "≥"),
    (("max",), "≤"),
)
#: Unit tokens in parameter names and their display (``fraction`` shows as a percentage).
_PARAM_UNITS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("10e9", "l"), "× 10⁹/L"),
    (("ng", "ml"), "ng/mL"),
    (("mg", "l"), "mg/L"),
    (("g", "dl"), "g/dL"),
    (("g", "l"), "g/L"),
    (("mmhg",), "mmHg"),
    (("bpm",), "bpm"),
    (("pct",), "%"),
    (("fraction",), "%"),
    (("cm",), "cm"),
    (("hours",), "h"),
    (("days",), "days"),
    (("weeks",), "weeks"),
    (("years",), "years"),
)
_WORDS = {
    "hs": "hs-CRP",
    "crp": "",
    "who": "WHO",
    "icc": "ICC",
    "kit": "KIT",
    "hat": "HαT",
    "vaf": "KIT D816V VAF",
    "rema": "REMA",
    "nicas": "NICAS",
    "minor": "minor criteria",
    "spindle": "spindle-shaped mast cells",
}
#: Parameters whose value names input fields, criteria or items rather than a number.
_NAME_PARAMS = {
    "item": "item",
    "field": "input field",
    "criterion": "criterion",
    "criteria": "criteria",
    "all_of": "all of",
    "any_of": "any of",
    "flag": "flag",
    "pattern": "pattern",
}


def _find(
    tokens: Sequence[str], table: Iterable[tuple[tuple[str, ...], str]]
) -> tuple[int, int, str]:
    """(start, end, display) of the first ``table`` entry found in ``tokens``; (-1, -1, "")."""
    for i in range(len(tokens)):
        for words, display in table:
            if tuple(tokens[i : i + len(words)]) == words:
                return i, i + len(words), display
    return -1, -1, ""


def _words(tokens: Iterable[str]) -> str:
    words = list(tokens)
    shown = [_WORDS.get(w, w) for w in words]
    for i, word in enumerate(words):
        if word == "upper" and (i + 1 == len(words) or words[i + 1] != "limit"):
            shown[i] = "upper limit"
    return " ".join(w for w in shown if w)


def _value(value: object, unit: str, fraction: bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        number = value * 100 if fraction else value
        return _with_unit(_num(number), unit)
    if isinstance(value, list | tuple):
        parts = [_num(v * 100 if fraction else v) for v in value]
        joined = "–".join(parts) if len(parts) == 2 else ", ".join(parts)
        return _with_unit(joined, unit)
    if isinstance(value, Mapping):
        return ", ".join(f"{_words(str(k).split('_'))} {_num(v)}" for k, v in value.items())
    return ", ".join(f"`{part.strip()}`" for part in str(value).split(","))


def format_parameter(name: str, value: object) -> str:
    """One rule parameter in words with its comparison sign and unit.

    The parameter name carries the meaning (``haemoglobin_below_g_dl``: 10 → ``haemoglobin <
    10 g/dL``; ``min_total_rise_fraction``: 0.235 → ``total rise ≥ 23.5 %``); a name without a
    comparator reads ``words: value`` (``acute_window_hours``: [1, 4] → ``acute window: 1–4 h``).

    Examples
    --------
    >>> format_parameter("platelets_below_10e9_l", 100)
    'platelets < 100 × 10⁹/L'
    >>> format_parameter("baseline_min_hours_after_resolution", 24)
    'baseline ≥ 24 h after resolution'
    """
    if name in _NAME_PARAMS:
        return f"{_NAME_PARAMS[name]}: {_value(value, '', False)}"
    tokens = name.split("_")
    c_start, c_end, sign = _find(tokens, _COMPARATORS)
    rest = tokens if c_start < 0 else [*tokens[:c_start], "\0", *tokens[c_end:]]
    u_start, u_end, unit = _find(rest, _PARAM_UNITS)
    fraction = u_start >= 0 and rest[u_start] == "fraction"
    if u_start >= 0:
        rest = [*rest[:u_start], *rest[u_end:]]
    shown = _value(value, unit, fraction)
    if c_start < 0:
        return f"{_words(rest)}: {shown}"
    split = rest.index("\0")
    before, after = rest[:split], rest[split + 1 :]
    if not before:
        before, after = after, []
    tail = f" {_words(after)}" if after else ""
    return f"{_words(before)} {sign} {shown}{tail}"


def _points_thresholds(params: Mapping[str, object]) -> dict[str, str]:
    """``X_<comparator>_points`` → the parameter holding the threshold it refers to."""
    found: dict[str, str] = {}
    for name in params:
        if not name.endswith("_points"):
            continue
        stem = name.removesuffix("_points")
        head = stem.split("_")[0]
        for other in params:
            if other.endswith("_points"):
                continue
            if other.startswith(stem + "_") or other.startswith(head + "_threshold_"):
                found[name] = other
                break
    return found


def format_thresholds(params: Mapping[str, object]) -> str:
    """A rule's ``params`` in readable form, joined by ``; ``.

    Compound forms are read where the names say so: ``rise_factor`` with ``rise_addend_ng_ml``
    (the consensus-1 rise), ``X_base_U`` with ``X_per_year_U`` (age-dependent limits), score item
    points beside a ``cut_off`` (REMA, NICAS), and ``X_below_points`` / ``X_at_least_points``
    with the threshold they refer to.

    Examples
    --------
    >>> format_thresholds({"rise_factor": 1.2, "rise_addend_ng_ml": 2.0})
    'acute tryptase > 1.2 × baseline + 2 ng/mL'
    >>> format_thresholds({"male": 1, "female": -1, "cut_off": 2})
    'male +1; female −1; score ≥ 2'
    """
    points_of = _points_thresholds(params)
    consumed = set(points_of.values())
    scored = "cut_off" in params
    out: list[str] = []
    for name, value in params.items():
        number = float(value) if isinstance(value, int | float) else None
        if name in consumed:
            continue
        if name == "rise_factor" and "rise_addend_ng_ml" in params:
            addend = _value(params["rise_addend_ng_ml"], "ng/mL", False)
            out.append(f"acute tryptase > {_value(value, '', False)} × baseline + {addend}")
            continue
        if name == "rise_addend_ng_ml" and "rise_factor" in params:
            continue
        base = re.match(r"^(.*)_base_(\w+)$", name)
        if base and f"{base.group(1)}_per_year_{base.group(2)}" in params:
            per_year = params[f"{base.group(1)}_per_year_{base.group(2)}"]
            _, _, unit = _find(base.group(2).split("_"), _PARAM_UNITS)
            label = _words(base.group(1).split("_"))
            shown = f"{_value(value, '', False)} + {_value(per_year, '', False)} × age in years"
            out.append(f"{label} limit: {_with_unit(shown, unit)}")
            continue
        if re.match(r"^(.*)_per_year_(\w+)$", name) and any(
            k.endswith("_base_" + name.split("_per_year_")[1]) for k in params
        ):
            continue
        if name in points_of and number is not None:
            threshold = points_of[name]
            tokens = name.removesuffix("_points").split("_")
            c_start, _, sign = _find(tokens, _COMPARATORS)
            _, _, unit = _find(threshold.split("_"), _PARAM_UNITS)
            subject = _words(tokens[:c_start] if c_start > 0 else tokens[:1])
            limit = _value(params[threshold], unit, False)
            out.append(f"{subject} {sign or '≥'} {limit} {_signed(number)}")
            continue
        if name == "cut_off" and number is not None:
            out.append(f"score ≥ {_num(number)}")
            continue
        tokens = name.split("_")
        is_points = (
            scored
            and isinstance(value, int)
            and not isinstance(value, bool)
            and _find(tokens, _COMPARATORS)[0] < 0
            and _find(tokens, _PARAM_UNITS)[0] < 0
            and name not in _NAME_PARAMS
        )
        if is_points and number is not None:
            out.append(f"{_words(tokens)} {_signed(number)}")
            continue
        out.append(format_parameter(name, value))
    return "; ".join(out)


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
                shape = f"when ≥ {_num(rule.threshold or 0.0)}"
            else:
                shape = (
                    f"rising from {_num(rule.ramp_from or 0.0)} (0) "
                    f"to {_num(rule.ramp_to or 0.0)} (full weight)"
                )
            text = (
                f"{head}, phenotype {rule.phenotype}: {rule.title} — `{rule.field}` "
                f"{shape}, weight {_num(rule.weight)}"
            )
            part = "Phenotype features (hypothesis)"
            yield CitationUse(rule.citation, part, rule.id, text, rule.evidence_grade)
        elif isinstance(rule, ProtocolRule):
            phases = "; ".join(
                f"weeks {ph.start_week}–{ph.end_week} {ph.name}: "
                + ", ".join(
                    f"{names.get(d.intervention, d.intervention)} "
                    f"{_with_unit(f'{_num(d.low)}–{_num(d.high)}', d.unit)}"
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


def _range_text(low: float | None, high: float | None, unit: str) -> str | None:
    if low is None and high is None:
        return None
    if low is None:
        return f"≤ {_with_unit(_num(high or 0.0), unit)}"
    if high is None:
        return f"≥ {_with_unit(_num(low), unit)}"
    return _with_unit(f"{_num(low)}–{_num(high)}", unit)


def _band_text(low: float | None, high: float | None, unit: str) -> str:
    """An interpretation band, ``low <= value < high``."""
    if low is None and high is None:
        return "any value"
    if low is None:
        return f"< {_with_unit(_num(high or 0.0), unit)}"
    if high is None:
        return f"≥ {_with_unit(_num(low), unit)}"
    return f"{_with_unit(_num(low), unit)} to < {_with_unit(_num(high), unit)}"


def _catalog_uses() -> Iterator[CitationUse]:
    from hostcap.catalog import analytes, instruments, interventions, medications

    for a in analytes().values():
        unit = a.canonical_unit
        code = f"LOINC {a.loinc}" if a.loinc else f"local code {a.local_code}"
        parts = [f"`{a.id}` {a.name} ({a.specimen}; {code})"]
        reference = _range_text(a.reference_low, a.reference_high, unit)
        if reference:
            parts.append(f"reference interval {reference}")
        if a.bands:
            parts.append(
                "bands "
                + ", ".join(f"{b.label} ({_band_text(b.low, b.high, unit)})" for b in a.bands)
            )
        variation = [
            f"{label} {_num(v)} %"
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
            parts.append(f"half-life {_num(a.half_life_hours)} h")
        parts.append(
            f"accepted {_with_unit(f'{_num(a.hard_min)}–{_num(a.hard_max)}', unit)}, "
            f"usual {_with_unit(f'{_num(a.soft_min)}–{_num(a.soft_max)}', unit)}"
        )
        text = "; ".join(parts) + (f". {a.reference_note}" if a.reference_note else "")
        for key in dict.fromkeys(a.citation_keys()):
            yield CitationUse(key, "Analytes", a.id, text)
    for m in medications().values():
        checked = "" if m.ddd_verified else " (DDD not checked against the current index)"
        text = (
            f"`{m.id}` {m.name} (ATC {m.atc}, {str(m.drug_class).replace('_', ' ')}): "
            f"DDD {_num(m.ddd)} {m.ddd_unit} {m.route}{checked}"
        )
        yield CitationUse(m.citation, "Medications", m.id, text)
    signs = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
    for i in instruments().values():
        basis = "item mean" if i.score_basis == "mean" else "total"
        parts = [f"`{i.id}` {i.name} ({i.n_items} items, {basis})"]
        parts += [
            f"{basis} {signs[c.direction]} {_num(c.threshold)} = {c.meaning}"
            + (f" ({c.condition})" if c.condition else "")
            for c in i.cutoffs
        ]
        note = (i.mcid_note or "").rstrip(".")
        if i.mcid is not None:
            detail = re.sub(r"^Minimal important difference ", "", note)
            parts.append(
                f"minimal important difference {_num(i.mcid)}" + (f" ({detail})" if detail else "")
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
            _num(v.typical_min)
            if v.typical_min == v.typical_max
            else f"{_num(v.typical_min)}–{_num(v.typical_max)}"
        )
        dose = _with_unit(span, v.dose_unit)
        if v.dose_unit == "course_days":
            dose = f"courses of {_num(v.typical_min)}–{_num(v.typical_max)} days"
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
            shown = _with_unit(_num(p.value), p.unit)
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
        span = _with_unit(f"{_num(low)}–{_num(high)}", p.unit)
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
            error = f"log-normal, CV {_num(noise.cv * 100)} %"
        elif noise.distribution == "normal" and noise.sd is not None:
            error = f"normal, SD {_num(noise.sd)}"
        elif noise.distribution == "binomial" and noise.n is not None:
            error = f"binomial on {noise.n} trials"
        else:
            error = noise.distribution
        unit = _unit(o.unit)
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
                f"reliable change index with SD {_num(spec.sd or 0.0)} and test–retest "
                f"reliability {_num(spec.reliability or 0.0)}"
            )
        else:
            unit = "" if re.fullmatch(r"[\d.]+-[\d.]+", spec.unit) else f" {spec.unit}"
            rule = f"smallest change that counts {_num(spec.mid or 0.0)}{unit}"
        text = f"`{spec.measure}` {spec.label} ({spec.unit}): {rule}" + (
            f" — {spec.note}" if spec.note else ""
        )
        for key in dict.fromkeys(spec.citations):
            yield CitationUse(key, "Outcome measures", spec.measure, text)


def _synthetic_uses() -> Iterator[CitationUse]:
    from hostcap.synthetic import DEFAULT_DESIGN, DESIGN_CITATIONS

    for field, key in DESIGN_CITATIONS.items():
        value = getattr(DEFAULT_DESIGN, field)
        shown = f"{_num(value * 100)} %" if isinstance(value, float) and value < 1 else _num(value)
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


# --- the page --------------------------------------------------------------------------------

_GRADES = (
    ("E", "established", "human data or textbook biochemistry, replicated"),
    ("A", "animals or cells", "mouse, in vitro, or human cells ex vivo"),
    (
        "P",
        "plausible",
        "mechanistically coherent and partly supported, but the specific link is untested",
    ),
    ("S", "speculative", "no direct evidence, or the evidence contradicts it"),
)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _introduction(uses: Mapping[str, list[CitationUse]]) -> list[str]:
    from hostcap.mechanistic_model import HYPOTHESIS_NOTE, VARIANTS, variant_specs

    specs = variant_specs()
    speculative = [
        u
        for key_uses in uses.values()
        for u in key_uses
        if u.part == "Model causal edges" and u.grade == "S"
    ]
    out = [
        "# Evidence base",
        "",
        "<!-- Generated from the citation registry (src/hostcap/data/citations/*.yaml) and "
        "everything that cites it, by hostcap.evidence_docs; do not edit. -->",
        "",
        "Every rule, catalog entry, model parameter, causal edge and outcome measure in hostcap "
        "carries a citation key. Each key has a section below (`docs/evidence.md#KEY`) with the "
        "full reference, whether it was verified, its caveats, and every place hostcap uses "
        "it, with the thresholds and numbers it takes from it. Outputs, reports and the other "
        "documents name these keys.",
        "",
        "Contents: [what hostcap does and does not do](#scope) · "
        "[the essay's hypothesis](#hypothesis-status) · [evidence grades](#evidence-grades) · "
        "[verified and UNVERIFIED](#verification) · [thresholds at a glance](#thresholds) · "
        "[references](#references) · [assumed values](#assumed) · "
        "[background references](#background-references)",
        "",
        '## <a id="scope"></a>What hostcap does and does not do',
        "",
        "- hostcap **flags** which published criteria appear met, not met or indeterminate; it "
        "never diagnoses. Every possible clonal-disease or anaphylaxis branch routes to a "
        "physician or to emergency care, and a current emergency comes before everything else.",
        "- hostcap never recommends a prescription drug: conventional drugs are recorded and a "
        'plan says "discuss with the prescriber".',
        "- Questionnaires for mast cell disease were validated in mastocytosis, not in MCAS; "
        "hostcap's symptom diary is not validated at all. Each score says so.",
        "",
        '## <a id="hypothesis-status"></a>The Host Capacity essay: a hypothesis',
        "",
        "The seed essay ([`essay`](#essay)) proposes a chain from gut dysbiosis through "
        "butyrate, NAD⁺ and α-ketoglutarate to epigenetic restraint of mast cells. It is not "
        "peer-reviewed and it is untested. hostcap implements it faithfully as the `essay` "
        "variant of the mechanistic model, beside competing hypotheses, so that outcome data "
        "can choose between them:",
        "",
    ]
    out += [f"- `{v}`: {specs[v].title} — cites {_link(specs[v].citation)}" for v in VARIANTS]
    out += [
        "",
        f"Every output that rests on the model says: *{HYPOTHESIS_NOTE}* The phenotypes A, B "
        "and C and the protocol templates are hypothesis labels (grade S, "
        "[`hostcap_phenotype_hypothesis`](#hostcap_phenotype_hypothesis)): no validated MCAS "
        "subtypes were found. Nothing graded S drives a safety-relevant output.",
        "",
    ]
    if speculative:
        out += ["Causal links of the model graded S (speculative or contradicted):", ""]
        out += [f"- {u.text}" for u in speculative]
        out.append("")
    out += [
        '## <a id="evidence-grades"></a>Evidence grades',
        "",
        "A rule's grade is that of its source for what the rule does; an edge's grade is for "
        "that causal link; an intervention's grade is for the effect the model gives it.",
        "",
    ]
    out += _table(["grade", "meaning", ""], [(g, f"**{m}**", d) for g, m, d in _GRADES])
    out += [
        "",
        '## <a id="verification"></a>Verified and UNVERIFIED references',
        "",
        "- **verified**: the reference and the numbers hostcap takes from it were read in the "
        "primary source or an authoritative table.",
        "- **UNVERIFIED** (`verified: false`): the value is recalled, or was seen only in a "
        "secondary summary or a laboratory catalog page. Check it against the primary source "
        "before relying on it; the note says what is uncertain. `hostcap rules check` warns "
        "about every rule that cites one.",
        f"- [`{ASSUMED}`](#assumed): no source — a modelling or design assumption, listed at "
        "the end.",
        "- Keys starting `hostcap_` are hostcap's own operational readings and hypotheses, not "
        "external evidence.",
        "",
    ]
    return out


def _glance() -> list[str]:
    from hostcap.catalog import analytes, instruments
    from hostcap.clinical_decisions import load_rulebook

    book = load_rulebook()
    signs = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
    out = [
        '## <a id="thresholds"></a>Thresholds at a glance',
        "",
        "Read from the packaged rulebook and catalog. A threshold's exact use is in the rule "
        "(`docs/rulebook.md`); its source is the linked reference.",
        "",
        "### Safety rules (run first on every assessment)",
        "",
    ]
    out += _table(
        ["rule", "level", "thresholds", "source"],
        (
            (
                f"{r.title} (`{r.id}`)",
                r.level.replace("_", " "),
                format_thresholds(r.params) or "—",
                _link(r.citation),
            )
            for r in book.safety_rules
        ),
    )
    out += ["", "### Criteria", ""]
    out += _table(
        ["criterion", "thresholds", "source"],
        (
            (f"{r.title} (`{r.criterion}`)", format_thresholds(r.params) or "—", _link(r.citation))
            for r in book.criterion_rules
        ),
    )
    out += ["", "### Laboratory reference intervals and biological variation", ""]
    out += _table(
        ["analyte", "reference interval", "within-subject CV", "reference change value", "sources"],
        (
            (
                f"{a.name} (`{a.id}`)",
                _range_text(a.reference_low, a.reference_high, a.canonical_unit) or "—",
                "—" if a.within_subject_cv_pct is None else f"{_num(a.within_subject_cv_pct)} %",
                "—" if a.rcv_pct is None else f"{_num(a.rcv_pct)} %",
                ", ".join(_link(k) for k in dict.fromkeys(a.citation_keys())),
            )
            for a in analytes().values()
        ),
    )
    out += ["", "### Questionnaire and test cut-offs", ""]
    out += _table(
        ["instrument", "cut-offs", "minimal important difference", "sources"],
        (
            (
                f"{i.name} (`{i.id}`)",
                "; ".join(
                    f"{signs[c.direction]} {_num(c.threshold)} {c.meaning}"
                    + (f" ({c.condition})" if c.condition else "")
                    for c in i.cutoffs
                )
                or "—",
                "—" if i.mcid is None else _num(i.mcid),
                ", ".join(_link(k) for k in dict.fromkeys(i.citation_keys())),
            )
            for i in instruments().values()
        ),
    )
    out.append("")
    return out


def _used_by(uses: Sequence[CitationUse]) -> list[str]:
    out: list[str] = []
    for part in PARTS:
        lines = [u.text for u in uses if u.part == part]
        if lines:
            out.append(f"- {part}:")
            out += [f"  - {line}" for line in lines]
    return out


def _reference(citation: Citation, uses: Sequence[CitationUse]) -> list[str]:
    out = [f'### <a id="{citation.key}"></a>`{citation.key}`', "", citation.text, ""]
    if citation.doi:
        out.append(f"- DOI: [{citation.doi}](https://doi.org/{citation.doi})")
    if citation.url:
        out.append(f"- URL: <{citation.url}>")
    out.append(
        "- Status: verified"
        if citation.verified
        else "- Status: **UNVERIFIED** — check against the primary source before relying on it"
    )
    if citation.note:
        out.append(f"- Note: {citation.note}")
    if uses:
        out += ["", f"Used by ({len(uses)}):", ""]
        out += _used_by(uses)
    out.append("")
    return out


def evidence_markdown() -> str:
    """The Markdown text of ``docs/evidence.md``.

    Raises
    ------
    hostcap.errors.ValidationError
        When anything cites a key that the registry does not define (every such key listed).
    """
    registry = all_citations()
    uses = citation_uses()
    unknown = sorted(set(uses) - set(registry) - {ASSUMED})
    if unknown:
        raise ValidationError(
            [
                Issue(
                    location=f"{uses[key][0].part}: {uses[key][0].item}",
                    message=f"cites {key!r}, which is not in the citation registry",
                    value=key,
                    expected="a key defined in hostcap/data/citations/*.yaml",
                )
                for key in unknown
            ],
            context="evidence base",
        )
    used = sorted(k for k in registry if k in uses)
    background = sorted(k for k in registry if k not in uses)
    out = _introduction(uses) + _glance()
    out += [
        '## <a id="references"></a>References',
        "",
        f"{len(used)} references cited by hostcap, by key "
        f"({sum(not registry[k].verified for k in used)} UNVERIFIED).",
        "",
    ]
    for key in used:
        out += _reference(registry[key], uses[key])
    out += [
        '## <a id="assumed"></a>Assumed values (no source)',
        "",
        "Values set by assumption: no source gives them. Model rate constants of this kind are "
        "set only to give each state its time scale (hours, days, weeks to months); fitting and "
        "the virtual-population ranges treat them as uncertain.",
        "",
    ]
    out += _used_by(uses.get(ASSUMED, []))
    out += [
        "",
        '## <a id="background-references"></a>Background references',
        "",
        "In the registry, cited by no rule, catalog entry, model part or outcome measure at "
        "present: background to the design and to the notes above.",
        "",
    ]
    for key in background:
        out += _reference(registry[key], [])
    return "\n".join(out).rstrip("\n") + "\n"
