"""The healthy preset and the dose-responses reproduce the numbers their citations give."""

from __future__ import annotations

import pytest

from hostcap.mechanistic_model import compile_model, initial_state, steady_state


def _healthy(name: str) -> float:
    m = compile_model("essay")
    return float(initial_state(m, "healthy")[m.state_ids.index(name)])


def test_healthy_steady_state_sits_at_the_cited_reference_values() -> None:
    assert _healthy("butyrate") == pytest.approx(15.0, rel=0.1)  # ~15 % of ~100 mM SCFA
    assert _healthy("crp") == pytest.approx(1.0, rel=0.15)  # donor median hs-CRP
    assert _healthy("opn") == pytest.approx(51.0, rel=0.15)  # healthy median osteopontin
    assert 27.0 <= _healthy("nad") <= 33.0  # fingerstick whole-blood NAD+ (women/men means)
    assert _healthy("lps") == pytest.approx(0.1, rel=0.25)
    assert _healthy("mc_threshold") == pytest.approx(1.0, rel=0.1)


def test_nr_dose_response_matches_conze_2019() -> None:
    # Conze 2019: 100/300/1000 mg/d NR raised whole-blood NAD+ by 22/51/142 % within 2 weeks.
    m = compile_model("essay")
    p = m.parameter_vector("healthy")
    y = initial_state(m, "healthy")
    i = m.state_ids.index("nad")
    for dose, rise in ((100, 0.22), (300, 0.51), (1000, 1.42)):
        u = m.input_vector({"nad_precursor": dose})
        treated = steady_state(m, p, guess=y, inputs=u, settle_h=2 * 168.0)
        assert treated[i] / y[i] - 1 == pytest.approx(rise, abs=0.1), dose


@pytest.mark.parametrize(("copies", "median"), [(1, 13.6), (2, 22.5)])
def test_extra_alpha_tryptase_copies_give_the_hat_medians(copies: int, median: float) -> None:
    # Lyons 2022: baseline tryptase medians 13.6 and 22.5 ng/mL with one and two extra copies.
    m = compile_model("essay")
    p = m.parameter_vector("healthy", {"hat_copies": float(copies)})
    y = steady_state(m, p, guess=initial_state(m, "healthy"), settle_h=48.0)
    tryptase = y[m.state_ids.index("tryptase")]
    assert tryptase == pytest.approx(median, rel=0.1)
