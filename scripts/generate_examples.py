"""Regenerate docs/examples/ (``make docs``): a synthetic client's case report, its pages as PNG.

Needs poppler-utils (``pdftoppm``) for the page images.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from hostcap.services.publishing import write_example_case_report

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def main() -> None:
    files = write_example_case_report(EXAMPLES)
    pdf = files["case-report.pdf"]
    for old in EXAMPLES.glob("case-report-page-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", str(pdf), str(EXAMPLES / "case-report-page")], check=True
    )
    for name in sorted(files):
        print(f"wrote docs/examples/{name}")
    for page in sorted(EXAMPLES.glob("case-report-page-*.png")):
        print(f"wrote docs/examples/{page.name}")


if __name__ == "__main__":
    main()
