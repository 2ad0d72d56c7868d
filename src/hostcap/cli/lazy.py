"""Modules the command line imports when a command first uses them, not when it starts.

Every command module is imported to build the command tree, so an import at the top of one is
paid by every invocation: the model and analytics stacks (numba, sympy, scipy, statsmodels,
scikit-learn, matplotlib, libsbml) took ``hostcap --help`` and every store command to about
6 s. Command modules bind service modules through :class:`LazyModule` at run time and through a
real import under ``TYPE_CHECKING``, so the type checker sees the module itself.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

__all__ = ["LazyModule"]


class LazyModule:
    """Stands for the module ``name``; imports it on the first attribute read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    def _load(self) -> ModuleType:
        with self._lock:
            if self._module is None:
                self._module = importlib.import_module(self._name)
            return self._module

    def __getattr__(self, attr: str) -> Any:
        # Only called for names the proxy itself lacks, i.e. the module's names.
        module = self._module if self._module is not None else self._load()
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name!r} ({state})>"
