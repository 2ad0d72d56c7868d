"""Protocols: a timed list of phases, each with catalog interventions and doses.

A protocol is like a PEtab v2 experiment: a sequence of conditions, each starting at a time. Each
phase lists the *complete* set of interventions active from its start until the next phase starts
(or the simulation ends). Doses are in the catalog's dose unit (``hostcap.catalog``); the model
maps each dose to its input through ``input_map`` in the definition (``input = potency * dose``)
and the saturating dose–response in the rate laws. An antibiotic course's dose is its length in
days: the ``antibiotic_pulse`` input is 1 for that long from the phase start.

A phase may also list acute ``events`` (what studies do to people, not interventions): a
``mast_cell_event`` (anaphylaxis, a sting, an episode trigger) or an ``inflammatory_stimulus``
(tissue injury, infection), each with a ``severity`` (0-1, 1 = maximal), a time ``at_hour``
after the phase start and a duration (default :data:`EVENT_DEFAULT_DURATION_H`). A mast cell
event drives its input at ``severity / duration`` per hour, so the tryptase it releases does not
depend on how long the window is; an inflammatory stimulus holds its input at ``severity``.

Validation returns every issue found (libpetab-style named checks), never only the first:

- ``check_schema`` — fields and types;
- ``check_phenotype`` — the optional phenotype names a preset;
- ``check_phase_order`` — unique phase ids, start weeks non-negative and strictly increasing;
- ``check_interventions`` — every id is in the catalog, once per phase, with its catalog unit;
- ``check_doses`` — a dose must be > 0 and at most 3 x the catalog's typical maximum
  (error); outside the typical range is a warning;
- ``check_course_lengths`` — an antibiotic course longer than its phase is cut (warning);
- ``check_events`` — an event must end before the next phase starts (error).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from hostcap.catalog import get_intervention, interventions
from hostcap.catalog.interventions import DOSE_HARD_LIMIT_FACTOR
from hostcap.errors import Issue, Severity, ValidationError
from hostcap.mechanistic_model.definition import PHENOTYPES, ModelDefinition
from hostcap.yaml_files import load_yaml

__all__ = [
    "DOSE_ERROR_FACTOR",
    "EVENT_DEFAULT_DURATION_H",
    "HOURS_PER_WEEK",
    "AcuteEvent",
    "InputSegment",
    "InterventionDose",
    "Phase",
    "Protocol",
    "input_segments",
    "protocol_from_mapping",
    "protocol_from_yaml",
    "validate_protocol",
]

HOURS_PER_WEEK = 168.0
#: A dose above this multiple of the catalog's typical maximum is an error, not a warning (the
#: catalog's one hard limit, which the clinical store applies too).
DOSE_ERROR_FACTOR = DOSE_HARD_LIMIT_FACTOR


class InterventionDose(BaseModel):
    """One intervention in a phase, with its dose in the catalog's dose unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    dose: float
    unit: str | None = Field(default=None, description="optional; must equal the catalog unit")


#: Default length of an acute event's window, in hours, by kind: a mast cell event releases its
#: mediators within minutes; an inflammatory stimulus (an infarct, surgery) drives the acute
#: phase for about a day.
EVENT_DEFAULT_DURATION_H: dict[str, float] = {
    "mast_cell_event": 0.25,
    "inflammatory_stimulus": 24.0,
}


class AcuteEvent(BaseModel):
    """An acute event in a phase: its kind, severity (0-1), start and duration in hours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["mast_cell_event", "inflammatory_stimulus"]
    severity: float = Field(gt=0, le=1, description="1 = maximal (anaphylaxis; an infarct)")
    at_hour: float = Field(default=0.0, ge=0, description="hours after the phase start")
    duration_h: float | None = Field(default=None, gt=0, description="default by kind")

    @property
    def hours(self) -> float:
        """The event's duration in hours (its kind's default when not given)."""
        if self.duration_h is not None:
            return self.duration_h
        return EVENT_DEFAULT_DURATION_H[self.kind]

    @property
    def input_value(self) -> float:
        """The model input while the event lasts (a mast cell event spreads its severity)."""
        if self.kind == "mast_cell_event":
            return self.severity / self.hours
        return self.severity


class Phase(BaseModel):
    """A protocol phase: the interventions active from ``start_week`` until the next phase."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    start_week: float
    interventions: tuple[InterventionDose, ...] = ()
    events: tuple[AcuteEvent, ...] = ()
    note: str = ""


class Protocol(BaseModel):
    """A timed list of intervention phases (a PEtab v2-like experiment)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str = ""
    phenotype: str | None = None
    description: str = ""
    phases: tuple[Phase, ...]

    @property
    def boundaries_h(self) -> list[float]:
        """Phase start times in hours."""
        return [p.start_week * HOURS_PER_WEEK for p in self.phases]


@dataclass(frozen=True)
class InputSegment:
    """A time interval over which every model input is constant."""

    start_h: float
    end_h: float
    values: dict[str, float]
    phase: str


def _check_schema(data: Mapping[str, Any]) -> tuple[Protocol | None, list[Issue]]:
    try:
        return Protocol.model_validate(data), []
    except pydantic.ValidationError as exc:
        issues = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            issues.append(Issue(where, err["msg"], value=err.get("input"), expected=err["type"]))
        return None, issues


def check_phase_order(protocol: Protocol) -> list[Issue]:
    """Unique phase ids; start weeks non-negative and strictly increasing; at least one phase."""
    issues: list[Issue] = []
    if not protocol.phases:
        issues.append(Issue("phases", "no phases", value=[], expected="at least one phase"))
    seen: set[str] = set()
    previous = -1.0
    for i, phase in enumerate(protocol.phases):
        where = f"phases[{i}]"
        if phase.id in seen:
            issues.append(
                Issue(
                    f"{where}.id",
                    f"duplicate phase id {phase.id!r}; expected a unique id",
                    value=phase.id,
                    expected="a unique id",
                )
            )
        seen.add(phase.id)
        if phase.start_week < 0:
            issues.append(
                Issue(
                    f"{where}.start_week",
                    f"negative start week {phase.start_week:g}; expected >= 0",
                    value=phase.start_week,
                    expected=">= 0",
                )
            )
        if phase.start_week <= previous:
            issues.append(
                Issue(
                    f"{where}.start_week",
                    f"start week {phase.start_week:g} is not after the previous phase's "
                    f"(week {previous:g}); expected > {previous:g}",
                    value=phase.start_week,
                    expected=f"> {previous:g}",
                )
            )
        previous = phase.start_week
    return issues


def check_interventions(protocol: Protocol) -> list[Issue]:
    """Every intervention id is in the catalog, appears once per phase, in the catalog unit."""
    issues: list[Issue] = []
    known = interventions()
    shown = ", ".join(sorted(known))
    for i, phase in enumerate(protocol.phases):
        ids: set[str] = set()
        for j, item in enumerate(phase.interventions):
            where = f"phases[{i}].interventions[{j}]"
            key = item.id.strip().lower()
            if key not in known:
                issues.append(
                    Issue(
                        f"{where}.id",
                        f"unknown intervention {item.id!r}; expected one of: {shown}",
                        value=item.id,
                        expected=f"one of: {shown}",
                    )
                )
                continue
            if key in ids:
                issues.append(
                    Issue(
                        f"{where}.id",
                        f"{item.id!r} listed twice in one phase; expected once per phase",
                        value=item.id,
                        expected="once per phase",
                    )
                )
            ids.add(key)
            unit = known[key].dose_unit
            if item.unit is not None and item.unit != unit:
                issues.append(
                    Issue(
                        f"{where}.unit",
                        f"wrong unit for {key}: {item.unit!r}; expected {unit!r}",
                        value=item.unit,
                        expected=f"{unit!r}",
                    )
                )
    return issues


def check_doses(protocol: Protocol) -> list[Issue]:
    """Doses > 0 and <= 3 x the typical maximum (error); outside the typical range warns."""
    issues: list[Issue] = []
    known = interventions()
    for i, phase in enumerate(protocol.phases):
        for j, item in enumerate(phase.interventions):
            key = item.id.strip().lower()
            if key not in known:
                continue
            entry = known[key]
            where = f"phases[{i}].interventions[{j}].dose"
            lo, hi = entry.typical_min, entry.typical_max
            limit = entry.hard_max
            unit = entry.dose_unit
            if not 0 < item.dose <= limit:
                expected = f"> 0 and <= {limit:g} {unit} (typical {lo:g}-{hi:g} {unit})"
                issues.append(
                    Issue(
                        where,
                        f"implausible dose of {key}: {item.dose:g} {unit}; expected {expected}",
                        value=item.dose,
                        expected=expected,
                    )
                )
            elif not lo <= item.dose <= hi:
                issues.append(
                    Issue(
                        where,
                        f"dose of {key} {item.dose:g} {unit} is outside the typical range "
                        f"{lo:g}-{hi:g} {unit}",
                        value=item.dose,
                        expected=f"{lo:g}-{hi:g} {unit}",
                        severity=Severity.WARNING,
                    )
                )
    return issues


def check_course_lengths(protocol: Protocol) -> list[Issue]:
    """An antibiotic course longer than its phase is cut at the next phase (warning)."""
    issues: list[Issue] = []
    starts = [p.start_week for p in protocol.phases]
    for i, phase in enumerate(protocol.phases):
        if i + 1 >= len(starts):
            continue
        days = (starts[i + 1] - phase.start_week) * 7
        for j, item in enumerate(phase.interventions):
            if item.id.strip().lower() == "antibiotic_course" and item.dose > days:
                issues.append(
                    Issue(
                        f"phases[{i}].interventions[{j}].dose",
                        "course runs past the phase end and is cut there",
                        value=item.dose,
                        expected=f"<= {days:g} days",
                        severity=Severity.WARNING,
                    )
                )
    return issues


def check_events(protocol: Protocol) -> list[Issue]:
    """An acute event ends before the next phase starts (error)."""
    issues: list[Issue] = []
    starts = protocol.boundaries_h
    for i, phase in enumerate(protocol.phases):
        if i + 1 >= len(starts):
            continue
        length = starts[i + 1] - starts[i]
        for j, event in enumerate(phase.events):
            if event.at_hour + event.hours > length:
                issues.append(
                    Issue(
                        f"phases[{i}].events[{j}].at_hour",
                        f"event ends at hour {event.at_hour + event.hours:g} of a phase "
                        f"{length:g} h long; expected it to end within its phase",
                        value=event.at_hour,
                        expected=f"<= {length - event.hours:g}",
                    )
                )
    return issues


def check_phenotype(protocol: Protocol) -> list[Issue]:
    """The protocol's optional ``phenotype`` names a preset (healthy, A, B, C)."""
    value = protocol.phenotype
    if value is None or value.upper() in PHENOTYPES or value.lower() in PHENOTYPES:
        return []
    shown = ", ".join(PHENOTYPES)
    return [
        Issue(
            "phenotype",
            f"unknown phenotype {value!r}; expected one of: {shown}",
            value=value,
            expected=f"one of: {shown}",
        )
    ]


CHECKS: tuple[Callable[[Protocol], list[Issue]], ...] = (
    check_phenotype,
    check_phase_order,
    check_interventions,
    check_doses,
    check_course_lengths,
    check_events,
)


def validate_protocol(data: Mapping[str, Any] | Protocol) -> list[Issue]:
    """Every issue with a protocol (errors and warnings), running every check.

    Parameters
    ----------
    data
        A parsed YAML mapping or a :class:`Protocol`.

    Returns
    -------
    list of Issue
        Empty when the protocol is clean.
    """
    if isinstance(data, Protocol):
        protocol: Protocol | None = data
        issues: list[Issue] = []
    else:
        protocol, issues = _check_schema(data)
    if protocol is not None:
        for check in CHECKS:
            issues += check(protocol)
    return issues


def protocol_from_mapping(data: Mapping[str, Any]) -> Protocol:
    """Validate and build a protocol; a ``ValidationError`` lists every error found.

    Warnings do not stop it (``validate_protocol`` returns them).
    """
    if not isinstance(data, Mapping):
        raise ValidationError.single("protocol", type(data).__name__, "a mapping (YAML object)")
    issues = validate_protocol(data)
    if any(i.severity == Severity.ERROR for i in issues):
        raise ValidationError(issues, context=f"protocol {data.get('id', '?')}")
    return Protocol.model_validate(data)


def protocol_from_yaml(text: str) -> Protocol:
    """Parse a protocol from YAML text (the services layer reads files)."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ValidationError.single("protocol", str(exc).splitlines()[0], "valid YAML") from None
    return protocol_from_mapping(data if isinstance(data, Mapping) else {"_": data})


def _phase_pieces(
    phase: Phase,
    start: float,
    end: float,
    values: dict[str, float],
    course_end: float | None,
) -> list[tuple[float, dict[str, float], str]]:
    """A phase's piecewise-constant inputs: its doses, the course end and its acute events."""
    cuts = {start}
    if course_end is not None and course_end < end:
        cuts.add(course_end)
    windows = [(start + e.at_hour, start + e.at_hour + e.hours, e) for e in phase.events]
    for t0, t1, _ in windows:
        cuts.update(t for t in (t0, t1) if t < end)
    pieces: list[tuple[float, dict[str, float], str]] = []
    for t in sorted(cuts):
        here = dict(values)
        name = phase.id
        if course_end is not None and t >= course_end:
            here["antibiotic_pulse"] = 0.0
            name = f"{phase.id}:after_course"
        for t0, t1, event in windows:
            if t0 <= t < t1:
                here[event.kind] += event.input_value
                name = f"{phase.id}:{event.kind}"
        pieces.append((t, here, name))
    return pieces


def input_segments(
    protocol: Protocol | None,
    definition: ModelDefinition,
    end_h: float,
) -> list[InputSegment]:
    """Piecewise-constant model inputs from ``0`` to ``end_h`` hours.

    Boundaries are phase starts, antibiotic course ends and acute event starts and ends;
    integration restarts at each, so dosing is exact. Before the first phase (or with no
    protocol) every input is 0.
    """
    zeros = dict.fromkeys(definition.input_ids, 0.0)
    if protocol is None or not protocol.phases:
        return [InputSegment(0.0, end_h, dict(zeros), "none")]
    pieces: list[tuple[float, dict[str, float], str]] = []
    starts = protocol.boundaries_h
    if starts[0] > 0:
        pieces.append((0.0, dict(zeros), "before"))
    for i, phase in enumerate(protocol.phases):
        phase_end = starts[i + 1] if i + 1 < len(starts) else float("inf")
        values = dict(zeros)
        course_end = None
        for item in phase.interventions:
            key = item.id.strip().lower()
            mapping = definition.input_map[get_intervention(key).id]
            if mapping.input == "antibiotic_pulse":
                values["antibiotic_pulse"] = 1.0
                course_end = starts[i] + item.dose * 24.0
            else:
                values[mapping.input] += mapping.potency * item.dose
        pieces += _phase_pieces(phase, starts[i], phase_end, values, course_end)
    segments: list[InputSegment] = []
    for k, (start, values, name) in enumerate(pieces):
        stop = pieces[k + 1][0] if k + 1 < len(pieces) else end_h
        start, stop = min(start, end_h), min(stop, end_h)
        if stop > start:
            segments.append(InputSegment(start, stop, values, name))
    return segments or [InputSegment(0.0, end_h, pieces[0][1], pieces[0][2])]
