"""Command-line face of hostcap: parses input, calls ``hostcap.services``, renders output.

The entry point is :func:`hostcap.cli.main.main`; command groups live in ``*_commands`` modules.
"""

__all__: list[str] = []
