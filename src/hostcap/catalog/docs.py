"""Generate ``docs/catalog.md``: the catalog as Markdown tables, straight from the packaged data.

Run ``python -m hostcap.catalog.docs [PATH]`` (default ``docs/catalog.md``) to regenerate; a test
fails when the committed file differs from ``catalog_markdown()``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from hostcap.catalog.analytes import analytes
from hostcap.catalog.instruments import instruments
from hostcap.catalog.interventions import DOSE_HARD_LIMIT_FACTOR, interventions
from hostcap.catalog.medications import MEDICATION_HARD_LIMIT_FACTOR, medications

__all__ = ["catalog_markdown", "main"]


_SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _range(low: float | None, high: float | None) -> str | None:
    if low is None and high is None:
        return None
    if low is None:
        return f"≤ {high:.10g}"
    if high is None:
        return f"≥ {low:.10g}"
    return f"{low:.10g}–{high:.10g}"


def catalog_markdown() -> str:
    """The Markdown text of ``docs/catalog.md``."""
    out = [
        "# Catalog",
        "",
        "Generated from `src/hostcap/catalog/data/*.yaml` by `python -m hostcap.catalog.docs`; "
        "do not edit by hand. Units are UCUM. Each citation key has a section in "
        "[evidence.md](evidence.md) (`evidence.md#KEY`): the full reference, whether it was "
        "verified, and every entry that cites it.",
        "",
        "## Analytes",
        "",
        "Hard limits reject a value; outside the usual range a value is stored with a warning. "
        "Reference intervals are defaults for display: the store keeps each laboratory's own "
        "interval per result. LOINC codes marked *unverified* came from laboratory tables or "
        "memory; research analytes use the local code system `urn:hostcap:local`.",
        "",
    ]
    out += _analyte_section()
    out += _medication_section()
    out += _instrument_section()
    out += _intervention_section()
    return "\n".join(out) + "\n"


def _analyte_section() -> list[str]:
    """The analytes' table and caveats."""
    out: list[str] = []
    out += _table(
        [
            "id",
            "name",
            "code",
            "unit",
            "also accepted",
            "hard limits",
            "usual range",
            "reference",
            "CVi / CVa / RCV %",
            "research only",
            "citation",
        ],
        (
            (
                a.id,
                a.name,
                f"{a.code}" + ("" if a.loinc is None or a.loinc_verified else " (unverified)"),
                a.canonical_unit,
                ", ".join(u for u in a.accepted_units if u != a.canonical_unit) or None,
                f"{a.hard_min:.10g}–{a.hard_max:.10g}",
                f"{a.soft_min:.10g}–{a.soft_max:.10g}",
                _range(a.reference_low, a.reference_high),
                " / ".join(
                    "—" if v is None else f"{v:.10g}"
                    for v in (a.within_subject_cv_pct, a.analytical_cv_pct, a.rcv_pct)
                ),
                a.research_only,
                ", ".join(a.citation_keys()),
            )
            for a in analytes().values()
        ),
    )
    out += ["", "Caveats:", ""]
    out += [f"- **{a.id}**: {a.caveat}" for a in analytes().values() if a.caveat]
    return out


def _medication_section() -> list[str]:
    """The medications' heading, note and table."""
    out: list[str] = []
    out += [
        "",
        "## Medications",
        "",
        "Load = daily dose ÷ WHO defined daily dose (DDD), summed per class: a transparent, "
        "non-validated derived measure. hostcap records medications; it never suggests starting "
        "or stopping one. The store asks for `--confirm-unusual` above the documented maximum "
        "daily dose (soft limit) and refuses more than "
        f"{MEDICATION_HARD_LIMIT_FACTOR:g} times it (hard limit).",
        "",
    ]
    out += _table(
        [
            "id",
            "name",
            "ATC",
            "class",
            "DDD",
            "DDD verified",
            "prescription only",
            "max daily dose (source)",
        ],
        (
            (
                m.id,
                m.name,
                m.atc,
                str(m.drug_class),
                f"{m.ddd:.10g} {m.ddd_unit}",
                m.ddd_verified,
                "varies by country" if m.prescription_only is None else m.prescription_only,
                f"{m.max_daily_dose:.10g} {m.ddd_unit} ({m.max_daily_dose_citation}: "
                f"{m.max_daily_dose_note})",
            )
            for m in medications().values()
        ),
    )
    return out


def _instrument_section() -> list[str]:
    """The instruments' heading and table."""
    out: list[str] = []
    out += ["", "## Instruments", "", "Scoring definitions only; no copyrighted item text.", ""]
    out += _table(
        ["id", "name", "items", "score", "cut-offs", "MCID", "validated in", "licence"],
        (
            (
                i.id,
                i.name,
                i.n_items,
                "heart-rate rise, bpm"
                if i.method == "active_stand"
                else f"{i.score_basis}, {i.total_range[0]:.10g}–{i.total_range[1]:.10g}"
                if i.score_basis == "total"
                else f"item mean (total {i.total_range[0]:.10g}–{i.total_range[1]:.10g})",
                "; ".join(
                    f"{_SIGNS[c.direction]}{c.threshold:.10g} {c.meaning}"
                    + (f" ({c.condition})" if c.condition else "")
                    for c in i.cutoffs
                )
                or None,
                i.mcid,
                i.validated_population,
                i.licence_note,
            )
            for i in instruments().values()
        ),
    )
    return out


def _intervention_section() -> list[str]:
    """The interventions' heading, grade legend and table."""
    out: list[str] = []
    out += [
        "",
        "## Interventions",
        "",
        "Evidence grade: E established in humans, A animals/cells, P plausible, S speculative. "
        'Prescription decisions are recorded, never suggested ("discuss with the prescriber"). '
        "Doses above the typical range need `--confirm-unusual` in the store; doses above "
        f"{DOSE_HARD_LIMIT_FACTOR:g} times its top are refused by the store and the model.",
        "",
    ]
    out += _table(
        ["id", "kind", "dose unit", "typical range", "model input", "prescription", "grade"],
        (
            (
                v.id,
                str(v.kind),
                v.dose_unit,
                f"{v.typical_min:g}–{v.typical_max:g}",
                v.model_input,
                v.prescription,
                v.evidence_grade,
            )
            for v in interventions().values()
        ),
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write the catalog page to ``argv[0]`` (default ``docs/catalog.md``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0] if args else "docs/catalog.md")
    target.write_text(catalog_markdown(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
