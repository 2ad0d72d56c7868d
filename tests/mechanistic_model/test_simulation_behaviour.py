"""simulate(): steady states, invariants, exact protocol timing, status, tidy output."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostcap.errors import ComputationError
from hostcap.mechanistic_model import (
    HOURS_PER_WEEK,
    PHENOTYPES,
    VARIANTS,
    SolverStatus,
    compile_model,
    initial_state,
    protocol_from_mapping,
    simulate,
)


def _protocol(phases: list[dict[str, object]], pid: str = "test") -> object:
    return protocol_from_mapping({"id": pid, "phases": phases})


NR_FROM_WEEK_2 = protocol_from_mapping(
    {
        "id": "nr_week_2",
        "phases": [
            {"id": "baseline", "start_week": 0},
            {
                "id": "nr",
                "start_week": 2,
                "interventions": [{"id": "nicotinamide_riboside", "dose": 1000}],
            },
        ],
    }
)

EVERYTHING = protocol_from_mapping(
    {
        "id": "everything",
        "phases": [
            {
                "id": "antibiotics",
                "start_week": 0,
                "interventions": [{"id": "antibiotic_course", "dose": 7}],
            },
            {
                "id": "restore",
                "start_week": 2,
                "interventions": [
                    {"id": "resistant_starch", "dose": 20},
                    {"id": "butyrate_producer_probiotic", "dose": 5e10},
                    {"id": "colostrum", "dose": 10},
                    {"id": "calcium_alpha_ketoglutarate", "dose": 3},
                ],
            },
            {
                "id": "drugs",
                "start_week": 4,
                "interventions": [
                    {"id": "h1_antihistamine", "dose": 2},
                    {"id": "h2_antihistamine", "dose": 1},
                    {"id": "mast_cell_stabiliser", "dose": 1},
                    {"id": "leukotriene_antagonist", "dose": 1},
                    {"id": "nicotinamide_mononucleotide", "dose": 500},
                ],
            },
        ],
    }
)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("phenotype", PHENOTYPES)
def test_each_preset_starts_from_its_own_steady_state(variant: str, phenotype: str) -> None:
    m = compile_model(variant)
    p = m.parameter_vector(phenotype)
    y = initial_state(m, phenotype)
    if variant == "null":
        # The null variant enrols during a flare: only the threshold is displaced from rest.
        thr = m.parameter_values(phenotype)["thr_personal"]
        assert y[m.state_ids.index("mc_threshold")] < thr
        y[m.state_ids.index("mc_threshold")] = thr
    residual = np.abs(m.rhs(0.0, y, p, m.input_vector())) / np.maximum(np.abs(y), 1e-6)
    assert residual.max() < 1e-8


def test_healthy_without_interventions_stays_put_and_phenotypes_start_worse() -> None:
    traj = simulate("essay", phenotype="healthy", weeks=8, save_at=[0.0, 8 * HOURS_PER_WEEK])
    np.testing.assert_allclose(traj.states[0], traj.states[-1], rtol=1e-6)
    healthy = traj.at_week("symptom_load", 0)
    assert healthy < 3.0
    for phenotype in ("A", "B", "C"):
        sick = simulate("essay", phenotype=phenotype, weeks=0.0, save_at=[0.0])
        assert sick.at_week("symptom_load", 0) > healthy + 2.0
    a = simulate("essay", phenotype="A", weeks=0.0, save_at=[0.0])
    b = simulate("essay", phenotype="B", weeks=0.0, save_at=[0.0])
    c = simulate("essay", phenotype="C", weeks=0.0, save_at=[0.0])
    # Each phenotype is defined by where its chain breaks.
    assert a.at_week("producers", 0) < traj.at_week("producers", 0) / 2
    assert b.at_week("nad", 0) < 0.5 * traj.at_week("nad", 0)
    assert c.at_week("cns_mc", 0) > 5 * traj.at_week("cns_mc", 0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_fractions_stay_in_unit_interval_and_amounts_non_negative(variant: str) -> None:
    m = compile_model(variant)
    bounded = [s.id for s in m.definition.states if s.bounded]
    for phenotype in ("A", "C"):
        traj = simulate(m, EVERYTHING, phenotype=phenotype, weeks=10)
        for sid in m.state_ids:
            assert traj[sid].min() >= 0.0, sid
        for sid in bounded:
            assert traj[sid].max() <= 1.0, sid
        assert traj["symptom_load"].min() >= 0.0 and traj["symptom_load"].max() <= 10.0
        assert traj["food_tolerance"].min() >= 0.0 and traj["food_tolerance"].max() <= 1.0


@settings(max_examples=8, deadline=None)
@given(
    nr=st.floats(100, 3000),
    fibre=st.floats(1, 60),
    course=st.integers(1, 14),
    stabiliser=st.floats(0.5, 6),
)
def test_invariants_hold_for_any_plausible_protocol(
    nr: float, fibre: float, course: int, stabiliser: float
) -> None:
    protocol = _protocol(
        [
            {
                "id": "one",
                "start_week": 0,
                "interventions": [
                    {"id": "antibiotic_course", "dose": course},
                    {"id": "mast_cell_stabiliser", "dose": stabiliser},
                ],
            },
            {
                "id": "two",
                "start_week": 2,
                "interventions": [
                    {"id": "nicotinamide_riboside", "dose": nr},
                    {"id": "fermentable_fibre", "dose": fibre},
                ],
            },
        ]
    )
    m = compile_model("essay")
    traj = simulate(m, protocol, phenotype="A", weeks=6, save_at=np.linspace(0, 6 * 168, 13))
    assert traj.ok
    assert np.all(traj.states >= 0.0)
    for s in m.definition.states:
        if s.bounded:
            assert traj[s.id].max() <= 1.0


def test_nr_from_week_2_raises_nad_within_days_while_methylation_moves_over_weeks() -> None:
    traj = simulate("essay", NR_FROM_WEEK_2, phenotype="B", weeks=12)
    day = 1.0 / 7.0
    nad_before = traj.at_week("nad", 2.0)
    # Exact dosing: nothing changes before the phase boundary.
    assert traj.at_week("nad", 2.0 - day) == pytest.approx(nad_before, rel=1e-9)
    assert traj.at_week("nad", 0.0) == pytest.approx(nad_before, rel=1e-9)
    nad_3_days = traj.at_week("nad", 2.0 + 3 * day)
    nad_end = traj.at_week("nad", 12.0)
    # Fast: most of the NAD+ rise is there within 3 days (the rest follows slowly, as CD38
    # falls with inflammation).
    assert nad_3_days - nad_before > 0.6 * (nad_end - nad_before) > 0
    # Slow: promoter methylation has made under a fifth of its 10-week move after 3 days.
    m_before = traj.at_week("m_inflam", 2.0)
    m_3_days = traj.at_week("m_inflam", 2.0 + 3 * day)
    m_end = traj.at_week("m_inflam", 12.0)
    assert m_end - m_before > 0.05
    assert m_3_days - m_before < 0.2 * (m_end - m_before)


def test_an_antibiotic_course_ends_exactly_after_its_days_and_producers_recover() -> None:
    protocol = _protocol(
        [
            {"id": "off", "start_week": 0},
            {
                "id": "abx",
                "start_week": 1,
                "interventions": [{"id": "antibiotic_course", "dose": 7}],
            },
        ]
    )
    hours = np.arange(0.0, 12 * 168.0 + 1, 12.0)
    traj = simulate("essay", protocol, phenotype="healthy", weeks=12, save_at=hours)
    producers = traj["producers"]
    start, end = 168.0, 168.0 + 7 * 24.0
    lowest = int(np.argmin(producers))
    assert hours[lowest] == end  # falls exactly until the course ends, then recovers
    assert producers[lowest] < 0.5 * producers[0]
    assert producers[-1] > 0.9 * producers[0]
    assert np.all(np.diff(producers[(hours >= start) & (hours <= end)]) < 0)


def test_the_phase_active_at_a_save_time_on_a_boundary_is_the_new_one() -> None:
    protocol = _protocol(
        [
            {"id": "off", "start_week": 0},
            {"id": "h1", "start_week": 1, "interventions": [{"id": "h1_antihistamine", "dose": 1}]},
        ]
    )
    save = [0.0, 167.0, 168.0, 168.0 + 6.0]
    traj = simulate("essay", protocol, phenotype="A", weeks=2, save_at=save)
    load = traj["symptom_load"]
    assert load[1] == pytest.approx(load[0], rel=1e-9)
    # The new phase's dose is on at 168 h, but an oral H1 blocker is absorbed first: nothing has
    # changed at the boundary itself, and symptoms are eased hours later.
    assert traj["h1_level"][1] == 0.0
    assert load[2] == pytest.approx(load[1], rel=1e-9)
    assert load[3] < load[1] - 0.2


def test_simulation_is_deterministic() -> None:
    a = simulate("butyrate_direct", EVERYTHING, phenotype="C", weeks=6)
    b = simulate("butyrate_direct", EVERYTHING, phenotype="C", weeks=6)
    np.testing.assert_array_equal(a.states, b.states)
    np.testing.assert_array_equal(a.observables, b.observables)


def test_running_out_of_steps_is_a_status_with_advice_or_an_error_when_thrown() -> None:
    traj = simulate("essay", EVERYTHING, phenotype="A", weeks=4, max_steps=20, throw=False)
    assert traj.status is SolverStatus.MAX_STEPS
    assert not traj.ok
    assert "raise max_steps" in traj.message
    assert np.isnan(traj.states[-1]).all()
    with pytest.raises(ComputationError, match="max_steps"):
        simulate("essay", EVERYTHING, phenotype="A", weeks=4, max_steps=20)


def test_save_times_outside_the_run_are_refused_with_the_range() -> None:
    with pytest.raises(ComputationError, match=r"\[0, 336\]"):
        simulate("essay", weeks=2, save_at=[0.0, 400.0])


def test_tidy_frame_has_one_row_per_time_and_name_with_sbml_ids_and_units() -> None:
    traj = simulate("essay", NR_FROM_WEEK_2, phenotype="A", weeks=3)
    frame = traj.to_frame()
    assert list(frame.columns) == ["time_h", "week", "name", "value", "unit"]
    assert len(frame) == traj.time_h.size * len(traj.names())
    assert set(frame["name"]) == set(traj.names())
    nad = frame[frame["name"] == "nad"]
    assert set(nad["unit"]) == {"uM"}
    np.testing.assert_allclose(nad["value"].to_numpy(), traj["nad"])
    np.testing.assert_allclose(nad["week"].to_numpy(), nad["time_h"].to_numpy() / 168.0)
    assert traj.hypothesis_note.startswith("HYPOTHESIS")


def test_parameter_overrides_start_from_their_own_steady_state() -> None:
    m = compile_model("essay")
    low = simulate(m, phenotype="healthy", weeks=1, parameters={"fibre_diet": 8.0})
    base = simulate(m, phenotype="healthy", weeks=1)
    assert low.at_week("butyrate", 0) < base.at_week("butyrate", 0)
    assert low.at_week("butyrate", 1) == pytest.approx(low.at_week("butyrate", 0), rel=1e-6)
