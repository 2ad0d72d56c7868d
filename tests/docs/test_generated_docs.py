"""Generated documentation is current: regenerate with `make docs` when a test here fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostcap.generated_docs import GENERATED_DOCS, GeneratedDoc
from hostcap.settings import SETTINGS, settings_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("doc", GENERATED_DOCS, ids=lambda d: d.filename)
def test_every_generated_doc_is_current(doc: GeneratedDoc) -> None:
    assert (DOCS / doc.filename).read_text() == doc.render(), f"run `make docs` ({doc.filename})"


def test_settings_doc_lists_every_setting() -> None:
    text = (DOCS / "settings.md").read_text()
    assert text == settings_markdown()
    for s in SETTINGS:
        assert s.env in text
