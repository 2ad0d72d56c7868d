"""The documents under ``docs/`` that are generated from code, in one list.

``make docs`` writes them; a test checks that the checked-in copies are current, so the
documentation can never drift from the declarations it describes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class GeneratedDoc:
    """One generated document: ``module.function()`` returns its full text."""

    module: str
    function: str
    filename: str

    def render(self) -> str:
        text = getattr(importlib.import_module(self.module), self.function)()
        if not isinstance(text, str):
            raise TypeError(
                f"{self.module}.{self.function} returned {type(text).__name__}, not str"
            )
        return text


GENERATED_DOCS: tuple[GeneratedDoc, ...] = (
    GeneratedDoc("hostcap.catalog.docs", "catalog_markdown", "catalog.md"),
    GeneratedDoc("hostcap.cli.reference_doc", "cli_reference_markdown", "cli.md"),
    GeneratedDoc("hostcap.evidence_docs", "evidence_markdown", "evidence.md"),
    GeneratedDoc("hostcap.clinical_decisions.rulebook_docs", "rulebook_markdown", "rulebook.md"),
    GeneratedDoc(
        "hostcap.clinical_decisions.rulebook_docs", "rulebook_schema_json", "rulebook.schema.json"
    ),
    GeneratedDoc(
        "hostcap.clinical_store.formats_doc", "import_formats_markdown", "import-formats.md"
    ),
    GeneratedDoc("hostcap.services.interop", "interop_markdown", "interop.md"),
    GeneratedDoc("hostcap.mechanistic_model.model_card", "model_card_markdown", "model-card.md"),
    GeneratedDoc("hostcap.settings", "settings_markdown", "settings.md"),
    GeneratedDoc(
        "hostcap.synthetic.design_doc", "synthetic_design_markdown", "synthetic-cohorts.md"
    ),
    GeneratedDoc(
        "hostcap.model_validation.validation_report", "validation_markdown", "validation.md"
    ),
)
