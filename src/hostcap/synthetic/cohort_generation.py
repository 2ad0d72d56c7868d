"""``generate_cohort``: a whole synthetic cohort, store records and ground truth, from a seed.

Pure: no database and no files; the services layer (``hostcap.services.synthesis``) writes the
records through the clinical store and saves the truth. Every random draw comes from one numpy
``Generator`` seeded with ``seed``, in a fixed order, so the same arguments give the same cohort.

Ground truth
------------
``truth_clients``: per client the true phenotype (and its components for "mixed"), sex, age, HαT
copies, protocol template, enrolment date, dropout week, and the packaged rulebook's label and
triage at baseline (``rule_label``, ``triage``: what a practitioner's assessment would say on
enrolment day). Protocols follow the TRUE label (as if the work-up had found it), and the
enrolment's ``phenotype_label`` in the store is the true label too, so analyses by phenotype
are analyses by the generating phenotype. ``truth_parameters``: per client every
model parameter. ``truth_effects``: per client, planned visit week and measure (with its name in
the outcome analytics, ``analytics_measure``), the noise-free
value on the visit day (``true_value``), the value the same client would have had without the
protocol (``untreated_value``, a second simulation with every intervention input 0), the change
from the client's own day 0 (``true_change``) and the effect of the protocol
(``true_effect = true_value - untreated_value``). With ``effect_scale=0`` the protocol run *is*
the untreated run, so every ``true_effect`` is exactly 0 and any apparent response in the
observations is noise or regression to the mean (the ``null`` variant enrols clients in a flare).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hostcap.mechanistic_model import HYPOTHESIS_NOTE, compile_model
from hostcap.synthetic.baseline_labels import rule_based_labels
from hostcap.synthetic.client_population import (
    AssignedProtocol,
    assign_protocols,
    client_parameters,
    draw_clients,
)
from hostcap.synthetic.cohort_design import DEFAULT_DESIGN, CohortDesign, check_options
from hostcap.synthetic.cohort_simulation import simulate_cohort, single_threaded_blas
from hostcap.synthetic.record_generation import (
    LATENT_MEASURES,
    latent_questionnaires,
    plan_visits,
    store_frames,
)

__all__ = [
    "ANALYTICS_MEASURES",
    "STORE_KINDS",
    "TRUTH_MEASURES",
    "Enrolment",
    "SyntheticCohort",
    "generate_cohort",
]

#: Store kinds in the order they must be written (clients first).
STORE_KINDS = (
    "clients",
    "findings",
    "visits",
    "labs",
    "questionnaires",
    "meds",
    "interventions",
    "food",
    "episodes",
)
#: Model observables the truth frame carries (then the questionnaire latent values).
TRUTH_MEASURES = (
    "tryptase_serum",
    "hs_crp",
    "symptom_load",
    "food_tolerance",
    "antihistamine_need",
)

#: The name each truth measure has in the outcome analytics (``hostcap.services.analytics``).
#: ``antihistamine_need`` is the model's derived need in DDD/d; the recorded dose whose sum is
#: ``antihistamine_ddd`` is a rounded step function of its measured value.
ANALYTICS_MEASURES: dict[str, str] = {
    "tryptase_serum": "tryptase",
    "hs_crp": "hs_crp",
    "symptom_load": "symptom_load",
    "food_tolerance": "food_tolerance",
    "antihistamine_need": "antihistamine_ddd",
    "fss_mean": "fss_mean",
    "gsrs_mean": "gsrs_mean",
    "mct_total": "mct_total",
    "compass31_total": "compass31_total",
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Enrolment:
    """A client's enrolment: template, dates, true label and phases (name, start, end week)."""

    client_code: str
    protocol: str
    started_on: dt.date
    ended_on: dt.date
    phenotype_label: str
    phases: tuple[tuple[str, int, int], ...]
    notes: str


@dataclass(frozen=True)
class SyntheticCohort:
    """A generated cohort: store frames (strings, import columns) and ground-truth frames.

    Attributes
    ----------
    records
        Store kind → frame of strings, in :data:`STORE_KINDS` order.
    enrolments
        One :class:`Enrolment` per client (``ended_on``: dropout or end of follow-up).
    truth_clients, truth_parameters, truth_effects
        Ground truth (see the module docstring).
    meta
        Generating options: n, seed, variant, effect_scale, weeks, design, fallback count,
        and the hypothesis note.
    """

    records: dict[str, pd.DataFrame]
    enrolments: tuple[Enrolment, ...]
    truth_clients: pd.DataFrame
    truth_parameters: pd.DataFrame
    truth_effects: pd.DataFrame
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_clients(self) -> int:
        return len(self.truth_clients)


def _effects_frame(
    codes: list[str],
    visits: pd.DataFrame,
    treated: dict[str, np.ndarray],
    untreated: dict[str, np.ndarray],
) -> pd.DataFrame:
    c = visits["client"].to_numpy()
    d = visits["day"].to_numpy()
    blocks = []
    for measure, values in treated.items():
        base = values[c, 0]
        true_value = values[c, d]
        untreated_value = untreated[measure][c, d]
        blocks.append(
            pd.DataFrame(
                {
                    "client_code": np.asarray(codes, dtype=object)[c],
                    "week": visits["week"].to_numpy(),
                    "day": d,
                    "observed": visits["happened"].to_numpy(),
                    "measure": measure,
                    "analytics_measure": ANALYTICS_MEASURES[measure],
                    "true_value": true_value,
                    "untreated_value": untreated_value,
                    "true_change": true_value - base,
                    "true_effect": true_value - untreated_value,
                }
            )
        )
    return pd.concat(blocks, ignore_index=True)


def _enrolments(
    clients: pd.DataFrame, protocols: list[AssignedProtocol], weeks: int
) -> tuple[Enrolment, ...]:
    """Each client's enrolment: the assigned template, ended at dropout or after ``weeks``."""
    codes = list(clients["client_code"])
    dropout = clients["dropout_week"].to_numpy(dtype=float)
    return tuple(
        Enrolment(
            client_code=code,
            protocol=assigned.template,
            started_on=started,
            ended_on=started
            + dt.timedelta(days=int(np.floor(w * 7)) if np.isfinite(w) else weeks * 7),
            phenotype_label=label,
            phases=assigned.phases,
            notes=(
                f"synthetic; dropped out in week {w:.1f}"
                if np.isfinite(w)
                else "synthetic; completed"
            ),
        )
        for code, assigned, started, label, w in zip(
            codes,
            protocols,
            list(clients["enrolled_on"]),
            [str(x) for x in clients["phenotype"]],
            dropout,
            strict=True,
        )
    )


def generate_cohort(
    n: int,
    seed: int,
    *,
    variant: str = "essay",
    effect_scale: float = 1.0,
    weeks: int = 16,
    design: CohortDesign = DEFAULT_DESIGN,
    progress: Progress | None = None,
) -> SyntheticCohort:
    """Generate a synthetic cohort with known ground truth.

    Parameters
    ----------
    n
        Number of clients (1 to 20,000).
    seed
        Seed of the one random generator; the same arguments give the same cohort.
    variant
        Mechanistic model variant that generates the data (``essay``, ``biochemical``,
        ``butyrate_direct``, ``null``).
    effect_scale
        Multiplies every protocol intervention's model input; 0 means the interventions do
        nothing (any "response" is noise or regression to the mean).
    weeks
        Follow-up length (4 to 52); the decision model's templates span 16 weeks and their last
        phase continues after that.
    design
        Proportions, rates and schedules (:class:`CohortDesign`).
    progress
        Called with a short description at the start of each step.

    Returns
    -------
    SyntheticCohort

    Raises
    ------
    hostcap.errors.ValidationError
        For bad options, naming the option, the value and what was expected.
    """
    check_options(n, seed, variant, effect_scale, weeks)
    say = progress or (lambda _text: None)
    rng = np.random.default_rng(seed)
    model = compile_model(variant)

    say("drawing clients and parameters")
    clients = draw_clients(n, seed, weeks, design, rng)
    params, guesses = client_parameters(model, clients, design, rng)
    protocols = assign_protocols(clients, float(effect_scale), rng)

    with single_threaded_blas():
        say("simulating the cohort with the mechanistic model")
        run = simulate_cohort(
            model, params, guesses, [a.model_protocol for a in protocols], weeks=weeks
        )
        if effect_scale == 0:
            untreated_run = run
        else:
            say("simulating the untreated counterfactual")
            untreated_run = simulate_cohort(
                model,
                params,
                guesses,
                [None] * n,
                weeks=weeks,
                start=(run.steady, run.settled),
            )

    say("drawing visits and measurements")
    visits = plan_visits(clients, weeks, design, rng)
    records = store_frames(model, clients, protocols, run, visits, weeks, design, rng)

    codes = list(clients["client_code"])
    treated = {m: run.observable(model, m) for m in TRUTH_MEASURES}
    treated |= latent_questionnaires(model, run)
    untreated = {m: untreated_run.observable(model, m) for m in TRUTH_MEASURES}
    untreated |= latent_questionnaires(model, untreated_run)
    effects = _effects_frame(codes, visits.frame, treated, untreated)

    truth_clients = clients.assign(
        protocol=[a.template for a in protocols],
        completed=~np.isfinite(clients["dropout_week"].to_numpy(dtype=float)),
        enrolled_on=[d.isoformat() for d in clients["enrolled_on"]],
    )
    say("labelling every client with the rulebook at baseline")
    labels = rule_based_labels(records, truth_clients)
    truth_clients = truth_clients.merge(labels, on="client_code", how="left", validate="1:1")
    truth_parameters = pd.DataFrame(params.T, columns=list(model.parameter_ids)).assign(
        client_code=codes
    )[["client_code", *model.parameter_ids]]
    enrolments = _enrolments(clients, protocols, weeks)
    meta: dict[str, object] = {
        "n": n,
        "seed": seed,
        "variant": variant,
        "effect_scale": float(effect_scale),
        "weeks": weeks,
        "design": design.__dict__.copy(),
        "truth_measures": [*TRUTH_MEASURES, *LATENT_MEASURES],
        "solver_fallback_clients": run.fallback + untreated_run.fallback,
        "synthetic": True,
        "hypothesis_note": HYPOTHESIS_NOTE,
    }
    return SyntheticCohort(
        records=records,
        enrolments=enrolments,
        truth_clients=truth_clients,
        truth_parameters=truth_parameters,
        truth_effects=effects,
        meta=meta,
    )
