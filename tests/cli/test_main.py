"""The CLI root: exit codes reach the shell whichever way a command ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer

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
