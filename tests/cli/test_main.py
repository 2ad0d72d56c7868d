"""The CLI root: exit codes reach the shell whichever way a command ends."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer

from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app, main


@pytest.fixture
def exiting_command() -> Iterator[None]:
    @app.command("test-exit-3", hidden=True)
    def _exit_three() -> None:
        raise typer.Exit(3)

    try:
        yield
    finally:
        app.registered_commands.pop()


def test_a_command_ending_with_typer_exit_returns_its_code(exiting_command: None) -> None:
    assert main(["test-exit-3"]) == 3


def test_version_exits_zero_and_an_unknown_command_does_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--version"]) == 0
    assert main(["no-such-command"]) != 0


def test_starting_the_cli_leaves_the_model_store_and_analytics_stacks_unimported() -> None:
    # Every command module is imported to build the command tree; what they need is imported
    # when a command runs (hostcap.cli.lazy), so `hostcap --help` starts in a fraction of a second.
    heavy = ("numpy", "pandas", "scipy", "sympy", "numba", "sqlalchemy", "alembic", "libsbml")
    heavy += ("statsmodels", "sklearn", "matplotlib", "hostcap.services.store")
    code = (
        f"import sys, hostcap.cli.main\nprint(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""


def test_a_lazy_module_imports_on_first_use_and_then_is_the_module() -> None:
    proxy = LazyModule("hostcap.cli.reference_doc")
    assert "not loaded" in repr(proxy)
    assert proxy.__name__ == "hostcap.cli.reference_doc"
    assert "loaded" in repr(proxy) and "not loaded" not in repr(proxy)
    with pytest.raises(AttributeError):
        _ = proxy.no_such_name
    with pytest.raises(ModuleNotFoundError):
        _ = LazyModule("hostcap.no_such_module").anything
