"""ObservationPredictor: fitting's batches give the numbers of the general batch simulation."""

from __future__ import annotations

import numpy as np
import pytest

from hostcap.mechanistic_model import compile_model
from hostcap.mechanistic_model.batch_simulation import iter_batches, parameter_matrix
from hostcap.mechanistic_model.fit_predictions import ObservationPredictor

TIMES = np.array([0.0, 100.0, 336.0, 700.5])


@pytest.mark.parametrize("variant", ["essay", "null"])
def test_predictions_equal_the_batch_simulation_of_the_same_members(variant: str) -> None:
    # null: members start in the enrolment flare (an initial override of each member's own
    # parameters), essay: from their own steady state.
    m = compile_model(variant)
    pid = m.parameter_ids[0] if variant == "essay" else "thr_personal"
    base = m.parameter_values("A")[pid]
    p = parameter_matrix(m, {pid: base * np.array([0.8, 1.0, 1.25])}, phenotype="A")
    got = ObservationPredictor(m, None, "A", TIMES, rtol=1e-5, atol=1e-8).observables(p)
    (ref,) = iter_batches(
        m, None, p, phenotype="A", weeks=TIMES[-1] / 168, save_at=TIMES, rtol=1e-5, atol=1e-8
    )
    assert got.shape == (3, TIMES.size, len(m.observable_ids))
    np.testing.assert_allclose(got, ref.observables, rtol=1e-12, atol=0)
    # Different members, different predictions (the parameter is used).
    assert not np.allclose(got[0], got[2])


def test_members_without_a_steady_state_predict_nan_and_leave_the_others_alone() -> None:
    m = compile_model("essay")
    p = parameter_matrix(m, None, phenotype="A")
    p = np.repeat(p, 2, axis=1)
    p[:, 1] = np.nan  # no steady state can be found for these parameters
    with np.errstate(invalid="ignore"):
        got = ObservationPredictor(m, None, "A", TIMES, rtol=1e-5, atol=1e-8).observables(p)
    assert np.all(np.isnan(got[1]))
    assert np.all(np.isfinite(got[0]))
