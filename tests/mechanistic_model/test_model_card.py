"""The model card lists everything the definition holds, and the checked-in copy is current."""

from __future__ import annotations

from pathlib import Path

from hostcap.mechanistic_model import VARIANTS, load_definition, model_card_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_card_lists_every_state_parameter_edge_and_variant() -> None:
    card = model_card_markdown()
    assert card.startswith("# Model card")
    assert "HYPOTHESIS" in card[:600]
    for variant in VARIANTS:
        d = load_definition(variant)
        assert f"### `{variant}`" in card
        for s in d.states:
            assert f"| `{s.id}` | {s.unit} |" in card
        for p in d.parameters:
            assert f"| `{p.id}`" in card and p.source in card
        for e in d.edges:
            assert f"| `{e.id}` | `{e.source}` | `{e.target}` | {e.sign} | {e.grade} |" in card
    assert "## References" in card


def test_checked_in_causal_diagram_is_small() -> None:
    # The card's text is checked to be current with every generated doc (tests/docs).
    # 1.2.0 adds two nodes (the metabolite-acting H1 drug and its level): ~203 KB.
    assert (DOCS / "model-causal-diagram.png").stat().st_size < 250_000
