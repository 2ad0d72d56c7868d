"""Who is in a synthetic cohort: demographics, true phenotype, HαT, parameters and protocols.

Pure: every function takes a numpy ``Generator`` (or data) and returns data. The true parameters
start from the mechanistic model's phenotype presets (``hostcap.mechanistic_model``); "mixed"
clients take the element-wise geometric mean of two presets (half of each preset's changes on the
log scale). Between-client variation is log-normal with the design's coefficient of variation,
clipped to each parameter's documented plausible range. HαT carriers get the model's own
``hat_copies`` parameter (each extra α copy multiplies baseline tryptase by ``hat_per_copy``).
Protocols are the decision model's templates (``hostcap.clinical_decisions`` rulebook,
``kind: protocol``), chosen for the true label with the same ``choose_protocol`` the assessment
uses, with doses drawn inside each phase's range.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hostcap.clinical_decisions import load_rulebook
from hostcap.clinical_decisions.protocol_planning import choose_protocol
from hostcap.clinical_decisions.rule_schema import ProtocolRule
from hostcap.mechanistic_model import (
    CompiledModel,
    InterventionDose,
    Phase,
    Protocol,
    initial_state,
)
from hostcap.synthetic.cohort_design import CohortDesign

__all__ = [
    "AssignedProtocol",
    "assign_protocols",
    "client_parameters",
    "draw_clients",
    "protocol_templates",
]

Array = NDArray[np.float64]
_PURE = ("A", "B", "C")


def draw_clients(
    n: int, seed: int, weeks: int, design: CohortDesign, rng: np.random.Generator
) -> pd.DataFrame:
    """Demographics, true phenotype, HαT status, enrolment date and dropout of ``n`` clients.

    Returns
    -------
    pandas.DataFrame
        One row per client: ``client_code, sex, birth_year, age, phenotype, components,
        hat_copies, genotyped, enrolled_on, dropout_week`` (NaN when the client completes).
    """
    labels = list(design.phenotype_mix)
    weights = np.array([design.phenotype_mix[k] for k in labels], dtype=float)
    phenotype = rng.choice(labels, size=n, p=weights / weights.sum())
    pairs = [("A", "B"), ("A", "C"), ("B", "C")]
    pair_index = rng.integers(0, len(pairs), size=n)
    components = [
        "+".join(pairs[j]) if label == "mixed" else str(label)
        for label, j in zip(phenotype, pair_index, strict=True)
    ]
    sex = np.where(rng.random(n) < design.female_fraction, "female", "male")
    age = rng.integers(design.age_range[0], design.age_range[1] + 1, size=n)
    carrier = rng.random(n) < design.hat_prevalence
    copies = np.where(carrier, np.where(rng.random(n) < design.hat_two_copy_fraction, 2, 1), 0)
    genotyped = rng.random(n) < design.genotyped_fraction
    start = dt.date.fromisoformat(design.calendar_start)
    offsets = rng.integers(0, design.calendar_days, size=n)
    enrolled = [start + dt.timedelta(days=int(d)) for d in offsets]
    dropout = rng.exponential(1.0 / design.dropout_per_week, size=n)
    return pd.DataFrame(
        {
            "client_code": [f"SYN{seed}-{i + 1:05d}" for i in range(n)],
            "sex": sex,
            "birth_year": [e.year - int(a) for e, a in zip(enrolled, age, strict=True)],
            "age": age.astype(int),
            "phenotype": phenotype.astype(str),
            "components": components,
            "hat_copies": copies.astype(int),
            "genotyped": genotyped,
            "enrolled_on": enrolled,
            "dropout_week": np.where(dropout < weeks, np.round(dropout, 3), np.nan),
        }
    )


def _preset_matrix(model: CompiledModel, components: list[str]) -> Array:
    """Preset parameter vectors ``(P, N)``; mixed components are geometric means of two."""
    vectors = {k: model.parameter_vector(k) for k in _PURE}
    columns = []
    for comp in components:
        parts = comp.split("+")
        if len(parts) == 1:
            columns.append(vectors[parts[0]])
            continue
        a, b = vectors[parts[0]], vectors[parts[1]]
        both = (a > 0) & (b > 0)
        columns.append(np.where(both, np.sqrt(np.abs(a * b)), 0.5 * (a + b)))
    return np.stack(columns, axis=1)


def client_parameters(
    model: CompiledModel,
    clients: pd.DataFrame,
    design: CohortDesign,
    rng: np.random.Generator,
) -> tuple[Array, Array]:
    """True parameters ``(P, N)`` and steady-state guesses ``(S, N)`` of every client.

    Each varied parameter the variant uses is multiplied by a log-normal factor with median 1
    and the design's CV, then clipped to the parameter's plausible range; ``hat_copies`` is the
    client's HαT genotype.
    """
    components = list(clients["components"])
    params = _preset_matrix(model, components)
    sigma = float(np.sqrt(np.log1p(design.parameter_cv**2)))
    ids = model.parameter_ids
    for pid in design.varied_parameters:
        if pid not in ids:
            continue
        i = ids.index(pid)
        lo, hi = model.definition.parameter(pid).range
        factor = np.exp(rng.normal(0.0, sigma, size=params.shape[1]))
        params[i] = np.clip(params[i] * factor, lo, hi)
    if "hat_copies" in ids:
        params[ids.index("hat_copies")] = clients["hat_copies"].to_numpy(dtype=float)
    guesses_by = {k: initial_state(model, k) for k in _PURE}
    guesses = np.stack([guesses_by[c.split("+")[0]] for c in components], axis=1)
    return params, guesses


@dataclass(frozen=True)
class AssignedProtocol:
    """A client's protocol: the template, the doses it takes, and the model's protocol."""

    template: str
    phases: tuple[tuple[str, int, int], ...]
    doses: tuple[tuple[str, str, float, str, int, int], ...]
    model_protocol: Protocol


def protocol_templates() -> list[ProtocolRule]:
    """The decision model's protocol templates (packaged rulebook, ``kind: protocol``)."""
    return list(load_rulebook().protocol_rules)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _round_dose(value: float) -> float:
    """Two significant digits, as a practitioner would write a dose."""
    if value <= 0:
        return 0.0
    digits = 1 - int(np.floor(np.log10(value)))
    return float(round(value, digits))


def assign_protocols(
    clients: pd.DataFrame, effect_scale: float, rng: np.random.Generator
) -> list[AssignedProtocol]:
    """The decision model's template for each client's true label, with drawn doses.

    Each client has one titration quantile per intervention, so a dose that continues into the
    next phase moves consistently within that phase's range. The model protocol's doses are the
    taken doses times ``effect_scale`` (0: the interventions do nothing in the model).
    """
    templates = protocol_templates()
    assigned = []
    rules = {label: choose_protocol(label, templates) for label in set(clients["phenotype"])}
    for label in clients["phenotype"]:
        rule = rules[label]
        quantile: dict[str, float] = {}
        phases = []
        doses = []
        model_phases = []
        for phase in rule.phases:
            name = _slug(phase.name)
            phases.append((name, phase.start_week, phase.end_week))
            items = []
            for item in phase.interventions:
                q = quantile.setdefault(item.intervention, float(rng.random()))
                dose = _round_dose(item.low + q * (item.high - item.low))
                doses.append(
                    (name, item.intervention, dose, item.unit, phase.start_week, phase.end_week)
                )
                items.append(InterventionDose(id=item.intervention, dose=dose * effect_scale))
            model_phases.append(
                Phase(id=name, start_week=phase.start_week, interventions=tuple(items))
            )
        assigned.append(
            AssignedProtocol(
                template=rule.id,
                phases=tuple(phases),
                doses=tuple(doses),
                model_protocol=Protocol(
                    id=rule.id, title=rule.title, phenotype=str(label), phases=tuple(model_phases)
                ),
            )
        )
    return assigned
