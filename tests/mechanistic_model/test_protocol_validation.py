"""Protocols: YAML in, every problem named with its value and expectation, exact input segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostcap.errors import Severity, ValidationError
from hostcap.mechanistic_model import (
    load_definition,
    protocol_from_mapping,
    protocol_from_yaml,
    validate_protocol,
)
from hostcap.mechanistic_model.protocols import input_segments

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "protocols"


def test_every_example_protocol_validates_cleanly_and_has_three_or_more_phases() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    phenotypes = set()
    for path in files:
        protocol = protocol_from_yaml(path.read_text())
        errors = [i for i in validate_protocol(protocol) if i.severity == Severity.ERROR]
        assert not errors, path.name
        assert len(protocol.phases) >= 3, path.name
        phenotypes.add(protocol.phenotype)
    assert phenotypes >= {"A", "B", "C"}


def test_every_problem_is_reported_at_once_with_name_value_and_expectation() -> None:
    data = {
        "id": "bad",
        "phenotype": "D",
        "phases": [
            {
                "id": "one",
                "start_week": 0,
                "interventions": [
                    {"id": "unicorn_tears", "dose": 1},
                    {"id": "nicotinamide_riboside", "dose": 90000},
                    {"id": "h1_antihistamine", "dose": 1, "unit": "mg/d"},
                ],
            },
            {"id": "one", "start_week": 0},
        ],
    }
    with pytest.raises(ValidationError) as exc:
        protocol_from_mapping(data)
    issues = {i.location: i for i in exc.value.issues}
    unknown = issues["phases[0].interventions[0].id"]
    assert unknown.value == "unicorn_tears"
    assert "'unicorn_tears'" in unknown.message and "nicotinamide_riboside" in unknown.message
    dose = issues["phases[0].interventions[1].dose"]
    assert dose.value == 90000
    assert "90000 mg/d" in dose.message and "<= 3000 mg/d" in dose.message
    unit = issues["phases[0].interventions[2].unit"]
    assert unit.value == "mg/d" and "'DDD/d'" in unit.message
    assert issues["phases[1].id"].message.startswith("duplicate phase id")
    assert issues["phases[1].start_week"].value == 0
    assert "'D'" in issues["phenotype"].message
    assert len(exc.value.issues) == 6


def test_doses_outside_the_typical_range_warn_but_do_not_stop() -> None:
    data = {
        "id": "high",
        "phases": [
            {
                "id": "one",
                "start_week": 0,
                "interventions": [{"id": "nicotinamide_riboside", "dose": 2000}],
            }
        ],
    }
    protocol = protocol_from_mapping(data)
    issues = validate_protocol(protocol)
    assert [i.severity for i in issues] == [Severity.WARNING]
    assert issues[0].expected == "100-1000 mg/d"


def test_schema_errors_name_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        protocol_from_yaml("id: x\nphases:\n  - {id: a, start_week: soon}\n")
    assert exc.value.issues[0].location == "phases.0.start_week"
    assert exc.value.issues[0].value == "soon"
    with pytest.raises(ValidationError, match="valid YAML"):
        protocol_from_yaml("id: [unclosed")


def test_input_segments_restart_at_phase_starts_and_course_ends_and_map_doses() -> None:
    protocol = protocol_from_mapping(
        {
            "id": "p",
            "phases": [
                {
                    "id": "abx",
                    "start_week": 1,
                    "interventions": [
                        {"id": "antibiotic_course", "dose": 5},
                        {"id": "zinc_carnosine", "dose": 75},
                        {"id": "colostrum", "dose": 10},
                    ],
                },
                {
                    "id": "fibre",
                    "start_week": 3,
                    "interventions": [
                        {"id": "resistant_starch", "dose": 10},
                        {"id": "prebiotic", "dose": 5},
                        {"id": "butyrate_producer_probiotic", "dose": 2e10},
                    ],
                },
            ],
        }
    )
    segments = input_segments(protocol, load_definition("essay"), 6 * 168.0)
    assert [(s.start_h, s.end_h, s.phase) for s in segments] == [
        (0.0, 168.0, "before"),
        (168.0, 288.0, "abx"),
        (288.0, 504.0, "abx:after_course"),
        (504.0, 1008.0, "fibre"),
    ]
    assert segments[0].values["antibiotic_pulse"] == 0.0
    assert segments[1].values["antibiotic_pulse"] == 1.0
    # Zinc carnosine 75 mg/d and colostrum 10 g/d are one repair unit each.
    assert segments[1].values["barrier_repair"] == pytest.approx(2.0)
    assert segments[2].values["antibiotic_pulse"] == 0.0
    assert segments[2].values["barrier_repair"] == pytest.approx(2.0)
    # Resistant starch and fructans are different inputs (fibre by type).
    assert segments[3].values["fibre_substrate"] == pytest.approx(5.0)
    assert segments[3].values["resistant_starch_substrate"] == pytest.approx(10.0)
    assert segments[3].values["producer_inoculum"] == pytest.approx(20.0)
    assert segments[3].values["barrier_repair"] == 0.0
