"""The Jinja2 templates (autoescaped) and the filters pages use."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from hostcap import __version__
from hostcap.services.client_view import format_value as fmt

__all__ = ["fmt", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


templates.env.filters["fmt"] = fmt
templates.env.globals["version"] = __version__
