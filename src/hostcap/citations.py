"""Citation registry: every causal edge, parameter source and rule carries a key defined here.

Citations live as packaged YAML under ``hostcap/data/citations/`` (one file per topic, so that
packages can add their own); a key defined in two files must carry the same text. Each entry:

.. code-block:: yaml

    valent2012:
      text: "Valent P, et al. Definitions, criteria and global classification ... 2012;157:215-25."
      doi: "10.1159/000328760"        # optional
      verified: true                    # false where recalled or seen only second-hand
      note: "..."                       # optional: what is uncertain, and caveats of use

``docs/evidence.md`` (``hostcap.evidence_docs``) renders every key with everything that cites it;
a key nothing cites is kept there as a background reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict

from hostcap.errors import UnknownIdError, ValidationError

__all__ = ["Citation", "all_citations", "format_references", "get_citation", "require_citations"]


class Citation(BaseModel):
    """One reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    text: str
    doi: str | None = None
    url: str | None = None
    verified: bool = True
    note: str | None = None


@cache
def all_citations() -> dict[str, Citation]:
    """Every citation shipped with hostcap, by key."""
    found: dict[str, Citation] = {}
    folder = resources.files("hostcap") / "data" / "citations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        raw = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
        for key, body in raw.items():
            citation = Citation(key=key, **body)
            if key in found and found[key] != citation:
                raise ValidationError.single(
                    f"citations/{entry.name}:{key}",
                    citation.text,
                    f"the same text as the earlier definition ({found[key].text!r})",
                )
            found[key] = citation
    return found


def get_citation(key: str) -> Citation:
    """The citation for ``key``; an ``UnknownIdError`` names the known keys."""
    table = all_citations()
    try:
        return table[key]
    except KeyError:
        raise UnknownIdError("citation key", key, table) from None


def require_citations(keys: Iterable[str]) -> list[str]:
    """Keys among ``keys`` that are not defined (empty when all are)."""
    table = all_citations()
    return sorted({k for k in keys if k not in table and k != "assumed"})


def format_references(keys: Iterable[str]) -> list[str]:
    """Numbered reference lines for exactly these keys, in first-use order."""
    lines: list[str] = []
    seen: set[str] = set()
    for key in keys:
        if key in seen or key == "assumed":
            continue
        seen.add(key)
        c = get_citation(key)
        flag = "" if c.verified else " [UNVERIFIED]"
        lines.append(f"[{len(seen)}] {c.text}{flag}")
    return lines
