"""The model card (Markdown) and the causal diagram, generated from the definition.

Every state, parameter (value, unit, range, source), named intermediate, rate law, causal edge
with its evidence grade and citation, what each variant changes, the phenotype presets, the
inputs and the observables. The diagram draws edges styled by grade: solid E, dashed A, dotted P,
red dotted S. ``docs/model-card.md`` is this output; a test checks it is current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from hostcap.citations import format_references
from hostcap.mechanistic_model.definition import (
    HYPOTHESIS_NOTE,
    VARIANTS,
    Edge,
    ModelDefinition,
    VariantSpec,
    load_definition,
    phenotype_presets,
    variant_specs,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["GRADE_STYLES", "causal_diagram", "model_card_markdown"]

#: Edge style by evidence grade: (line style, colour, label).
GRADE_STYLES: dict[str, tuple[Literal["solid", "dashed", "dotted"], str, str]] = {
    "E": ("solid", "black", "E established in humans"),
    "A": ("dashed", "black", "A animals / cells"),
    "P": ("dotted", "dimgray", "P plausible, untested"),
    "S": ("dotted", "red", "S speculative or contradicted"),
}

# Columns of the diagram, upstream to downstream; nodes not listed go by compartment.
_COLUMNS: tuple[tuple[str, ...], ...] = (
    (
        "antibiotic_pulse",
        "d_prod",
        "fibre_substrate",
        "producer_inoculum",
        "barrier_repair",
        "nad_precursor",
        "akg_input",
    ),
    ("producers", "butyrate", "colon_energy", "barrier", "lps"),
    ("inflammation", "crp", "cd38", "nad", "akg", "sam"),
    ("sirt1", "m_inflam", "hmc_reg", "k9_spp1", "opn"),
    (
        "thr_personal",
        "mc_threshold",
        "stabiliser",
        "threshold_eff",
        "degranulation",
        "bbb",
        "cns_mc",
    ),
    (
        "hat_copies",
        "tryptase",
        "symptom_load",
        "h1_block",
        "h1_block_metabolite",
        "h2_block",
        "lt_block",
    ),
)


def _all_edges() -> list[tuple[Edge, tuple[str, ...]]]:
    """Union of the edges of every variant, with the variants each one belongs to."""
    found: dict[str, tuple[Edge, list[str]]] = {}
    for v in VARIANTS:
        for e in load_definition(v).edges:
            if e.id not in found:
                found[e.id] = (e, [])
            found[e.id][1].append(v)
    return [(e, tuple(vs)) for e, vs in found.values()]


def causal_diagram() -> Figure:
    """The causal graph of all variants, edges styled by evidence grade.

    Edges that only some variants have are drawn in purple and labelled with those variants.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    edges = _all_edges()
    nodes = {e.source for e, _ in edges} | {e.target for e, _ in edges}
    pos: dict[str, tuple[float, float]] = {}
    for x, column in enumerate(_COLUMNS):
        present = [n for n in column if n in nodes]
        for k, name in enumerate(present):
            pos[name] = (x * 2.2, -(k + 0.5) * 10.0 / max(len(present), 1))
    missing = sorted(nodes - set(pos))
    for k, name in enumerate(missing):
        pos[name] = (len(_COLUMNS) * 2.2, -(k + 0.5))
    fig = Figure(figsize=(15, 9))
    ax = fig.add_axes((0.01, 0.06, 0.98, 0.86))
    ax.set_axis_off()
    for edge, variants in edges:
        style, colour, _ = GRADE_STYLES[edge.grade]
        partial = len(variants) < len(VARIANTS)
        if partial and edge.grade != "S":
            colour = "purple"
        (x0, y0), (x1, y1) = pos[edge.source], pos[edge.target]
        arrow = FancyArrowPatch(
            (x0, y0),
            (x1, y1),
            arrowstyle="-|>" if edge.sign == "+" else "-[",
            mutation_scale=10,
            linestyle=style,
            color=colour,
            linewidth=1.1,
            shrinkA=18,
            shrinkB=18,
            connectionstyle="arc3,rad=0.12",
        )
        ax.add_patch(arrow)
        if partial:
            others = [v for v in VARIANTS if v not in variants]
            label = (
                "/".join(variants) if len(variants) <= len(others) else "not " + "/".join(others)
            )
            # Edges the essay lacks get their label nearer the target, so that a replaced
            # edge and its replacement (same ends) do not print over each other.
            f = 0.4 if "essay" in variants else 0.68
            ax.text(
                x0 + f * (x1 - x0),
                y0 + f * (y1 - y0),
                label,
                fontsize=6,
                color=colour,
                ha="center",
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    for name, (px, py) in pos.items():
        ax.text(
            px,
            py,
            name,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.3", "fc": "#f3f3f3", "ec": "gray"},
        )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    handles = [
        Line2D([0], [0], linestyle=s, color=c, label=label) for s, c, label in GRADE_STYLES.values()
    ]
    handles.append(Line2D([0], [0], color="purple", label="only in the variants named"))
    ax.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(
        "Host Capacity Model: causal graph by evidence grade (arrow: increases; bar: decreases)\n"
        + HYPOTHESIS_NOTE,
        fontsize=9,
    )
    return fig


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _intro(d: ModelDefinition, diagram: str) -> list[str]:
    """Title, intended use and limits, how the model is checked and how to run it."""
    lines = [
        "# Model card: the Host Capacity Model (mechanistic, hostcap)",
        "",
        "<!-- generated by hostcap.mechanistic_model.model_card (`hostcap model card`); "
        "a test checks it is current -->",
        "",
        f"> **{HYPOTHESIS_NOTE}**",
        ">",
        "> The chain comes from the seed essay; several of its links are speculative (S) or "
        "contradicted by the biochemistry, and are graded so below. Nothing graded S may drive a "
        "safety-relevant output. The `essay` variant implements the essay faithfully; the other "
        "variants are competing hypotheses so that data can choose between them.",
        "",
        f"Model `{d.id}` version {d.version}; time unit: hour. One definition "
        "(`src/hostcap/mechanistic_model/data/`) is the single source of truth: the right-hand "
        "side, the analytic Jacobian and its sparsity, SBML L3V2, Antimony and this card are all "
        "derived from it. Names below are the ids used in SBML and in `hostcap simulate` output.",
        "",
        f"![Causal diagram: edges styled by evidence grade]({diagram})",
        "",
        "Edge styles: solid = E (established in humans), dashed = A (animals/cells), "
        "dotted grey = P (plausible, untested), dotted red = S (speculative or contradicted); "
        "purple edges exist only in the variants named on them.",
        "",
        "## Intended use and limits",
        "",
        "- **Use**: to make the essay's claims explicit and testable — which link a protocol "
        "acts through, on what time scale, and what each observable should do if the chain "
        "holds — and to compare the essay's chain with its competitors (`biochemical`, "
        "`butyrate_direct`, `null`) against outcome data.",
        "- **Not for**: predicting any individual's course, choosing doses, or starting or "
        "stopping a prescription drug (that is a discussion with the prescriber).",
        "- **Limits**: most rate constants are assumed (source `assumed`) and set only to give "
        "each state its time scale (fast: minutes to hours; medium: days; slow: weeks to "
        "months); several links have never been measured (grade S); "
        "phenotypes A/B/C are hypothesis labels, not validated subtypes; symptom load and food "
        "tolerance are transparent derived scores, not validated instruments.",
        "",
        "## How it is checked",
        "",
        "- The right-hand side, the analytic Jacobian (with its sparsity pattern), SBML and "
        "Antimony are all generated from the definition; the Jacobian is tested against "
        "central differences for every variant.",
        "- Closed-form sub-cases (CRP and tryptase first-order clearance, 5hmC relaxation, the "
        "`null` threshold's regression to the mean) match the solver to 1e-7.",
        "- The healthy preset reproduces the cited reference values (butyrate ~15 mM, hs-CRP "
        "~1 mg/L, osteopontin ~51 µg/L, whole-blood NAD⁺ ~30 µM) and the NR dose-response of "
        "Conze 2019 (+22/51/142 % at 100/300/1000 mg/d) and the HαT tryptase medians.",
        "- Every variant × phenotype exported as SBML passes libsbml's consistency check with "
        "zero errors and, run in libRoadRunner under a four-phase protocol with an antibiotic "
        "course, matches `simulate()` to a relative error ≤ 1e-4 on every state at every save "
        "point.",
        "",
        "## How to run it",
        "",
        "```",
        "hostcap simulate --variant essay --phenotype A "
        "--protocol examples/protocols/phenotype-a-gut-first.yaml --weeks 16 "
        "--out traj.csv --plot traj.png",
        "hostcap model export --format sbml --variant essay --phenotype A "
        "--protocol examples/protocols/phenotype-a-gut-first.yaml -o model.xml",
        "hostcap model card --out docs/model-card.md",
        "```",
        "",
        "In Python: `hostcap.mechanistic_model.simulate(variant, protocol, phenotype=..., "
        "weeks=...)` returns a `Trajectory` (`.to_frame()`, `.plot()`, `.status`); "
        "`compile_model(variant)` gives the compiled kernels (`rhs`, `jacobian_values`, "
        "`sparsity`) for batch solvers.",
    ]
    return lines


def _definition_tables(d: ModelDefinition) -> list[str]:
    """Compartments, states, rate laws and named intermediates of the essay variant."""
    lines = ["", "## Compartments", "", "| compartment | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {_cell(v)} |" for k, v in d.compartments.items()]
    lines += [
        "",
        "## States",
        "",
        "| id | unit | compartment | time scale | meaning |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| `{s.id}` | {s.unit} | {s.compartment} | {s.timescale} | {_cell(s.meaning)}"
        f"{' (fraction, stays in [0, 1])' if s.bounded else ''} |"
        for s in d.states
    ]
    lines += ["", "## Rate laws (essay variant)", "", "| state | d/dt (per hour) |", "|---|---|"]
    lines += [f"| `{s}` | `{_cell(r)}` |" for s, r in d.rates.items()]
    lines += [
        "",
        "## Named intermediates (SBML assignment rules, essay variant)",
        "",
        "| id | expression | unit | meaning |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{e.id}` | `{_cell(e.expression)}` | {e.unit} | {_cell(e.meaning)} |"
        for e in d.expressions
    ]
    return lines


def _parameter_table() -> list[str]:
    """Every parameter of every variant, once (the essay variant first)."""
    lines: list[str] = []
    lines += [
        "",
        "## Parameters",
        "",
        "Range = plausible population range (used for virtual populations); source = citation "
        "key (see References) or `assumed`; fit = `calibrated` (fitted to the literature "
        "calibration results, `hostcap validate calibrate`), `fixed` (set from its source, not "
        "fitted) or – (not yet declared).",
        "",
        "| id | value | unit | range | source | fit | rationale |",
        "|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for v in VARIANTS:
        for p in load_definition(v).parameters:
            if p.id in seen:
                continue
            seen.add(p.id)
            where = "" if v == "essay" else f" *(variant `{v}`)*"
            lines.append(
                f"| `{p.id}`{where} | {p.value:g} | {p.unit} | {p.range[0]:g} – {p.range[1]:g} "
                f"| {p.source} | {p.estimation or '–'} | {_cell(p.rationale)} |"
            )
    return lines


def _edge_table() -> list[str]:
    """Causal edges with their grade and the variants they are in."""
    lines: list[str] = []
    lines += [
        "",
        "## Causal edges",
        "",
        "| id | from | to | sign | grade | citation | variants | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e, variants in _all_edges():
        which = "all" if len(variants) == len(VARIANTS) else ", ".join(variants)
        lines.append(
            f"| `{e.id}` | `{e.source}` | `{e.target}` | {e.sign} | {e.grade} | {e.citation} "
            f"| {which} | {_cell(e.note)} |"
        )
    return lines


def _variant_sections(specs: dict[str, VariantSpec]) -> list[str]:
    """One section per variant: what it changes in the base."""
    lines: list[str] = []
    lines += ["", "## Variants (competing hypotheses)", ""]
    for v in VARIANTS:
        s = specs[v]
        lines += [f"### `{v}` — {s.title}", "", _cell(s.description), ""]
        changes = []
        changes += [f"- expression `{k}` := `{t}`" for k, t in s.set_expressions.items()]
        changes += [f"- rate of `{k}` := `{t}`" for k, t in s.set_rates.items()]
        changes += [f"- adds parameter `{k}`" for k in s.add_parameters]
        changes += [f"- sets parameter `{k}` = {x:g}" for k, x in s.set_parameters.items()]
        changes += [f"- removes edge `{k}`" for k in s.remove_edges]
        changes += [f"- adds edge `{e['id']}` (grade {e['grade']})" for e in s.add_edges]
        changes += [f"- initial `{k}` := `{t}`" for k, t in s.initial.items()]
        lines += changes or ["- no change: the base is written as the essay states the chain"]
        lines.append("")
    return lines


def _preset_and_input_tables(d: ModelDefinition) -> list[str]:
    """Phenotype presets, and the mapping from protocol doses to model inputs."""
    lines: list[str] = []
    lines += [
        "## Phenotype presets (hypothesis labels, grade S)",
        "",
        "Each starts from its own pre-treatment steady state (no interventions).",
        "",
        "| preset | title | parameter changes | description |",
        "|---|---|---|---|",
    ]
    for pr in phenotype_presets().values():
        changed = ", ".join(f"`{k}` = {x:g}" for k, x in pr.parameters.items()) or "none"
        lines.append(f"| `{pr.id}` | {pr.title} | {changed} | {_cell(pr.description)} |")
    lines += [
        "",
        "## Inputs and dose mapping",
        "",
        "Protocol doses are in the catalog's units; `input = potency × dose`, summed per input. "
        "Saturating dose–responses live in the rate laws.",
        "",
        "| intervention | input | input unit | potency | rationale |",
        "|---|---|---|---|---|",
    ]
    units = {i.id: i.unit for i in d.inputs}
    lines += [
        f"| `{k}` | `{m.input}` | {units[m.input]} | {m.potency:g} | {_cell(m.rationale)} |"
        for k, m in d.input_map.items()
    ]
    return lines


def _observable_table(d: ModelDefinition) -> list[str]:
    """Observables with their measurement-error models."""
    lines: list[str] = []
    lines += [
        "",
        "## Observables and measurement error",
        "",
        "| id | unit | expression | noise | citation | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for o in d.observables:
        n = o.noise
        noise = {
            "lognormal": f"lognormal, CV {n.cv:g}" if n.cv is not None else "lognormal",
            "normal": f"normal, sd {n.sd:g}" if n.sd is not None else "normal",
            "binomial": f"binomial, n = {n.n}",
        }[n.distribution]
        lines.append(
            f"| `{o.id}` | {o.unit} | `{_cell(o.expression)}` | {noise} | {o.citation} "
            f"| {_cell(o.meaning)} |"
        )
    return lines


def _references(specs: dict[str, VariantSpec]) -> list[str]:
    """Every citation key the variants use, formatted."""
    keys: list[str] = []
    for v in VARIANTS:
        keys += load_definition(v).citation_keys()
    keys += [specs[v].citation for v in VARIANTS]
    lines = [
        "",
        "## References",
        "",
        "Each citation key above has a section in [evidence.md](evidence.md) (`evidence.md#KEY`) "
        "with its caveats and every rule, catalog entry and model part that uses it.",
        "",
    ]
    lines += [f"- {line}" for line in format_references(dict.fromkeys(keys))]
    return lines


def model_card_markdown(diagram: str = "model-causal-diagram.png") -> str:
    """The model card as Markdown; ``diagram`` is the image path relative to the card."""
    d = load_definition("essay")
    specs = variant_specs()
    lines = [
        *_intro(d, diagram),
        *_definition_tables(d),
        *_parameter_table(),
        *_edge_table(),
        *_variant_sections(specs),
        *_preset_and_input_tables(d),
        *_observable_table(d),
        *_references(specs),
    ]
    return "\n".join(lines).rstrip() + "\n"
