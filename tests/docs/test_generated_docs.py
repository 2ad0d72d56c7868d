"""Generated documentation is current: regenerate with `make docs` when a test here fails."""

from __future__ import annotations

from pathlib import Path

from hostcap.cli.reference_doc import cli_reference_markdown
from hostcap.clinical_store.formats_doc import import_formats_markdown
from hostcap.settings import SETTINGS, settings_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_import_formats_doc_matches_the_declared_columns() -> None:
    assert (DOCS / "import-formats.md").read_text() == import_formats_markdown()


def test_settings_doc_lists_every_setting() -> None:
    text = (DOCS / "settings.md").read_text()
    assert text == settings_markdown()
    for s in SETTINGS:
        assert s.env in text


def test_cli_reference_documents_every_command_and_option() -> None:
    assert (DOCS / "cli.md").read_text() == cli_reference_markdown()
