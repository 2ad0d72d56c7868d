"""Package boundaries: sorted public APIs, and a pure core that never touches storage or faces."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import hostcap

SRC = Path(hostcap.__file__).resolve().parent
PACKAGES = sorted(
    m.name for m in pkgutil.iter_modules([str(SRC)]) if m.ispkg and m.name not in {"data"}
)
PURE_CORE = ["mechanistic_model", "clinical_decisions", "outcome_analytics", "catalog"]
FORBIDDEN_FOR_CORE = ("hostcap.clinical_store", "hostcap.services", "hostcap.cli", "hostcap.web")


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_declares_a_sorted_public_api_that_exists(package: str) -> None:
    module = importlib.import_module(f"hostcap.{package}")
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"hostcap.{package} has no __all__"
    assert list(exported) == sorted(exported), f"hostcap.{package}.__all__ is not sorted"
    for name in exported:
        assert hasattr(module, name), f"hostcap.{package}.__all__ names missing {name!r}"


@pytest.mark.parametrize("package", [p for p in PURE_CORE if (SRC / p).is_dir()])
def test_the_pure_core_never_imports_storage_services_or_faces(package: str) -> None:
    offenders = []
    for path in (SRC / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(SRC)} imports {n}"
                for n in names
                if n.startswith(FORBIDDEN_FOR_CORE)
            ]
    assert offenders == []
