"""The searches behind ClientFit, checked on least-squares problems with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear
from scipy.stats import norm

from hostcap.mechanistic_model.likelihood_search import (
    FIT_LL_TOL,
    levenberg_marquardt,
    profile_intervals,
)

RNG = np.random.default_rng(7)
A = RNG.normal(size=(12, 3))
B = A @ np.array([0.5, -1.0, 2.0]) + RNG.normal(scale=0.3, size=12)
LO, HI = np.full(3, -5.0), np.full(3, 5.0)


def _linear(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residuals ``Aθ − b``: the log-likelihood is exactly quadratic."""
    r = theta @ A.T - B
    jac = np.repeat(A[None], theta.shape[0], axis=0)
    return r, jac, -0.5 * np.sum(r**2, axis=1)


def _exponential(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Residuals of a decay ``a·exp(−k t)``: a likelihood that is not quadratic."""
    t = np.linspace(0.0, 3.0, 8)
    a, k = np.exp(theta[:, :1]), np.exp(theta[:, 1:])
    y = 2.0 * np.exp(-0.7 * t) * np.array([1.1, 0.9, 1.05, 0.97, 1.02, 0.95, 1.08, 0.93])
    pred = a * np.exp(-k * t)
    r = (pred - y) / 0.4
    jac = np.stack([pred / 0.4, -k * t * pred / 0.4], axis=2)
    return r, jac, -0.5 * np.sum(r**2, axis=1)


def _exact_fit() -> tuple[np.ndarray, np.ndarray]:
    theta = np.linalg.lstsq(A, B, rcond=None)[0]
    se = np.sqrt(np.diag(np.linalg.inv(A.T @ A)))
    return theta, se


def test_levenberg_marquardt_finds_the_bounded_least_squares_optimum_in_a_few_batches() -> None:
    # The unconstrained optimum has theta[2] = 2 > 1.2: the bounded one holds it at the bound
    # and moves the others to compensate (what clipping after an unbounded step never reaches).
    hi = np.array([5.0, 5.0, 1.2])
    calls = []

    def counted(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        calls.append(theta.shape[0])
        return _linear(theta)

    starts = np.array([[0.0, 0.0, 0.0], [3.0, -3.0, 1.0]])
    theta, _, _, ll = levenberg_marquardt(
        counted, starts, LO, hi, np.ones_like(starts, dtype=bool), 30, trail=False
    )
    expected = lsq_linear(A, B, bounds=(LO, hi)).x
    for row in range(2):
        assert theta[row] == pytest.approx(expected, abs=0.02), theta[row]
        optimum = -0.5 * np.sum((A @ expected - B) ** 2)
        assert optimum - FIT_LL_TOL <= ll[row] <= optimum + 1e-9
    assert theta[0, 2] == 1.2
    assert len(calls) <= 8, calls


def test_levenberg_marquardt_leaves_coordinates_that_are_not_free_where_they_are() -> None:
    start = np.array([[0.0, 0.0, 0.3]])
    free = np.array([[True, True, False]])
    theta, _, _, _ = levenberg_marquardt(_linear, start, LO, HI, free, 30, trail=False)
    assert theta[0, 2] == 0.3
    expected = np.linalg.lstsq(A[:, :2], B - 0.3 * A[:, 2], rcond=None)[0]
    assert theta[0, :2] == pytest.approx(expected, abs=0.02)


def test_profile_ends_of_an_exactly_quadratic_likelihood_are_the_wald_ends() -> None:
    theta, se = _exact_fit()
    _, jac, ll = _linear(theta.reshape(1, -1))
    z = float(norm.ppf(0.975))
    low, high, frame = profile_intervals(
        _linear, theta, float(ll[0]), jac[0], z * se, LO, HI, 0.95, ["a", "b", "c"]
    )
    assert low == pytest.approx(theta - z * se, abs=1e-6)
    assert high == pytest.approx(theta + z * se, abs=1e-6)
    # The Wald end is the first look; it is exact, so each chain needs that one look.
    assert (frame["direction"] != "optimum").sum() == 6


def test_a_profile_that_reaches_the_range_first_is_open_there() -> None:
    theta, se = _exact_fit()
    _, jac, ll = _linear(theta.reshape(1, -1))
    z = float(norm.ppf(0.975))
    hi = HI.copy()
    hi[1] = theta[1] + 0.5 * z * se[1]  # inside the interval: the likelihood never falls enough
    low, high, _ = profile_intervals(
        _linear, theta, float(ll[0]), jac[0], z * se, LO, hi, 0.95, ["a", "b", "c"]
    )
    assert high[1] == hi[1]
    assert low[1] == pytest.approx(theta[1] - z * se[1], abs=1e-6)


def test_profile_ends_of_a_curved_likelihood_are_where_it_has_fallen_by_1_92() -> None:
    start = np.array([[0.0, -0.5]])
    lo, hi = np.array([-3.0, -4.0]), np.array([3.0, 2.0])
    theta, _, jac, ll = levenberg_marquardt(
        _exponential, start, lo, hi, np.ones_like(start, dtype=bool), 50, trail=False, ll_tol=1e-9
    )
    info = jac[0].T @ jac[0]
    wald_half = 1.96 * np.sqrt(np.diag(np.linalg.inv(info)))
    low, high, frame = profile_intervals(
        _exponential, theta[0], float(ll[0]), jac[0], wald_half, lo, hi, 0.95, ["a", "k"]
    )
    for j in range(2):
        for end in (low[j], high[j]):
            # The other parameter refitted exactly at the end: the drop is 1.92 (χ²₁ 95 % / 2).
            fixed = theta.copy()
            fixed[0, j] = end
            free = np.array([[i != j for i in range(2)]])
            _, _, _, ll_end = levenberg_marquardt(
                _exponential, fixed, lo, hi, free, 50, trail=False, ll_tol=1e-9
            )
            assert ll[0] - ll_end[0] == pytest.approx(1.9207, abs=0.02), (j, end)
    # Curved: the profile interval is not the symmetric Wald interval.
    assert high[1] - theta[0, 1] != pytest.approx(theta[0, 1] - low[1], rel=0.1)
    assert set(frame["direction"]) == {"down", "optimum", "up"}
