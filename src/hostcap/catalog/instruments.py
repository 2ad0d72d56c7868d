"""Questionnaires and clinical tests: scoring definitions and one scoring function.

The catalog ships the *scoring* of each instrument, not copyrighted item text: items carry short
paraphrased labels. Every instrument states the population it was validated in; the mast cell
instruments are validated in mastocytosis, not MCAS, and hostcap's symptom diary is not validated
at all — both are said on every score.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import cache
from typing import Literal, Self

from pydantic import Field, computed_field, model_validator

from hostcap.catalog.loading import CatalogModel, load_entries
from hostcap.errors import Issue, UnknownIdError, ValidationError

__all__ = [
    "Cutoff",
    "Instrument",
    "InstrumentItem",
    "InstrumentScore",
    "beighton_cutoff",
    "get_instrument",
    "instruments",
    "score_instrument",
]

Direction = Literal[">=", ">", "<=", "<"]


class InstrumentItem(CatalogModel):
    """One item: its 1-based number, a short label (not the item text) and its answer range."""

    index: int = Field(ge=1)
    label: str
    min: float
    max: float
    weight: float | None = None
    domain: str | None = None


class Cutoff(CatalogModel):
    """A published threshold: ``score <direction> threshold`` means ``meaning``."""

    threshold: float
    direction: Direction
    basis: Literal["total", "mean"]
    meaning: str
    otherwise: str
    condition: str | None = None

    def met(self, value: float) -> bool:
        """Whether ``value`` lies on the ``meaning`` side of the threshold."""
        t = self.threshold
        return {
            ">=": value >= t,
            ">": value > t,
            "<=": value <= t,
            "<": value < t,
        }[self.direction]


# ``construct`` is the psychometric word for what an instrument measures; pydantic warns that it
# shadows the deprecated ``BaseModel.construct`` classmethod, which hostcap never uses.
warnings.filterwarnings(
    "ignore", message='Field name "construct" in "Instrument" shadows', category=UserWarning
)


class Instrument(CatalogModel):
    """Scoring definition of a questionnaire or clinical test.

    Attributes
    ----------
    method
        How answers become a score: ``sum``, ``mean``, ``weighted_domains`` (COMPASS-31),
        ``beighton``, ``active_stand`` or ``diary_mean``.
    score_basis
        Whether cut-offs and the MCID refer to the total or the item mean.
    subscales
        Subscale name -> 1-based item numbers.
    validated
        False for hostcap's own symptom diary (labelled NON-VALIDATED wherever it is shown).
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    abbreviation: str
    construct: str  # type: ignore[assignment]
    method: Literal["sum", "mean", "weighted_domains", "beighton", "active_stand", "diary_mean"]
    recall: str
    integer_answers: bool = True
    items: tuple[InstrumentItem, ...]
    scoring: str
    score_basis: Literal["total", "mean"]
    subscales: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    subscale_max: dict[str, float] = Field(default_factory=dict)
    total_range: tuple[float, float]
    cutoffs: tuple[Cutoff, ...] = ()
    mcid: float | None = None
    mcid_note: str | None = None
    higher_is_worse: bool
    licence_note: str
    validated_population: str
    validated: bool
    citation: str
    further_citations: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def n_items(self) -> int:
        """Number of items (answers expected)."""
        return len(self.items)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if [i.index for i in self.items] != list(range(1, len(self.items) + 1)):
            raise ValueError("items must be numbered 1..n in order")
        for item in self.items:
            if item.min >= item.max:
                raise ValueError(f"item {item.index}: min must be below max")
        for name, members in self.subscales.items():
            if not members or any(not 1 <= m <= len(self.items) for m in members):
                raise ValueError(f"subscale {name} names items outside 1..{len(self.items)}")
        if self.method == "weighted_domains" and set(self.subscale_max) != set(self.subscales):
            raise ValueError("weighted_domains needs subscale_max for every subscale")
        if self.total_range[0] >= self.total_range[1]:
            raise ValueError("total_range must be (low, high) with low < high")
        return self

    def domain_weight(self, subscale: str) -> float:
        """Weight applied to a domain's raw sum (weighted maximum ÷ raw maximum)."""
        raw_max = sum(self.items[i - 1].max for i in self.subscales[subscale])
        return self.subscale_max[subscale] / raw_max

    def citation_keys(self) -> tuple[str, ...]:
        """Every citation key this entry rests on."""
        return (self.citation, *self.further_citations)


class InstrumentScore(CatalogModel):
    """The score of one administration.

    ``above_cutoff`` is True when the score lies on the ``meaning`` side of the instrument's
    applicable cut-off (for MCT that is *good* control, for FSS *substantial* fatigue), False on
    the other side, and None when the instrument has no cut-off or it cannot be applied (e.g.
    Beighton without the age). ``interpretation`` says which, in words.
    """

    instrument_id: str
    total: float
    mean: float | None
    subscales: dict[str, float]
    interpretation: tuple[str, ...]
    above_cutoff: bool | None


@cache
def instruments() -> dict[str, Instrument]:
    """Every instrument in the catalog, by id."""
    return load_entries("instruments.yaml", Instrument)


def get_instrument(instrument_id: str) -> Instrument:
    """The instrument for an id (any case; ``compass-31`` is read as ``compass31``).

    Raises
    ------
    UnknownIdError
        Naming the value and the known ids.
    """
    key = str(instrument_id).strip().lower().replace("-", "").replace(" ", "_")
    table = instruments()
    if key not in table:
        raise UnknownIdError("instrument", instrument_id, table)
    return table[key]


def beighton_cutoff(age_years: float, *, pubertal: bool | None = None) -> int:
    """Beighton cut-off for generalised joint hypermobility at a given age (Malfait 2017).

    ≥6 before puberty, ≥5 from puberty to age 50, ≥4 over 50. Puberty is not an age: pass
    ``pubertal`` when known; otherwise under 12 years is taken as before puberty (an assumption).

    Raises
    ------
    ValidationError
        For a negative or non-finite age.

    Examples
    --------
    >>> beighton_cutoff(8), beighton_cutoff(30), beighton_cutoff(51)
    (6, 5, 4)
    """
    if not (math.isfinite(age_years) and 0 <= age_years <= 130):
        raise ValidationError.single("age_years", age_years, "an age in years between 0 and 130")
    if age_years > 50:
        return 4
    before_puberty = (not pubertal) if pubertal is not None else age_years < 12
    return 6 if before_puberty else 5


_SIGNS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


def _fmt(x: float) -> str:
    return f"{round(x, 2):g}"


def _validate(instrument: Instrument, answers: Sequence[float]) -> list[float]:
    issues: list[Issue] = []
    n = instrument.n_items
    iid = instrument.id
    if len(answers) != n:
        issues.append(
            Issue(
                location="answers",
                message=f"{iid} expects {n} answers; got {len(answers)}",
                value=len(answers),
                expected=f"{n} answers",
            )
        )
    values: list[float] = []
    for number, (item, raw) in enumerate(zip(instrument.items, answers, strict=False), start=1):
        span = f"{_fmt(item.min)}–{_fmt(item.max)}"
        where = f"answers[{number}]"
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            issues.append(
                Issue(
                    location=where,
                    message=f"{iid} answer {number} value {raw!r} is not a number; expected {span}",
                    value=raw,
                    expected=span,
                )
            )
        elif value < item.min or value > item.max:
            issues.append(
                Issue(
                    location=where,
                    message=f"{iid} answer {number} value {_fmt(value)} is outside {span}",
                    value=raw,
                    expected=span,
                )
            )
        elif instrument.integer_answers and not value.is_integer():
            issues.append(
                Issue(
                    location=where,
                    message=f"{iid} answer {number} value {_fmt(value)} is not a whole number; "
                    f"expected a whole number {span}",
                    value=raw,
                    expected=f"a whole number {span}",
                )
            )
        values.append(value)
    if issues:
        raise ValidationError(issues)
    return values


def _subscale_means(instrument: Instrument, values: list[float]) -> dict[str, float]:
    return {
        name: sum(values[i - 1] for i in members) / len(members)
        for name, members in instrument.subscales.items()
    }


def _cutoff_reading(
    instrument: Instrument, total: float, mean: float | None
) -> tuple[str, bool | None]:
    if not instrument.cutoffs:
        return "", None
    cut = instrument.cutoffs[0]
    value = mean if cut.basis == "mean" and mean is not None else total
    met = cut.met(value)
    sign = _SIGNS[cut.direction]
    return f"{cut.meaning if met else cut.otherwise} (cut-off {sign}{_fmt(cut.threshold)})", met


def _population_line(instrument: Instrument) -> str:
    if not instrument.validated:
        return f"{instrument.abbreviation} is NON-VALIDATED: for tracking a person over time only"
    return f"validated population: {instrument.validated_population}"


def _score_generic(instrument: Instrument, values: list[float]) -> InstrumentScore:
    total = sum(values)
    mean = total / len(values) if instrument.method in {"mean", "diary_mean"} else None
    if instrument.method == "diary_mean":
        total = total / len(values)
    subscales = _subscale_means(instrument, values)
    basis_value = mean if instrument.score_basis == "mean" and mean is not None else total
    head = f"{instrument.abbreviation} {instrument.score_basis} {_fmt(basis_value)}"
    reading, met = _cutoff_reading(instrument, total, mean)
    lines = [f"{head}: {reading}" if reading else head]
    if instrument.mcid is not None:
        lines.append(
            f"a change of at least {_fmt(instrument.mcid)} in the {instrument.score_basis} is "
            "the minimal important difference"
        )
    lines.append(_population_line(instrument))
    return InstrumentScore(
        instrument_id=instrument.id,
        total=total,
        mean=mean,
        subscales=subscales,
        interpretation=tuple(lines),
        above_cutoff=met,
    )


def _score_compass(instrument: Instrument, values: list[float]) -> InstrumentScore:
    domains: dict[str, float] = {}
    for name, members in instrument.subscales.items():
        raw = sum(values[i - 1] for i in members)
        raw_max = sum(instrument.items[i - 1].max for i in members)
        # Multiply before dividing so that the maximum answers give exactly 100.
        domains[name] = raw * instrument.subscale_max[name] / raw_max
    total = sum(domains.values())
    worst = max(domains, key=lambda d: domains[d] / instrument.subscale_max[d])
    lines = [
        f"COMPASS-31 total {total:.1f} of 100 (higher = more autonomic symptoms)",
        f"highest relative domain: {worst} ({domains[worst]:.1f} of "
        f"{_fmt(instrument.subscale_max[worst])})",
        _population_line(instrument),
    ]
    return InstrumentScore(
        instrument_id=instrument.id,
        total=total,
        mean=None,
        subscales=domains,
        interpretation=tuple(lines),
        above_cutoff=None,
    )


def _score_beighton(
    instrument: Instrument, values: list[float], age_years: float | None
) -> InstrumentScore:
    total = sum(values)
    if age_years is None:
        lines = [
            f"Beighton {_fmt(total)}/9; age not given: generalised joint hypermobility if ≥6 "
            "before puberty, ≥5 from puberty to 50 y, ≥4 over 50 y"
        ]
        met: bool | None = None
    else:
        cut = beighton_cutoff(age_years)
        met = total >= cut
        verdict = "generalised joint hypermobility" if met else "below the hypermobility cut-off"
        lines = [f"Beighton {_fmt(total)}/9: {verdict} (cut-off ≥{cut} at age {_fmt(age_years)})"]
    lines.append(_population_line(instrument))
    return InstrumentScore(
        instrument_id=instrument.id,
        total=total,
        mean=None,
        subscales={},
        interpretation=tuple(lines),
        above_cutoff=met,
    )


def _score_active_stand(
    instrument: Instrument, values: list[float], age_years: float | None
) -> InstrumentScore:
    hr_supine, hr_standing, sbp_supine, sbp_standing = values
    hr_rise = hr_standing - hr_supine
    sbp_fall = sbp_supine - sbp_standing
    hypotension = sbp_fall >= 20
    lines = [f"heart-rate rise {_fmt(hr_rise)} bpm; systolic fall {_fmt(sbp_fall)} mmHg"]
    met: bool | None
    if age_years is not None and age_years < 12:
        met = None
        lines.append("POTS heart-rate criteria are not defined under 12 years")
    else:
        threshold = 40 if age_years is not None and 12 <= age_years < 20 else 30
        if age_years is None:
            lines.append("age not given: adult threshold ≥30 bpm used (≥40 bpm at 12–19 y)")
        met = hr_rise >= threshold and not hypotension
        if hypotension:
            lines.append(
                "orthostatic hypotension (systolic fall ≥20 mmHg): not POTS-compatible; "
                "discuss with the treating clinician"
            )
        elif met:
            lines.append(
                f"POTS-compatible heart-rate rise (≥{threshold} bpm without orthostatic "
                "hypotension); POTS also needs symptoms ≥3 months that improve supine and other "
                "causes excluded"
            )
        else:
            lines.append(f"heart-rate rise below the POTS criterion (≥{threshold} bpm)")
    lines.append(_population_line(instrument))
    return InstrumentScore(
        instrument_id=instrument.id,
        total=hr_rise,
        mean=None,
        subscales={
            "hr_rise_bpm": hr_rise,
            "sbp_fall_mmhg": sbp_fall,
            "orthostatic_hypotension": 1.0 if hypotension else 0.0,
        },
        interpretation=tuple(lines),
        above_cutoff=met,
    )


def score_instrument(
    instrument: Instrument | str,
    answers: Sequence[float],
    *,
    age_years: float | None = None,
) -> InstrumentScore:
    """Score one administration of an instrument.

    Parameters
    ----------
    instrument
        An ``Instrument`` or its id (``fss``, ``gsrs``, ``compass31``, ``mct``, ``beighton``,
        ``active_stand``, ``symptom_diary``).
    answers
        One number per item, in item order, coded as the instrument's ``scoring`` says
        (COMPASS-31: the item points of the published key).
    age_years
        Needed for the age-dependent cut-offs of Beighton and the active stand test; without it
        Beighton reports no verdict and the active stand uses the adult threshold.

    Returns
    -------
    InstrumentScore

    Raises
    ------
    ValidationError
        Every problem at once: a wrong number of answers (``fss expects 9 answers; got 8``) and
        each answer out of range (``fss answer 3 value 9 is outside 1–7``, location
        ``answers[3]`` with the 1-based item number), not a number, or not whole where the
        scale is whole-numbered.
    UnknownIdError
        For an unknown instrument id.

    Examples
    --------
    >>> score_instrument("fss", [5, 6, 4, 5, 6, 5, 4, 6, 5]).above_cutoff
    True
    """
    inst = instrument if isinstance(instrument, Instrument) else get_instrument(instrument)
    values = _validate(inst, answers)
    if inst.method == "weighted_domains":
        return _score_compass(inst, values)
    if inst.method == "beighton":
        return _score_beighton(inst, values, age_years)
    if inst.method == "active_stand":
        return _score_active_stand(inst, values, age_years)
    return _score_generic(inst, values)
