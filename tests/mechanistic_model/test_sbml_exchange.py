"""SBML L3V2 and Antimony from the one definition; libRoadRunner runs the SBML like simulate()."""

from __future__ import annotations

import antimony
import libsbml
import numpy as np
import pytest
import roadrunner

from hostcap.mechanistic_model import (
    PHENOTYPES,
    VARIANTS,
    Protocol,
    compile_model,
    protocol_from_mapping,
    sbml_errors,
    simulate,
    to_antimony,
    to_sbml,
)

WEEKS = 16
#: Four phases: an antibiotic course (which ends mid-phase: an extra event), microbiome and
#: barrier repair, NAD+ and α-KG, conventional drugs (the metabolite-acting H1 drug of 1.2.0 too).
PROTOCOL = protocol_from_mapping(
    {
        "id": "parity",
        "phases": [
            {
                "id": "antibiotics",
                "start_week": 0,
                "interventions": [
                    {"id": "antibiotic_course", "dose": 7},
                    {"id": "h1_antihistamine", "dose": 1},
                ],
            },
            {
                "id": "restore",
                "start_week": 2,
                "interventions": [
                    {"id": "fermentable_fibre", "dose": 15},
                    {"id": "butyrate_producer_probiotic", "dose": 1e10},
                    {"id": "zinc_carnosine", "dose": 75},
                ],
            },
            {
                "id": "nad_akg",
                "start_week": 5.5,
                "interventions": [
                    {"id": "nicotinamide_riboside", "dose": 500},
                    {"id": "calcium_alpha_ketoglutarate", "dose": 2},
                ],
            },
            {
                "id": "drugs",
                "start_week": 10,
                "interventions": [
                    {"id": "h2_antihistamine", "dose": 1},
                    {"id": "h1_antihistamine_metabolite", "dose": 1},
                    {"id": "mast_cell_stabiliser", "dose": 1},
                    {"id": "leukotriene_antagonist", "dose": 1},
                ],
            },
        ],
    }
)


@pytest.mark.parametrize("variant", VARIANTS)
def test_sbml_passes_libsbml_consistency_with_units_and_one_event_per_boundary(
    variant: str,
) -> None:
    text = to_sbml(variant, "A", PROTOCOL, weeks=WEEKS)
    assert sbml_errors(text) == []
    doc = libsbml.readSBMLFromString(text)
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    model = doc.getModel()
    m = compile_model(variant)
    assert [model.getSpecies(i).getId() for i in range(model.getNumSpecies())] == list(m.state_ids)
    assert model.getNumRules() == (len(m.state_ids) + len(m.expression_ids) + len(m.observable_ids))
    # Phase starts at weeks 2, 5.5, 10 and the antibiotic course's end on day 7.
    assert model.getNumEvents() == 4
    assert model.getTimeUnits() == "u_h"
    for i in range(model.getNumParameters()):
        assert model.getParameter(i).isSetUnits(), model.getParameter(i).getId()
    assert "HYPOTHESIS" in model.getNotesString()


def test_sbml_without_a_protocol_has_no_events_and_starts_at_the_preset_steady_state() -> None:
    text = to_sbml("essay", "B")
    assert sbml_errors(text) == []
    model = libsbml.readSBMLFromString(text).getModel()
    assert model.getNumEvents() == 0
    start = simulate("essay", phenotype="B", weeks=0, save_at=[0.0])
    nad = model.getSpecies("nad").getInitialAmount()
    assert nad == pytest.approx(start.at_week("nad", 0), rel=1e-12)


@pytest.mark.parametrize("variant", VARIANTS)
def test_antimony_declares_every_state_rule_parameter_and_boundary(variant: str) -> None:
    text = to_antimony(variant, "C", PROTOCOL, weeks=WEEKS)
    m = compile_model(variant)
    assert text.startswith("// HYPOTHESIS")
    for sid in m.state_ids:
        assert f"  {sid}' = " in text
        assert f"substanceOnly species {sid} in " in text
    for name in (*m.expression_ids, *m.observable_ids):
        assert f"  {name} := " in text
    for pid in m.parameter_ids:
        assert f"  {pid} = " in text
    assert text.count(": at (time >= ") == 4
    assert "**" not in text  # Antimony powers are ^
    assert text.rstrip().endswith("end")


def _sbml_from_antimony(text: str) -> str:
    """SBML made by libAntimony itself from our Antimony text (it reports what it rejects)."""
    antimony.clearPreviousLoads()
    assert antimony.loadAntimonyString(text) >= 0, antimony.getLastError()
    return str(antimony.getSBMLString(antimony.getMainModuleName()))


@pytest.mark.parametrize("phenotype", PHENOTYPES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_roadrunner_runs_the_exported_sbml_like_simulate(variant: str, phenotype: str) -> None:
    _assert_roadrunner_parity(
        variant, phenotype, to_sbml(variant, phenotype, PROTOCOL, weeks=WEEKS)
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_antimony_export_read_by_libantimony_runs_like_simulate(variant: str) -> None:
    text = to_antimony(variant, "C", PROTOCOL, weeks=WEEKS)
    _assert_roadrunner_parity(variant, "C", _sbml_from_antimony(text))


#: Acute events (an anaphylactic reaction, then an infarct-sized inflammatory stimulus) beside
#: resistant starch and an oral H1 blocker: short input windows, each an SBML event pair.
EVENTS = protocol_from_mapping(
    {
        "id": "acute",
        "phases": [
            {
                "id": "reaction",
                "start_week": 0,
                "interventions": [{"id": "h1_antihistamine", "dose": 1}],
                "events": [{"kind": "mast_cell_event", "severity": 0.8, "at_hour": 2.0}],
            },
            {
                "id": "injury",
                "start_week": 0.25,
                "interventions": [{"id": "resistant_starch", "dose": 20}],
                "events": [{"kind": "inflammatory_stimulus", "severity": 1.0, "at_hour": 6.0}],
            },
        ],
    }
)


@pytest.mark.parametrize("variant", VARIANTS)
def test_roadrunner_runs_acute_events_like_simulate(variant: str) -> None:
    sbml = to_sbml(variant, "A", EVENTS, weeks=1)
    assert sbml_errors(sbml) == []
    # Phase start at 42 h, the reaction's start and end, the stimulus's start and end.
    assert libsbml.readSBMLFromString(sbml).getModel().getNumEvents() == 5
    save = np.concatenate([np.arange(0.0, 12.0, 0.25), np.arange(12.0, 168.0 + 1e-9, 6.0)])
    _assert_roadrunner_parity(variant, "A", sbml, EVENTS, 1.0, save)


def _assert_roadrunner_parity(
    variant: str,
    phenotype: str,
    sbml: str,
    protocol: Protocol = PROTOCOL,
    weeks: float = WEEKS,
    save: np.ndarray | None = None,
) -> None:
    m = compile_model(variant)
    if save is None:
        save = np.arange(0.0, weeks * 168.0 + 1e-9, 168.0 / 2)  # twice a week
    ours = simulate(
        m, protocol, phenotype=phenotype, weeks=weeks, save_at=save, rtol=1e-8, atol=1e-10
    )
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    checked = [*m.state_ids, "symptom_load", "tryptase_serum", "food_tolerance", "hs_crp"]
    rr.selections = ["time", *checked]
    theirs = np.asarray(rr.simulate(times=save.tolist()))
    np.testing.assert_allclose(theirs[:, 0], save)
    expected = np.column_stack([ours[name] for name in checked])
    # Relative error with a small absolute floor for states near zero.
    error = np.abs(theirs[:, 1:] - expected) / np.maximum(np.abs(expected), 1e-6)
    assert error.max() <= 1e-4, checked[int(np.argmax(error.max(axis=0)))]
