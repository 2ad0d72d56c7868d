"""Which way imports may point (docs: ARCHITECTURE.md), as data and one checker.

Every way a module can reach another counts: ``import a.b``, ``from a import b`` (also
``from hostcap import services`` and relative imports), a string import
(``importlib.import_module("…")``, ``__import__("…")``) and the CLI's lazy-module helper
(``LazyModule("…")``); imports inside functions and ``TYPE_CHECKING`` blocks count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hostcap

SRC = Path(hostcap.__file__).resolve().parent

#: The ground floor every layer may use (``record_fields``: the record-kind declarations, facts
#: that the store, the faces and the exchange formats all read; it imports no hostcap module).
GROUND_FLOOR = (
    "hostcap.errors",
    "hostcap.settings",
    "hostcap.output_files",
    "hostcap.citations",
    "hostcap.record_fields",
)
PURE_CORE = (
    "mechanistic_model",
    "clinical_decisions",
    "outcome_analytics",
    "catalog",
    "model_validation",
)
#: Packages a layer must never reach.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        PURE_CORE,
        (
            "hostcap.clinical_store",
            "hostcap.services",
            "hostcap.cli",
            "hostcap.web",
            "hostcap.reports",
            "hostcap.synthetic",
        ),
    ),
    "synthetic": (
        "hostcap.clinical_store",
        "hostcap.services",
        "hostcap.cli",
        "hostcap.web",
        "hostcap.reports",
    ),
    # The store knows tables and records, not rules, models or analyses.
    "clinical_store": (
        "hostcap.services",
        "hostcap.cli",
        "hostcap.web",
        "hostcap.reports",
        "hostcap.synthetic",
        "hostcap.mechanistic_model",
        "hostcap.clinical_decisions",
        "hostcap.outcome_analytics",
    ),
}
#: Layers that may import only the packages listed (and themselves).
ALLOWED_ONLY: dict[str, tuple[str, ...]] = {
    "reports": (
        "hostcap.reports",
        "hostcap.outcome_analytics",
        "hostcap.mechanistic_model",
        "hostcap.clinical_decisions",
        "hostcap.catalog",
        *GROUND_FLOOR,
    ),
    # Interop maps records to FHIR and REDCap: pure, catalog codes only (no store, no files).
    "interop": ("hostcap.interop", "hostcap.catalog", *GROUND_FLOOR),
    # Faces: services and the ground floor; ``hostcap.__version__`` from the package root.
    "cli": ("hostcap.cli", "hostcap.services", "hostcap.__version__", *GROUND_FLOOR),
    "web": ("hostcap.web", "hostcap.services", "hostcap.__version__", *GROUND_FLOOR),
}
#: Where a string import of a hostcap module (or a computed one) is allowed: the CLI's lazy
#: loading of its own command modules and of the services, for start-up time.
STRING_IMPORTS_ALLOWED = ("hostcap.cli",)


@dataclass(frozen=True)
class Imported:
    """One module reached from a source file, and how."""

    name: str  # dotted module name; "<computed>" when a string import's name is not literal
    how: str  # "import", "from", "string" or "lazy"
    line: int


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _string_argument(call: ast.Call) -> str | None:
    """The literal (or the literal prefix of an f-string) of a call's first argument."""
    if not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        head = arg.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value.rstrip(".") or "<computed>"
    return "<computed>"


def imported_modules(
    source: str, module: str = "", *, is_package: bool = False
) -> Iterator[Imported]:
    """Every module ``source`` (the module ``module``) reaches, by any of the four ways."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(alias.name, "import", node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node, is_package)
            yield Imported(base, "from", node.lineno)
            for alias in node.names:
                # ``from hostcap import services`` and ``from . import store`` name modules.
                if base == "hostcap" or node.level:
                    yield Imported(f"{base}.{alias.name}", "from", node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__"):
                name = _string_argument(node)
                if name is not None:
                    yield Imported(name, "string", node.lineno)
            elif called == "LazyModule":
                name = _string_argument(node)
                if name is not None:
                    yield Imported(name, "lazy", node.lineno)


def layer_of(module: str) -> str:
    """``hostcap.services.store`` → ``services``; a top-level module is its own layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _may_import(layer: str, name: str) -> bool:
    if layer in FORBIDDEN and _within(name, FORBIDDEN[layer]):
        return False
    return layer not in ALLOWED_ONLY or _within(name, ALLOWED_ONLY[layer])


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """Every import in ``source`` that the rules forbid for ``module``'s layer."""
    layer = layer_of(module)
    found: list[str] = []
    for item in imported_modules(source, module, is_package=is_package):
        dynamic = item.name == "<computed>" or (
            item.how in ("string", "lazy") and item.name.startswith("hostcap")
        )
        hidden = dynamic and not _within(module, STRING_IMPORTS_ALLOWED)
        layered = item.name.startswith("hostcap.") and not _may_import(layer, item.name)
        if hidden or layered:
            found.append(f"{module}: {item.how} import of {item.name} (line {item.line})")
    return found


def module_name(path: Path) -> str:
    relative = path.relative_to(SRC.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_violations(package: str) -> list[str]:
    """Violations in every module of ``hostcap.<package>`` (or the module ``<package>.py``)."""
    paths = (
        sorted((SRC / package).rglob("*.py"))
        if (SRC / package).is_dir()
        else [SRC / f"{package}.py"]
    )
    return [
        v
        for path in paths
        for v in violations(
            module_name(path), path.read_text(), is_package=path.name == "__init__.py"
        )
    ]
