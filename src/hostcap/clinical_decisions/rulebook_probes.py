"""Probe inputs for the rulebook checks: does an evaluator read every parameter it declares?

The probes are assessment inputs generated from the input contract itself — every flag true and
every number at its upper bound, then every flag false and every number low, at four ages, and
each optional part left unknown in turn — so both sides of each branch are taken. An evaluator
that never reads a declared parameter on any probe has a parameter that changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from functools import cache
from typing import Any, Literal

import pydantic
from pydantic import BaseModel

from hostcap.clinical_decisions.assessment_input import AssessmentInput
from hostcap.clinical_decisions.criteria_evaluation import CRITERION_EVALUATORS
from hostcap.clinical_decisions.rule_schema import CriterionRule, SafetyRule
from hostcap.clinical_decisions.rulebook_loading import Rulebook
from hostcap.clinical_decisions.safety_triage import TriageContext

__all__ = ["ReadTracker", "parameters_read", "probe_contexts", "probe_inputs"]


class ReadTracker(Mapping[str, Any]):
    """Rule parameters that remember which of them an evaluator read."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = params
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)


def _bounds(metadata: list[Any]) -> tuple[float, float]:
    low, high = 0.0, 250.0
    for item in metadata:
        for name, shift in (("ge", 0.0), ("gt", 0.1)):
            if getattr(item, name, None) is not None:
                low = float(getattr(item, name)) + shift
        for name, shift in (("le", 0.0), ("lt", -0.1)):
            if getattr(item, name, None) is not None:
                high = float(getattr(item, name)) + shift
    return low, high


def _probe_value(annotation: Any, metadata: list[Any], high: bool, depth: int) -> Any:
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    kind = args[0] if args else annotation
    origin = getattr(kind, "__origin__", None)
    if origin is list:
        inner = kind.__args__[0]
        if isinstance(inner, type) and issubclass(inner, StrEnum):
            members = [m.value for m in inner]
            return members if high else members[:1]
        if inner is float:
            lowest, highest = _bounds(metadata)
            start = max(lowest, 0.5)
            # Rising for the "high" probe, falling for the other: both branches of serial rules.
            values = [start, (start + highest) / 2, highest]
            return values if high else values[::-1]
        return [
            _probe_value(inner, metadata, high, depth),
            _probe_value(inner, [], not high, depth),
        ]
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return _probe_model(kind, high, depth + 1)
    if origin is Literal:
        return kind.__args__[0 if high else -1]
    if kind is bool:
        return high
    lowest, highest = _bounds(metadata)
    if kind is int:
        return int(highest if high else lowest)
    if kind is float:
        return highest if high else max(lowest, 0.5)
    return None


def _probe_model(model: type[BaseModel], high: bool, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        value = _probe_value(info.annotation, list(info.metadata), high, depth)
        if value is not None:
            out[info.alias or name] = value
    return out


@cache
def probe_inputs() -> tuple[AssessmentInput, ...]:
    """Inputs on both sides of every flag and of typical thresholds, at several ages."""
    candidates: list[dict[str, Any]] = [{"sex": "female", "age_years": 40}]
    for high in (True, False):
        for age in (0.5, 5.0, 15.0, 40.0):
            raw = _probe_model(AssessmentInput, high, 0)
            raw.update(sex="male" if high else "female", age_years=age)
            candidates.append(raw)
            if age == 40.0:
                # Each optional part left unknown in turn: the branches taken on missing data.
                candidates += [
                    {k: v for k, v in raw.items() if k != key}
                    for key in raw
                    if key not in {"sex", "age_years"}
                ]
    probes = []
    for values in candidates:
        try:
            probes.append(AssessmentInput.model_validate(values))
        except pydantic.ValidationError:
            continue
    return tuple(probes)


def probe_contexts(book: Rulebook) -> list[tuple[AssessmentInput, TriageContext]]:
    """Each probe input with the criteria ``book`` evaluates on it (what safety rules read)."""
    return [
        (
            probe,
            TriageContext(
                criteria={
                    r.criterion: CRITERION_EVALUATORS[r.evaluator][0](probe, r.params)
                    for r in book.criterion_rules
                    if r.evaluator in CRITERION_EVALUATORS
                }
            ),
        )
        for probe in probe_inputs()
    ]


def parameters_read(
    probes: list[tuple[AssessmentInput, TriageContext]],
    rule: SafetyRule | CriterionRule,
    evaluator: Any,
) -> set[str]:
    """The parameters ``evaluator`` reads over the probe inputs."""
    read: set[str] = set()
    for probe, context in probes:
        tracker = ReadTracker(rule.params)
        if isinstance(rule, CriterionRule):
            evaluator(probe, tracker)
        else:
            evaluator(probe, context, tracker)
        read |= tracker.read
    return read
