"""Global sensitivity of any state or observable: SALib Sobol and Morris, time-resolved.

Parameters vary log-uniformly over their documented plausible ranges (the others stay at the
phenotype preset). Each sample starts from its own pre-treatment steady state and follows the
protocol; the output is a state or observable at a week (``summary="value"``) or its change from
week 0 (``summary="change"``, e.g. the change in symptom load at week 16). Indices are computed at
the chosen week and at every whole week (time-resolved). Sobol first and total order indices
come with bootstrap confidence intervals (Saltelli/Jansen estimators via SALib); Morris gives the
elementary-effect mean of absolute values ``mu_star`` with its interval and ``sigma``.
Samples whose simulation fails are replaced by the mean output and counted (``n_failed``).
THE MODEL IS A HYPOTHESIS: indices rank parameters within the model, not causes in people.

References
----------
Saltelli A et al. Variance based sensitivity analysis of model output. Comput Phys Commun
2010;181:259–270. Morris MD. Factorial sampling plans for preliminary computational experiments.
Technometrics 1991;33:161–174. Herman J, Usher W. SALib. JOSS 2017;2:97.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model.batch_simulation import _resolve, iter_batches
from hostcap.mechanistic_model.chunk_dispatch import _map_ordered
from hostcap.mechanistic_model.compilation import CompiledModel
from hostcap.mechanistic_model.definition import HYPOTHESIS_NOTE
from hostcap.mechanistic_model.protocols import HOURS_PER_WEEK, Protocol, protocol_from_mapping

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_SENSITIVITY_PARAMETERS", "SensitivityResult", "sensitivity_analysis"]

Array = NDArray[np.float64]

#: The essay's chain from producers to mast cells and the readouts (16 parameters); those a
#: variant lacks are skipped and the null variant's own threshold parameters are added.
DEFAULT_SENSITIVITY_PARAMETERS: tuple[str, ...] = (
    "d_prod",
    "fibre_diet",
    "k_but_prod",
    "k_bar_rep",
    "barrier_insult",
    "k_lps_trans",
    "v_nad_salvage",
    "v_nad_col",
    "k_cd38_cat",
    "v_akg_col",
    "k_dnmt3a",
    "k_k9_write",
    "thr_max",
    "k_thr",
    "trigger_load",
    "a_trig_barrier",
    "k_rtm",
    "thr_personal",
)


@dataclass(frozen=True)
class SensitivityResult:
    """Indices at the chosen week and over time, with what produced them."""

    method: str
    output: str
    at_week: float
    summary: str
    parameters: tuple[str, ...]
    indices: pd.DataFrame
    time_resolved: pd.DataFrame
    n_runs: int
    n_failed: int
    variant: str
    phenotype: str
    protocol_id: str | None = None
    hypothesis_note: str = HYPOTHESIS_NOTE

    def figure(self) -> Figure:
        """Bar chart of the indices at the chosen week and the time-resolved indices."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 4.5))
        ax1, ax2 = fig.subplots(1, 2)
        frame = self.indices
        y = np.arange(len(frame))
        if self.method == "sobol":
            ax1.barh(y - 0.2, frame["S1"], 0.4, xerr=frame["S1_conf"], label="first order")
            ax1.barh(y + 0.2, frame["ST"], 0.4, xerr=frame["ST_conf"], label="total order")
            key = "ST"
        else:
            ax1.barh(y, frame["mu_star"], 0.6, xerr=frame["mu_star_conf"], label="mu*")
            key = "mu_star"
        ax1.set_yticks(y, frame["parameter"], fontsize=7)
        ax1.invert_yaxis()
        ax1.legend(fontsize=7)
        ax1.set_title(f"{self.output} ({self.summary}) at week {self.at_week:g}", fontsize=9)
        top = frame.nlargest(6, key)["parameter"].tolist()
        for pid in top:
            rows = self.time_resolved[self.time_resolved["parameter"] == pid]
            ax2.plot(rows["week"], rows[key], marker=".", label=pid)
        ax2.set_xlabel("week")
        ax2.set_ylabel(key)
        ax2.legend(fontsize=7)
        ax2.set_title("time-resolved (top 6)", fontsize=9)
        fig.suptitle(
            f"{self.method} sensitivity, variant {self.variant}, phenotype {self.phenotype}, "
            f"protocol {self.protocol_id or 'none'}, {self.n_runs} runs\n{self.hypothesis_note}",
            fontsize=8,
        )
        fig.tight_layout()
        return fig


def _output_chunk(
    variant: str,
    protocol: dict[str, Any] | None,
    phenotype: str,
    weeks: float,
    params: Array,
    output: str,
    rtol: float,
    atol: float,
) -> Array:
    proto = protocol_from_mapping(protocol) if protocol is not None else None
    save = np.arange(0.0, np.floor(weeks + 1e-9) + 1.0) * HOURS_PER_WEEK
    (res,) = iter_batches(
        variant,
        proto,
        params,
        phenotype=phenotype,
        weeks=weeks,
        save_at=save,
        rtol=rtol,
        atol=atol,
        chunk_size=params.shape[1],
    )
    return np.asarray(res[output])


def _checked_names(
    m: CompiledModel, output: str, parameters: Sequence[str] | None, n: int, at_week: float
) -> list[str]:
    """The parameters to vary, after checking them and the output, ``n`` and ``at_week``."""
    if output not in m.state_ids and output not in m.observable_ids:
        raise UnknownIdError(
            "output (state or observable)", output, (*m.state_ids, *m.observable_ids)
        )
    names = (
        [p for p in DEFAULT_SENSITIVITY_PARAMETERS if p in m.parameter_ids]
        if parameters is None
        else list(parameters)
    )
    for pid in names:
        if pid not in m.parameter_ids:
            raise UnknownIdError(f"parameter of variant {m.variant}", pid, m.parameter_ids)
    if len(names) < 2:
        raise ValidationError.single("parameters", names, "at least 2 parameters")
    if n < 2:
        raise ValidationError.single("n", n, "at least 2")
    if not 0 < at_week <= 52:
        raise ValidationError.single("at_week", at_week, "a week in (0, 52]")
    return names


def _sample(
    problem: dict[str, Any], method: str, n: int, num_levels: int, seed: int
) -> NDArray[np.float64]:
    """Log-parameter samples of the Sobol (Saltelli) or Morris design."""
    if method == "sobol":
        from SALib.sample import sobol as sobol_sample

        return np.asarray(sobol_sample.sample(problem, n, calc_second_order=False, seed=seed))
    if method == "morris":
        from SALib.sample import morris as morris_sample

        return np.asarray(morris_sample.sample(problem, n, num_levels=num_levels, seed=seed))
    raise ValidationError.single("method", method, "sobol or morris")


def _time_resolved(
    problem: dict[str, Any],
    method: str,
    x: NDArray[np.float64],
    values: Array,
    num_levels: int,
    seed: int,
) -> pd.DataFrame:
    """Indices of every parameter at every week (rows ``week, parameter, ...``)."""
    names = problem["names"]

    def analyse(y: Array) -> dict[str, Array]:
        if method == "sobol":
            from SALib.analyze import sobol

            res = sobol.analyze(problem, y, calc_second_order=False, seed=seed)
            return {k: np.asarray(res[k]) for k in ("S1", "S1_conf", "ST", "ST_conf")}
        from SALib.analyze import morris

        res = morris.analyze(problem, x, y, num_levels=num_levels, seed=seed)
        return {k: np.asarray(res[k]) for k in ("mu", "mu_star", "mu_star_conf", "sigma")}

    blocks = []
    for w in range(values.shape[1]):
        y = values[:, w]
        if np.ptp(y) == 0:
            keys = (
                ("S1", "S1_conf", "ST", "ST_conf")
                if method == "sobol"
                else ("mu", "mu_star", "mu_star_conf", "sigma")
            )
            stats = {k: np.zeros(len(names)) for k in keys}
        else:
            stats = analyse(y)
        blocks.append(pd.DataFrame({"week": float(w), "parameter": names, **stats}))
    return pd.concat(blocks, ignore_index=True)


def sensitivity_analysis(
    variant: str = "essay",
    phenotype: str = "A",
    protocol: Protocol | None = None,
    *,
    method: Literal["sobol", "morris"] = "sobol",
    n: int = 1024,
    output: str = "symptom_load",
    at_week: float = 16.0,
    summary: Literal["value", "change"] = "value",
    parameters: Sequence[str] | None = None,
    seed: int = 1,
    num_levels: int = 4,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    chunk_size: int = 2_000,
    client: Any | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SensitivityResult:
    """Sobol or Morris indices of ``output`` at ``at_week`` and at every whole week.

    Parameters
    ----------
    n
        Base sample size: Sobol runs ``n (D + 2)`` simulations (a power of 2 is best), Morris
        ``n (D + 1)`` (``n`` trajectories).
    parameters
        Parameters to vary (default :data:`DEFAULT_SENSITIVITY_PARAMETERS` present in the variant).
    client
        A ``dask.distributed.Client``; ``None`` runs in-process (same numbers either way).

    Raises
    ------
    UnknownIdError
        An unknown output or parameter.
    ValidationError
        Fewer than 2 parameters, ``n < 2`` or ``at_week`` outside ``(0, 52]``.
    """
    m = _resolve(variant)
    names = _checked_names(m, output, parameters, n, at_week)
    bounds = [[float(np.log(v)) for v in m.definition.parameter(p).range] for p in names]
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    x = _sample(problem, method, n, num_levels, seed)
    base = m.parameter_vector(phenotype)
    p = np.repeat(base.reshape(-1, 1), x.shape[0], axis=1)
    for j, pid in enumerate(names):
        p[m.parameter_ids.index(pid)] = np.exp(x[:, j])
    weeks = max(float(np.ceil(at_week)), 0.0)
    proto = protocol.model_dump(mode="json") if protocol is not None else None
    jobs = [
        (m.variant, proto, phenotype, weeks, p[:, lo : lo + chunk_size], output, rtol, atol)
        for lo in range(0, x.shape[0], chunk_size)
    ]
    parts = []
    for part in _map_ordered(_output_chunk, jobs, client):
        parts.append(part)
        if progress is not None:
            progress(sum(q.shape[0] for q in parts), x.shape[0])
    values = np.concatenate(parts)  # (runs, weeks + 1)
    if summary == "change":
        values = values - values[:, :1]
    elif summary != "value":
        raise ValidationError.single("summary", summary, "value or change")
    failed = ~np.all(np.isfinite(values), axis=1)
    if np.all(failed):
        raise ValidationError.single("parameters", names, "ranges where the model can be simulated")
    values[failed] = np.nanmean(values[~failed], axis=0)
    week_grid = np.arange(values.shape[1], dtype=float)
    target = int(np.argmin(np.abs(week_grid - at_week)))

    time_resolved = _time_resolved(problem, method, x, values, num_levels, seed)
    at = time_resolved[time_resolved["week"] == week_grid[target]].drop(columns="week")
    sort_key = "ST" if method == "sobol" else "mu_star"
    return SensitivityResult(
        method=method,
        output=output,
        at_week=float(week_grid[target]),
        summary=summary,
        parameters=tuple(names),
        indices=at.sort_values(sort_key, ascending=False, kind="stable").reset_index(drop=True),
        time_resolved=time_resolved,
        n_runs=int(x.shape[0]),
        n_failed=int(failed.sum()),
        variant=m.variant,
        phenotype=phenotype,
        protocol_id=protocol.id if protocol is not None else None,
    )
