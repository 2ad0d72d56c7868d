"""Generated kernels: analytic Jacobian, sparsity, batching and closed-form sub-cases."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

from hostcap.mechanistic_model import VARIANTS, compile_model, initial_state, simulate
from hostcap.mechanistic_model.compilation import _KernelPrinter


def _finite_difference_jacobian(variant: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    m = compile_model(variant)
    u = m.input_vector({"nad_precursor": 300.0, "h1_block": 1.0, "antibiotic_pulse": 1.0})
    n = y.size
    jac = np.empty((n, n))
    for j in range(n):
        h = 1e-6 * max(abs(y[j]), 1e-3)
        up, down = y.copy(), y.copy()
        up[j] += h
        down[j] -= h
        jac[:, j] = (m.rhs(0.0, up, p, u) - m.rhs(0.0, down, p, u)) / (2 * h)
    return jac


@pytest.mark.parametrize("variant", VARIANTS)
def test_analytic_jacobian_matches_central_differences(variant: str) -> None:
    m = compile_model(variant)
    p = m.parameter_vector("A")
    # Off the steady state, so every term of every rate law is exercised.
    y = initial_state(m, "A") * np.linspace(0.8, 1.1, len(m.state_ids))
    u = m.input_vector({"nad_precursor": 300.0, "h1_block": 1.0, "antibiotic_pulse": 1.0})
    analytic = m.jacobian(0.0, y, p, u)
    numeric = _finite_difference_jacobian(variant, y, p)
    scale = np.maximum(np.abs(analytic), 1e-8)
    assert np.max(np.abs(analytic - numeric) / scale * (np.abs(analytic) > 1e-12)) < 1e-5
    assert np.max(np.abs(numeric[np.abs(analytic) == 0])) < 1e-8


def test_sparsity_lists_exactly_the_structural_non_zeros() -> None:
    m = compile_model("essay")
    rows, cols = m.sparsity
    n = len(m.state_ids)
    assert rows.size == cols.size and rows.size < n * n  # genuinely sparse
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) == rows.size
    i = m.state_ids.index
    pattern = set(zip(rows.tolist(), cols.tolist(), strict=True))
    # The chain: butyrate drives colon energy; the CNS pool does not touch butyrate.
    assert (i("colon_energy"), i("butyrate")) in pattern
    assert (i("butyrate"), i("cns_mc")) not in pattern
    # Every state decays or relaxes, so every diagonal entry is present.
    assert all((k, k) in pattern for k in range(n))


def test_kernels_accept_a_batch_on_the_trailing_axis_and_match_member_by_member() -> None:
    m = compile_model("biochemical")
    members = [m.parameter_vector(ph) for ph in ("healthy", "A", "B", "C")]
    p = np.stack(members, axis=1)
    y = np.stack([initial_state(m, ph) for ph in ("healthy", "A", "B", "C")], axis=1)
    u = np.repeat(m.input_vector({"fibre_substrate": 10.0})[:, None], 4, axis=1)
    rhs = m.rhs(0.0, y, p, u)
    jac = m.jacobian_values(0.0, y, p, u)
    obs = m.observables(0.0, y, p, u)
    assert rhs.shape == (len(m.state_ids), 4)
    assert jac.shape == (m.sparsity[0].size, 4)
    for k in range(4):
        # atol: a rate at its steady state is 0 up to rounding, which the batch may order apart.
        np.testing.assert_allclose(rhs[:, k], m.rhs(0.0, y[:, k], members[k], u[:, k]), atol=1e-12)
        np.testing.assert_allclose(jac[:, k], m.jacobian_values(0.0, y[:, k], members[k], u[:, k]))
        np.testing.assert_allclose(obs[:, k], m.observables(0.0, y[:, k], members[k], u[:, k]))


def _perturbed_run(variant: str, state: str, factor: float, hours: np.ndarray) -> np.ndarray:
    m = compile_model(variant)
    y0 = initial_state(m, "healthy")
    y0[m.state_ids.index(state)] *= factor
    traj = simulate(
        m,
        phenotype="healthy",
        weeks=hours[-1] / 168.0,
        save_at=hours,
        y0=y0,
        rtol=1e-10,
        atol=1e-12,
    )
    return traj[state]


def test_crp_relaxes_exponentially_with_its_19_hour_half_life() -> None:
    # Nothing feeds back from CRP, so from a displaced CRP with every other state at steady
    # state, crp(t) = target + (crp0 - target) exp(-k t).
    m = compile_model("essay")
    p = m.parameter_values("healthy")
    target = initial_state(m, "healthy")[m.state_ids.index("crp")]
    hours = np.linspace(0.0, 96.0, 9)
    crp = _perturbed_run("essay", "crp", 5.0, hours)
    expected = target + (5.0 * target - target) * np.exp(-p["k_crp_clr"] * hours)
    np.testing.assert_allclose(crp, expected, rtol=1e-7)
    assert np.log(2) / p["k_crp_clr"] == pytest.approx(19.0, abs=0.5)


def test_tryptase_falls_back_with_a_two_hour_half_life() -> None:
    m = compile_model("essay")
    p = m.parameter_values("healthy")
    target = initial_state(m, "healthy")[m.state_ids.index("tryptase")]
    hours = np.linspace(0.0, 12.0, 13)
    tryptase = _perturbed_run("essay", "tryptase", 3.0, hours)
    expected = target + 2.0 * target * np.exp(-p["k_tryp_clr"] * hours)
    np.testing.assert_allclose(tryptase, expected, rtol=1e-7)


def test_5hmc_relaxes_linearly_when_alpha_kg_is_steady() -> None:
    # d h/dt = a (1 - h) - b h with a = k_tet2 * akg / (K_tet2 + akg): closed form, as α-KG does
    # not depend on 5hmC.
    m = compile_model("essay")
    p = m.parameter_values("healthy")
    y = initial_state(m, "healthy")
    akg = y[m.state_ids.index("akg")]
    a = p["k_tet2"] * akg / (p["K_tet2"] + akg)
    b = p["k_hmc_loss"]
    h_star = a / (a + b)
    hours = np.linspace(0.0, 2000.0, 11)
    h = _perturbed_run("essay", "hmc_reg", 0.2, hours)
    h0 = 0.2 * y[m.state_ids.index("hmc_reg")]
    np.testing.assert_allclose(h, h_star + (h0 - h_star) * np.exp(-(a + b) * hours), rtol=1e-7)


def test_null_threshold_regresses_to_the_personal_mean_exponentially() -> None:
    m = compile_model("null")
    p = m.parameter_values("B")
    hours = np.linspace(0.0, 16 * 168.0, 17)
    traj = simulate(m, phenotype="B", weeks=16, save_at=hours, rtol=1e-10, atol=1e-12)
    mean, start = p["thr_personal"], p["thr_personal"] * p["thr_flare"]
    expected = mean + (start - mean) * np.exp(-p["k_rtm"] * hours)
    np.testing.assert_allclose(traj["mc_threshold"], expected, rtol=1e-7)


def test_negative_integer_powers_are_written_as_divisions_not_pow_calls() -> None:
    # x**(-2.0) is a general pow call in numpy and numba (~20x the cost of 1.0/x**2).
    m = compile_model("essay")
    for source in (m.source, m.scalar_source):
        assert re.search(r"\*\*\(-", source) is None
        assert re.search(r"\*\*\(?-?\d+\.\d", source) is None


def test_the_kernel_printer_keeps_the_value_of_negative_integer_powers() -> None:
    x, y = sympy.symbols("x y")
    printer = _KernelPrinter({"fully_qualified_modules": True})
    for expr in (x**-1, x**-2, (x + y) ** -3, 2 * x**-2 * y, (x * y) ** -1, x ** (-y)):
        text = printer.doprint(expr)
        value = eval(text, {"numpy": np}, {"x": 1.7, "y": 0.3})
        assert value == pytest.approx(float(expr.subs({x: 1.7, y: 0.3})), rel=1e-14), text
