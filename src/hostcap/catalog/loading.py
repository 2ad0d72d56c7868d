"""Read the catalog's packaged YAML and turn pydantic errors into hostcap's error tree.

The catalog files ship inside the package (``hostcap/catalog/data``) and are read through
``importlib.resources`` so that an installed wheel works the same as a source checkout.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, TypeVar

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict

from hostcap.errors import Issue, ValidationError

__all__ = [
    "CatalogModel",
    "load_entries",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


class CatalogModel(BaseModel):
    """Base of every catalog entry: frozen, and unknown YAML keys are errors (typos surface)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _read(name: str) -> Any:
    text = (resources.files("hostcap.catalog.data") / name).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def load_entries(name: str, model: type[ModelT]) -> dict[str, ModelT]:
    """Parse ``name`` (a mapping ``id -> fields``) into ``model`` instances keyed by id.

    Every invalid entry is reported, not only the first, as one ``ValidationError``.

    Parameters
    ----------
    name
        File name under ``hostcap/catalog/data`` (e.g. ``"analytes.yaml"``).
    model
        The pydantic model of one entry; it must have an ``id`` field.

    Returns
    -------
    dict
        Entries by id, in file order.

    Raises
    ------
    ValidationError
        When an entry does not match the model or ids are not lower-case snake case.
    """
    raw = _read(name) or {}
    if not isinstance(raw, dict):
        raise ValidationError.single(name, type(raw).__name__, "a mapping of id to entry")
    entries: dict[str, ModelT] = {}
    issues: list[Issue] = []
    for key, body in raw.items():
        try:
            entries[str(key)] = model.model_validate({"id": key, **(body or {})})
        except pydantic.ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                issues.append(
                    Issue(
                        location=f"{name}:{key}.{where}",
                        message=err["msg"],
                        value=err.get("input"),
                        expected=err["type"],
                    )
                )
    if issues:
        raise ValidationError(issues, context=f"catalog file {name}")
    return entries
