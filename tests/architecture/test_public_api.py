"""Package boundaries: sorted public APIs, and a pure core that never touches storage or faces."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import hostcap

SRC = Path(hostcap.__file__).resolve().parent
PACKAGES = sorted(
    m.name for m in pkgutil.iter_modules([str(SRC)]) if m.ispkg and m.name not in {"data"}
)
PURE_CORE = [
    "mechanistic_model",
    "clinical_decisions",
    "outcome_analytics",
    "catalog",
    "model_validation",
]
FORBIDDEN_FOR_CORE = ("hostcap.clinical_store", "hostcap.services", "hostcap.cli", "hostcap.web")


def _isort_style_key(name: str) -> tuple[int, list[int | str]]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then the rest,
    each in natural order (digits compared as numbers)."""
    if name.isupper() and len(name) > 1:
        group = 0
    elif name[:1].isupper():
        group = 1
    else:
        group = 2
    parts = [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]
    return group, parts


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_declares_a_sorted_public_api_that_exists(package: str) -> None:
    module = importlib.import_module(f"hostcap.{package}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"hostcap.{package} has no __all__"
    assert len(set(exported)) == len(exported), f"hostcap.{package}.__all__ repeats a name"
    assert list(exported) == sorted(exported, key=_isort_style_key), (
        f"hostcap.{package}.__all__ is not in ruff's RUF022 order"
    )
    for name in exported:
        assert hasattr(module, name), f"hostcap.{package}.__all__ names missing {name!r}"


def _forbidden_imports(source: str) -> list[str]:
    """Modules imported anywhere in ``source`` (also inside functions) that the core may not use."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [
            n for n in names if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_FOR_CORE)
        ]
    return found


def test_the_boundary_check_flags_storage_imports_even_inside_functions() -> None:
    source = (
        "import hostcap.clinical_decisions\n"
        "from hostcap.catalog import get_analyte\n"
        "def f():\n"
        "    from hostcap.services.store import open_store\n"
        "    import hostcap.cli\n"
    )
    assert _forbidden_imports(source) == ["hostcap.services.store", "hostcap.cli"]


@pytest.mark.parametrize("package", [p for p in PURE_CORE if (SRC / p).is_dir()])
def test_the_pure_core_never_imports_storage_services_or_faces(package: str) -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in _forbidden_imports(path.read_text())
    ]
    assert offenders == []
