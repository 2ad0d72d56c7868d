"""How a model value compares with a published value and its range.

A verdict is, in order of precedence:

- ``undecidable`` — no published value, or no finite model value (a result the protocol language
  cannot express, a number not found, a failed run);
- ``within`` — ``published_low <= model <= published_high`` (bounds inclusive; how the range is
  built is declared per result: mean ± 1 SD, a reported range, or the point itself);
- ``within_2x`` — ``0.5 <= model / published <= 2`` (inclusive; the ratio must be positive, so a
  change in the wrong direction is never within 2×; undefined when the published value is 0, so
  a published "no change" is met only inside its range);
- ``off`` — everything else.
"""

from __future__ import annotations

import math
from enum import StrEnum

__all__ = ["RATIO_LIMIT", "Verdict", "verdict"]

#: A model value within this factor of the published value (either way) is ``within_2x``.
RATIO_LIMIT = 2.0


class Verdict(StrEnum):
    """Agreement of one model value with one published result."""

    WITHIN = "within"
    WITHIN_2X = "within_2x"
    OFF = "off"
    UNDECIDABLE = "undecidable"


def verdict(
    published: float | None,
    low: float | None,
    high: float | None,
    model: float | None,
) -> Verdict:
    """The verdict for one model value against one published value and range.

    Parameters
    ----------
    published
        The published point value (``None`` when not found or not comparable).
    low, high
        The published range; ``None`` falls back to the point value.
    model
        The model's value on the same scale (``None`` or NaN when it has none).

    Examples
    --------
    >>> verdict(51.0, 51.0, 51.0, 56.3).value
    'within_2x'
    >>> verdict(19.3, 3.9, 34.7, 7.4).value
    'within'
    """
    if published is None or model is None or not math.isfinite(model):
        return Verdict.UNDECIDABLE
    lo = published if low is None else low
    hi = published if high is None else high
    if lo <= model <= hi:
        return Verdict.WITHIN
    if published != 0:
        ratio = model / published
        if 1.0 / RATIO_LIMIT <= ratio <= RATIO_LIMIT:
            return Verdict.WITHIN_2X
    return Verdict.OFF
