"""The one exception tree of hostcap.

::

    HostcapError
     ├── InputError                 bad input: names field, value received, what was expected
     │    ├── ValidationError       one or more problems with a record or file (``issues``)
     │    ├── UnknownIdError        an id not in a catalog, rulebook or model
     │    └── DuplicateError        a record that already exists (replace explicitly)
     ├── NotFoundError              a stored record that does not exist
     ├── IntegrityError             stored data fails a consistency check (audit chain, backup)
     ├── ConfigurationError         settings, database URL, missing optional dependency
     ├── ComputationError           a numerical method failed (status says what to do)
     └── AccessError                a sign-in refused, or a role not allowed to do something

Faces translate these into exit codes (``cli``) or one JSON error shape (``web``); the core and
the services only raise them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "AccessError",
    "ComputationError",
    "ConfigurationError",
    "DuplicateError",
    "HostcapError",
    "InputError",
    "IntegrityError",
    "Issue",
    "NotFoundError",
    "Severity",
    "UnknownIdError",
    "ValidationError",
    "describe_value",
]


class Severity(StrEnum):
    """How serious a validation issue is."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


def describe_value(value: Any) -> str:
    """Render a received value for an error message (strings quoted, long values cut)."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class Issue:
    """One problem found while validating: where, what was received, what was expected.

    ``location`` is a field path (``tryptase.events[0].hours_after_onset``) or a file position
    (``row 12, column value``).
    """

    location: str
    message: str
    severity: Severity = Severity.ERROR
    value: Any = None
    expected: str | None = None
    code: str = ""

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    def as_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "message": self.message,
            "severity": str(self.severity),
            "value": None if self.value is None else describe_value(self.value),
            "expected": self.expected,
            "code": self.code,
        }


class HostcapError(Exception):
    """Base of every error hostcap raises on purpose."""

    exit_code = 1


class InputError(HostcapError):
    """Input that cannot be accepted. The message names the field, the value and the expectation."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: Any = None,
        expected: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.expected = expected


class ValidationError(InputError):
    """One or more problems; ``issues`` lists every one (never only the first)."""

    def __init__(self, issues: Sequence[Issue] | Issue | str, *, context: str = "") -> None:
        if isinstance(issues, str):
            issues = [Issue(location="", message=issues)]
        elif isinstance(issues, Issue):
            issues = [issues]
        self.issues: list[Issue] = list(issues)
        errors = [i for i in self.issues if i.severity == Severity.ERROR] or self.issues
        head = str(errors[0])
        if len(errors) > 1:
            head += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        if context:
            head = f"{context}: {head}"
        first = errors[0] if errors else None
        super().__init__(
            head,
            field=first.location if first else None,
            value=first.value if first else None,
            expected=first.expected if first else None,
        )

    @classmethod
    def single(
        cls, field: str, value: Any, expected: str, *, message: str | None = None
    ) -> ValidationError:
        """Build the common one-field error: ``field value X is not Y; expected Z``."""
        text = message or f"got {describe_value(value)}; expected {expected}"
        return cls([Issue(location=field, message=text, value=value, expected=expected)])

    def report(self) -> str:
        """Every issue, one per line."""
        return "\n".join(f"{i.severity}: {i}" for i in self.issues)


class UnknownIdError(InputError):
    """An id that is not defined where it was looked up."""

    def __init__(self, kind: str, value: str, known: Iterable[str]) -> None:
        known_sorted = sorted(known)
        shown = ", ".join(known_sorted[:12]) + (", ..." if len(known_sorted) > 12 else "")
        super().__init__(
            f"unknown {kind} {describe_value(value)}; expected one of: {shown}",
            field=kind,
            value=value,
            expected=f"one of {shown}",
        )


class DuplicateError(InputError):
    """The record exists already; pass ``replace=True`` (``--replace``) to overwrite it."""


class NotFoundError(HostcapError):
    """A stored record that does not exist."""

    exit_code = 3


class IntegrityError(HostcapError):
    """Stored data failed a consistency check (audit hash chain, backup verification)."""

    exit_code = 4


class ConfigurationError(HostcapError):
    """Settings or environment problem: a bad database URL, a missing optional dependency."""

    exit_code = 5


class ComputationError(HostcapError):
    """A numerical method failed; the message says what to try."""

    exit_code = 6


class AccessError(HostcapError):
    """A sign-in was refused (unknown user, wrong password, too many attempts, expired or
    revoked session) or the user's role may not do what was asked. The message never says
    which of username or password was wrong."""

    exit_code = 7

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        #: 401 when who is asking is not known, 403 when they may not, 429 when rate limited.
        self.status = status
