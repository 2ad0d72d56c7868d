"""Which case study would tell the model variants apart (HYPOTHESIS TESTING).

The published human data do not discriminate the variants (they give the same numbers on every
published readout). This module ranks candidate *designs* — a protocol, a measure, and the week it
is read against a baseline measurement — by how well the data they would produce separate the
variants.

For each variant a virtual population of the chosen phenotype is drawn
(:func:`~hostcap.mechanistic_model.generate_population`: parameter uncertainty), every member is
simulated under the protocol, and each member's outcome is measured with the observable's
measurement error (``observation_sampling.draw_measurement``) at baseline and at the read week.
A client's outcome is the within-client change: the log ratio for a log-normal measure (a lab
value), the difference otherwise (a score, a panel fraction). Each variant's outcomes are
summarised as a normal distribution (mean ``μ``, SD ``σ``).

Two scores per design:

- **expected posterior probability of the true variant** with ``n`` clients (uniform prior over
  the variants compared; Monte Carlo over ``n``-client studies resampled from the truth's
  simulated outcomes, scored under each variant's normal model), averaged over which variant is
  true: ``1 / k`` means the design cannot tell ``k`` variants apart, 1 that it always can;
- **clients for a decisive answer** between two variants: the smallest ``n`` whose expected log
  Bayes factor for the true variant reaches ``ln 100`` (Jeffreys' "decisive") whichever of the
  two is true, i.e. ``n = ln 100 / min(KL(A‖B), KL(B‖A))`` with the Kullback-Leibler divergence of
  the two normal outcome models; ``None`` when the two are indistinguishable
  (:data:`INDISTINGUISHABLE_KL`) or when the simulated populations do not resolve their
  difference (means less than :data:`RESOLUTION_SE` standard errors apart and SDs within the
  same margin): the populations are drawn separately per variant, so a smaller difference may
  be sampling noise of the simulation, not a property of the hypotheses.

Designs are ranked by the expected posterior of the true variant, then by the clients needed to
separate the essay from the null model (does the essay's mechanism act at all, beyond regression to
the mean and measurement noise?). The candidate protocols shipped in
``data/discrimination_protocols.yaml`` use no prescription drug: what a practitioner could run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import combinations

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray

from hostcap.errors import UnknownIdError, ValidationError
from hostcap.mechanistic_model import (
    VARIANTS,
    Protocol,
    compile_model,
    generate_population,
    protocol_from_mapping,
    simulate_population,
)
from hostcap.mechanistic_model.observation_sampling import draw_measurement

__all__ = [
    "DECISIVE_LOG_BF",
    "DEFAULT_MEASURES",
    "DEFAULT_MEMBERS",
    "DISCRIMINATION_COLUMNS",
    "INDISTINGUISHABLE_KL",
    "RESOLUTION_SE",
    "CandidateProtocol",
    "candidate_protocols",
    "clients_for_decisive",
    "discriminate_variants",
]

#: ln 100: an expected Bayes factor of 100 for the true variant (Jeffreys: decisive).
DECISIVE_LOG_BF = math.log(100.0)
#: Below this Kullback-Leibler divergence (nats per client) two variants count as
#: indistinguishable: more than 4.6 million clients would be needed.
INDISTINGUISHABLE_KL = 1e-6
#: Virtual clients simulated per variant by default (the CLI's and docs/validation.md's).
DEFAULT_MEMBERS = 200
#: Two variants' simulated outcomes are resolved apart only beyond this many standard errors.
RESOLUTION_SE = 2.0
#: Measures ranked when none are named: what a practitioner can measure in a client.
DEFAULT_MEASURES: tuple[str, ...] = ("symptom_load", "food_tolerance", "tryptase_serum", "hs_crp")
#: Columns of the ranking, before the per-variant means.
DISCRIMINATION_COLUMNS: tuple[str, ...] = (
    "rank",
    "design",
    "protocol",
    "measure",
    "read_week",
    "phenotype",
    "outcome",
    "expected_posterior_true",
    "n_clients",
    "clients_essay_vs_null",
    "clients_all_pairs",
    "hardest_pair",
)

_REPLICATES = 400

Array = NDArray[np.float64]


@dataclass(frozen=True)
class CandidateProtocol:
    """A protocol to rank, with its length in weeks and a line on why it is a candidate."""

    protocol: Protocol
    weeks: float
    rationale: str = ""


@cache
def candidate_protocols() -> tuple[CandidateProtocol, ...]:
    """The packaged candidate case-study protocols (no prescription drugs)."""
    folder = resources.files("hostcap.model_validation") / "data"
    raw = yaml.safe_load((folder / "discrimination_protocols.yaml").read_text(encoding="utf-8"))
    out = []
    for item in raw["protocols"]:
        body = {k: v for k, v in item.items() if k not in ("weeks", "rationale")}
        out.append(
            CandidateProtocol(
                protocol_from_mapping(body),
                float(item["weeks"]),
                str(item.get("rationale", "")),
            )
        )
    return tuple(out)


def _kl(mu_a: float, sd_a: float, mu_b: float, sd_b: float) -> float:
    """KL(N(mu_a, sd_a²) ‖ N(mu_b, sd_b²)) in nats."""
    return math.log(sd_b / sd_a) + (sd_a**2 + (mu_a - mu_b) ** 2) / (2 * sd_b**2) - 0.5


def clients_for_decisive(mu_a: float, sd_a: float, mu_b: float, sd_b: float) -> int | None:
    """Clients whose expected log Bayes factor reaches ``ln 100`` whichever variant is true.

    Examples
    --------
    >>> clients_for_decisive(0.0, 1.0, 1.0, 1.0)  # KL = 0.5 nats per client
    10
    >>> clients_for_decisive(0.0, 1.0, 0.0, 1.0) is None
    True
    """
    worst = min(_kl(mu_a, sd_a, mu_b, sd_b), _kl(mu_b, sd_b, mu_a, sd_a))
    if worst < INDISTINGUISHABLE_KL:
        return None
    return max(1, math.ceil(DECISIVE_LOG_BF / worst))


def _expected_posterior(outcomes: Sequence[Array], n: int, rng: np.random.Generator) -> float:
    """Mean posterior probability of the true variant in ``n``-client studies."""
    mu = np.array([o.mean() for o in outcomes])
    sd = np.array([o.std(ddof=1) for o in outcomes])
    scores = []
    for truth, sample in enumerate(outcomes):
        draws = rng.choice(sample, size=(_REPLICATES, n), replace=True)
        s1 = draws.sum(axis=1)[:, None]
        s2 = (draws**2).sum(axis=1)[:, None]
        # Σ (x − μ)² = Σx² − 2μΣx + nμ², per replicate and variant.
        sq = s2 - 2 * mu[None, :] * s1 + n * mu[None, :] ** 2
        loglik = -n * np.log(sd)[None, :] - sq / (2 * sd[None, :] ** 2)
        loglik -= loglik.max(axis=1, keepdims=True)
        post = np.exp(loglik)
        post /= post.sum(axis=1, keepdims=True)
        scores.append(float(post[:, truth].mean()))
    return float(np.mean(scores))


def _outcome_kind(variant: str, measure: str) -> str:
    m = compile_model(variant)
    if measure not in m.observable_ids:
        raise UnknownIdError("measure", measure, m.observable_ids)
    noise = m.definition.observables[m.observable_ids.index(measure)].noise
    return "log_ratio" if noise.distribution == "lognormal" else "difference"


def discriminate_variants(
    protocols: Iterable[CandidateProtocol] | None = None,
    measures: Sequence[str] = DEFAULT_MEASURES,
    *,
    variants: Sequence[str] = VARIANTS,
    phenotype: str = "A",
    n_clients: int = 20,
    members: int = DEFAULT_MEMBERS,
    seed: int = 1,
) -> pd.DataFrame:
    """Rank designs (protocol × measure × read week) by how well they separate the variants.

    Parameters
    ----------
    protocols
        Candidates (default: :func:`candidate_protocols`); each is read at half its length and at
        its end, against a baseline measurement at week 0.
    measures
        Observable ids (lab values, scores) measured at baseline and at the read week.
    variants
        Two or more variant names.
    phenotype
        The phenotype preset the virtual clients are drawn around.
    n_clients
        Clients in the study whose expected posterior is reported.
    members
        Virtual clients simulated per variant.
    seed
        Seed of the populations, the measurement noise and the resampled studies.

    Returns
    -------
    pandas.DataFrame
        :data:`DISCRIMINATION_COLUMNS`, then ``mean_<variant>`` and ``sd_<variant>`` per variant,
        best design first.

    Raises
    ------
    ValidationError
        Fewer than two variants, or ``n_clients`` / ``members`` below 2.
    UnknownIdError
        An unknown variant or measure.
    """
    names = tuple(variants)
    for name in names:
        if name not in VARIANTS:
            raise UnknownIdError("model variant", name, VARIANTS)
    if len(set(names)) < 2:
        raise ValidationError.single("--variants", ",".join(names), "two or more variants")
    if n_clients < 2:
        raise ValidationError.single("--n-clients", n_clients, "an integer >= 2")
    if members < 2:
        raise ValidationError.single("members", members, "an integer >= 2")
    kinds = {measure: _outcome_kind(names[0], measure) for measure in measures}
    chosen = tuple(protocols) if protocols is not None else candidate_protocols()
    populations = {v: generate_population(v, phenotype, members, seed=seed) for v in names}
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    for candidate in chosen:
        reads = sorted({candidate.weeks / 2.0, candidate.weeks})
        values: dict[str, pd.DataFrame] = {}
        for v in names:
            run = simulate_population(
                populations[v],
                candidate.protocol,
                weeks=candidate.weeks,
                names=list(measures),
                summary_weeks=(0.0, *reads),
            )
            assert run.summaries is not None
            values[v] = run.summaries
        for measure in measures:
            for week in reads:
                outcomes = [
                    _outcomes(values[v], v, measure, week, kinds[measure], rng) for v in names
                ]
                rows.append(
                    _design_row(
                        candidate,
                        measure,
                        week,
                        phenotype,
                        kinds[measure],
                        names,
                        outcomes,
                        n_clients,
                        rng,
                    )
                )
    frame = pd.DataFrame(rows)
    for column in ("clients_essay_vs_null", "clients_all_pairs"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["_essay_null"] = frame["clients_essay_vs_null"].fillna(np.inf)
    frame = frame.sort_values(
        ["expected_posterior_true", "_essay_null"], ascending=[False, True], kind="stable"
    ).drop(columns="_essay_null")
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def _outcomes(
    summaries: pd.DataFrame,
    variant: str,
    measure: str,
    week: float,
    kind: str,
    rng: np.random.Generator,
) -> Array:
    m = compile_model(variant)
    noise = m.definition.observables[m.observable_ids.index(measure)].noise
    base = summaries.loc[summaries["week"] == 0.0].sort_values("member")[measure].to_numpy()
    then = summaries.loc[summaries["week"] == week].sort_values("member")[measure].to_numpy()
    y0 = draw_measurement(base, noise, rng)
    y1 = draw_measurement(then, noise, rng)
    if kind == "log_ratio":
        floor = 1e-9
        return np.asarray(np.log(np.maximum(y1, floor) / np.maximum(y0, floor)), dtype=float)
    return np.asarray(y1 - y0, dtype=float)


def _design_row(
    candidate: CandidateProtocol,
    measure: str,
    week: float,
    phenotype: str,
    kind: str,
    names: Sequence[str],
    outcomes: Sequence[Array],
    n_clients: int,
    rng: np.random.Generator,
) -> dict[str, object]:
    stats = {
        v: (float(o.mean()), max(float(o.std(ddof=1)), 1e-9))
        for v, o in zip(names, outcomes, strict=True)
    }
    sizes = {v: len(o) for v, o in zip(names, outcomes, strict=True)}

    def decisive(a: str, b: str) -> int | None:
        (mu_a, sd_a), (mu_b, sd_b) = stats[a], stats[b]
        se_mean = math.sqrt(sd_a**2 / sizes[a] + sd_b**2 / sizes[b])
        # The SD of a normal sample has standard error ~ sd / sqrt(2 (n - 1)).
        se_sd = math.sqrt(sd_a**2 / (2 * sizes[a] - 2) + sd_b**2 / (2 * sizes[b] - 2))
        if abs(mu_a - mu_b) < RESOLUTION_SE * se_mean and abs(sd_a - sd_b) < RESOLUTION_SE * se_sd:
            return None
        return clients_for_decisive(mu_a, sd_a, mu_b, sd_b)

    pairs = {(a, b): decisive(a, b) for a, b in combinations(names, 2)}
    hardest = max(pairs, key=lambda p: math.inf if pairs[p] is None else float(pairs[p] or 0))
    all_pairs = pairs[hardest]
    essay_null = decisive("essay", "null") if "essay" in stats and "null" in stats else None
    row: dict[str, object] = {
        "design": f"{candidate.protocol.id}:{measure}@w{week:g}",
        "protocol": candidate.protocol.id,
        "measure": measure,
        "read_week": week,
        "phenotype": phenotype,
        "outcome": kind,
        "expected_posterior_true": _expected_posterior(outcomes, n_clients, rng),
        "n_clients": n_clients,
        "clients_essay_vs_null": essay_null,
        "clients_all_pairs": all_pairs,
        "hardest_pair": f"{hardest[0]}/{hardest[1]}",
    }
    for v in names:
        row[f"mean_{v}"], row[f"sd_{v}"] = stats[v]
    return row
