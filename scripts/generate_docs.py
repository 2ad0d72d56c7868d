"""Regenerate every generated document under docs/ (``make docs``)."""

from __future__ import annotations

import importlib
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"

# (module, function, file): each function returns the Markdown text of its document.
GENERATED = [
    ("hostcap.clinical_store.formats_doc", "import_formats_markdown", "import-formats.md"),
    ("hostcap.settings", "settings_markdown", "settings.md"),
    ("hostcap.cli.reference_doc", "cli_reference_markdown", "cli.md"),
]


def main() -> None:
    for module, function, name in GENERATED:
        text = getattr(importlib.import_module(module), function)()
        (DOCS / name).write_text(text)
        print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
