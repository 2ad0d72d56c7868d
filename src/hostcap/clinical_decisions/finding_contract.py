"""Which clinical findings the store accepts: fields and values of the assessment input contract.

A clinical finding is one value of ``hostcap assess --schema`` (``history.antibiotic_courses_2y``,
``findings.splenomegaly``, ``kit_d816v``), so it is checked against that contract when it is
written — an unknown field path or a value of the wrong type (``banana`` for a yes/no field, 3
for a bool) is refused with the field, the value and what was expected — and again when an
assessment input is built from stored findings, where a bad legacy value is skipped and reported
instead of blocking the safety triage.

The contract (``hostcap.clinical_decisions.assessment_input``) is imported on first use: the
store's other commands never need it.
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from hostcap.errors import Issue, describe_value

__all__ = ["finding_issue", "finding_paths"]

#: Set from the client row (sex, birth year), never from a finding.
_FROM_CLIENT = frozenset({"sex", "age_years"})


def _models(annotation: Any) -> list[type[BaseModel]]:
    args = get_args(annotation) or (annotation,)
    return [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]


def _has_model_list(annotation: Any) -> bool:
    for arg in get_args(annotation) or (annotation,):
        if get_origin(arg) is list and _models(get_args(arg)[0]):
            return True
    return False


def _walk(model: type[BaseModel], prefix: str, out: dict[str, str]) -> None:
    for name, info in model.model_fields.items():
        keys = {name, info.alias or name}
        annotation = info.annotation
        inner = _models(annotation)
        for key in keys:
            path = f"{prefix}.{key}" if prefix else key
            if inner:
                for sub in inner:
                    _walk(sub, path, out)
            elif not _has_model_list(annotation) and path not in _FROM_CLIENT:
                out[path] = info.alias or name


@cache
def finding_paths() -> frozenset[str]:
    """Every field a finding may set: the input's leaf fields outside lists of objects.

    ``episodes`` and ``tryptase.events`` come from their own tables, ``sex`` and ``age_years``
    from the client; the alias and the Python name of a field (``history.hEDS``/``heds``) are
    both accepted.
    """
    from hostcap.clinical_decisions.assessment_input import AssessmentInput, input_field_paths

    out: dict[str, str] = {}
    _walk(AssessmentInput, "", out)
    contract = input_field_paths()
    # Every path offered here is one the contract names (by alias or by Python name).
    assert all(p in contract or p.lower() in {c.lower() for c in contract} for p in out)
    return frozenset(out)


def _nested(path: str, value: Any) -> dict[str, Any]:
    node: Any = value
    for part in reversed(path.split(".")):
        node = {part: node}
    return dict(node)


@cache
def _checked(path: str, value_json: str) -> Issue | None:
    from hostcap.clinical_decisions.assessment_input import parse_assessment_input
    from hostcap.errors import ValidationError

    value = json.loads(value_json)
    data = {"sex": "other", "age_years": 40} | _nested(path, value)
    try:
        parse_assessment_input(data)
    except ValidationError as exc:
        for issue in exc.issues:
            expected = issue.expected or "a valid value"
            return Issue(
                location="value",
                message=f"value {describe_value(value)} is not valid for field {path} "
                f"({issue.message.split(';')[0]}); expected {expected}",
                value=value,
                expected=expected,
                code="finding_value",
            )
    return None


def finding_issue(path: Any, value: Any) -> Issue | None:
    """The problem with storing ``value`` (already parsed) under the finding field ``path``.

    Returns None when the pair is valid; otherwise an issue located at ``field`` (an unknown
    path, with the closest known paths) or ``value`` (a value the contract refuses).
    """
    fields = finding_paths()
    if not isinstance(path, str) or path not in fields:
        close = difflib.get_close_matches(str(path), sorted(fields), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        return Issue(
            location="field",
            message=f"field {describe_value(path)} is not a field of the assessment input that a "
            f"finding can set{hint}; expected a path listed by `hostcap assess --schema`, "
            "e.g. history.antibiotic_courses_2y",
            value=path,
            expected="a field path of the assessment input",
            code="finding_field",
        )
    try:
        value_json = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        value_json = json.dumps(str(value))
    return _checked(path, value_json)
