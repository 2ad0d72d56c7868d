"""Regenerate every generated document under docs/ (``make docs``)."""

from __future__ import annotations

from pathlib import Path

from hostcap.generated_docs import GENERATED_DOCS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    for doc in GENERATED_DOCS:
        (DOCS / doc.filename).write_text(doc.render())
        print(f"wrote docs/{doc.filename}")


if __name__ == "__main__":
    main()
