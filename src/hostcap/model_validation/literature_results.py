"""Published human results as data: the packaged ``data/literature_results.yaml``, validated.

Each :class:`LiteratureResult` is one published number with the sentence it came from, the study
design as a protocol, the spread of the measurement and the model observable it maps to (the
YAML file's header documents every field). Loading validates the file with libpetab-style checks
that return every issue found, never only the first:

- ``check_schema`` — fields and types (pydantic);
- ``check_unique_ids`` — one entry per id;
- ``check_citations`` — every citation key is defined in ``hostcap/data/citations``;
- ``check_numbers`` — an available result has a published value and a range with
  ``low <= published <= high``; a point-only value has ``low == high == published``; a
  ``not_found`` result carries no number;
- ``check_quotes`` — a number needs a quote, and a quote not retrieved says so
  (``verified_quote: false`` with a ``quote_note``);
- ``check_designs`` — an available result has a design whose protocol is valid (catalog
  interventions, doses), a phenotype preset and what its ``mapping`` needs (``at_day``, a
  ``comparator`` or a ``perturb``); a not-expressible result says what is ``missing``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from hostcap.citations import require_citations
from hostcap.errors import Issue, Severity, ValidationError
from hostcap.mechanistic_model.definition import PHENOTYPES
from hostcap.mechanistic_model.protocols import Protocol, protocol_from_mapping, validate_protocol

#: The result types first, then the functions that load and check them.
__all__ = ["LiteratureResult", "ResultDesign", "ResultMapping", "ResultStatus", "Split"]
__all__ += ["SpreadKind", "StatePerturbation"]
__all__ += ["check_literature_results", "literature_results", "result_protocols"]


class Split(StrEnum):
    """Declared before any fitting: calibration results may set parameters, held-out never."""

    CALIBRATION = "calibration"
    HELD_OUT = "held_out"


class ResultStatus(StrEnum):
    """Whether a result can run through ``simulate()``."""

    AVAILABLE = "available"
    NOT_EXPRESSIBLE = "not_expressible"
    NOT_FOUND = "not_found"


class SpreadKind(StrEnum):
    """How ``published_low`` and ``published_high`` were built."""

    MEAN_SD = "mean_sd"
    DERIVED_SD = "derived_sd"
    REPORTED_RANGE = "reported_range"
    REPORTED_PRECISION = "reported_precision"
    POINT_ONLY = "point_only"
    NULL_DIFFERENCE = "null_difference"


class ResultMapping(StrEnum):
    """How a model trajectory becomes the published measure."""

    PERCENT_CHANGE = "percent_change"
    PERCENT_DIFFERENCE = "percent_difference"
    VALUE = "value"
    HALF_LIFE_H = "half_life_h"
    ONSET_H = "onset_h"
    PEAK_TIME_H = "peak_time_h"
    DOUBLING_TIME_H = "doubling_time_h"


class StatePerturbation(BaseModel):
    """Raise one state to ``factor`` times its pre-treatment steady state at time 0."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: str
    factor: float = Field(gt=1.0)


class ResultDesign(BaseModel):
    """The study design in the model's language: population preset, protocol, duration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    phenotype: str = "healthy"
    parameters: dict[str, float] = Field(default_factory=dict)
    protocol: list[dict[str, Any]] = Field(default_factory=list)
    comparator: list[dict[str, Any]] | None = None
    perturb: StatePerturbation | None = None
    weeks: float = Field(gt=0.0)
    note: str = ""


class LiteratureResult(BaseModel):
    """One published human result, with its source sentence, design and model mapping."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    source: str
    citation: str
    family: str
    measure: str
    status: ResultStatus
    split: Split
    population: str
    quote: str
    quote_url: str | None = None
    quote_location: str
    verified_quote: bool
    quote_note: str = ""
    design: ResultDesign | None = None
    missing: str = ""
    observable: str
    mapping: ResultMapping
    at_day: float | None = None
    unit: str
    published: float | None = None
    published_low: float | None = None
    published_high: float | None = None
    spread_kind: SpreadKind | None = None
    spread_note: str = ""

    @property
    def expressible(self) -> bool:
        return self.status == ResultStatus.AVAILABLE


def _schema(raw: Mapping[str, Any]) -> tuple[list[LiteratureResult], list[Issue]]:
    items = raw.get("results") if isinstance(raw, Mapping) else None
    if not isinstance(items, list):
        return [], [Issue("results", "missing or not a list", value=items, expected="a list")]
    results: list[LiteratureResult] = []
    issues: list[Issue] = []
    for i, item in enumerate(items):
        try:
            results.append(LiteratureResult.model_validate(item))
        except pydantic.ValidationError as exc:
            for err in exc.errors():
                where = f"results[{i}]." + ".".join(str(p) for p in err["loc"])
                issues.append(
                    Issue(where, err["msg"], value=err.get("input"), expected=err["type"])
                )
    return results, issues


def check_unique_ids(results: Sequence[LiteratureResult]) -> list[Issue]:
    """Every result id appears once."""
    seen: set[str] = set()
    issues = []
    for r in results:
        if r.id in seen:
            issues.append(Issue(f"{r.id}.id", "duplicate id", value=r.id, expected="a unique id"))
        seen.add(r.id)
    return issues


def check_citations(results: Sequence[LiteratureResult]) -> list[Issue]:
    """Every citation key is defined in the citation registry."""
    return [
        Issue(f"{r.id}.citation", "unknown citation key", value=r.citation, expected="a key")
        for r in results
        if require_citations([r.citation])
    ]


def check_numbers(results: Sequence[LiteratureResult]) -> list[Issue]:
    """Available results have a value inside its range; not-found results carry no number."""
    issues: list[Issue] = []
    for r in results:
        numbers = (r.published, r.published_low, r.published_high)
        if r.status == ResultStatus.NOT_FOUND:
            if any(n is not None for n in numbers):
                issues.append(
                    Issue(
                        f"{r.id}.published",
                        "a not_found result carries a number",
                        value=numbers,
                        expected="no published value",
                    )
                )
            continue
        if r.status == ResultStatus.NOT_EXPRESSIBLE and all(n is None for n in numbers):
            continue
        if any(n is None for n in numbers) or r.spread_kind is None:
            issues.append(
                Issue(
                    f"{r.id}.published",
                    "value, low, high and spread_kind are all needed",
                    value=numbers,
                    expected="published, published_low, published_high, spread_kind",
                )
            )
            continue
        value, low, high = (float(n) for n in numbers if n is not None)
        kind = r.spread_kind
        # (holds, field, what is wrong, what was expected), one per rule of a range.
        rules = (
            (
                low <= value <= high,
                "published",
                "published value outside its own range",
                "published_low <= published <= published_high",
            ),
            (
                kind != SpreadKind.REPORTED_PRECISION
                or math.isclose(value - low, high - value, rel_tol=1e-9, abs_tol=1e-12),
                "published_low",
                "a reporting-precision range is symmetric",
                "published ± half the last digit",
            ),
            (
                kind != SpreadKind.POINT_ONLY or low == value == high,
                "spread_kind",
                "a point-only value has low == high == published",
                "equal values",
            ),
            (
                kind != SpreadKind.NULL_DIFFERENCE or low <= 0.0 <= high,
                "published_low",
                "a published null difference's range contains no difference (0)",
                "published_low <= 0 <= published_high",
            ),
        )
        issues.extend(
            Issue(f"{r.id}.{field}", message, value=(low, value, high), expected=expected)
            for holds, field, message, expected in rules
            if not holds
        )
        if not r.spread_note:
            issues.append(
                Issue(
                    f"{r.id}.spread_note",
                    "say how the range was built",
                    value="",
                    expected="a note",
                )
            )
    return issues


def check_quotes(results: Sequence[LiteratureResult]) -> list[Issue]:
    """Every entry has a quote and its location; an unretrieved quote says where it came from."""
    issues: list[Issue] = []
    for r in results:
        if not r.quote.strip() or not r.quote_location.strip():
            issues.append(
                Issue(
                    f"{r.id}.quote",
                    "no quoted sentence or location",
                    value=r.quote,
                    expected="the sentence the number came from and where",
                )
            )
        if r.verified_quote and not r.quote_url:
            issues.append(
                Issue(
                    f"{r.id}.quote_url",
                    "a verified quote needs the address it was read at",
                    value=None,
                    expected="a URL",
                )
            )
        if not r.verified_quote and not r.quote_note.strip():
            issues.append(
                Issue(
                    f"{r.id}.quote_note",
                    "an unverified quote must say where it came from",
                    value="",
                    expected="e.g. 'from a secondary summary'",
                )
            )
    return issues


def check_designs(results: Sequence[LiteratureResult]) -> list[Issue]:
    """Available results carry a runnable design; not-expressible ones say what is missing."""
    issues: list[Issue] = []
    for r in results:
        if r.status == ResultStatus.NOT_EXPRESSIBLE and not r.missing.strip():
            issues.append(
                Issue(
                    f"{r.id}.missing",
                    "say what the protocol language cannot express",
                    value="",
                    expected="a description",
                )
            )
        if not r.expressible:
            continue
        d = r.design
        if d is None:
            issues.append(
                Issue(
                    f"{r.id}.design",
                    "an available result needs a design",
                    value=None,
                    expected="a design",
                )
            )
            continue
        if d.phenotype not in PHENOTYPES:
            issues.append(
                Issue(
                    f"{r.id}.design.phenotype",
                    "unknown phenotype",
                    value=d.phenotype,
                    expected=f"one of: {', '.join(PHENOTYPES)}",
                )
            )
        for name, phases in (("protocol", d.protocol), ("comparator", d.comparator)):
            if not phases:
                continue
            for issue in validate_protocol(_protocol_mapping(f"{r.id}_{name}", phases)):
                if issue.severity == Severity.ERROR:
                    issues.append(
                        Issue(
                            f"{r.id}.design.{name}.{issue.location}",
                            issue.message,
                            value=issue.value,
                            expected=issue.expected,
                        )
                    )
        needs_day = r.mapping in {
            ResultMapping.PERCENT_CHANGE,
            ResultMapping.PERCENT_DIFFERENCE,
            ResultMapping.VALUE,
            ResultMapping.ONSET_H,
            ResultMapping.PEAK_TIME_H,
            ResultMapping.DOUBLING_TIME_H,
        }
        if needs_day and r.at_day is None:
            issues.append(
                Issue(f"{r.id}.at_day", "this mapping needs at_day", value=None, expected="a day")
            )
        if r.at_day is not None and r.at_day > d.weeks * 7 + 1e-9:
            issues.append(
                Issue(
                    f"{r.id}.at_day",
                    "after the end of the run",
                    value=r.at_day,
                    expected=f"<= {d.weeks * 7:g}",
                )
            )
        needs_comparator = r.mapping in {ResultMapping.PERCENT_DIFFERENCE, ResultMapping.ONSET_H}
        if needs_comparator and d.comparator is None:
            issues.append(
                Issue(
                    f"{r.id}.design.comparator",
                    "this mapping needs a comparator",
                    value=None,
                    expected="a list of phases ([] for none)",
                )
            )
        if r.mapping == ResultMapping.HALF_LIFE_H and d.perturb is None:
            issues.append(
                Issue(
                    f"{r.id}.design.perturb",
                    "a half-life needs a perturbation",
                    value=None,
                    expected="{state, factor}",
                )
            )
    return issues


CHECKS: tuple[Callable[[Sequence[LiteratureResult]], list[Issue]], ...] = (
    check_unique_ids,
    check_citations,
    check_numbers,
    check_quotes,
    check_designs,
)


def check_literature_results(raw: Mapping[str, Any]) -> list[Issue]:
    """Every issue with a parsed literature-results mapping (empty when clean)."""
    results, issues = _schema(raw)
    for check in CHECKS:
        issues += check(results)
    return issues


def _protocol_mapping(pid: str, phases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    named = [{"id": f"phase{i}", **dict(p)} for i, p in enumerate(phases)]
    return {"id": pid, "phases": named}


@cache
def _raw() -> dict[str, Any]:
    folder = resources.files("hostcap.model_validation") / "data"
    loaded = yaml.safe_load((folder / "literature_results.yaml").read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {"results": loaded}


@cache
def literature_results() -> tuple[LiteratureResult, ...]:
    """The packaged published results, validated (a ``ValidationError`` lists every issue)."""
    raw = _raw()
    issues = [i for i in check_literature_results(raw) if i.severity == Severity.ERROR]
    if issues:
        raise ValidationError(issues, context="model_validation/data/literature_results.yaml")
    results, _ = _schema(raw)
    return tuple(results)


def result_protocols(result: LiteratureResult) -> tuple[Protocol | None, Protocol | None]:
    """The treatment and comparator protocols of an available result (``None``: no phases)."""
    d = result.design
    if d is None:
        return None, None
    treat = protocol_from_mapping(_protocol_mapping(result.id, d.protocol)) if d.protocol else None
    comp = (
        protocol_from_mapping(_protocol_mapping(f"{result.id}_comparator", d.comparator))
        if d.comparator
        else None
    )
    return treat, comp
