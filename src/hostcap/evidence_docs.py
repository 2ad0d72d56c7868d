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

from collections.abc import Iterable, Mapping, Sequence

from hostcap.citation_uses import ASSUMED, PARTS, CitationUse, citation_uses, range_text
from hostcap.citations import Citation, all_citations
from hostcap.errors import Issue, ValidationError
from hostcap.evidence_formatting import format_parameter, format_thresholds, link, md, num

__all__ = [
    "ASSUMED",
    "PARTS",
    "CitationUse",
    "citation_uses",
    "evidence_markdown",
    "format_parameter",
    "format_thresholds",
]


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
    lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
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
    out += [f"- `{v}`: {specs[v].title} — cites {link(specs[v].citation)}" for v in VARIANTS]
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
                link(r.citation),
            )
            for r in book.safety_rules
        ),
    )
    out += ["", "### Criteria", ""]
    out += _table(
        ["criterion", "thresholds", "source"],
        (
            (f"{r.title} (`{r.criterion}`)", format_thresholds(r.params) or "—", link(r.citation))
            for r in book.criterion_rules
        ),
    )
    out += ["", "### Laboratory reference intervals and biological variation", ""]
    out += _table(
        ["analyte", "reference interval", "within-subject CV", "reference change value", "sources"],
        (
            (
                f"{a.name} (`{a.id}`)",
                range_text(a.reference_low, a.reference_high, a.canonical_unit) or "—",
                "—" if a.within_subject_cv_pct is None else f"{num(a.within_subject_cv_pct)} %",
                "—" if a.rcv_pct is None else f"{num(a.rcv_pct)} %",
                ", ".join(link(k) for k in dict.fromkeys(a.citation_keys())),
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
                    f"{signs[c.direction]} {num(c.threshold)} {c.meaning}"
                    + (f" ({c.condition})" if c.condition else "")
                    for c in i.cutoffs
                )
                or "—",
                "—" if i.mcid is None else num(i.mcid),
                ", ".join(link(k) for k in dict.fromkeys(i.citation_keys())),
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
