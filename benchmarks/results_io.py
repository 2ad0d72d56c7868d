"""Writing benchmark results: one JSON and one Markdown file per benchmark, with the machine."""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path
from typing import Any

from hostcap import __version__

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "hostcap": __version__,
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_result(name: str, payload: dict[str, Any], markdown: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **payload}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    path = RESULTS / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n")
    return path
