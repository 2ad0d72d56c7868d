"""The ``hostcap`` command: one Typer app, command groups registered from their modules.

Errors from the core and services (``hostcap.errors``) become one line on stderr and a non-zero
exit code here, and only here.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer
from rich.console import Console

from hostcap import __version__
from hostcap.errors import HostcapError, ValidationError

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="hostcap",
    help="hostcap: clinical store, mechanistic model and decision rules for testing the "
    "Host Capacity Model of MCAS (a hypothesis).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hostcap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """hostcap command line."""


# Command modules add their commands to ``app`` on import; add a new module's name here.
COMMAND_MODULES: tuple[str, ...] = (
    "analysis_commands",
    "assess_commands",
    "demo_commands",
    "design_commands",
    "interop_commands",
    "model_commands",
    "publishing_commands",
    "record_commands",
    "scale_commands",
    "store_commands",
    "synth_commands",
    "validate_commands",
    "web_commands",
)


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"hostcap.cli.{name}")


_register()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return the exit code (tests call this directly)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Without standalone mode Click *returns* the code of a `typer.Exit` instead of raising.
        returned = app(args=args, prog_name="hostcap", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except ValidationError as exc:
        err_console.print(f"error: {exc}", markup=False)
        if len(exc.issues) > 1:
            err_console.print(exc.report(), markup=False)
        return exc.exit_code
    except HostcapError as exc:
        err_console.print(f"error: {exc}", markup=False)
        return exc.exit_code
    except OSError as exc:
        # A safety net: the services translate the file errors a person can cause, but a
        # permission or disk problem elsewhere must still be one line, never a traceback.
        where = f" ({exc.filename})" if exc.filename else ""
        err_console.print(f"error: {exc.strerror or exc}{where}", markup=False)
        return 1
    except typer.TyperException as exc:
        # Usage errors (missing or malformed options) from Typer's command parser.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {exc}", markup=False)
        return int(getattr(exc, "exit_code", 2))
    return returned if isinstance(returned, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
