"""The public API the other packages code against, and the generated catalog page."""

from __future__ import annotations

from pathlib import Path

import hostcap.catalog as catalog
from hostcap.catalog.docs import catalog_markdown, main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"

AGREED = {
    "Analyte",
    "Medication",
    "DrugClass",
    "Instrument",
    "InstrumentScore",
    "Intervention",
    "analytes",
    "get_analyte",
    "medications",
    "get_medication",
    "instruments",
    "get_instrument",
    "interventions",
    "get_intervention",
    "convert_unit",
    "to_canonical",
    "check_plausibility",
    "normalise_unit",
    "score_instrument",
    "antihistamine_load",
    "canonical_factor",
    "beighton_cutoff",
}


def test_all_is_sorted_and_holds_the_agreed_names() -> None:
    assert catalog.__all__ == sorted(catalog.__all__)
    assert set(catalog.__all__) >= AGREED
    for name in catalog.__all__:
        assert hasattr(catalog, name), name


def test_loaders_are_cached() -> None:
    assert catalog.analytes() is catalog.analytes()
    assert catalog.instruments() is catalog.instruments()


def test_the_catalog_page_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == catalog_markdown(), (
        "docs/catalog.md is stale: run `python -m hostcap.catalog.docs`"
    )


def test_the_page_generator_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "catalog.md"
    assert main([str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text == catalog_markdown()
    for word in ("tryptase", "cetirizine", "compass31", "nicotinamide_riboside", "NON-VALIDATED"):
        assert word in text
