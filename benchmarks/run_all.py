"""Run every benchmark (``make bench``); each writes its own results file."""

from __future__ import annotations

import importlib

BENCHMARKS = [
    "benchmarks.store_import",
    "benchmarks.model_scale",
    "benchmarks.analysis_scale",
    "benchmarks.analysis_calibration",
    "benchmarks.variant_ranking",
    "benchmarks.web_load",
]


def main() -> None:
    for name in BENCHMARKS:
        print(f"== {name}")
        importlib.import_module(name).main([])


if __name__ == "__main__":
    main()
