"""Mixed models: reproduce statsmodels exactly, recover a known effect, report convergence."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from tests.outcome_analytics.cohort_factory import make_cohort

from hostcap.errors import ValidationError
from hostcap.outcome_analytics import MIXED_MODEL_COLUMNS, fit_mixed_models

WEEK_TERMS = {
    "week": "tryptase_week_A",
    "week:C(phenotype, Treatment('A'))[T.B]": "tryptase_week_B_minus_A",
    "week:C(phenotype, Treatment('A'))[T.C]": "tryptase_week_C_minus_A",
}


def test_mixed_model_layer_reproduces_a_direct_statsmodels_fit_to_1e_8() -> None:
    cohort = make_cohort(60, seed=2, slope_sd=0.01, measures=("tryptase",))
    fit = fit_mixed_models(cohort.measurements, cohort.clients)[0]
    assert fit.re_formula == "~week_re"
    assert not any("another optimiser" in w for w in fit.warnings)  # L-BFGS converged

    # The same model built by hand, independently of the layer's frame construction.
    data = cohort.measurements.merge(cohort.clients[["client", "phenotype"]], on="client")
    data = data.assign(y=np.log(data["value"]), week_10=data["week"] / 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        direct = smf.mixedlm(
            "y ~ week * C(phenotype, Treatment('A'))",
            data,
            groups=data["client"],
            re_formula="~week_10",  # the layer's random slope per ten weeks
        ).fit(reml=True, method=["lbfgs"])
    table = fit.table.set_index("term")
    names = list(direct.model.exog_names)
    assert list(table.index) == names
    np.testing.assert_allclose(table["estimate"], direct.fe_params[names], rtol=0, atol=1e-8)
    ci = direct.conf_int().loc[names]
    np.testing.assert_allclose(table["ci_low"], ci.iloc[:, 0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(table["ci_high"], ci.iloc[:, 1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(table["p"], direct.pvalues[names], rtol=0, atol=1e-8)
    # Whatever statsmodels warned about is in the result, not lost.
    for w in caught:
        assert any(str(w.message) in kept for kept in fit.warnings)


def test_known_effect_lies_inside_the_95_percent_intervals() -> None:
    cohort = make_cohort(90, seed=0, slope_sd=0.01, measures=("tryptase",))
    fit = fit_mixed_models(cohort.measurements, cohort.clients)[0]
    table = fit.table.set_index("term")
    assert tuple(fit.table.columns) == MIXED_MODEL_COLUMNS
    for term, key in WEEK_TERMS.items():
        truth = cohort.truth[key]
        assert table.loc[term, "ci_low"] <= truth <= table.loc[term, "ci_high"], (term, truth)
    # And the effect in A is detected, not merely covered by a wide interval.
    assert table.loc["week", "ci_high"] < 0
    assert table.loc["week", "p"] < 0.05


def test_convergence_problems_are_captured_and_reported_in_the_rows() -> None:
    # No effect and no random slopes: the slope variance sits on the boundary (0), which
    # statsmodels reports with ConvergenceWarning. pytest turns escaping warnings into errors.
    cohort = make_cohort(24, seed=4, effect_scale=0.0, slope_sd=0.0, measures=("symptom_load",))
    fit = fit_mixed_models(cohort.measurements, cohort.clients)[0]
    assert fit.warnings
    assert any("ConvergenceWarning" in w for w in fit.warnings)
    assert (fit.table["warnings"] != "").all()
    assert fit.table["converged"].dtype == bool


def test_too_few_clients_give_a_not_fitted_row_with_the_reason() -> None:
    cohort = make_cohort(3, seed=1, measures=("tryptase",))
    fit = fit_mixed_models(cohort.measurements, cohort.clients, min_clients=5)[0]
    assert list(fit.table["term"]) == ["(not fitted)"]
    assert not fit.converged
    assert "3 client(s)" in fit.warnings[0] and "need 5" in fit.warnings[0]


def test_phase_enters_as_a_fixed_effect_when_present() -> None:
    cohort = make_cohort(30, seed=6, measures=("symptom_load",))
    m = cohort.measurements.assign(
        phase=np.where(cohort.measurements["week"] <= 0, "0_baseline", "1_protocol")
    )
    fit = fit_mixed_models(m, cohort.clients)[0]
    assert "C(phase)" in fit.formula
    assert "C(phase)[T.1_protocol]" in set(fit.table["term"])


def test_non_positive_value_on_a_log_scale_measure_is_named() -> None:
    cohort = make_cohort(6, seed=1, measures=("tryptase",))
    m = cohort.measurements.copy()
    m.loc[3, "value"] = 0.0
    with pytest.raises(ValidationError) as info:
        fit_mixed_models(m, cohort.clients)
    message = str(info.value)
    assert "measurements.value (tryptase)" in message
    assert "0.0" in message and "positive" in message and "log scale" in message


def test_unknown_measure_is_refused_with_the_known_list() -> None:
    m = pd.DataFrame({"client": ["c1"], "measure": ["ferritin"], "week": [0.0], "value": [1.0]})
    clients = pd.DataFrame({"client": ["c1"], "phenotype": ["A"], "protocol": ["p"]})
    with pytest.raises(ValidationError) as info:
        fit_mixed_models(m, clients)
    assert "ferritin" in str(info.value) and "tryptase" in str(info.value)


def test_a_phase_term_confounded_with_phenotype_is_dropped_and_reported() -> None:
    # Each phenotype's protocol names its own phases: phase identifies phenotype exactly,
    # which would make MixedLM return arbitrary estimates without an error.
    cohort = make_cohort(30, seed=6, measures=("symptom_load",))
    m = cohort.measurements.merge(cohort.clients[["client", "phenotype"]], on="client")
    m = m.assign(phase="protocol_" + m["phenotype"]).drop(columns="phenotype")
    fit = fit_mixed_models(m, cohort.clients)[0]
    assert "C(phase)" not in fit.formula
    assert any("phase term dropped" in w and "rank" in w for w in fit.warnings)
    assert not any("phase" in t for t in fit.table["term"])
