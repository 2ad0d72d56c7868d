"""A client's records → the assessment input, as known on one day (``as_of``).

One function serves every caller: the services build the input of a stored client from its
stored rows (``hostcap assess --client``, the client view, the web app), and synthetic cohorts
build the enrolment-day input of each generated client from its records. Both therefore pair an
acute tryptase with the NEAREST baseline, read blood counts, and skip a finding the input
contract refuses (with a note) in the same way.

Records are frames in their stored form (canonical lab values, scored questionnaires, parsed
finding values); nothing recorded after ``as_of`` is used. Nothing is guessed: a value the
records do not hold is left out, and the criteria that need it report ``indeterminate``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hostcap.clinical_decisions.assessment_input import Episode
from hostcap.clinical_decisions.finding_contract import finding_issue
from hostcap.errors import Issue, Severity, ValidationError, describe_value

__all__ = ["QUESTIONNAIRE_SCORES", "ClientRecords", "assessment_input"]

#: Instrument → (assessment-input field, score column) read from the newest response.
QUESTIONNAIRE_SCORES: dict[str, tuple[str, str]] = {
    "gsrs": ("gsrs_mean", "mean"),
    "fss": ("fss_mean", "mean"),
    "compass31": ("compass31_total", "total"),
    "mct": ("mct_total", "total"),
}
#: The fields of a past episode in the input contract (yes/no signs, anaphylaxis, trigger).
_EPISODE_FIELDS = tuple(Episode.model_fields)
#: Analyte → blood-count field of the assessment input (newest value).
_BLOOD_COUNTS = {
    "haemoglobin": "haemoglobin_g_dl",
    "platelets": "platelets_10e9_l",
    "neutrophils": "neutrophils_10e9_l",
}


def _frame(*columns: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass
class ClientRecords:
    """One client's records in stored form (columns named as in the store's tables)."""

    sex: str
    birth_year: int
    #: analyte, value (canonical unit), collected_at, context, hours_after_onset
    labs: pd.DataFrame = field(
        default_factory=lambda: _frame(
            "analyte", "value", "collected_at", "context", "hours_after_onset"
        )
    )
    #: onset_at, duration_minutes, organ_systems (list), anaphylaxis
    episodes: pd.DataFrame = field(
        default_factory=lambda: _frame(
            "onset_at", "duration_minutes", "organ_systems", "anaphylaxis"
        )
    )
    #: field, value (parsed), recorded_on
    findings: pd.DataFrame = field(default_factory=lambda: _frame("field", "value", "recorded_on"))
    #: instrument, answered_on, total, mean
    questionnaires: pd.DataFrame = field(
        default_factory=lambda: _frame("instrument", "answered_on", "total", "mean")
    )
    #: food, trial_date, reaction_grade
    food: pd.DataFrame = field(
        default_factory=lambda: _frame("food", "trial_date", "reaction_grade")
    )


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValidationError.single(path, value, f"a field inside {part!r}, which is a value")
        node = child
    node[parts[-1]] = value


def _until(frame: pd.DataFrame, column: str, as_of: dt.date) -> pd.DataFrame:
    """Rows dated on or before ``as_of`` (a date-time column counts by its date)."""
    if frame.empty:
        return frame
    days = pd.to_datetime(frame[column]).dt.date
    return frame[(days <= as_of).to_numpy(dtype=bool)]


def _usable_findings(findings: pd.DataFrame) -> tuple[pd.DataFrame, list[Issue]]:
    """Findings the input contract accepts, and a note for each one it does not.

    Values are checked when written; a value stored before that check (or under an older
    contract) is skipped here and named, so one bad value never blocks the safety triage.
    """
    notes: list[Issue] = []
    keep = []
    for name, value, day in zip(
        findings["field"], findings["value"], findings["recorded_on"], strict=True
    ):
        issue = finding_issue(str(name), value)
        keep.append(issue is None)
        if issue is not None:
            notes.append(
                Issue(
                    location=str(name),
                    message=f"stored finding {name} = {describe_value(value)} (recorded "
                    f"{day}) was skipped: {issue.message}",
                    severity=Severity.WARNING,
                    value=value,
                    expected=issue.expected,
                    code="skipped_stored_value",
                )
            )
    return findings[np.array(keep, dtype=bool)], notes


def _findings(data: dict[str, Any], findings: pd.DataFrame, as_of: dt.date) -> list[Issue]:
    # ``current_episode.*`` describes an episode in progress: only findings recorded on the day
    # itself count (findings are dated, not timed); an older one is history and must never keep
    # a client at EMERGENCY on every later view.
    if findings.empty:
        return []
    stale = findings["field"].astype(str).str.startswith("current_episode.") & (
        pd.to_datetime(findings["recorded_on"]).dt.date < as_of
    )
    usable, skipped = _usable_findings(findings[~stale.to_numpy(dtype=bool)])
    if not usable.empty:
        newest = usable.sort_values("recorded_on", kind="stable").groupby("field").tail(1)
        for name, value in zip(newest["field"], newest["value"], strict=True):
            _set_path(data, str(name), value)
    return skipped


def _resolution_before(
    episodes: pd.DataFrame, when: pd.Timestamp
) -> tuple[pd.Timestamp | None, bool]:
    """The end of the newest episode that began before ``when``; (None, False) when unknown."""
    if episodes.empty:
        return None, False
    earlier = episodes[pd.to_datetime(episodes["onset_at"]) <= when]
    if earlier.empty:
        return None, False
    last = earlier.sort_values("onset_at").iloc[-1]
    if pd.isna(last["duration_minutes"]):
        return None, False
    end = pd.Timestamp(last["onset_at"]) + pd.Timedelta(minutes=float(last["duration_minutes"]))
    return end, True


def _episode_began_before(episodes: pd.DataFrame, when: pd.Timestamp) -> bool:
    return bool(not episodes.empty and (pd.to_datetime(episodes["onset_at"]) <= when).any())


def _tryptase_event(
    acute: pd.Series, baselines: pd.DataFrame, episodes: pd.DataFrame
) -> dict[str, Any]:
    """One acute sample, paired with the baseline drawn nearest to it in time."""
    event: dict[str, Any] = {
        "acute_ng_ml": float(acute["value"]),
        "hours_after_onset": float(acute["hours_after_onset"]),
    }
    if baselines.empty:
        return event
    gaps = (pd.to_datetime(baselines["collected_at"]) - pd.Timestamp(acute["collected_at"])).abs()
    nearest = baselines.iloc[int(np.argmin(gaps.to_numpy()))]
    event["baseline_ng_ml"] = float(nearest["value"])
    taken = pd.Timestamp(nearest["collected_at"])
    onset = pd.Timestamp(acute["collected_at"]) - pd.Timedelta(
        hours=float(acute["hours_after_onset"])
    )
    end, known = _resolution_before(episodes, taken)
    if known and end is not None:
        event["baseline_hours_after_resolution"] = round((taken - end).total_seconds() / 3600, 2)
    elif taken < onset and not _episode_began_before(episodes, taken):
        # Drawn before this event's onset, no earlier episode recorded: a pre-event baseline
        # (consensus-1 accepts it), entered as negative hours.
        event["baseline_hours_after_resolution"] = round((taken - onset).total_seconds() / 3600, 2)
    return event


def _tryptase(labs: pd.DataFrame, episodes: pd.DataFrame) -> dict[str, Any] | None:
    if labs.empty:
        return None
    tryptase = labs[labs["analyte"] == "tryptase"].sort_values("collected_at", kind="stable")
    baselines = tryptase[tryptase["context"] == "baseline"]
    acute = tryptase[(tryptase["context"] == "acute") & tryptase["hours_after_onset"].notna()]
    events = [_tryptase_event(row, baselines, episodes) for _, row in acute.iterrows()]
    data: dict[str, Any] = {"baseline_ng_ml": [float(v) for v in baselines["value"]]}
    if events:
        data["events"] = events
    return data if data["baseline_ng_ml"] or events else None


def _episode(row: pd.Series) -> dict[str, Any]:
    """One recorded episode as the input contract takes it: every recorded field the contract
    has (a sign not recorded stays out: unknown, not "no")."""
    episode: dict[str, Any] = {"organ_systems": list(row["organ_systems"])}
    for name in _EPISODE_FIELDS:
        if name in row.index and name != "organ_systems" and _recorded(row[name]):
            episode[name] = bool(row[name])
    return episode


def _recorded(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value))


def _latest(labs: pd.DataFrame, analyte: str) -> float | None:
    rows = labs[labs["analyte"] == analyte] if not labs.empty else labs
    if rows.empty:
        return None
    return float(rows.sort_values("collected_at", kind="stable")["value"].iloc[-1])


def _measured(data: dict[str, Any], records: ClientRecords, as_of: dt.date) -> None:
    """Labs, episodes, questionnaires and food trials fill what the findings do not hold."""
    labs = _until(records.labs, "collected_at", as_of)
    episodes = _until(records.episodes, "onset_at", as_of)
    tryptase = _tryptase(labs, episodes)
    if tryptase is not None:
        data["tryptase"] = tryptase
    if not episodes.empty:
        data["episodes"] = [_episode(row) for _, row in episodes.iterrows()]
    for analyte, key in _BLOOD_COUNTS.items():
        value = _latest(labs, analyte)
        if value is not None and key not in data.get("blood_counts", {}):
            _set_path(data, f"blood_counts.{key}", value)
    crp = _latest(labs, "hs_crp")
    if crp is not None and "hs_crp_mg_l" not in data:
        data["hs_crp_mg_l"] = crp
    questionnaires = _until(records.questionnaires, "answered_on", as_of)
    if not questionnaires.empty:
        newest = questionnaires.sort_values("answered_on", kind="stable").groupby("instrument")
        by_instrument = {str(row["instrument"]): row for _, row in newest.tail(1).iterrows()}
        for instrument, (key, column) in QUESTIONNAIRE_SCORES.items():
            row = by_instrument.get(instrument)
            if row is not None and pd.notna(row[column]):
                _set_path(data, f"questionnaires.{key}", float(row[column]))
    food = _until(records.food, "trial_date", as_of)
    if not food.empty and "food_reactions_count" not in data.get("history", {}):
        reacted = int(food[food["reaction_grade"] >= 1]["food"].nunique())
        _set_path(data, "history.food_reactions_count", reacted)


def assessment_input(records: ClientRecords, as_of: dt.date) -> tuple[dict[str, Any], list[Issue]]:
    """The assessment input (``hostcap assess --schema``) from ``records``, as known on ``as_of``.

    Clinical findings (history, examination, genetics, marrow) come from the newest dated value
    of each field; labs, episodes, questionnaires and food trials fill what the findings do not
    hold. Returns the input as plain data and one warning per finding the input contract refused
    (the newest valid value of that field, if any, is used instead).
    """
    data: dict[str, Any] = {"sex": records.sex, "age_years": as_of.year - int(records.birth_year)}
    skipped = _findings(data, _until(records.findings, "recorded_on", as_of), as_of)
    _measured(data, records, as_of)
    return data, skipped
