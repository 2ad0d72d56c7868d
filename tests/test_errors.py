"""The exception tree drawn in errors.py is the real one, and messages name field, value and
expectation."""

from __future__ import annotations

import inspect

import hostcap.errors as errors
from hostcap.errors import HostcapError, Issue, UnknownIdError, ValidationError


def test_every_exception_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, HostcapError)
    ]
    for cls in classes:
        assert cls.__name__ in doc, f"{cls.__name__} is missing from the errors.py tree"


def test_validation_error_lists_every_issue_and_leads_with_the_first() -> None:
    exc = ValidationError(
        [
            Issue("value", "got -3; expected ≥ 0", value=-3, expected="≥ 0"),
            Issue("unit", "got 'x'; expected ng/mL", value="x", expected="ng/mL"),
        ]
    )
    assert str(exc) == "value: got -3; expected ≥ 0 (and 1 more problem)"
    assert exc.field == "value" and exc.value == -3 and exc.expected == "≥ 0"
    assert exc.report().count("\n") == 1


def test_unknown_ids_list_what_is_known() -> None:
    exc = UnknownIdError("analyte", "tryptse", ["tryptase", "hs_crp"])
    assert str(exc) == "unknown analyte 'tryptse'; expected one of: hs_crp, tryptase"
