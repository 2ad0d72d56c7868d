"""The plan's expected trajectory band: the core's provider contract, and the real mechanistic
model wired in by the assessment services (skipped only where that package lacks the band)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest

from hostcap.clinical_decisions import assess
from hostcap.clinical_decisions.assessment_result import PhasePlan
from hostcap.services.assessment import assess_data, trajectory_provider

PATTERN_A: dict[str, Any] = {
    "sex": "female",
    "age_years": 40,
    "history": {"antibiotic_courses_2y": 5, "food_reactions_count": 4},
    "questionnaires": {"gsrs_mean": 5.0},
}


def test_the_provider_gets_the_phenotype_preset_and_the_plans_phases() -> None:
    seen: list[tuple[str, list[str]]] = []

    def provider(phenotype: str, phases: Sequence[PhasePlan]) -> Any:
        seen.append((phenotype, [p.name for p in phases]))
        frame = pd.DataFrame(
            {
                "week": [0, 1],
                "name": ["symptom_load"] * 2,
                "low": [1.0, 0.9],
                "median": [1.2, 1.0],
                "high": [1.5, 1.3],
            }
        )
        return frame, "told by the provider"

    result = assess(PATTERN_A, trajectory_provider=provider)
    assert result.plan is not None
    band = result.plan.trajectory_band
    assert seen == [("A", [p.name for p in result.plan.phases])]
    assert band.available and band.hypothesis is True and band.phenotype == "A"
    assert "hypothesis-based" in band.note and band.note.endswith("told by the provider")
    assert band.rows[1] == {
        "week": 1,
        "name": "symptom_load",
        "low": 0.9,
        "median": 1.0,
        "high": 1.3,
    }


def test_a_provider_without_an_answer_leaves_the_band_unavailable() -> None:
    result = assess(PATTERN_A, trajectory_provider=lambda phenotype, phases: None)
    assert result.plan is not None
    assert not result.plan.trajectory_band.available
    assert result.plan.trajectory_band.note == "trajectory band unavailable"


def test_no_band_is_computed_on_emergency() -> None:
    calls: list[str] = []
    emergency = PATTERN_A | {
        "current_episode": {"onset_minutes_ago": 10, "skin_mucosal": True, "laryngeal": True}
    }
    result = assess(emergency, trajectory_provider=lambda p, phases: calls.append(p))
    assert result.triage.level == "emergency" and result.plan is None and calls == []


def test_the_mechanistic_model_band_follows_the_plan() -> None:
    if trajectory_provider() is None:
        pytest.skip("hostcap.mechanistic_model provides no expected_trajectory_band here")
    result = assess_data(PATTERN_A)
    assert result.plan is not None
    band = result.plan.trajectory_band
    assert band.available and band.phenotype == "A"
    assert "this plan's phases" in band.note
    frame = pd.DataFrame(band.rows)
    assert {"week", "name", "low", "median", "high"} <= set(frame.columns)
    assert frame["week"].max() == max(p.end_week for p in result.plan.phases)
    assert (frame["low"] <= frame["median"] + 1e-12).all()
    assert (frame["median"] <= frame["high"] + 1e-12).all()
