"""Modules and functions stay small enough to read: a newcomer changes one thing in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture.import_rules import SRC

MAX_MODULE_LINES = 700
MAX_FUNCTION_LINES = 120


def _python_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_no_module_is_over_700_lines() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in _python_files()
        if (n := p.read_text(encoding="utf-8").count("\n")) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_120_lines() -> None:
    long = {}
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(SRC)}:{node.name}"] = length
    assert long == {}
