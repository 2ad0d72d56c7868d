"""Calibration to the calibration results only: held-out results never enter, a known
parameter is recovered from synthetic data with a profile interval around it."""

from __future__ import annotations

import pytest

from hostcap.errors import UnknownIdError
from hostcap.mechanistic_model import load_definition
from hostcap.model_validation import (
    DELTA_CHI2_95,
    LiteratureResult,
    Split,
    calibrate_literature,
    calibrated_parameter_ids,
    calibration_petab_tables,
    calibration_targets,
    literature_results,
    model_value,
)


def _result(rid: str) -> LiteratureResult:
    (found,) = [r for r in literature_results() if r.id == rid]
    return found


def _synthetic(rid: str, parameters: dict[str, float], spread: float) -> LiteratureResult:
    """The packaged result with its published value replaced by the model's at ``parameters``."""
    result = _result(rid)
    value = model_value(result, "essay", parameters)
    assert value is not None
    return result.model_copy(
        update={
            "published": value,
            "published_low": value - spread,
            "published_high": value + spread,
        }
    )


def test_every_calibrated_parameter_is_declared_with_a_range_and_a_citation() -> None:
    ids = calibrated_parameter_ids()
    assert {"tryp_event_max", "k_il6", "k_h1_abs", "y_fructan", "V_nr_max"} <= set(ids)
    for p in load_definition("essay").parameters:
        if p.id in ids:
            assert p.range[0] <= p.value <= p.range[1], p.id
            assert p.source not in ("", "assumed"), p.id


def test_held_out_results_are_dropped_before_anything_is_simulated() -> None:
    targets = calibration_targets()
    assert targets and all(t.result.split == Split.CALIBRATION for t in targets)
    assert all(t.sigma > 0 for t in targets)
    # A held-out result with an absurd value cannot move the fit: it is never read.
    absurd = _result("schwartz1987_anaphylaxis_tryptase").model_copy(
        update={"published": 500.0, "published_low": 499.0, "published_high": 501.0}
    )
    fit = calibrate_literature(
        results=[_result("salacunill2013_acute_tryptase_1to2h"), absurd],
        parameters=["tryp_event_max"],
        profile_points=3,
    )
    assert fit.held_out_ignored == 1
    assert list(fit.residuals["result_id"]) == ["salacunill2013_acute_tryptase_1to2h"]
    assert fit.values["tryp_event_max"] < 40.0


def test_a_known_release_amount_is_recovered_with_a_profile_interval_around_it() -> None:
    truth = 40.0
    data = _synthetic("salacunill2013_acute_tryptase_1to2h", {"tryp_event_max": truth}, 0.5)
    fit = calibrate_literature(
        results=[data], parameters=["tryp_event_max"], start={"tryp_event_max": 15.0}
    )
    (p,) = fit.parameters
    assert p.start == 15.0
    assert p.value == pytest.approx(truth, rel=0.01)
    assert fit.chi2_fitted < 1e-3 < fit.chi2_start
    assert p.identifiable_low and p.identifiable_high
    assert p.ci_low < truth < p.ci_high
    # The interval's ends lie on the 95 % threshold of the profile.
    profile = fit.profiles[fit.profiles["parameter"] == "tryp_event_max"]
    assert profile["chi2"].min() == pytest.approx(fit.chi2_fitted, abs=1e-6)
    assert (profile["chi2"] > DELTA_CHI2_95).any()
    tables = calibration_petab_tables(fit)
    row = tables["parameters"].iloc[0]
    assert row["parameterId"] == "tryp_event_max" and row["estimate"] == 1
    assert (row["lowerBound"], row["upperBound"]) == (5.0, 80.0)
    assert list(tables["measurements"]["simulationConditionId"]) == [data.id]


def test_a_parameter_no_calibration_result_pins_reports_its_range_limits() -> None:
    # A published 'no change' with the default noise: the fructan yield sits at its lower
    # limit, and the profile stays under the threshold there (not identifiable below).
    fit = calibrate_literature(
        results=[_result("birkeland2020_inulin16_week6")],
        parameters=["y_fructan"],
        profile_points=5,
    )
    (p,) = fit.parameters
    assert p.value == pytest.approx(0.0, abs=0.02)
    assert p.ci_low == 0.0 and not p.identifiable_low
    assert p.identifiable_high and p.ci_high < 1.0


def test_an_unknown_parameter_is_refused_by_name() -> None:
    with pytest.raises(UnknownIdError, match="no_such_rate"):
        calibrate_literature(parameters=["no_such_rate"])
