"""``docs/examples/`` (``make docs``) is current: the example case report rebuilds byte for byte."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from hostcap.services.publishing import write_example_case_report

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_example_case_report_is_current_and_every_page_is_rendered(tmp_path: Path) -> None:
    files = write_example_case_report(tmp_path)
    for name in ("case-report.pdf", "case-report.html", "care-checklist.csv"):
        assert _sha(files[name]) == _sha(EXAMPLES / name), f"{name}: run `make docs`"
    info = subprocess.run(
        ["pdfinfo", str(EXAMPLES / "case-report.pdf")], capture_output=True, text=True, check=True
    ).stdout
    pages = int(next(line for line in info.splitlines() if line.startswith("Pages:")).split()[1])
    rendered = sorted(EXAMPLES.glob("case-report-page-*.png"))
    assert len(rendered) == pages, "page images out of date: run `make docs`"
