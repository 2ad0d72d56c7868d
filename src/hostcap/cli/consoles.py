"""The consoles command output goes to: stdout as plain text (``out``: no markup, no emoji) or
with rich markup (``console``); stderr with markup (``err``) or without (``plain_err``)."""

from __future__ import annotations

from rich.console import Console

__all__ = ["console", "err", "out", "plain_err"]

out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
plain_err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
