"""The consoles command output goes to: plain text (no markup, no emoji) on stdout; stderr with
rich markup for styled messages (``err``) or without (``plain_err``)."""

from __future__ import annotations

from rich.console import Console

__all__ = ["err", "out", "plain_err"]

out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
plain_err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
