"""Run every benchmark (``make bench``); each writes its own results file."""

from __future__ import annotations

import importlib

BENCHMARKS = ["benchmarks.model_scale", "benchmarks.store_import"]


def main() -> None:
    for name in BENCHMARKS:
        print(f"== {name}")
        importlib.import_module(name).main([])


if __name__ == "__main__":
    main()
