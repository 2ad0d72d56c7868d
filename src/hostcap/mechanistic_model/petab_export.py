"""A client's fitting problem as PEtab v1 files, so pyPESTO/AMICI users can reproduce it.

Files: ``model.xml`` (SBML L3V2, protocol boundaries as events), ``conditions.tsv`` (a
``pre_treatment`` pre-equilibration condition with every input 0, and the ``client`` condition),
``measurements.tsv``, ``observables.tsv`` (log-normal observables as ``log``-transformed with
``σ = sqrt(ln(1 + cv²))``, normal ones linear with their sd, the binomial panel as normal with
``sd = sqrt(p(1-p)/n)``), ``parameters.tsv`` (fitted parameters on ``log10`` scale within their
plausible ranges; every other parameter is fixed in the SBML) and ``problem.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hostcap.mechanistic_model.batch_simulation import _resolve
from hostcap.mechanistic_model.client_fitting import DEFAULT_FIT_PARAMETERS, normalise_observations
from hostcap.mechanistic_model.exchange import to_sbml
from hostcap.mechanistic_model.protocols import HOURS_PER_WEEK, Protocol, input_segments

__all__ = ["petab_problem"]


def _tsv(frame: pd.DataFrame) -> str:
    return str(frame.to_csv(sep="\t", index=False, lineterminator="\n"))


def petab_problem(
    observations: pd.DataFrame,
    *,
    variant: str = "essay",
    phenotype: str = "A",
    protocol: Protocol | None = None,
    parameters: Sequence[str] | None = None,
) -> dict[str, str]:
    """The PEtab files of fitting ``parameters`` of ``variant`` to ``observations``.

    Returns
    -------
    dict
        File name → text.
    """
    m = _resolve(variant)
    obs = normalise_observations(observations, m.observable_ids)
    fit_ids = list(parameters or DEFAULT_FIT_PARAMETERS.get(m.variant, ()))
    weeks = max(float(obs["time_h"].max()) / HOURS_PER_WEEK, 1.0)
    sbml = to_sbml(m, phenotype, protocol, weeks=weeks)
    first = input_segments(protocol, m.definition, weeks * HOURS_PER_WEEK)[0].values
    conditions = pd.DataFrame(
        [
            {
                "conditionId": "pre_treatment",
                "conditionName": "no interventions (steady state)",
                **dict.fromkeys(m.input_ids, 0.0),
            },
            {
                "conditionId": "client",
                "conditionName": protocol.id if protocol else "no protocol",
                **{k: float(first.get(k, 0.0)) for k in m.input_ids},
            },
        ]
    )
    spec = {o.id: o for o in m.definition.observables}
    obs_rows = []
    for name in sorted(obs["measure"].unique()):
        noise = spec[name].noise
        if noise.distribution == "lognormal":
            sigma = float(np.sqrt(np.log1p((noise.cv or 0.1) ** 2)))
            obs_rows.append((f"obs_{name}", name, "log", repr(sigma)))
        elif noise.distribution == "normal":
            obs_rows.append((f"obs_{name}", name, "lin", repr(float(noise.sd or 1.0))))
        else:
            n = int(noise.n or 20)
            obs_rows.append((f"obs_{name}", name, "lin", f"sqrt({name}*(1-{name})/{n})"))
    observables = pd.DataFrame(
        [
            {
                "observableId": oid,
                "observableName": name,
                "observableFormula": name,
                "observableTransformation": tr,
                "noiseFormula": nf,
                "noiseDistribution": "normal",
            }
            for oid, name, tr, nf in obs_rows
        ]
    )
    measurements = pd.DataFrame(
        {
            "observableId": [f"obs_{x}" for x in obs["measure"]],
            "preequilibrationConditionId": "pre_treatment",
            "simulationConditionId": "client",
            "measurement": obs["value"].to_numpy(),
            "time": obs["time_h"].to_numpy(),
        }
    )
    values = m.parameter_values(phenotype)
    params = pd.DataFrame(
        [
            {
                "parameterId": pid,
                "parameterScale": "log10",
                "lowerBound": m.definition.parameter(pid).range[0],
                "upperBound": m.definition.parameter(pid).range[1],
                "nominalValue": values[pid],
                "estimate": 1,
            }
            for pid in fit_ids
        ]
    )
    problem = (
        "format_version: 1\n"
        "parameter_file: parameters.tsv\n"
        "problems:\n"
        "  - condition_files: [conditions.tsv]\n"
        "    measurement_files: [measurements.tsv]\n"
        "    observable_files: [observables.tsv]\n"
        "    sbml_files: [model.xml]\n"
    )
    return {
        "model.xml": sbml,
        "conditions.tsv": _tsv(conditions),
        "measurements.tsv": _tsv(measurements),
        "observables.tsv": _tsv(observables),
        "parameters.tsv": _tsv(params),
        "problem.yaml": problem,
    }
