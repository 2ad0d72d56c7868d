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

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hostcap.catalog import get_instrument
from hostcap.mechanistic_model import CompiledModel
from hostcap.mechanistic_model.observation_sampling import draw_measurement
from hostcap.synthetic.client_population import AssignedProtocol
from hostcap.synthetic.cohort_design import CohortDesign
from hostcap.synthetic.cohort_simulation import CohortRun

__all__ = [
    "H1_CHOICES",
    "LATENT_MEASURES",
    "VisitPlan",
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
    """Every store kind's records for the cohort, as string frames in import-file columns."""
    latent = latent_questionnaires(model, run)
    enrolled = list(clients["enrolled_on"])
    codes = list(clients["client_code"])
    last_day = np.where(
        np.isfinite(clients["dropout_week"].to_numpy(dtype=float)),
        np.floor(clients["dropout_week"].to_numpy(dtype=float) * 7),
        weeks * 7,
    ).astype(int)
    spec = {o.id: o for o in model.definition.observables}
    seen = visits.frame[visits.frame["happened"]]
    frames: dict[str, pd.DataFrame] = {}

    frames["clients"] = pd.DataFrame(
        {
            "client_code": codes,
            "sex": clients["sex"],
            "birth_year": clients["birth_year"].astype(str),
            "demo": "true",
        }
    )
    frames["visits"] = pd.DataFrame(
        {
            "client_code": [codes[c] for c in seen["client"]],
            "date": [
                _date(enrolled[c], d) for c, d in zip(seen["client"], seen["day"], strict=True)
            ],
            "visit_kind": seen["kind"].to_numpy(),
            "week": seen["week"].map(lambda w: f"{w:g}").to_numpy(),
            "notes": "synthetic",
        }
    )

    # Labs at lab visits: the observables' own measurement-error models.
    labs = seen[seen["lab"]]
    c_idx, d_idx = labs["client"].to_numpy(), labs["day"].to_numpy()
    minutes = rng.integers(8 * 60, 11 * 60, size=len(labs))
    lab_rows = []
    for obs, analyte, unit, digits, context in (
        ("tryptase_serum", "tryptase", "ng/mL", 1, "baseline"),
        ("hs_crp", "hs_crp", "mg/L", 2, "routine"),
    ):
        truth = run.observable(model, obs)[c_idx, d_idx]
        values = np.maximum(draw_measurement(truth, spec[obs].noise, rng), 10.0**-digits)
        lab_rows.append(
            pd.DataFrame(
                {
                    "client_code": [codes[c] for c in c_idx],
                    "analyte": analyte,
                    "value": [f"{v:.{digits}f}" for v in values],
                    "unit": unit,
                    "collected_at": [
                        _stamp(enrolled[c], d, m)
                        for c, d, m in zip(c_idx, d_idx, minutes, strict=True)
                    ],
                    "context": context,
                    "hours_after_onset": pd.NA,
                }
            )
        )

    load = run.observable(model, "symptom_load")
    barrier = run.state(model, "barrier")
    cns = np.minimum(run.state(model, "cns_mc"), 1.0)
    inflammation = run.state(model, "inflammation")

    # Questionnaires at questionnaire visits, answers consistent with the latent state.
    qs = seen[seen["questionnaire"]]
    style = rng.normal(0.0, 0.4, size=len(clients))
    # The symptom diary's six organ ratings: the model's symptom load measured with its own
    # noise (normal, sd 0.8), spread over organ systems by the client's state that day.
    diary_load = draw_measurement(
        load[qs["client"].to_numpy(), qs["day"].to_numpy()], spec["symptom_load"].noise, rng
    )
    q_rows = []
    for k, (c, d, w) in enumerate(zip(qs["client"], qs["day"], qs["week"], strict=True)):
        date = _date(enrolled[c], d)
        profile = np.array(
            [
                1.0,
                0.6 + 2.0 * (1.0 - barrier[c, d]),
                0.6 + 1.5 * cns[c, d],
                0.5 + 0.5 * max(inflammation[c, d] - 1.0, 0.0),
                0.5,
                0.6 + 2.0 * cns[c, d],
            ]
        )
        ratings = diary_load[k] * profile / profile.mean() + rng.normal(0.0, 0.7, 6)
        q_rows.append((codes[c], "symptom_diary", _answers(np.clip(np.rint(ratings), 0, 10)), date))
        for instrument, mean, n_items, lo, hi, sd in (
            ("fss", latent["fss_mean"][c, d], 9, 1, 7, 0.8),
            ("gsrs", latent["gsrs_mean"][c, d], 15, 1, 7, 0.8),
            ("mct", latent["mct_total"][c, d] / 5.0, 5, 0, 4, 0.5),
        ):
            shift = -style[c] if instrument == "mct" else style[c]
            items = np.clip(np.rint(mean + shift + rng.normal(0.0, sd, n_items)), lo, hi)
            q_rows.append((codes[c], instrument, _answers(items), date))
        if w % design.lab_every_weeks == 0:
            maxima = np.array([it.max for it in get_instrument("compass31").items], dtype=int)
            frac = float(latent["compass31_total"][c, d]) / 100.0
            q_rows.append((codes[c], "compass31", _answers(rng.binomial(maxima, frac)), date))
    frames["questionnaires"] = pd.DataFrame(
        q_rows, columns=["client_code", "instrument", "answers", "date"]
    )

    # Episodes: a daily Poisson process whose rate follows the true symptom load, over the
    # follow-up and a pre-enrolment diary of ``history_weeks`` (the enrolment-day state held
    # constant: the pre-treatment steady state, or the null variant's enrolment flare).
    history = design.history_weeks * 7

    def extended(values: Array) -> Array:
        return np.concatenate([np.repeat(values[:, :1], history, axis=1), values], axis=1)

    load_x, barrier_x, cns_x, infl_x = (extended(a) for a in (load, barrier, cns, inflammation))
    days = np.arange(load_x.shape[1]) - history
    alive = days[None, :] <= last_day[:, None]
    counts = rng.poisson(design.episode_rate_per_load * load_x / 7.0) * alive
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
    drawn = {k: rng.random(ep_c.size) < p for k, p in systems_p.items()}
    onset = rng.integers(6 * 60, 23 * 60, size=ep_c.size)
    severity = np.clip(np.rint(2 + 0.6 * load_x[ep_c, ep_x] + rng.normal(0, 1.2, ep_c.size)), 1, 10)
    duration = np.rint(rng.lognormal(np.log(90), 0.6, ep_c.size))
    episodes = []
    for k, (c, d) in enumerate(zip(ep_c, ep_d, strict=True)):
        systems = [s for s in systems_p if drawn[s][k]] or ["skin"]
        episodes.append(
            (
                codes[c],
                _stamp(enrolled[c], d, onset[k]),
                ";".join(systems),
                str(int(severity[k])),
                str(int(duration[k])),
                "false",
                "false",
                "synthetic",
            )
        )
    frames["episodes"] = pd.DataFrame(
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

    # Acute tryptase for some severe episodes, drawn 1-4 h after onset (synthetic event model:
    # the daily trajectory cannot resolve a 2-hour half-life, so the rise is drawn per event).
    severe = np.flatnonzero((severity >= 5) & (rng.random(ep_c.size) < 0.2))
    tryptase = extended(run.observable(model, "tryptase_serum"))
    hours = rng.uniform(1.0, 4.0, size=severe.size)
    rise = 0.2 + 0.15 * severity[severe] * rng.uniform(0.5, 1.5, size=severe.size)
    acute_truth = tryptase[ep_c[severe], ep_x[severe]] * (1 + rise)
    acute = draw_measurement(acute_truth, spec["tryptase_serum"].noise, rng)
    lab_rows.append(
        pd.DataFrame(
            {
                "client_code": [codes[c] for c in ep_c[severe]],
                "analyte": "tryptase",
                "value": [f"{v:.1f}" for v in acute],
                "unit": "ng/mL",
                "collected_at": [
                    _stamp(enrolled[c], d, o + round(h * 60))
                    for c, d, o, h in zip(
                        ep_c[severe], ep_d[severe], onset[severe], hours, strict=True
                    )
                ],
                "context": "acute",
                "hours_after_onset": [f"{round(h * 60) / 60:.2f}" for h in hours],
            }
        )
    )
    frames["labs"] = (
        pd.concat(lab_rows, ignore_index=True)
        .drop_duplicates(["client_code", "analyte", "collected_at"])
        .reset_index(drop=True)
    )

    # Food reintroduction: each panel food has a fixed place in the client's trigger
    # distribution (a quantile); a food is tolerated when its quantile is below the true
    # food_tolerance fraction on the trial day, so tolerance follows the simulated threshold.
    food = run.observable(model, "food_tolerance")
    panel = design.food_panel
    quantile = rng.random((len(clients), len(panel)))
    order = np.argsort(rng.random((len(clients), len(panel))), axis=1)
    # A baseline reintroduction diary of ``baseline_food_trials`` foods on the days before
    # enrolment (the enrolment-day state) gives each client a baseline share, then one trial
    # every ``food_trial_every_weeks`` weeks.
    food_rows = []
    trial_weeks = range(design.food_trial_every_weeks, weeks + 1, design.food_trial_every_weeks)
    n_base = design.baseline_food_trials
    for c in range(len(clients)):
        planned = [d - n_base for d in range(n_base)] + [
            int(np.clip(w * 7 + rng.integers(-2, 3), 1, weeks * 7)) for w in trial_weeks
        ]
        for k, d in enumerate(planned):
            if d > last_day[c]:
                break
            j = int(order[c, k % len(panel)])
            f = float(food[c, max(d, 0)])
            q = float(quantile[c, j])
            grade = 0 if q < f else int(min(3, 1 + np.floor(3 * (q - f) / max(1 - f, 1e-9))))
            food_rows.append((codes[c], panel[j], _date(enrolled[c], d), str(grade)))
    frames["food"] = pd.DataFrame(
        food_rows, columns=["client_code", "food", "date", "reaction_grade"]
    ).drop_duplicates(["client_code", "food", "date"])

    # Background medication: the H1 (and, with higher need, H2) dose follows the measured
    # antihistamine need, reviewed at lab visits; a record per dose level (store key:
    # client, drug, start date). Records only; the model's antihistamine inputs stay 0
    # (no closed loop), so the model's symptom load is the load on background therapy.
    need = run.observable(model, "antihistamine_need")
    h1_names = list(H1_CHOICES)
    h1_weights = np.array([H1_CHOICES[k] for k in h1_names])
    h1_drug = rng.choice(h1_names, size=len(clients), p=h1_weights / h1_weights.sum())
    before = rng.integers(30, 400, size=len(clients))
    med_rows = []
    review = seen[seen["lab"]]
    for c in range(len(clients)):
        days_c = review.loc[review["client"] == c, "day"].to_numpy()
        if days_c.size == 0:
            days_c = np.array([0])
        measured = draw_measurement(need[c, days_c], spec["antihistamine_need"].noise, rng)
        h1_level = np.clip(np.rint(0.7 * measured), 1, 4).astype(int)
        h2_level = np.where(measured >= 1.2, 2, 0)
        rescue = rng.poisson(0.25 * load[c, days_c])
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
                        _date(enrolled[c], int(days_c[k]) - 1)
                        if k < levels.size
                        else (
                            _date(enrolled[c], int(last_day[c])) if last_day[c] < weeks * 7 else ""
                        )
                    )
                    med_rows.append(
                        (
                            codes[c],
                            name,
                            f"{dose:g}",
                            "mg",
                            str(int(levels[start_k])),
                            _date(enrolled[c], start_day),
                            end,
                            str(int(rescue[start_k])),
                        )
                    )
                start_k = k
    frames["meds"] = pd.DataFrame(
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

    # Protocol interventions as taken (doses unscaled: the effect scale acts inside the model).
    iv_rows = []
    for c, assigned in enumerate(protocols):
        final_week = max(item[5] for item in assigned.doses)
        for phase, intervention, amount, unit, start_w, end_w in assigned.doses:
            start_day = start_w * 7
            if start_day > min(last_day[c], weeks * 7 - 1):
                continue
            # The template's last phase continues past its nominal end until follow-up ends.
            nominal_end = weeks * 7 if end_w >= final_week else end_w * 7 - 1
            end_day = min(nominal_end, int(last_day[c]), weeks * 7)
            iv_rows.append(
                (
                    codes[c],
                    intervention,
                    f"{amount:g}",
                    unit,
                    _date(enrolled[c], start_day),
                    _date(enrolled[c], end_day),
                    phase,
                )
            )
    frames["interventions"] = pd.DataFrame(
        iv_rows, columns=["client_code", "intervention", "dose", "unit", "start", "end", "phase"]
    )

    # Intake findings the assessment reads (history, genetics), consistent with the phenotype.
    comps = list(clients["components"])
    has = {k: np.array([k in comp.split("+") for comp in comps]) for k in ("A", "B", "C")}
    n = len(clients)
    courses = rng.poisson(np.where(has["A"], 3.0, 0.8))
    cfs = rng.random(n) < np.where(has["B"], 0.6, 0.1)
    cognitive = rng.random(n) < np.where(has["C"], 0.8, np.where(has["B"], 0.3, 0.15))
    hr_rise = np.clip(
        np.rint(rng.normal(np.where(has["C"], 35, 15), np.where(has["C"], 8, 7))), 0, 80
    )
    beighton = rng.binomial(9, np.where(has["C"], 0.6, 0.2))
    heds = has["C"] & (beighton >= 5) & (rng.random(n) < 0.5)
    reactions = (quantile >= food[:, [0]]).sum(axis=1)
    genotyped = clients["genotyped"].to_numpy(dtype=bool)
    copies = clients["hat_copies"].to_numpy(dtype=int)
    finding_rows = []
    for c in range(n):
        date = _date(enrolled[c], 0)
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
            finding_rows.append((codes[c], field, value, date, "synthetic intake"))
    frames["findings"] = pd.DataFrame(
        finding_rows, columns=["client_code", "field", "value", "date", "source"]
    )
    return {k: v.reset_index(drop=True).astype("string") for k, v in frames.items()}
