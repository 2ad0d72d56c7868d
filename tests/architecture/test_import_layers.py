"""Imports point the way ARCHITECTURE.md draws them, whichever way a module imports another."""

from __future__ import annotations

import pkgutil

import pytest
from tests.architecture.import_rules import SRC, imported_modules, source_violations, violations

PACKAGES = sorted(m.name for m in pkgutil.iter_modules([str(SRC)]) if m.name != "data")

#: Imports that break the rules today, each with the change that removes it. The test below
#: fails when one of them is gone, so that this list only shrinks.
KNOWN_EXCEPTIONS: dict[str, str] = {
    "hostcap.clinical_store.record_kinds: from import of "
    "hostcap.clinical_decisions.finding_contract": (
        "findings are checked, when written, against the assessment-input contract that the "
        "decision model owns (one contract, not a copy in the store)"
    ),
    "hostcap.generated_docs: string import of <computed>": (
        "the generated-docs registry names its writers as strings"
    ),
}


def _key(violation: str) -> str:
    return violation.rsplit(" (line ", 1)[0]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_its_layer_may(package: str) -> None:
    offenders = [v for v in source_violations(package) if _key(v) not in KNOWN_EXCEPTIONS]
    assert offenders == []


def test_every_known_exception_still_exists_so_the_list_only_shrinks() -> None:
    found = {_key(v) for package in PACKAGES for v in source_violations(package)}
    assert sorted(set(KNOWN_EXCEPTIONS) - found) == []


@pytest.mark.parametrize(
    ("trick", "source"),
    [
        ("import", "import hostcap.services.store\n"),
        ("from a package", "from hostcap.services.store import open_store\n"),
        ("from the root", "from hostcap import services\n"),
        ("relative", "from ..services import store\n"),
        ("string", 'import importlib\nm = importlib.import_module("hostcap.services")\n'),
        ("string, bare", 'from importlib import import_module\nimport_module("hostcap.cli")\n'),
        ("dunder", '__import__("hostcap.clinical_store")\n'),
        ("lazy module", 'from x import LazyModule\nstore = LazyModule("hostcap.clinical_store")\n'),
        ("inside a function", "def f():\n    from hostcap.services import store\n"),
        ("type checking", "if TYPE_CHECKING:\n    from hostcap import services\n"),
    ],
)
def test_the_checker_catches_each_way_the_core_could_reach_a_service(
    trick: str, source: str
) -> None:
    found = violations("hostcap.outcome_analytics.example", source)
    assert found, trick
    assert all(" of hostcap." in f for f in found), (trick, found)


def test_a_computed_string_import_is_flagged_outside_the_cli() -> None:
    source = 'import importlib\nname = "hostcap." + "x"\nimportlib.import_module(name)\n'
    assert violations("hostcap.catalog.example", source) == [
        "hostcap.catalog.example: string import of <computed> (line 3)"
    ]
    assert violations("hostcap.cli.example", source) == []


def test_faces_import_only_services_and_the_ground_floor() -> None:
    allowed = (
        "from hostcap import __version__\n"
        "from hostcap.errors import HostcapError\n"
        "from hostcap.settings import SETTINGS\n"
        "from hostcap.output_files import write_text\n"
        "from hostcap.cli.main import app\n"
        "from hostcap.services import store\n"
        'analytics = LazyModule("hostcap.services.analytics")\n'
    )
    assert violations("hostcap.cli.example", allowed) == []
    for source in (
        "from hostcap.clinical_store import Store\n",
        "from hostcap import mechanistic_model\n",
        'model = LazyModule("hostcap.mechanistic_model")\n',
        "import hostcap.outcome_analytics\n",
    ):
        assert len(violations("hostcap.cli.example", source)) == 1, source
        assert len(violations("hostcap.web.example", source)) == 1, source


def test_reports_render_results_without_reaching_stores_services_or_faces() -> None:
    assert violations("hostcap.reports.example", "from hostcap.outcome_analytics import X\n") == []
    for package in ("services", "cli", "clinical_store", "synthetic"):
        source = f"from hostcap.{package} import x\n"
        assert len(violations("hostcap.reports.example", source)) == 1, package


def test_interop_mappings_reach_only_the_catalog_never_the_store_services_or_faces() -> None:
    assert violations("hostcap.interop.example", "from hostcap.catalog import x\n") == []
    for package in ("services", "cli", "clinical_store", "reports", "web"):
        source = f"from hostcap.{package} import x\n"
        assert len(violations("hostcap.interop.example", source)) == 1, package


def test_synthetic_cohorts_never_reach_the_store() -> None:
    found = violations("hostcap.synthetic.example", "from hostcap import clinical_store\n")
    assert found == ["hostcap.synthetic.example: from import of hostcap.clinical_store (line 1)"]


def test_relative_imports_resolve_against_the_module_and_its_package() -> None:
    names = [i.name for i in imported_modules("from . import a\n", "hostcap.reports.x")]
    assert names == ["hostcap.reports", "hostcap.reports.a"]
    in_init = imported_modules("from .b import c\n", "hostcap.reports", is_package=True)
    assert next(i.name for i in in_init) == "hostcap.reports.b"
