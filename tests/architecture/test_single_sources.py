"""Facts kept in more than one form for a reason stay in step (tests, not conventions).

The CLI's variant choice is an enum so that Typer can list it without importing the model
(start-up time); the model's names come from ``variants.yaml``. Both must name the same variants.
"""

from __future__ import annotations

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


def test_cli_record_choices_are_the_record_kinds_declared_choices() -> None:
    from hostcap.cli.store_commands import ImportKind, LabContext, Sex, VisitKind
    from hostcap.clinical_store.record_kinds import KINDS

    def declared(kind: str, column: str) -> tuple[str, ...]:
        spec = next(c for c in KINDS[kind].columns if c.name == column)
        return tuple(spec.choices or ())

    assert tuple(s.value for s in Sex) == declared("clients", "sex")
    assert tuple(c.value for c in LabContext) == declared("labs", "context")
    assert tuple(v.value for v in VisitKind) == declared("visits", "visit_kind")
    assert {k.value for k in ImportKind} == set(KINDS)
