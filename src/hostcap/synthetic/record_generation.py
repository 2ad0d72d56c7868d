"""Store records (strings, as an import file would hold them) from simulated latent states.

Pure: frames in, frames out, randomness from the caller's ``Generator``. What is *measured* is
the noise-free model value passed through the observable's own measurement-error model
(``hostcap.mechanistic_model`` definition; ``docs/model-card.md``, observables); what is
*reported* (questionnaires,
episodes, food reactions, medication) follows documented synthetic rules below. None of these
rules is validated against real people; they are there so analyses have data whose truth is
known.

Questionnaire latent means (an invented synthetic calibration, not fitted to any data):

- FSS item mean = 1.5 + 0.3·L + 0.8·max(inflammation − 1, 0) + 0.8·min(cns_mc, 1), 1–7;
- GSRS item mean = 1.2 + 0.15·L + 4.5·(1 − barrier), 1–7;
- MCT total = 20 − 1.7·L, 0–20 (higher is better control);
- COMPASS-31: each item's points are binomial with the fraction 0.1 + 0.03·L + 0.6·min(cns_mc, 1)
  of its maximum, so the expected weighted total (0–100) is 100 × that fraction;

where L is the true symptom load (0–10). The symptom diary (hostcap's non-validated 0–10 organ
ratings, whose mean the analytics read as ``symptom_load``) is L measured with the model's own
noise (normal, sd 0.8), spread over the six organ systems by the day's state (gut barrier,
CNS mast cells, inflammation) plus rating noise (sd 0.7). Each client has a fixed response
style (normal offset, sd 0.4 items) and each answer adds item noise (sd 0.8 on 1–7 items, 0.5
on MCT items) before rounding to the item's range; the store scores the answers on entry
through the catalog.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hostcap.catalog import get_instrument
from hostcap.mechanistic_model import CompiledModel, protocol_from_mapping, simulate
from hostcap.mechanistic_model.observation_sampling import draw_measurement
from hostcap.synthetic.client_population import AssignedProtocol
from hostcap.synthetic.cohort_design import CohortDesign
from hostcap.synthetic.cohort_simulation import CohortRun

__all__ = [
    "H1_CHOICES",
    "LATENT_MEASURES",
    "VisitPlan",
    "event_tryptase_excess",
    "latent_questionnaires",
    "plan_visits",
    "store_frames",
]

Array = NDArray[np.float64]

#: Background H1 antihistamine per client (catalog ids; WHO DDD verified) and their weights.
H1_CHOICES: dict[str, float] = {
    "cetirizine": 0.35,
    "fexofenadine": 0.25,
    "levocetirizine": 0.15,
    "loratadine": 0.1,
    "desloratadine": 0.15,
}
#: Questionnaire latent values the truth frame carries beside the model observables.
LATENT_MEASURES = ("fss_mean", "gsrs_mean", "mct_total", "compass31_total")


def latent_questionnaires(model: CompiledModel, run: CohortRun) -> dict[str, Array]:
    """Noise-free questionnaire latent values ``(N, T)`` from the simulated state."""
    load = run.observable(model, "symptom_load")
    inflammation = run.state(model, "inflammation")
    barrier = run.state(model, "barrier")
    cns = np.minimum(run.state(model, "cns_mc"), 1.0)
    return {
        "fss_mean": np.clip(
            1.5 + 0.3 * load + 0.8 * np.maximum(inflammation - 1.0, 0.0) + 0.8 * cns, 1, 7
        ),
        "gsrs_mean": np.clip(1.2 + 0.15 * load + 4.5 * (1.0 - barrier), 1, 7),
        "mct_total": np.clip(20.0 - 1.7 * load, 0, 20),
        # Every item's expected points are this fraction of its maximum, so the expected
        # weighted COMPASS-31 total (0-100) is 100 x the fraction.
        "compass31_total": 100.0 * np.clip(0.1 + 0.03 * load + 0.6 * cns, 0, 1),
    }


@dataclass(frozen=True)
class VisitPlan:
    """Planned and actual visits, long: one row per client and planned week."""

    frame: pd.DataFrame  # client, week, day, happened, lab, questionnaire, kind


def plan_visits(
    clients: pd.DataFrame, weeks: int, design: CohortDesign, rng: np.random.Generator
) -> VisitPlan:
    """Visit days with ± jitter, missed visits and dropout (a dropped client has no later visit)."""
    q_every, lab_every = design.questionnaire_every_weeks, design.lab_every_weeks
    planned = sorted(set(range(0, weeks + 1, q_every)) | set(range(0, weeks + 1, lab_every)))
    n, v = len(clients), len(planned)
    week = np.tile(np.array(planned, dtype=float), n)
    client = np.repeat(np.arange(n), v)
    jitter = rng.integers(-design.jitter_days, design.jitter_days + 1, size=n * v)
    day = np.clip(week * 7 + jitter, 1, weeks * 7).astype(int)
    day[week == 0] = 0
    missed = (rng.random(n * v) < design.missed_visit_rate) & (week > 0)
    dropout_day = clients["dropout_week"].to_numpy(dtype=float)[client] * 7
    dropped = np.isfinite(dropout_day) & (day > dropout_day)
    last = max(planned)
    kind = np.where(week == 0, "baseline", np.where(week == last, "final", "follow_up"))
    frame = pd.DataFrame(
        {
            "client": client,
            "week": week,
            "day": day,
            "happened": ~missed & ~dropped,
            "lab": (week.astype(int) % lab_every) == 0,
            "questionnaire": (week.astype(int) % q_every) == 0,
            "kind": kind,
        }
    )
    return VisitPlan(frame)


def _date(enrolled: dt.date, day: int | np.integer) -> str:
    return (enrolled + dt.timedelta(days=int(day))).isoformat()


def _stamp(enrolled: dt.date, day: int | np.integer, minutes: int | np.integer) -> str:
    moment = dt.datetime.combine(enrolled, dt.time()) + dt.timedelta(
        days=int(day), minutes=int(minutes)
    )
    return moment.strftime("%Y-%m-%dT%H:%M")


def _answers(values: NDArray[np.float64] | NDArray[np.int64]) -> str:
    return ",".join(str(int(v)) for v in values)


@dataclass(frozen=True)
class _Cohort:
    """What every record kind's rows are drawn from (one cohort, one random stream)."""

    model: CompiledModel
    clients: pd.DataFrame
    run: CohortRun
    weeks: int
    design: CohortDesign
    rng: np.random.Generator
    codes: list[str]
    enrolled: list[dt.date]
    last_day: NDArray[np.int64]
    spec: dict[str, Any]
    seen: pd.DataFrame
    load: Array
    barrier: Array
    cns: Array
    inflammation: Array


@dataclass(frozen=True)
class _Episodes:
    """The drawn episodes, which the acute tryptase samples follow."""

    frame: pd.DataFrame
    client: NDArray[np.intp]
    column: NDArray[np.intp]
    day: NDArray[np.intp]
    onset: NDArray[np.int64]
    severity: Array
    history: int


def store_frames(
    model: CompiledModel,
    clients: pd.DataFrame,
    protocols: list[AssignedProtocol],
    run: CohortRun,
    visits: VisitPlan,
    weeks: int,
    design: CohortDesign,
    rng: np.random.Generator,
) -> dict[str, pd.DataFrame]:
    """Every store kind's records for the cohort, as string frames in import-file columns.

    The kinds are drawn in a fixed order from the one ``rng`` (routine labs, questionnaires,
    episodes, acute tryptase, food, medication, intake findings), so a seed gives one cohort.
    """
    ctx = _Cohort(
        model=model,
        clients=clients,
        run=run,
        weeks=weeks,
        design=design,
        rng=rng,
        codes=list(clients["client_code"]),
        enrolled=list(clients["enrolled_on"]),
        last_day=np.where(
            np.isfinite(clients["dropout_week"].to_numpy(dtype=float)),
            np.floor(clients["dropout_week"].to_numpy(dtype=float) * 7),
            weeks * 7,
        ).astype(int),
        spec={o.id: o for o in model.definition.observables},
        seen=visits.frame[visits.frame["happened"]],
        load=run.observable(model, "symptom_load"),
        barrier=run.state(model, "barrier"),
        cns=np.minimum(run.state(model, "cns_mc"), 1.0),
        inflammation=run.state(model, "inflammation"),
    )
    frames: dict[str, pd.DataFrame] = {}
    frames["clients"], frames["visits"] = _client_and_visit_rows(ctx)
    lab_rows = _routine_lab_rows(ctx)
    frames["questionnaires"] = _questionnaire_rows(ctx, latent_questionnaires(model, run))
    episodes = _episode_rows(ctx)
    frames["episodes"] = episodes.frame
    lab_rows.append(_acute_tryptase_rows(ctx, episodes))
    frames["labs"] = (
        pd.concat(lab_rows, ignore_index=True)
        .drop_duplicates(["client_code", "analyte", "collected_at"])
        .reset_index(drop=True)
    )

    food = run.observable(model, "food_tolerance")
    frames["food"], quantile = _food_rows(ctx, food)
    frames["meds"] = _medication_rows(ctx)
    frames["interventions"] = _intervention_rows(ctx, protocols)
    frames["findings"] = _finding_rows(ctx, quantile, food)
    return {k: v.reset_index(drop=True).astype("string") for k, v in frames.items()}


def _client_and_visit_rows(ctx: _Cohort) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames: dict[str, pd.DataFrame] = {}
    frames["clients"] = pd.DataFrame(
        {
            "client_code": ctx.codes,
            "sex": ctx.clients["sex"],
            "birth_year": ctx.clients["birth_year"].astype(str),
            "demo": "true",
        }
    )
    frames["visits"] = pd.DataFrame(
        {
            "client_code": [ctx.codes[c] for c in ctx.seen["client"]],
            "date": [
                _date(ctx.enrolled[c], d)
                for c, d in zip(ctx.seen["client"], ctx.seen["day"], strict=True)
            ],
            "visit_kind": ctx.seen["kind"].to_numpy(),
            "week": ctx.seen["week"].map(lambda w: f"{w:g}").to_numpy(),
            "notes": "synthetic",
        }
    )
    return frames["clients"], frames["visits"]


def _routine_lab_rows(ctx: _Cohort) -> list[pd.DataFrame]:
    # Labs at lab visits: the observables' own measurement-error models.
    labs = ctx.seen[ctx.seen["lab"]]
    c_idx, d_idx = labs["client"].to_numpy(), labs["day"].to_numpy()
    minutes = ctx.rng.integers(8 * 60, 11 * 60, size=len(labs))
    lab_rows = []
    for obs, analyte, unit, digits, context in (
        ("tryptase_serum", "tryptase", "ng/mL", 1, "baseline"),
        ("hs_crp", "hs_crp", "mg/L", 2, "routine"),
    ):
        truth = ctx.run.observable(ctx.model, obs)[c_idx, d_idx]
        values = np.maximum(draw_measurement(truth, ctx.spec[obs].noise, ctx.rng), 10.0**-digits)
        lab_rows.append(
            pd.DataFrame(
                {
                    "client_code": [ctx.codes[c] for c in c_idx],
                    "analyte": analyte,
                    "value": [f"{v:.{digits}f}" for v in values],
                    "unit": unit,
                    "collected_at": [
                        _stamp(ctx.enrolled[c], d, m)
                        for c, d, m in zip(c_idx, d_idx, minutes, strict=True)
                    ],
                    "context": context,
                    "hours_after_onset": pd.NA,
                }
            )
        )
    return lab_rows


def _questionnaire_rows(ctx: _Cohort, latent: dict[str, Array]) -> pd.DataFrame:
    # Questionnaires at questionnaire visits, answers consistent with the latent state.
    qs = ctx.seen[ctx.seen["questionnaire"]]
    style = ctx.rng.normal(0.0, 0.4, size=len(ctx.clients))
    # The symptom diary's six organ ratings: the model's symptom load measured with its own
    # noise (normal, sd 0.8), spread over organ systems by the client's state that day.
    diary_load = draw_measurement(
        ctx.load[qs["client"].to_numpy(), qs["day"].to_numpy()],
        ctx.spec["symptom_load"].noise,
        ctx.rng,
    )
    q_rows = []
    for k, (c, d, w) in enumerate(zip(qs["client"], qs["day"], qs["week"], strict=True)):
        date = _date(ctx.enrolled[c], d)
        profile = np.array(
            [
                1.0,
                0.6 + 2.0 * (1.0 - ctx.barrier[c, d]),
                0.6 + 1.5 * ctx.cns[c, d],
                0.5 + 0.5 * max(ctx.inflammation[c, d] - 1.0, 0.0),
                0.5,
                0.6 + 2.0 * ctx.cns[c, d],
            ]
        )
        ratings = diary_load[k] * profile / profile.mean() + ctx.rng.normal(0.0, 0.7, 6)
        q_rows.append(
            (ctx.codes[c], "symptom_diary", _answers(np.clip(np.rint(ratings), 0, 10)), date)
        )
        for instrument, mean, n_items, lo, hi, sd in (
            ("fss", latent["fss_mean"][c, d], 9, 1, 7, 0.8),
            ("gsrs", latent["gsrs_mean"][c, d], 15, 1, 7, 0.8),
            ("mct", latent["mct_total"][c, d] / 5.0, 5, 0, 4, 0.5),
        ):
            shift = -style[c] if instrument == "mct" else style[c]
            items = np.clip(np.rint(mean + shift + ctx.rng.normal(0.0, sd, n_items)), lo, hi)
            q_rows.append((ctx.codes[c], instrument, _answers(items), date))
        if w % ctx.design.lab_every_weeks == 0:
            maxima = np.array([it.max for it in get_instrument("compass31").items], dtype=int)
            frac = float(latent["compass31_total"][c, d]) / 100.0
            q_rows.append(
                (ctx.codes[c], "compass31", _answers(ctx.rng.binomial(maxima, frac)), date)
            )
    return pd.DataFrame(q_rows, columns=["client_code", "instrument", "answers", "date"])


def _episode_rows(ctx: _Cohort) -> _Episodes:
    # Episodes: a daily Poisson process whose rate follows the true symptom load, over the
    # follow-up and a pre-enrolment diary of ``history_weeks`` (the enrolment-day state held
    # constant: the pre-treatment steady state, or the null variant's enrolment flare).
    history = ctx.design.history_weeks * 7

    def extended(values: Array) -> Array:
        return np.concatenate([np.repeat(values[:, :1], history, axis=1), values], axis=1)

    load_x, barrier_x, cns_x, infl_x = (
        extended(a) for a in (ctx.load, ctx.barrier, ctx.cns, ctx.inflammation)
    )
    days = np.arange(load_x.shape[1]) - history
    alive = days[None, :] <= ctx.last_day[:, None]
    counts = ctx.rng.poisson(ctx.design.episode_rate_per_load * load_x / 7.0) * alive
    ep_c, ep_x = np.nonzero(counts)
    ep_d = ep_x - history
    systems_p = {
        "skin": np.full(ep_c.size, 0.6),
        "gastrointestinal": 0.25 + 0.6 * (1 - barrier_x[ep_c, ep_x]),
        "cardiovascular": 0.15 + 0.4 * cns_x[ep_c, ep_x],
        "respiratory": 0.1 + 0.1 * np.maximum(infl_x[ep_c, ep_x] - 1, 0),
        "naso_ocular": np.full(ep_c.size, 0.1),
        "neurological": 0.1 + 0.7 * cns_x[ep_c, ep_x],
    }
    drawn = {k: ctx.rng.random(ep_c.size) < p for k, p in systems_p.items()}
    onset = ctx.rng.integers(6 * 60, 23 * 60, size=ep_c.size)
    severity = np.clip(
        np.rint(2 + 0.6 * load_x[ep_c, ep_x] + ctx.rng.normal(0, 1.2, ep_c.size)), 1, 10
    )
    duration = np.rint(ctx.rng.lognormal(np.log(90), 0.6, ep_c.size))
    episodes = []
    for k, (c, d) in enumerate(zip(ep_c, ep_d, strict=True)):
        systems = [s for s in systems_p if drawn[s][k]] or ["skin"]
        episodes.append(
            (
                ctx.codes[c],
                _stamp(ctx.enrolled[c], d, onset[k]),
                ";".join(systems),
                str(int(severity[k])),
                str(int(duration[k])),
                "false",
                "false",
                "synthetic",
            )
        )
    frame = pd.DataFrame(
        episodes,
        columns=[
            "client_code",
            "onset_at",
            "organ_systems",
            "severity",
            "duration_minutes",
            "emergency_care",
            "anaphylaxis",
            "notes",
        ],
    ).drop_duplicates(["client_code", "onset_at"])
    return _Episodes(frame, ep_c, ep_x, ep_d, onset, severity, history)


#: Hours after an acute mast cell event over which its serum tryptase excess is tabulated.
_EVENT_GRID_H = np.arange(0.0, 6.0 + 1e-9, 0.05)


def event_tryptase_excess(model: CompiledModel, hours: Array) -> Array:
    """Serum tryptase above baseline ``hours`` after a maximal acute mast cell event.

    Read from the model itself: an event of severity 1 at time 0 (the ``mast_cell_event`` input,
    released into the tissue pool and absorbed into serum) against the same run without it. The
    event enters linear pool and serum equations only, so the excess scales with the event's
    severity and does not depend on the baseline.
    """
    event = protocol_from_mapping(
        {
            "id": "acute_event",
            "phases": [
                {
                    "id": "event",
                    "start_week": 0,
                    "events": [{"kind": "mast_cell_event", "severity": 1}],
                }
            ],
        }
    )
    weeks = float(_EVENT_GRID_H[-1]) / 168.0
    runs = [
        simulate(model, p, phenotype="healthy", weeks=weeks, save_at=_EVENT_GRID_H)["tryptase"]
        for p in (event, None)
    ]
    return np.asarray(np.interp(hours, _EVENT_GRID_H, runs[0] - runs[1]), dtype=float)


def _acute_tryptase_rows(ctx: _Cohort, episodes: _Episodes) -> pd.DataFrame:
    # Acute tryptase for some severe episodes, drawn 1-4 h after onset: the day's simulated
    # baseline plus the model's own acute-event response (tryptase pool absorbed into serum),
    # scaled by the episode's severity (severity 10 of 10 = a maximal event).
    ep_c, ep_x, ep_d = episodes.client, episodes.column, episodes.day
    severity, onset, history = episodes.severity, episodes.onset, episodes.history
    severe = np.flatnonzero((severity >= 5) & (ctx.rng.random(ep_c.size) < 0.2))
    observed = ctx.run.observable(ctx.model, "tryptase_serum")
    tryptase = np.concatenate([np.repeat(observed[:, :1], history, axis=1), observed], axis=1)
    hours = ctx.rng.uniform(1.0, 4.0, size=severe.size)
    excess = event_tryptase_excess(ctx.model, hours) * severity[severe] / 10.0
    acute_truth = tryptase[ep_c[severe], ep_x[severe]] + excess
    acute = draw_measurement(acute_truth, ctx.spec["tryptase_serum"].noise, ctx.rng)
    return pd.DataFrame(
        {
            "client_code": [ctx.codes[c] for c in ep_c[severe]],
            "analyte": "tryptase",
            "value": [f"{v:.1f}" for v in acute],
            "unit": "ng/mL",
            "collected_at": [
                _stamp(ctx.enrolled[c], d, o + round(h * 60))
                for c, d, o, h in zip(ep_c[severe], ep_d[severe], onset[severe], hours, strict=True)
            ],
            "context": "acute",
            "hours_after_onset": [f"{round(h * 60) / 60:.2f}" for h in hours],
        }
    )


def _food_rows(ctx: _Cohort, food: Array) -> tuple[pd.DataFrame, Array]:
    # Food reintroduction: each panel food has a fixed place in the client's trigger
    # distribution (a quantile); a food is tolerated when its quantile is below the true
    # food_tolerance fraction on the trial day, so tolerance follows the simulated threshold.
    panel = ctx.design.food_panel
    quantile = ctx.rng.random((len(ctx.clients), len(panel)))
    order = np.argsort(ctx.rng.random((len(ctx.clients), len(panel))), axis=1)
    # A baseline reintroduction diary of ``baseline_food_trials`` foods on the days before
    # enrolment (the enrolment-day state) gives each client a baseline share, then one trial
    # every ``food_trial_every_weeks`` weeks.
    food_rows = []
    trial_weeks = range(
        ctx.design.food_trial_every_weeks, ctx.weeks + 1, ctx.design.food_trial_every_weeks
    )
    n_base = ctx.design.baseline_food_trials
    for c in range(len(ctx.clients)):
        planned = [d - n_base for d in range(n_base)] + [
            int(np.clip(w * 7 + ctx.rng.integers(-2, 3), 1, ctx.weeks * 7)) for w in trial_weeks
        ]
        for k, d in enumerate(planned):
            if d > ctx.last_day[c]:
                break
            j = int(order[c, k % len(panel)])
            f = float(food[c, max(d, 0)])
            q = float(quantile[c, j])
            grade = 0 if q < f else int(min(3, 1 + np.floor(3 * (q - f) / max(1 - f, 1e-9))))
            food_rows.append((ctx.codes[c], panel[j], _date(ctx.enrolled[c], d), str(grade)))
    frame = pd.DataFrame(
        food_rows, columns=["client_code", "food", "date", "reaction_grade"]
    ).drop_duplicates(["client_code", "food", "date"])
    return frame, quantile


def _medication_rows(ctx: _Cohort) -> pd.DataFrame:
    # Background medication: the H1 (and, with higher need, H2) dose follows the measured
    # antihistamine need, reviewed at lab visits; a record per dose level (store key:
    # client, drug, start date). Records only; the model's antihistamine inputs stay 0
    # (no closed loop), so the model's symptom load is the load on background therapy.
    need = ctx.run.observable(ctx.model, "antihistamine_need")
    h1_names = list(H1_CHOICES)
    h1_weights = np.array([H1_CHOICES[k] for k in h1_names])
    h1_drug = ctx.rng.choice(h1_names, size=len(ctx.clients), p=h1_weights / h1_weights.sum())
    before = ctx.rng.integers(30, 400, size=len(ctx.clients))
    med_rows = []
    review = ctx.seen[ctx.seen["lab"]]
    for c in range(len(ctx.clients)):
        days_c = review.loc[review["client"] == c, "day"].to_numpy()
        if days_c.size == 0:
            days_c = np.array([0])
        measured = draw_measurement(need[c, days_c], ctx.spec["antihistamine_need"].noise, ctx.rng)
        h1_level = np.clip(np.rint(0.7 * measured), 1, 4).astype(int)
        h2_level = np.where(measured >= 1.2, 2, 0)
        rescue = ctx.rng.poisson(0.25 * ctx.load[c, days_c])
        drug = str(h1_drug[c])
        ddd = {
            "cetirizine": 10,
            "fexofenadine": 120,
            "levocetirizine": 5,
            "loratadine": 10,
            "desloratadine": 5,
        }[drug]
        for name, levels, dose in ((drug, h1_level, ddd), ("famotidine", h2_level, 20)):
            start_k = 0
            for k in range(1, levels.size + 1):
                if k < levels.size and levels[k] == levels[start_k]:
                    continue
                if levels[start_k] > 0:
                    start_day = -int(before[c]) if start_k == 0 else int(days_c[start_k])
                    end = (
                        _date(ctx.enrolled[c], int(days_c[k]) - 1)
                        if k < levels.size
                        else (
                            _date(ctx.enrolled[c], int(ctx.last_day[c]))
                            if ctx.last_day[c] < ctx.weeks * 7
                            else ""
                        )
                    )
                    med_rows.append(
                        (
                            ctx.codes[c],
                            name,
                            f"{dose:g}",
                            "mg",
                            str(int(levels[start_k])),
                            _date(ctx.enrolled[c], start_day),
                            end,
                            str(int(rescue[start_k])),
                        )
                    )
                start_k = k
    return pd.DataFrame(
        med_rows,
        columns=[
            "client_code",
            "drug",
            "dose",
            "unit",
            "per_day",
            "start",
            "end",
            "rescue_doses_per_week",
        ],
    )


def _intervention_rows(ctx: _Cohort, protocols: list[AssignedProtocol]) -> pd.DataFrame:
    # Protocol interventions as taken (doses unscaled: the effect scale acts inside the model).
    iv_rows = []
    for c, assigned in enumerate(protocols):
        final_week = max(item[5] for item in assigned.doses)
        for phase, intervention, amount, unit, start_w, end_w in assigned.doses:
            start_day = start_w * 7
            if start_day > min(ctx.last_day[c], ctx.weeks * 7 - 1):
                continue
            # The template's last phase continues past its nominal end until follow-up ends.
            nominal_end = ctx.weeks * 7 if end_w >= final_week else end_w * 7 - 1
            end_day = min(nominal_end, int(ctx.last_day[c]), ctx.weeks * 7)
            iv_rows.append(
                (
                    ctx.codes[c],
                    intervention,
                    f"{amount:g}",
                    unit,
                    _date(ctx.enrolled[c], start_day),
                    _date(ctx.enrolled[c], end_day),
                    phase,
                )
            )
    return pd.DataFrame(
        iv_rows, columns=["client_code", "intervention", "dose", "unit", "start", "end", "phase"]
    )


def _finding_rows(ctx: _Cohort, quantile: Array, food: Array) -> pd.DataFrame:
    # Intake findings the assessment reads (history, genetics), consistent with the phenotype.
    comps = list(ctx.clients["components"])
    has = {k: np.array([k in comp.split("+") for comp in comps]) for k in ("A", "B", "C")}
    n = len(ctx.clients)
    courses = ctx.rng.poisson(np.where(has["A"], 3.0, 0.8))
    cfs = ctx.rng.random(n) < np.where(has["B"], 0.6, 0.1)
    cognitive = ctx.rng.random(n) < np.where(has["C"], 0.8, np.where(has["B"], 0.3, 0.15))
    hr_rise = np.clip(
        np.rint(ctx.rng.normal(np.where(has["C"], 35, 15), np.where(has["C"], 8, 7))), 0, 80
    )
    beighton = ctx.rng.binomial(9, np.where(has["C"], 0.6, 0.2))
    heds = has["C"] & (beighton >= 5) & (ctx.rng.random(n) < 0.5)
    reactions = (quantile >= food[:, [0]]).sum(axis=1)
    genotyped = ctx.clients["genotyped"].to_numpy(dtype=bool)
    copies = ctx.clients["hat_copies"].to_numpy(dtype=int)
    finding_rows = []
    for c in range(n):
        date = _date(ctx.enrolled[c], 0)
        values = {
            "history.antibiotic_courses_2y": str(int(courses[c])),
            "history.cfs_or_fibromyalgia": str(bool(cfs[c])).lower(),
            "history.cognitive_complaints": str(bool(cognitive[c])).lower(),
            "history.orthostatic_hr_rise_bpm": str(int(hr_rise[c])),
            "history.beighton_score": str(int(beighton[c])),
            "history.hEDS": str(bool(heds[c])).lower(),
            "history.food_reactions_count": str(int(reactions[c])),
            "symptom_pattern": "episodic",
        }
        if genotyped[c]:
            values["alpha_tryptase_extra_copies"] = str(int(copies[c]))
        for field, value in values.items():
            finding_rows.append((ctx.codes[c], field, value, date, "synthetic intake"))
    return pd.DataFrame(finding_rows, columns=["client_code", "field", "value", "date", "source"])
