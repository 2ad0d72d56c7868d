"""One entry point, :func:`simulate`, with a status on every result; steady states.

The system is stiff (rates from minutes to months), so ``simulate`` uses an implicit solver
(scipy ``Radau`` by default, ``BDF`` or ``LSODA`` on request) with the analytic Jacobian, and
restarts the integration at every input discontinuity (phase starts, antibiotic course ends) so
dosing is exact. Runs are deterministic.

References
----------
Hairer E, Wanner G. Solving Ordinary Differential Equations II: Stiff and Differential-Algebraic
Problems. Springer, 1996 (Radau IIA, used through ``scipy.integrate.solve_ivp``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.integrate import solve_ivp
from scipy.optimize import root

from hostcap.errors import ComputationError, UnknownIdError
from hostcap.mechanistic_model.compilation import CompiledModel, compile_model
from hostcap.mechanistic_model.definition import HYPOTHESIS_NOTE
from hostcap.mechanistic_model.protocols import (
    HOURS_PER_WEEK,
    InputSegment,
    Protocol,
    input_segments,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SolverStatus",
    "Trajectory",
    "initial_state",
    "save_times",
    "simulate",
    "steady_state",
]

Array = NDArray[np.float64]


class SolverStatus(StrEnum):
    """Outcome of a simulation, or of one member of a batch; :meth:`message` says what to try.

    One enum for :func:`simulate` and the batch integrator (whose members may also have no
    pre-treatment steady state).
    """

    SUCCESS = "success"
    MAX_STEPS = "max_steps"
    FAILURE = "failure"
    NO_STEADY_STATE = "no_steady_state"

    def message(self) -> str:
        return {
            SolverStatus.SUCCESS: "integration finished",
            SolverStatus.MAX_STEPS: (
                "the solver reached max_steps before the end: raise max_steps, loosen rtol/atol, "
                "or check for parameters far outside their plausible ranges"
            ),
            SolverStatus.FAILURE: (
                "the solver failed (step size underflow or non-finite values): check parameters "
                "against their plausible ranges, or try method='BDF' or 'LSODA'"
            ),
            SolverStatus.NO_STEADY_STATE: (
                "no pre-treatment steady state was found for these parameters: check them "
                "against their plausible ranges, or start from explicit initial values"
            ),
        }[self]


class _TooManyStepsError(Exception):
    pass


@dataclass(frozen=True)
class Trajectory:
    """A simulated trajectory: states, named intermediates and observables at saved times.

    Names are the SBML ids of the exported model (species for states, assignment-rule
    parameters for intermediates and observables), so results match across tools.
    """

    time_h: Array
    state_ids: tuple[str, ...]
    states: Array
    expression_ids: tuple[str, ...]
    expressions: Array
    observable_ids: tuple[str, ...]
    observables: Array
    units: dict[str, str]
    variant: str
    phenotype: str
    protocol_id: str | None
    status: SolverStatus
    message: str
    parameters: dict[str, float] = field(default_factory=dict)
    hypothesis_note: str = HYPOTHESIS_NOTE

    @property
    def ok(self) -> bool:
        return self.status == SolverStatus.SUCCESS

    @property
    def week(self) -> Array:
        return self.time_h / HOURS_PER_WEEK

    def names(self) -> tuple[str, ...]:
        return (*self.state_ids, *self.expression_ids, *self.observable_ids)

    def __getitem__(self, name: str) -> Array:
        """Values of a state, intermediate or observable over time."""
        for ids, values in (
            (self.state_ids, self.states),
            (self.expression_ids, self.expressions),
            (self.observable_ids, self.observables),
        ):
            if name in ids:
                return values[:, ids.index(name)]
        raise UnknownIdError("trajectory name", name, self.names())

    def at_week(self, name: str, week: float) -> float:
        """The value of ``name`` at the saved time nearest ``week``."""
        i = int(np.argmin(np.abs(self.week - week)))
        return float(self[name][i])

    def to_frame(self, names: Sequence[str] | None = None) -> pd.DataFrame:
        """Tidy frame: ``time_h, week, name, value, unit``, one row per time and name."""
        chosen = list(names) if names is not None else list(self.names())
        blocks = []
        for name in chosen:
            blocks.append(
                pd.DataFrame(
                    {
                        "time_h": self.time_h,
                        "week": self.week,
                        "name": name,
                        "value": self[name],
                        "unit": self.units.get(name, ""),
                    }
                )
            )
        frame = pd.concat(blocks, ignore_index=True)
        return frame.sort_values(["time_h", "name"], kind="stable").reset_index(drop=True)

    def plot(self, names: Sequence[str] | None = None, title: str | None = None) -> Figure:
        """A figure with one panel per name (default: the clinical observables)."""
        from matplotlib.figure import Figure

        chosen = (
            list(names)
            if names is not None
            else [
                "symptom_load",
                "tryptase_serum",
                "hs_crp",
                "food_tolerance",
                "antihistamine_need",
                "nad",
                "akg",
                "m_inflam",
                "k9_spp1",
                "mc_threshold",
            ]
        )
        if names is None and self.phenotype.upper() == "C":
            # Phenotype C is defined by its CNS compartment: show it.
            chosen += ["cns_mc", "bbb"]
        cols = 2
        rows = (len(chosen) + 1) // 2
        fig = Figure(figsize=(10, 2.2 * rows + 1.0))
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True)
        for ax, name in zip(axes.flat, chosen, strict=False):
            ax.plot(self.week, self[name], color="tab:blue")
            unit = self.units.get(name, "")
            ax.set_title(f"{name} [{unit}]" if unit and unit != "1" else name, fontsize=9)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(chosen) :]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("week")
        head = title or (
            f"variant {self.variant}, phenotype {self.phenotype}, "
            f"protocol {self.protocol_id or 'none'}"
        )
        fig.suptitle(f"{head}\n{self.hypothesis_note}", fontsize=9)
        fig.tight_layout()
        return fig


def _resolve(model: CompiledModel | str) -> CompiledModel:
    return compile_model(model) if isinstance(model, str) else model


def steady_state(
    model: CompiledModel | str,
    parameters: Array,
    *,
    guess: Array | None = None,
    inputs: Array | None = None,
    settle_h: float = 40_000.0,
) -> Array:
    """The stable steady state reached from ``guess`` under constant ``inputs``.

    Integrates for ``settle_h`` hours (stiff solver) so that the attracting state is found, not
    a trivial root (e.g. no butyrate producers), then polishes it with a Newton-type root solve on
    the analytic Jacobian.

    Raises
    ------
    ComputationError
        When no steady state is found (the message says what was tried).
    """
    m = _resolve(model)
    p = np.asarray(parameters, dtype=float)
    u = m.input_vector() if inputs is None else np.asarray(inputs, dtype=float)
    y = np.array([s.initial for s in m.definition.states]) if guess is None else guess.copy()
    sol = solve_ivp(
        lambda t, x: m.rhs(t, x, p, u),
        (0.0, settle_h),
        y,
        method="Radau",
        jac=lambda t, x: m.jacobian(t, x, p, u),
        rtol=1e-8,
        atol=1e-10,
    )
    if not sol.success:
        raise ComputationError(f"steady state: settling integration failed ({sol.message})")
    settled = sol.y[:, -1]
    polished = root(
        lambda x: m.rhs(0.0, x, p, u),
        settled,
        jac=lambda x: m.jacobian(0.0, x, p, u),
        method="hybr",
        options={"xtol": 1e-13},
    )
    candidate = polished.x if polished.success else settled
    scale = np.maximum(np.abs(candidate), 1e-6)
    residual = np.max(np.abs(m.rhs(0.0, candidate, p, u)) / scale)
    if not np.all(np.isfinite(candidate)) or residual > 1e-7:
        raise ComputationError(
            f"steady state not found (relative residual {residual:.2e} after {settle_h:g} h "
            "and a root polish); check parameters against their plausible ranges"
        )
    return np.asarray(candidate, dtype=float)


@cache
def _preset_state(variant: str, phenotype: str) -> tuple[float, ...]:
    m = compile_model(variant)
    return tuple(steady_state(m, m.parameter_vector(phenotype)))


def initial_state(
    model: CompiledModel | str,
    phenotype: str = "healthy",
    parameters: Mapping[str, float] | None = None,
) -> Array:
    """The pre-treatment state a simulation starts from.

    The phenotype's own steady state with no interventions (cached for the presets), then the
    variant's initial overrides (the ``null`` variant enrols clients during a flare).
    """
    m = _resolve(model)
    if parameters:
        guess = np.array(_preset_state(m.variant, phenotype))
        y = steady_state(m, m.parameter_vector(phenotype, parameters), guess=guess, settle_h=1e4)
    else:
        y = np.array(_preset_state(m.variant, phenotype))
    if m.definition.initial_overrides:
        import sympy

        values = m.parameter_values(phenotype, parameters)
        for sid, text in m.definition.initial_overrides.items():
            y[m.state_ids.index(sid)] = float(sympy.sympify(text).subs(values))
    return y


def save_times(weeks: float, save_at: Sequence[float] | Array | None) -> tuple[Array, float]:
    """Save times (default daily, including 0 and the end) and the horizon reaching them, hours.

    Raises
    ------
    ComputationError
        A save time outside ``[0, weeks]``.
    """
    end_h = float(weeks) * HOURS_PER_WEEK
    times = (
        np.arange(0.0, end_h + 1e-9, 24.0)
        if save_at is None
        else np.asarray(sorted(float(t) for t in save_at), dtype=float)
    )
    if times.size and (times[0] < 0 or times[-1] > end_h + 1e-9):
        raise ComputationError(
            f"save_at must lie in [0, {end_h:g}] h; got {times[0]:g}..{times[-1]:g}"
        )
    if times.size:
        # weeks * 168 can round just below the last save time it came from (1380 h / 168 * 168
        # = 1379.9999999999998): integrate to the save time itself so it is reached and saved.
        end_h = max(end_h, float(times[-1]))
    return times, end_h


@dataclass(frozen=True)
class _SegmentRun:
    states: Array  # (T, S), NaN where not reached
    inputs_at: Array  # (T, U)
    status: SolverStatus
    detail: str


def _integrate_segments(
    m: CompiledModel,
    p: Array,
    y: Array,
    segments: Sequence[InputSegment],
    times: Array,
    *,
    rtol: float,
    atol: float,
    method: Literal["Radau", "BDF", "LSODA"],
    max_steps: int,
) -> _SegmentRun:
    """Integrate from ``y`` phase by phase (restarting at every input change); save at ``times``."""
    out = np.full((times.size, len(m.state_ids)), np.nan)
    inputs_at = np.zeros((times.size, len(m.input_ids)))
    calls = 0

    for k, seg in enumerate(segments):
        u = m.input_vector(seg.values)
        last = k == len(segments) - 1
        # Right-continuous: a save time on a boundary belongs to the segment that starts there.
        mask = (times >= seg.start_h) & ((times <= seg.end_h) if last else (times < seg.end_h))
        inputs_at[mask] = u
        if seg.end_h <= seg.start_h:
            # A zero-length run (weeks=0): the saved state is the start state.
            out[times == seg.start_h] = y
            continue

        def fun(t: float, x: Array, u: Array = u) -> Array:
            nonlocal calls
            calls += 1
            if calls > max_steps:
                raise _TooManyStepsError
            return m.rhs(t, x, p, u)

        def jac(t: float, x: Array, u: Array = u) -> Array:
            return m.jacobian(t, x, p, u)

        inside = times[(times >= seg.start_h) & (times <= seg.end_h)]
        # The segment end is always evaluated: it is where the next segment restarts.
        t_eval = np.unique(np.append(inside, seg.end_h))
        try:
            sol = solve_ivp(
                fun,
                (seg.start_h, seg.end_h),
                y,
                method=method,
                jac=jac,
                t_eval=t_eval,
                rtol=rtol,
                atol=atol,
            )
        except _TooManyStepsError:
            return _SegmentRun(out, inputs_at, SolverStatus.MAX_STEPS, f"in phase {seg.phase!r}")
        if not sol.success or not np.all(np.isfinite(sol.y)):
            detail = f"in phase {seg.phase!r}: {sol.message}"
            return _SegmentRun(out, inputs_at, SolverStatus.FAILURE, detail)
        keep = np.isin(sol.t, inside)
        out[np.searchsorted(times, sol.t[keep])] = sol.y[:, keep].T
        y = sol.y[:, -1]
    return _SegmentRun(out, inputs_at, SolverStatus.SUCCESS, "")


def _trajectory(
    m: CompiledModel,
    times: Array,
    run: _SegmentRun,
    p: Array,
    p_values: dict[str, float],
    phenotype: str,
    protocol: Protocol | None,
    message: str,
) -> Trajectory:
    """The trajectory of a run: its states, and intermediates and observables computed from them."""
    out, inputs_at = run.states, run.inputs_at
    expressions = np.array([m.expressions(0.0, out[i], p, inputs_at[i]) for i in range(times.size)])
    observables = np.array([m.observables(0.0, out[i], p, inputs_at[i]) for i in range(times.size)])
    units = {s.id: s.unit for s in m.definition.states}
    units |= {e.id: e.unit for e in m.definition.expressions}
    units |= {o.id: o.unit for o in m.definition.observables}
    return Trajectory(
        time_h=times,
        state_ids=m.state_ids,
        states=out,
        expression_ids=m.expression_ids,
        expressions=expressions.reshape(times.size, len(m.expression_ids)),
        observable_ids=m.observable_ids,
        observables=observables.reshape(times.size, len(m.observable_ids)),
        units=units,
        variant=m.variant,
        phenotype=phenotype,
        protocol_id=protocol.id if protocol is not None else None,
        status=run.status,
        message=message,
        parameters=p_values,
    )


def simulate(
    model: CompiledModel | str,
    protocol: Protocol | None = None,
    *,
    phenotype: str = "healthy",
    weeks: float = 16.0,
    save_at: Sequence[float] | Array | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    method: Literal["Radau", "BDF", "LSODA"] = "Radau",
    parameters: Mapping[str, float] | None = None,
    y0: Sequence[float] | Array | None = None,
    max_steps: int = 100_000,
    throw: bool = True,
) -> Trajectory:
    """Simulate one variant for one phenotype under a protocol.

    Parameters
    ----------
    model
        A :class:`CompiledModel` or a variant name (``essay``, ``biochemical``,
        ``butyrate_direct``, ``null``).
    protocol
        The intervention phases; ``None`` simulates no interventions.
    phenotype
        ``healthy``, ``A``, ``B`` or ``C``: the parameter preset, and the pre-treatment steady
        state the run starts from.
    weeks
        Length of the run.
    save_at
        Save times in hours (default: daily, including 0 and the end).
    rtol, atol
        Solver tolerances.
    method
        scipy stiff solver.
    parameters
        Parameter overrides on top of the phenotype preset (the start is then their own steady
        state).
    y0
        Start from this state instead (state order :attr:`CompiledModel.state_ids`).
    max_steps
        Right-hand-side evaluations allowed before the run stops with ``MAX_STEPS``.
    throw
        Raise ``ComputationError`` on a status other than success (diffrax convention);
        ``False`` returns the partial trajectory with its status.

    Returns
    -------
    Trajectory

    Examples
    --------
    >>> from hostcap.mechanistic_model import simulate
    >>> traj = simulate("essay", phenotype="A", weeks=2)
    >>> traj.status.value
    'success'
    """
    m = _resolve(model)
    times, end_h = save_times(weeks, save_at)
    p_values = m.parameter_values(phenotype, parameters)
    p = np.array([p_values[k] for k in m.parameter_ids])
    y = initial_state(m, phenotype, parameters) if y0 is None else np.asarray(y0, dtype=float)
    segments = input_segments(protocol, m.definition, end_h)
    run = _integrate_segments(
        m, p, y, segments, times, rtol=rtol, atol=atol, method=method, max_steps=max_steps
    )
    status = run.status
    message = status.message() + (f" ({run.detail})" if run.detail else "")
    traj = _trajectory(m, times, run, p, p_values, phenotype, protocol, message)
    if throw and status != SolverStatus.SUCCESS:
        raise ComputationError(f"simulate: {message}")
    return traj
