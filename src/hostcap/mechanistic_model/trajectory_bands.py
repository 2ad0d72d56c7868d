"""A cheap expected-trajectory band for a phenotype: a small parameter ensemble around its preset.

Used by the clinical decision engine to show what the (hypothetical) model expects under a
protocol. Each member multiplies every parameter by a log-normal factor (clipped to the
parameter's plausible range), starts from its own pre-treatment steady state and is simulated
under the protocol; the band is the 10th/50th/90th percentile across members, weekly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp
from scipy.sparse import csc_matrix

from hostcap.errors import ComputationError, UnknownIdError, ValidationError
from hostcap.mechanistic_model.compilation import CompiledModel, compile_model
from hostcap.mechanistic_model.protocols import HOURS_PER_WEEK, Protocol, input_segments
from hostcap.mechanistic_model.simulation import initial_state, steady_state

__all__ = ["BAND_OBSERVABLES", "expected_trajectory_band"]

#: Observables the band covers by default.
BAND_OBSERVABLES: tuple[str, ...] = (
    "symptom_load",
    "tryptase_serum",
    "hs_crp",
    "food_tolerance",
    "antihistamine_need",
    "nad_blood",
    "opn_plasma",
)


def expected_trajectory_band(
    phenotype: str,
    protocol: Protocol | None = None,
    weeks: float = 16,
    variant: str = "essay",
    *,
    members: int = 12,
    spread: float = 0.15,
    seed: int = 20240601,
    names: Sequence[str] = BAND_OBSERVABLES,
) -> pd.DataFrame:
    """Weekly low / median / high of the observables across a small parameter ensemble.

    Parameters
    ----------
    phenotype
        ``healthy``, ``A``, ``B`` or ``C``.
    protocol
        Intervention phases (``None``: no interventions).
    weeks
        Horizon (rounded up to whole weeks).
    variant
        Model variant (hypothesis) to use.
    members
        Ensemble size (the nominal preset is always member 0).
    spread
        Log-sd of the multiplicative parameter perturbation.
    seed
        Seed of the perturbations (same seed, same band).
    names
        Observable ids.

    Returns
    -------
    pandas.DataFrame
        Columns ``week, name, low, median, high`` (10th, 50th, 90th percentile). Members
        without a steady state are left out; at least half must have one.

    Raises
    ------
    ComputationError
        When fewer than half of the members could be simulated.

    Notes
    -----
    Results are cached per argument set (the decision engine asks for the same preset band
    again and again); each call returns its own copy.
    """
    known = compile_model(variant).observable_ids
    for name in names:
        if name not in known:
            raise UnknownIdError("observable", name, known)
    if weeks < 1:
        raise ValidationError.single("weeks", weeks, "a horizon of at least 1 week")
    horizon = math.ceil(weeks)  # whole weeks, covering a protocol's last part-week
    band = _band(phenotype, protocol, horizon, variant, members, spread, seed, tuple(names))
    return band.copy()


@lru_cache(maxsize=64)
def _band(
    phenotype: str,
    protocol: Protocol | None,
    weeks: int,
    variant: str,
    members: int,
    spread: float,
    seed: int,
    names: tuple[str, ...],
) -> pd.DataFrame:
    m = compile_model(variant)
    nominal = m.parameter_values(phenotype)
    base_state = initial_state(m, phenotype)
    rng = np.random.default_rng(seed)
    save = np.arange(0.0, weeks * HOURS_PER_WEEK + 1e-9, HOURS_PER_WEEK)
    table = np.empty((len(m.parameter_ids), members))
    for k, pid in enumerate(m.parameter_ids):
        spec = m.definition.parameter(pid)
        lo, hi = spec.range
        factors = np.exp(rng.normal(0.0, spread, size=members))
        factors[0] = 1.0  # member 0 is the nominal preset
        table[k] = np.clip(nominal[pid] * factors, lo, hi) if nominal[pid] else 0.0
    table[:, 0] = [nominal[pid] for pid in m.parameter_ids]
    # Each member starts from its own pre-treatment steady state: settle the whole ensemble at
    # once, then polish member by member.
    zero = m.input_vector()
    settled = _integrate_batch(m, table, np.repeat(base_state[:, None], members, 1), zero, 5e3)[-1]
    starts = np.empty_like(settled)
    ok = np.ones(members, dtype=bool)
    for j in range(members):
        try:
            starts[:, j] = steady_state(m, table[:, j], guess=settled[:, j], settle_h=1.0)
        except ComputationError:
            ok[j] = False
    if m.definition.initial_overrides:
        for j in range(members):
            member = dict(zip(m.parameter_ids, table[:, j].tolist(), strict=True))
            for sid, text in m.definition.initial_overrides.items():
                starts[m.state_ids.index(sid), j] = _evaluate(text, member)
    table, starts = table[:, ok], starts[:, ok]
    if ok.sum() < max(1, members // 2):
        raise ComputationError(
            f"trajectory band: only {int(ok.sum())} of {members} members have a steady state; "
            "reduce spread or check the phenotype preset"
        )
    states = np.empty((save.size, len(m.state_ids), table.shape[1]))
    y = starts
    for seg in input_segments(protocol, m.definition, float(save[-1])):
        u = m.input_vector(seg.values)
        inside = save[(save >= seg.start_h) & (save <= seg.end_h)]
        y_at = _integrate_batch(m, table, y, u, seg.end_h, start_h=seg.start_h, save_at=inside)
        states[np.searchsorted(save, inside)] = y_at[:-1] if inside.size else y_at[:0]
        y = y_at[-1]
    obs_ids = list(m.observable_ids)
    rows = []
    for i, t in enumerate(save):
        # Right-continuous inputs, as in simulate().
        u = m.input_vector(_segment_at(protocol, m, t, float(save[-1])))
        values = m.observables(t, states[i], table, u)
        for name in names:
            series = values[obs_ids.index(name)]
            lo, med, hi = np.percentile(series, [10, 50, 90])
            rows.append((t / HOURS_PER_WEEK, name, lo, med, hi))
    frame = pd.DataFrame(rows, columns=["week", "name", "low", "median", "high"])
    return frame.sort_values(["name", "week"], kind="stable").reset_index(drop=True)


def _evaluate(text: str, values: dict[str, float]) -> float:
    import sympy

    return float(sympy.sympify(text).subs(values))


def _segment_at(
    protocol: Protocol | None, m: CompiledModel, t: float, end_h: float
) -> dict[str, float]:
    segments = input_segments(protocol, m.definition, end_h)
    for seg in segments:
        if seg.start_h <= t < seg.end_h:
            return seg.values
    return segments[-1].values


def _integrate_batch(
    m: CompiledModel,
    p: np.ndarray,
    y0: np.ndarray,
    u: np.ndarray,
    end_h: float,
    *,
    start_h: float = 0.0,
    save_at: np.ndarray | None = None,
) -> np.ndarray:
    """Integrate N members as one system with a block-diagonal sparse Jacobian.

    Returns the states at ``save_at`` followed by the final state, shape ``(K + 1, S, N)``
    (only the final state when ``save_at`` is None).
    """
    n_s, n = y0.shape
    rows, cols = m.sparsity
    member = np.arange(n)
    jr = (rows[:, None] * n + member[None, :]).ravel()
    jc = (cols[:, None] * n + member[None, :]).ravel()

    def fun(t: float, flat: np.ndarray) -> np.ndarray:
        return m.rhs(t, flat.reshape(n_s, n), p, u).ravel()

    def jac(t: float, flat: np.ndarray) -> csc_matrix:
        values = m.jacobian_values(t, flat.reshape(n_s, n), p, u)
        return csc_matrix((values.ravel(), (jr, jc)), shape=(n_s * n, n_s * n))

    t_eval = np.unique(np.append([] if save_at is None else save_at, end_h))
    sol = solve_ivp(
        fun,
        (start_h, end_h),
        y0.ravel(),
        method="Radau",
        jac=jac,
        t_eval=t_eval,
        rtol=1e-6,
        atol=1e-9,
    )
    if not sol.success:
        raise ComputationError(f"trajectory band: ensemble integration failed ({sol.message})")
    out = sol.y.T.reshape(-1, n_s, n)
    if save_at is not None and save_at.size and save_at[-1] == end_h:
        out = np.concatenate([out, out[-1:]])
    return np.asarray(out)
