"""The evidence base ships with hostcap: docs/evidence.md is current, complete and linked to.

Regenerate with `make docs` when the page is stale. The test that no shipped file names the
project's design documents allows nothing: a user of hostcap has none of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hostcap.citations import all_citations
from hostcap.clinical_decisions import load_rulebook
from hostcap.evidence_docs import (
    ASSUMED,
    citation_uses,
    evidence_markdown,
    format_parameter,
    format_thresholds,
)
from hostcap.generated_docs import GENERATED_DOCS

ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = ROOT / "docs" / "evidence.md"
#: What ships: the package source and data, the docs folder and the README.
SHIPPED = (ROOT / "src", ROOT / "docs", ROOT / "README.md")
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".md", ".txt", ".toml", ".ini", ".csv", ".html"}
#: The project's design documents (not shipped; a user of hostcap does not have them).
DESIGN_DOCUMENTS = (
    "EVIDENCE.md",
    "DOMAIN.md",
    "ECOSYSTEM.md",
    "ARCHITECTURE.md",
    "ANCHORS.md",
    "STYLE.md",
    "WEB-AND-PUBLISHING.md",
)
EVIDENCE_LINK = re.compile(r"evidence\.md#([A-Za-z0-9_.-]+)")
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')


def _shipped_text_files() -> list[Path]:
    files: list[Path] = []
    for root in SHIPPED:
        candidates = [root] if root.is_file() else sorted(root.rglob("*"))
        files += [
            p
            for p in candidates
            if p.is_file()
            and p.suffix in TEXT_SUFFIXES
            and not any(part == "__pycache__" or part.endswith(".egg-info") for part in p.parts)
        ]
    return files


def _code_free(text: str) -> str:
    """``text`` without inline code spans (ids and field names may contain ``_``)."""
    return re.sub(r"`[^`]*`", "", text)


def test_no_shipped_file_names_a_design_document() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}"
        for path in _shipped_text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(name in line for name in DESIGN_DOCUMENTS)
    ]
    assert offenders == [], (
        "point at docs/evidence.md#KEY (or name the reference) instead:\n" + "\n".join(offenders)
    )


def test_the_evidence_doc_is_generated_and_current() -> None:
    assert "evidence.md" in {d.filename for d in GENERATED_DOCS}
    assert EVIDENCE.read_text(encoding="utf-8") == evidence_markdown(), "run `make docs`"


def test_every_evidence_link_in_a_shipped_file_has_its_anchor() -> None:
    anchors = set(ANCHOR.findall(EVIDENCE.read_text(encoding="utf-8")))
    missing = [
        f"{path.relative_to(ROOT)}: evidence.md#{target}"
        for path in _shipped_text_files()
        for target in EVIDENCE_LINK.findall(path.read_text(encoding="utf-8"))
        if target not in anchors and target != "KEY"  # KEY: the pattern, named in prose
    ]
    assert missing == [], "\n".join(missing)


def test_every_cited_key_is_in_the_registry() -> None:
    unknown = {
        key: [f"{u.part}: {u.item}" for u in uses]
        for key, uses in citation_uses().items()
        if key not in all_citations() and key != ASSUMED
    }
    assert unknown == {}


def test_every_registry_key_has_a_section_and_unused_keys_are_background() -> None:
    text = evidence_markdown()
    anchors = ANCHOR.findall(text)
    registry = all_citations()
    assert set(registry) <= set(anchors)
    assert len(anchors) == len(set(anchors)), "an anchor appears twice"
    background = text.split('<a id="background-references"></a>', 1)[1]
    used = citation_uses()
    for key in registry:
        assert (f'<a id="{key}"></a>' in background) == (key not in used), key


def test_each_reference_lists_the_rules_that_cite_it() -> None:
    text = evidence_markdown()
    for rule in load_rulebook().rules:
        section = text.split(f'<a id="{rule.citation}"></a>', 1)[1].split("### ", 1)[0]
        assert f"`{rule.id}`" in section, (rule.id, rule.citation)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("haemoglobin_below_g_dl", 10, "haemoglobin < 10 g/dL"),
        ("platelets_below_10e9_l", 100, "platelets < 100 × 10⁹/L"),
        ("who_tryptase_at_least_ng_ml", 200, "WHO tryptase ≥ 200 ng/mL"),
        ("fall_fraction_above", 0.3, "fall > 30 %"),
        ("min_total_rise_fraction", 0.235, "total rise ≥ 23.5 %"),
        ("baseline_min_hours_after_resolution", 24, "baseline ≥ 24 h after resolution"),
        ("acute_window_hours", [1.0, 4.0], "acute window: 1–4 h"),
        ("criteria", "who_2022_sm,icc_2022_sm", "criteria: `who_2022_sm`, `icc_2022_sm`"),
        ("genotyping_requires_symptoms", True, "genotyping requires symptoms: yes"),
    ],
)
def test_a_rule_parameter_reads_with_its_sign_and_unit(
    name: str, value: object, expected: str
) -> None:
    assert format_parameter(name, value) == expected


def test_scores_and_compound_thresholds_read_as_published() -> None:
    assert format_thresholds({"rise_factor": 1.2, "rise_addend_ng_ml": 2.0}) == (
        "acute tryptase > 1.2 × baseline + 2 ng/mL"
    )
    nicas = {
        "male": 1,
        "tryptase_threshold_ng_ml": 11.4,
        "tryptase_below_points": -1,
        "tryptase_at_least_points": 1,
        "cut_off": 2,
    }
    assert format_thresholds(nicas) == (
        "male +1; tryptase < 11.4 ng/mL −1; tryptase ≥ 11.4 ng/mL +1; score ≥ 2"
    )
    child = {"child_systolic_base_mmhg": 70, "child_systolic_per_year_mmhg": 2}
    assert format_thresholds(child) == "child systolic limit: 70 + 2 × age in years mmHg"


def test_every_rule_threshold_reads_without_python_syntax() -> None:
    for rule in load_rulebook().rules:
        params = getattr(rule, "params", None)
        if not params:
            continue
        shown = _code_free(format_thresholds(params))
        assert not re.search(r"[{}\[\]'_]|True|False|None", shown), (rule.id, shown)


def test_the_evidence_doc_shows_no_python_reprs() -> None:
    text = _code_free(EVIDENCE.read_text(encoding="utf-8"))
    assert not re.search(r"\{'|\['|': |\bNone\b", text)
