"""Verdicts on constructed cases, edges included."""

from __future__ import annotations

import math

import pytest

from hostcap.model_validation import Verdict, verdict


@pytest.mark.parametrize(
    ("published", "low", "high", "model", "expected"),
    [
        (19.3, 3.9, 34.7, 7.4, Verdict.WITHIN),
        (19.3, 3.9, 34.7, 3.9, Verdict.WITHIN),  # lower bound inclusive
        (19.3, 3.9, 34.7, 34.7, Verdict.WITHIN),  # upper bound inclusive
        (51.0, 50.5, 51.5, 56.3, Verdict.WITHIN_2X),
        (100.0, 100.0, 100.0, 200.0, Verdict.WITHIN_2X),  # ratio 2 inclusive
        (100.0, 100.0, 100.0, 50.0, Verdict.WITHIN_2X),  # ratio 0.5 inclusive
        (100.0, 100.0, 100.0, 200.1, Verdict.OFF),
        (100.0, 100.0, 100.0, 49.9, Verdict.OFF),
        (-72.0, -72.0, -72.0, -92.0, Verdict.WITHIN_2X),  # both negative: ratio 1.28
        (-3.4, -3.4, -3.4, 3.4, Verdict.OFF),  # wrong direction is never within 2x
        (0.0, 0.0, 0.0, 77.2, Verdict.OFF),  # a published "no change": 2x is undefined
        (0.0, 0.0, 0.0, 0.0, Verdict.WITHIN),
        (0.0, -5.0, 5.0, 4.0, Verdict.WITHIN),
        (0.98, 0.98, 2.1, 0.0, Verdict.OFF),  # an instant model onset
        (None, None, None, 1.0, Verdict.UNDECIDABLE),  # not found
        (2.7, 2.7, 2.7, None, Verdict.UNDECIDABLE),  # not expressible
        (2.7, 2.7, 2.7, math.nan, Verdict.UNDECIDABLE),  # failed run
        (2.0, None, None, 2.0, Verdict.WITHIN),  # no range: the point itself
    ],
)
def test_verdict_on_constructed_cases(
    published: float | None,
    low: float | None,
    high: float | None,
    model: float | None,
    expected: Verdict,
) -> None:
    assert verdict(published, low, high, model) == expected


def test_inside_the_range_wins_over_the_ratio_test() -> None:
    # 4 x the published value, but inside a wide reported range: within, not off
    assert verdict(27.3, -68.8, 123.4, 109.2) == Verdict.WITHIN


def test_a_published_null_difference_is_judged_against_the_interval_it_could_not_exclude() -> None:
    # A hand-made null_difference: arms 2.0 (95 % CI 1.0-3.0) and 3.0 (2.0-4.0); the observed
    # difference is +50 % of the control mean and its interval 1.0 ± √(1² + 1²) = -0.414..2.414,
    # i.e. -20.7 % to +120.7 %: no change, and changes up to the interval's ends, are within.
    observed, low, high = 50.0, -20.71, 120.71
    assert verdict(observed, low, high, 0.0) == Verdict.WITHIN
    assert verdict(observed, low, high, 120.0) == Verdict.WITHIN
    assert verdict(observed, low, high, -20.0) == Verdict.WITHIN
    # outside the interval: 2x is read against the observed difference, not against 0
    assert verdict(observed, low, high, -25.0) == Verdict.OFF
    assert verdict(observed, low, high, 150.0) == Verdict.OFF
    assert verdict(30.0, -10.0, 55.0, 60.0) == Verdict.WITHIN_2X
