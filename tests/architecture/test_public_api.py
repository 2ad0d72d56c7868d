"""Each package declares a sorted public API (import directions: test_import_layers.py)."""

from __future__ import annotations

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
