"""Facts kept in more than one form for a reason stay in step (tests, not conventions).

The CLI's variant choice is an enum so that Typer can list it without importing the model
(start-up time); the model's names come from ``variants.yaml``. Both must name the same variants.
"""

from __future__ import annotations

from typing import Any

from hostcap.cli.model_commands import Variant
from hostcap.mechanistic_model import VARIANTS, SolverStatus, variant_specs


def test_cli_variant_choices_are_the_models_variants_in_the_same_order() -> None:
    assert tuple(v.value for v in Variant) == VARIANTS
    assert tuple(variant_specs()) == VARIANTS


def test_one_status_enum_serves_single_runs_and_batch_members() -> None:
    assert [s.value for s in SolverStatus] == [
        "success",
        "max_steps",
        "failure",
        "no_steady_state",
    ]
    for status in SolverStatus:
        assert status.message(), status
    for status in (SolverStatus.MAX_STEPS, SolverStatus.FAILURE, SolverStatus.NO_STEADY_STATE):
        assert any(word in status.message() for word in ("raise", "check", "try")), status


def test_hostcap_reads_its_environment_only_through_declared_settings() -> None:
    import re
    from pathlib import Path

    import hostcap

    root = Path(hostcap.__file__).parent
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "settings.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"environ(\.get)?[\[(]\s*[\"']HOSTCAP_", line)
        or re.search(r"getenv\(\s*[\"']HOSTCAP_", line)
    ]
    assert offenders == [], offenders


def test_cli_add_commands_offer_every_declared_field_with_its_choices() -> None:
    import typer.main

    from hostcap.cli.main import app
    from hostcap.cli.store_commands import ImportKind, Sex
    from hostcap.record_fields import DECLARATIONS, ColumnType

    root: Any = typer.main.get_command(app)
    context = root.make_context("hostcap", [], resilient_parsing=True)
    for declaration in DECLARATIONS.values():
        if not declaration.needs_client:
            continue
        group = root.get_command(context, declaration.command)
        assert group is not None, declaration.command
        add = group.get_command(context, "add")
        assert add is not None, declaration.command
        options = {opt: p for p in add.params for opt in p.opts}
        for col in declaration.fields:
            assert col.cli_option in options, (declaration.name, col.name)
            param = options[col.cli_option]
            assert param.required == (col.required and col.type != ColumnType.BOOL), col.name
            if col.type == ColumnType.CHOICE:
                offered = param.type_descriptor.choices
                assert tuple(str(c) for c in offered) == col.choices, col.name
    assert tuple(str(s) for s in Sex) == DECLARATIONS["clients"].column("sex").choices
    assert {k.value for k in ImportKind} == set(DECLARATIONS)
