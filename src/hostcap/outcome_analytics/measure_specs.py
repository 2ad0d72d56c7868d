"""What counts as a real change for each outcome measure: the reliable-change rules, as data.

Three rules, chosen per measure by what is known about its noise:

``rcv`` — reference change value for laboratory analytes (Fraser 2001), in its log-normal form
    because both analytes are right-skewed and multiplicative (Fokkema 2006): with a total
    coefficient of variation ``CV`` (analytical and within-subject together),
    ``σ = √ln(1 + CV²)`` and a change from ``x₀`` to ``x₁`` is reliable when
    ``|ln(x₁/x₀)| > z·√2·σ``. The limits are asymmetric on the natural scale: a fall of
    ``1 − exp(−z√2σ)`` or a rise of ``exp(z√2σ) − 1``.

    * tryptase — the published RCV of 23.5 % (Norwegian 10-week study; the catalog's
      ``rcv_pct``) is read as the symmetric ``z·√2·CV``, which fixes ``CV = 8.48 %``
      (√(5.6² + 6.3²) = 8.43 % from the catalog's within-subject and analytical CVs agrees). The
      log-normal limits are then a fall of ≥ 20.9 % or a rise of ≥ 26.4 %.
    * hs-CRP — within-subject CV ≈ 50 % (catalog) and an analytical CV of 5 % (an assumption:
      typical for immunoturbidimetric hs-CRP, not from a cited source), so
      ``CV = √(50² + 5²) = 50.2 %``: a fall of ≥ 73.2 % or a rise of ≥ 272.5 % is needed.

``rci`` — the Jacobson–Truax reliable change index for scores with a known SD and reliability:
    ``SE = SD·√(1 − r)``, ``S_diff = √2·SE``; the change is reliable when
    ``|x₁ − x₀| > z·S_diff``.

``mid`` — an anchor-based minimal important difference on the raw scale (FSS 0.45, Rooney 2019)
    or, for the two derived measures with no measurement model at all (antihistamine DDD and the
    food tolerance fraction), a stated, assumed threshold.

With ``z = 1.96`` (two-sided 95 %), a client whose true value does not change shows a reliable
*improvement* by chance with probability 2.5 % under the ``rcv`` and ``rci`` rules when the noise
model is right; that is the false-positive rate the zero-effect tests check.

Thresholds are read from :mod:`hostcap.catalog` (``rcv_pct``, ``within_subject_cv_pct``,
``analytical_cv_pct``, instrument ``mcid`` and ``higher_is_worse``) and fall back to the constants
here only where the catalog has no value; a test checks that the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

from hostcap.catalog import get_analyte, get_instrument
from hostcap.errors import HostcapError, UnknownIdError, ValidationError

__all__ = [
    "CORE_MEASURES",
    "FALLBACK_THRESHOLDS",
    "MEASURES",
    "MeasureSpec",
    "Rule",
    "get_measure",
    "log_normal_rcv_limits",
    "measure_specs",
    "reliable_change_index",
    "symmetric_rcv_pct",
]

Rule = Literal["rcv", "rci", "mid"]

#: Critical value for a two-sided 95 % reliable-change decision.
Z_95 = 1.959963984540054

#: The measures of the essay's tracks. Core measures enter the composite responder rule.
MEASURES: tuple[str, ...] = (
    "tryptase",
    "hs_crp",
    "symptom_load",
    "antihistamine_ddd",
    "food_tolerance",
    "fss_mean",
    "gsrs_mean",
    "compass31_total",
    "mct_total",
)
CORE_MEASURES: tuple[str, ...] = (
    "tryptase",
    "hs_crp",
    "symptom_load",
    "antihistamine_ddd",
    "food_tolerance",
)

#: Documented constants, used only where the catalog lacks the value (see module docstring).
FALLBACK_THRESHOLDS: Mapping[str, float] = {
    "tryptase_rcv_pct": 23.5,
    "tryptase_within_subject_cv_pct": 5.6,
    "tryptase_analytical_cv_pct": 6.3,
    "hs_crp_within_subject_cv_pct": 50.0,
    "hs_crp_analytical_cv_pct": 5.0,
    "fss_mid": 0.45,
}


@dataclass(frozen=True)
class MeasureSpec:
    """How one outcome measure is read.

    Attributes
    ----------
    measure
        Measure id as it appears in the ``measurements`` frame.
    label, unit
        For tables and figures.
    lower_is_better
        Direction of improvement.
    log_scale
        Analyse on the log scale (right-skewed, multiplicative noise): mixed models use
        ``ln(value)`` and the ``rcv`` rule works on log ratios.
    rule
        ``rcv``, ``rci`` or ``mid`` (module docstring).
    cv_total_pct
        ``rcv``: total CV (%) of a single measurement.
    sd, reliability
        ``rci``: between-person SD of the score and its test–retest reliability.
    mid
        ``mid``: the smallest change that counts.
    core
        Part of the composite responder rule.
    citations
        Citation keys behind the threshold (``assumed`` where it is an assumption).
    note
        What is assumed, in words.
    """

    measure: str
    label: str
    unit: str
    lower_is_better: bool
    log_scale: bool
    rule: Rule
    cv_total_pct: float | None = None
    sd: float | None = None
    reliability: float | None = None
    mid: float | None = None
    core: bool = False
    citations: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        needed = {"rcv": ("cv_total_pct",), "rci": ("sd", "reliability"), "mid": ("mid",)}
        for name in needed[self.rule]:
            value = getattr(self, name)
            if value is None or not math.isfinite(value) or value <= 0:
                raise ValidationError.single(
                    f"{self.measure}.{name}", value, f"a positive number for rule {self.rule!r}"
                )
        if self.rule == "rci" and not (self.reliability is not None and self.reliability < 1):
            raise ValidationError.single(
                f"{self.measure}.reliability", self.reliability, "a reliability below 1"
            )
        if self.rule == "rcv" and not self.log_scale:
            raise ValidationError.single(
                f"{self.measure}.log_scale", self.log_scale, "True for the log-normal rcv rule"
            )

    @property
    def log_sigma(self) -> float:
        """``rcv``: SD of ln(value) for one measurement, ``√ln(1 + CV²)``."""
        assert self.cv_total_pct is not None
        return math.sqrt(math.log1p((self.cv_total_pct / 100.0) ** 2))

    def threshold(self, z: float = Z_95) -> float:
        """The change that counts, on the scale the rule works on.

        ``rcv``: on ln(value); ``rci``: raw score points (``z·√2·SD·√(1 − r)``); ``mid``: raw
        units (``z`` is not used: a MID is already a decision threshold).
        """
        if self.rule == "rcv":
            return z * math.sqrt(2.0) * self.log_sigma
        if self.rule == "rci":
            assert self.sd is not None and self.reliability is not None
            return z * math.sqrt(2.0) * self.sd * math.sqrt(1.0 - self.reliability)
        assert self.mid is not None
        return self.mid

    def change_on_rule_scale(self, baseline: float, value: float) -> float:
        """Change from baseline where the threshold applies (log ratio for ``rcv``)."""
        if self.rule == "rcv":
            if baseline <= 0 or value <= 0:
                return math.nan
            return math.log(value) - math.log(baseline)
        return value - baseline

    def classify_many(self, baseline: np.ndarray, value: np.ndarray, z: float = Z_95) -> np.ndarray:
        """:meth:`classify` for arrays of baselines and values (object array of statuses)."""
        return _classify_many(self, baseline, value, z)

    def classify(self, baseline: float, value: float, z: float = Z_95) -> str:
        """``improved``, ``worsened``, ``no reliable change`` or ``not assessable``."""
        delta = self.change_on_rule_scale(baseline, value)
        if not math.isfinite(delta):
            return "not assessable"
        limit = self.threshold(z)
        better = -delta if self.lower_is_better else delta
        # A change exactly at a MID counts (MIDs are stated as "≥"); reliable change must exceed.
        if self.rule == "mid":
            if better >= limit - 1e-12:
                return "improved"
            if -better >= limit - 1e-12:
                return "worsened"
            return "no reliable change"
        if better > limit:
            return "improved"
        if -better > limit:
            return "worsened"
        return "no reliable change"


def _classify_many(
    spec: MeasureSpec, baseline: np.ndarray, value: np.ndarray, z: float = Z_95
) -> np.ndarray:
    """:meth:`MeasureSpec.classify` over arrays (same rule, same tolerance), as objects."""
    baseline = np.asarray(baseline, dtype=float)
    value = np.asarray(value, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.rule == "rcv":
            ok = (baseline > 0) & (value > 0)
            delta = np.where(
                ok, np.log(np.where(ok, value, 1.0)) - np.log(np.where(ok, baseline, 1.0)), np.nan
            )
        else:
            delta = value - baseline
    better = -delta if spec.lower_is_better else delta
    limit = spec.threshold(z)
    if spec.rule == "mid":
        improved = better >= limit - 1e-12
        worsened = -better >= limit - 1e-12
    else:
        improved = better > limit
        worsened = -better > limit
    out = np.full(baseline.shape, "no reliable change", dtype=object)
    out[worsened] = "worsened"
    out[improved] = "improved"
    out[~np.isfinite(delta)] = "not assessable"
    return out


def symmetric_rcv_pct(analytical_cv_pct: float, within_subject_cv_pct: float) -> float:
    """Fraser's symmetric RCV, ``1.96·√2·√(CVa² + CVi²)`` in percent.

    Examples
    --------
    >>> round(symmetric_rcv_pct(6.3, 5.6), 1)
    23.4
    """
    return Z_95 * math.sqrt(2.0) * math.hypot(analytical_cv_pct, within_subject_cv_pct)


def log_normal_rcv_limits(cv_total_pct: float, z: float = Z_95) -> tuple[float, float]:
    """Log-normal RCV limits in percent: ``(fall, rise)``, e.g. ``(-20.9, 26.4)`` for tryptase.

    Examples
    --------
    >>> fall, rise = log_normal_rcv_limits(23.5 / (1.959963984540054 * 2**0.5))
    >>> round(fall, 1), round(rise, 1)
    (-20.9, 26.4)
    """
    if not (math.isfinite(cv_total_pct) and cv_total_pct > 0):
        raise ValidationError.single("cv_total_pct", cv_total_pct, "a positive percentage")
    sigma = math.sqrt(math.log1p((cv_total_pct / 100.0) ** 2))
    k = z * math.sqrt(2.0) * sigma
    return (100.0 * math.expm1(-k), 100.0 * math.expm1(k))


def reliable_change_index(baseline: float, value: float, sd: float, reliability: float) -> float:
    """Jacobson–Truax RCI: ``(x₁ − x₀) / (√2·SD·√(1 − r))``.

    Examples
    --------
    >>> round(reliable_change_index(10.0, 16.0, sd=5.0, reliability=0.8), 3)
    1.897
    """
    if not (sd > 0 and 0 <= reliability < 1):
        raise ValidationError.single(
            "sd, reliability", (sd, reliability), "sd > 0 and 0 ≤ reliability < 1"
        )
    return (value - baseline) / (math.sqrt(2.0) * sd * math.sqrt(1.0 - reliability))


def _catalog_value(read: str, fallback_key: str) -> tuple[float, str]:
    """A number from the catalog, or the documented fallback; says which was used."""
    kind, entry, attribute = read.split(":")
    try:
        item: object = get_analyte(entry) if kind == "analyte" else get_instrument(entry)
        value = getattr(item, attribute, None)
    except HostcapError:
        value = None
    if value is None:
        return float(FALLBACK_THRESHOLDS[fallback_key]), "fallback"
    return float(value), "catalog"


def _higher_is_worse(instrument: str, default: bool) -> bool:
    try:
        return bool(get_instrument(instrument).higher_is_worse)
    except HostcapError:
        return default


@cache
def measure_specs() -> dict[str, MeasureSpec]:
    """Every measure's spec, by id, with catalog values where the catalog has them."""
    specs = [*_laboratory_specs(), *_reported_specs()]
    return {s.measure: s for s in specs}


def _laboratory_specs() -> list[MeasureSpec]:
    """Tryptase and hs-CRP: reference change values from biological variation."""
    tryptase_rcv, _ = _catalog_value("analyte:tryptase:rcv_pct", "tryptase_rcv_pct")
    crp_cvi, _ = _catalog_value(
        "analyte:hs_crp:within_subject_cv_pct", "hs_crp_within_subject_cv_pct"
    )
    crp_cva, crp_cva_source = _catalog_value(
        "analyte:hs_crp:analytical_cv_pct", "hs_crp_analytical_cv_pct"
    )
    return [
        MeasureSpec(
            measure="tryptase",
            label="Serum tryptase",
            unit="ng/mL",
            lower_is_better=True,
            log_scale=True,
            rule="rcv",
            cv_total_pct=tryptase_rcv / (Z_95 * math.sqrt(2.0)),
            core=True,
            citations=("skarbo_tryptase_bv", "fraser2001_biological_variation", "fokkema2006_rcv"),
            note=f"published RCV {tryptase_rcv} % read as z·√2·CV; log-normal limits",
        ),
        MeasureSpec(
            measure="hs_crp",
            label="hs-CRP",
            unit="mg/L",
            lower_is_better=True,
            log_scale=True,
            rule="rcv",
            cv_total_pct=math.hypot(crp_cvi, crp_cva),
            core=True,
            citations=("bogaty2013_crp", "fraser2001_biological_variation", "fokkema2006_rcv")
            + (("assumed",) if crp_cva_source == "fallback" else ()),
            note=f"CVi {crp_cvi} % (catalog) and CVa {crp_cva} % "
            + ("(assumed; not in the catalog)" if crp_cva_source == "fallback" else "(catalog)"),
        ),
    ]


def _reported_specs() -> list[MeasureSpec]:
    """Diary, drug load, food tolerance and questionnaires: RCI or a minimal difference."""
    fss_mid, _ = _catalog_value("instrument:fss:mcid", "fss_mid")
    return [
        MeasureSpec(
            measure="symptom_load",
            label="Symptom load (diary, NON-VALIDATED)",
            unit="0-10",
            lower_is_better=_higher_is_worse("symptom_diary", True),
            log_scale=False,
            rule="rci",
            sd=2.0,
            reliability=0.80,
            core=True,
            citations=("jacobson_truax1991", "assumed"),
            note="diary not validated: SD 2.0 and test-retest r 0.80 are assumptions",
        ),
        MeasureSpec(
            measure="antihistamine_ddd",
            label="Mediator-targeted drug load (Σ daily dose / WHO DDD)",
            unit="DDD/day",
            lower_is_better=True,
            log_scale=False,
            rule="mid",
            mid=0.5,
            core=True,
            citations=("who_ddd", "assumed"),
            note="a recorded dose change, no measurement error; 0.5 DDD/day is an assumed "
            "smallest change worth counting",
        ),
        MeasureSpec(
            measure="food_tolerance",
            label="Food tolerance (fraction of trialled foods tolerated)",
            unit="fraction",
            lower_is_better=False,
            log_scale=False,
            rule="mid",
            mid=0.2,
            core=True,
            citations=("assumed",),
            note="no validated measure exists; 0.2 (one food in five) is an assumed threshold",
        ),
        MeasureSpec(
            measure="fss_mean",
            label="Fatigue Severity Scale (mean)",
            unit="1-7",
            lower_is_better=_higher_is_worse("fss", True),
            log_scale=False,
            rule="mid",
            mid=fss_mid,
            citations=("rooney2019_fss_mid", "krupp1989_fss"),
            note="MID 0.45 (MS data; not validated in MCAS)",
        ),
        MeasureSpec(
            measure="gsrs_mean",
            label="GSRS (item mean)",
            unit="1-7",
            lower_is_better=_higher_is_worse("gsrs", True),
            log_scale=False,
            rule="rci",
            sd=1.0,
            reliability=0.80,
            citations=("jacobson_truax1991", "revicki1998_gsrs", "assumed"),
            note="MCID not found; SD 1.0 assumed, r 0.80 within Revicki's α 0.61-0.83",
        ),
        MeasureSpec(
            measure="compass31_total",
            label="COMPASS-31 (weighted total)",
            unit="0-100",
            lower_is_better=_higher_is_worse("compass31", True),
            log_scale=False,
            rule="rci",
            sd=15.0,
            reliability=0.886,
            citations=("jacobson_truax1991", "sletten2012_compass31", "assumed"),
            note="MCID not found; test-retest 0.886 (Sletten 2012), SD 15 assumed",
        ),
        MeasureSpec(
            measure="mct_total",
            label="Mastocytosis Control Test (total)",
            unit="0-20",
            lower_is_better=_higher_is_worse("mct", False),
            log_scale=False,
            rule="rci",
            sd=3.5,
            reliability=0.80,
            citations=("jacobson_truax1991", "siebenhaar_mct", "assumed"),
            note="MCID not found; SD 3.5 and r 0.80 assumed; validated in mastocytosis, not MCAS",
        ),
    ]


def get_measure(measure: str, overrides: Mapping[str, MeasureSpec] | None = None) -> MeasureSpec:
    """The spec for ``measure`` (``overrides`` first); ``UnknownIdError`` names the known ids."""
    if overrides and measure in overrides:
        return overrides[measure]
    table = measure_specs()
    if measure not in table:
        raise UnknownIdError("measure", measure, table)
    return table[measure]
