"""The Jinja2 templates (autoescaped) and the filters pages use."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from hostcap import __version__

__all__ = ["fmt", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def fmt(value: Any) -> str:
    """A stored value for a table cell (as ``client show`` prints it)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


templates.env.filters["fmt"] = fmt
templates.env.globals["version"] = __version__
