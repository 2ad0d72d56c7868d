"""HTML and PDF from one Jinja2 template family, and figures as reproducible SVG and PNG.

Pure rendering: data in, ``str`` / ``bytes`` out; the services write the files.

- Templates are package data (``hostcap/reports/templates``); a page is rendered once as HTML
  and the same HTML (with figures inlined) is printed to PDF by WeasyPrint.
- The same inputs give the same bytes: the PDF carries no creation or modification date (no
  ``dcterms`` dates in the page), and WeasyPrint's document identifier is derived from the
  content; SVG figures are written with a fixed ``svg.hashsalt`` and without a ``Date``;
  PNG figures without the ``Software`` key.
- Fonts: DejaVu (Debian ``fonts-dejavu-core``) first, so the PDF embeds the same subset fonts on
  every machine that has them; WeasyPrint always embeds (subsets) the fonts it uses.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from matplotlib.figure import Figure

__all__ = [
    "data_uri",
    "figure_png",
    "figure_svg",
    "html_to_pdf",
    "render_template",
]

#: Salt of matplotlib's SVG element ids: fixed, so the same figure gives the same bytes.
SVG_HASH_SALT = "hostcap-reports"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hostcap.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = format_number
    return env


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def format_number(value: Any, digits: int = 3) -> str:
    """A number as people read it: ``digits`` significant figures, "–" when missing."""
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if number != number:  # NaN
        return "–"
    if math.isinf(number):
        return "not reached" if number > 0 else "−∞"
    if number == int(number) and abs(number) < 1e5:
        return str(int(number))
    text = f"{number:.{digits}g}"
    if "e" in text:
        mantissa, exponent = f"{number:.{max(1, digits - 1)}e}".split("e")
        power = str(int(exponent)).translate(_SUPERSCRIPTS)
        return f"{mantissa.rstrip('0').rstrip('.')}×10{power}"
    return text


_ENV = _environment()


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """The template ``name`` (``templates/name``) rendered with ``context``."""
    return _ENV.get_template(name).render(**context)


def html_to_pdf(html: str) -> bytes:
    """The PDF of ``html`` (WeasyPrint; no dates; tagged for accessibility).

    Figures must be inlined (``data:`` URIs): nothing is fetched from disk or network.
    """
    # Slow to import; only the PDF path needs it. WeasyPrint ships no type information.
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    # Only inlined data: a missing figure stops the rendering instead of leaving a hole.
    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=True)
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf(pdf_tags=True)
    assert isinstance(pdf, bytes)
    return pdf


def figure_svg(figure: Figure) -> bytes:
    """``figure`` as SVG bytes, identical for identical figures (then closed)."""
    buffer = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": SVG_HASH_SALT, "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    return buffer.getvalue()


def figure_png(figure: Figure, *, dpi: int = 110) -> bytes:
    """``figure`` as PNG bytes without the software key (the figure stays open)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def data_uri(content: bytes, media_type: str) -> str:
    """``content`` as a ``data:`` URI (figures inlined in the PDF's page)."""
    return f"data:{media_type};base64,{base64.b64encode(content).decode('ascii')}"
