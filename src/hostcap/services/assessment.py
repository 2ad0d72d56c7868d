"""Assessment services: read an input file or a stored client, load the rulebook (with a
practice file), assess, and format the result. Faces call these; nothing here prints.

The pure core (``hostcap.clinical_decisions``) never reads files; this module does, and it
wires in the mechanistic model's expected trajectory band when that package provides one.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml

from hostcap.clinical_decisions import (
    AssessmentInput,
    AssessmentResult,
    Rulebook,
    assess,
    build_rulebook,
    check_rulebook,
    load_rulebook,
    parse_assessment_input,
    render_text,
)
from hostcap.errors import ConfigurationError, HostcapError, InputError, Issue

__all__ = [
    "assess_client",
    "assess_data",
    "assess_file",
    "check_rules",
    "format_result",
    "input_schema_json",
    "load_rulebook_file",
    "read_input_file",
    "trajectory_provider",
]

OutputFormat = Literal["json", "text"]


def _read_text(path: Path, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{what} file {str(path)!r} does not exist",
            field=what,
            value=str(path),
            expected="a readable file",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{what} file {str(path)!r} cannot be read: {exc}",
            field=what,
            value=str(path),
            expected="a readable UTF-8 file",
        ) from None


def read_input_file(path: Path) -> Any:
    """Parse an assessment input file: JSON, or YAML for ``.yaml``/``.yml``."""
    text = _read_text(path, "--input")
    try:
        if Path(path).suffix.lower() in {".yaml", ".yml"}:
            return yaml.safe_load(text)
        return json.loads(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        kind = "JSON" if isinstance(exc, json.JSONDecodeError) else "YAML"
        raise InputError(
            f"--input file {str(path)!r} is not valid {kind}: {first}",
            field="--input",
            value=str(path),
            expected="a JSON object as `hostcap assess --schema` describes",
        ) from None


def load_rulebook_file(extra: Path | None = None) -> Rulebook:
    """The packaged rulebook, merged with the practice file at ``extra`` when given."""
    if extra is None:
        return load_rulebook()
    return load_rulebook(_read_text(extra, "--rulebook-extra"))


def trajectory_provider() -> Callable[[str], Any] | None:
    """``f(phenotype) -> band`` from ``hostcap.mechanistic_model`` when it provides one.

    Returns None when the package or ``expected_trajectory_band`` is missing; a provider whose
    computation fails answers None, and the plan then says "trajectory band unavailable".
    """
    try:
        module = importlib.import_module("hostcap.mechanistic_model")
        band = module.expected_trajectory_band
    except (ImportError, AttributeError):
        return None

    def provide(phenotype: str) -> Any:
        try:
            return band(phenotype, protocol=None, weeks=16, variant="essay")
        except (HostcapError, ValueError, ArithmeticError):
            return None

    return provide


def assess_data(
    data: Any,
    extra_rulebook: Path | None = None,
    *,
    with_trajectory: bool = True,
) -> AssessmentResult:
    """Validate plain data and assess it."""
    inp = parse_assessment_input(data)
    book = load_rulebook_file(extra_rulebook)
    provider = trajectory_provider() if with_trajectory else None
    return assess(inp, book, trajectory_provider=provider)


def assess_file(
    path: Path,
    extra_rulebook: Path | None = None,
    *,
    with_trajectory: bool = True,
) -> AssessmentResult:
    """Assess the input in ``path`` (JSON or YAML) with the packaged or extended rulebook."""
    return assess_data(read_input_file(path), extra_rulebook, with_trajectory=with_trajectory)


def format_result(result: AssessmentResult, fmt: OutputFormat) -> str:
    """The result as JSON (the output contract) or as text (triage first)."""
    if fmt == "json":
        return json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    return render_text(result)


def _stored_input(code: str, database_url: str | None) -> AssessmentInput:
    store_services = importlib.import_module("hostcap.services.store")
    build = getattr(store_services, "build_assessment_input", None)
    if build is not None:
        return parse_assessment_input(build(database_url, code))
    # Until the store offers build_assessment_input, use its plain-data builder when present.
    data_builder = getattr(store_services, "assessment_input_data", None)
    if data_builder is None:
        raise ConfigurationError(
            "assessing a stored client needs the clinical store; not available yet"
        )
    store = store_services.open_store(database_url)
    try:
        return parse_assessment_input(data_builder(store, code))
    finally:
        dispose = getattr(store, "dispose", None)
        if dispose is not None:
            dispose()


def assess_client(
    code: str,
    database_url: str | None = None,
    extra_rulebook: Path | None = None,
    *,
    with_trajectory: bool = True,
) -> AssessmentResult:
    """Assess a stored client: the input is built from the clinical store.

    Raises
    ------
    hostcap.errors.ConfigurationError
        When the store services cannot build an assessment input.
    """
    inp = _stored_input(code, database_url)
    book = load_rulebook_file(extra_rulebook)
    provider = trajectory_provider() if with_trajectory else None
    return assess(inp, book, trajectory_provider=provider)


def check_rules(extra_rulebook: Path | None = None) -> list[Issue]:
    """Every issue of every named rulebook check (``hostcap rules check``)."""
    extra = None if extra_rulebook is None else _read_text(extra_rulebook, "--rulebook-extra")
    book, issues = build_rulebook(extra)
    if book is None:
        return issues
    return check_rulebook(book)


def input_schema_json() -> str:
    """The JSON Schema of the assessment input (``hostcap assess --schema``)."""
    schema = AssessmentInput.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
