"""Store services: open a store, import files, summarise a client, export, back up.

Faces (CLI, later web) call these and render what they return; nothing here prints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import InterfaceError, OperationalError

from hostcap.clinical_store import (
    EXPORT_FILES,
    KINDS,
    ImportReport,
    RestoreReport,
    Store,
    export_tidy,
    restore_sqlite_backup,
)
from hostcap.clinical_store.finding_contract import finding_issue
from hostcap.errors import (
    ConfigurationError,
    InputError,
    Issue,
    Severity,
    ValidationError,
    describe_value,
)
from hostcap.settings import database_url

__all__ = [
    "ImportReport",
    "assessment_input_data",
    "client_overview",
    "export_store",
    "import_file",
    "open_store",
    "read_tidy_csv",
    "restore_store",
    "stored_input_data",
]


def open_store(url: str | None = None, *, require_schema: bool = True) -> Store:
    """The store at ``url`` (or the configured default), checked to be at the newest migration."""
    store = Store(database_url(url))
    try:
        with store.engine.connect():
            pass
    except (OperationalError, InterfaceError) as exc:
        store.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise ConfigurationError(
            f"cannot open the store at {store.engine.url!r}: {reason}; expected a reachable "
            "PostgreSQL server or a SQLite file path (not a folder) that can be written"
        ) from None
    if require_schema:
        store.ensure_ready()
    return store


def read_tidy_csv(path: Path) -> tuple[pd.DataFrame, str]:
    """Read a tidy CSV as strings (the store parses and checks types) and its sha256."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"FILE {str(path)!r} does not exist; expected a readable CSV file",
            field="FILE",
            value=str(path),
            expected="a readable CSV file",
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        frame = pd.read_csv(
            path,
            dtype="string",
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValidationError.single(
            "FILE",
            str(path),
            "a UTF-8 CSV file with a header row",
            message=f"cannot be read: {exc}",
        ) from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame, digest


def import_file(
    store: Store,
    kind: str,
    path: Path,
    *,
    dry_run: bool = False,
    replace: bool = False,
    actor: str | None = None,
    confirm_unusual: bool = False,
) -> ImportReport:
    """Import a tidy CSV of ``kind``: all rows or none (``confirm_unusual``: see ``Store``)."""
    if kind not in KINDS:
        raise ValidationError.single("kind", kind, "one of " + ", ".join(sorted(KINDS)))
    frame, digest = read_tidy_csv(path)
    return store.add_records(
        kind,
        frame,
        dry_run=dry_run,
        replace=replace,
        actor=actor,
        source=Path(path).name,
        source_sha256=digest,
        confirm_unusual=confirm_unusual,
    )


def export_store(
    store: Store,
    out_dir: Path,
    *,
    identified: bool = False,
    include_free_text: bool = False,
    force: bool = False,
    actor: str | None = None,
) -> list[Path]:
    """Export every kind as tidy CSV (see ``export_tidy``); every export is audited.

    De-identified by default: random per-export pseudonyms, no free text unless
    ``include_free_text`` (then marked for review), relative days instead of dates.
    """
    paths = export_tidy(
        store, out_dir, identified=identified, include_free_text=include_free_text, force=force
    )
    store.record_audit(
        action="export_identified" if identified else "export",
        entity="store",
        after={
            "files": [p.name for p in paths],
            "identified": identified,
            "free_text_included": include_free_text,
        },
        actor=actor,
    )
    return paths


def restore_store(
    url: str | None, backup: Path, *, force: bool = False, actor: str | None = None
) -> RestoreReport:
    """Replace the SQLite store at ``url`` by a verified ``backup`` (the old one is kept).

    The restore is recorded in the restored store's audit log (backup name and sha256, where
    the old store was kept).
    """
    store = Store(database_url(url))
    try:
        report = restore_sqlite_backup(store, Path(backup), force=force)
        with report.store.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        store.record_audit(
            action="restore",
            entity="store",
            after={
                "backup": Path(backup).name,
                "sha256": digest,
                "kept": report.kept.name if report.kept else None,
                "rows": sum(report.rows.values()),
            },
            actor=actor,
        )
        return report
    finally:
        store.dispose()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def client_overview(store: Store, code: str) -> dict[str, Any]:
    """Everything ``client show`` displays, as plain data."""
    with store.reading() as session:
        client = store.client(session, code)
        day0 = store.enrolment_start(session, client.id)
    frames = {kind: store.frame(kind, code=code) for kind in EXPORT_FILES if kind != "clients"}
    labs = frames["labs"]
    latest_labs: list[dict[str, Any]] = []
    if not labs.empty:
        last = labs.sort_values("collected_at").groupby("analyte").tail(1)
        latest_labs = _records(
            last[["analyte", "value", "unit", "collected_at", "context", "warning"]]
        )
    meds = frames["meds"]
    today = dt.date.today()
    current = (
        meds[meds["end_date"].isna() | (meds["end_date"] >= today)] if not meds.empty else meds
    )
    load: dict[str, float] = {}
    if not current.empty:
        load = {
            str(k): float(v) for k, v in current.groupby("drug_class")["ddd_per_day"].sum().items()
        }
    questionnaires = frames["questionnaires"]
    latest_q: list[dict[str, Any]] = []
    if not questionnaires.empty:
        last_q = questionnaires.sort_values("answered_on").groupby("instrument").tail(1)
        latest_q = _records(
            last_q[["instrument", "answered_on", "total", "mean", "interpretation"]]
        )
    food = frames["food"]
    episodes = frames["episodes"]
    return {
        "client": {
            "code": client.code,
            "sex": client.sex,
            "birth_year": client.birth_year,
            "demo": client.demo,
            "enrolled_on": day0,
        },
        "enrolments": store.enrolments(code),
        "counts": {kind: len(frame) for kind, frame in frames.items()},
        "latest_labs": latest_labs,
        "current_medications": _records(
            current[
                ["drug", "dose", "dose_unit", "per_day", "ddd_per_day", "drug_class", "start_date"]
            ]
        )
        if not current.empty
        else [],
        "antihistamine_load_ddd": load,
        "rescue_doses_per_week": float(current["rescue_doses_per_week"].sum())
        if not current.empty
        else 0.0,
        "latest_questionnaires": latest_q,
        "food_trials": {
            "trialled": int(food["food"].nunique()) if not food.empty else 0,
            "tolerated": int(food[food["reaction_grade"] == 0]["food"].nunique())
            if not food.empty
            else 0,
        },
        "episodes": {
            "count": len(episodes),
            "anaphylaxis": int(episodes["anaphylaxis"].sum()) if not episodes.empty else 0,
            "last_onset": episodes["onset_at"].max() if not episodes.empty else None,
        },
        "assessments": store.assessments(code),
    }


# -- assessment input built from the store ------------------------------------------------------


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValidationError.single(path, value, f"a field inside {part!r}, which is a value")
        node = child
    node[parts[-1]] = value


def _latest(frame: pd.DataFrame, analyte: str) -> float | None:
    rows = frame[frame["analyte"] == analyte]
    if rows.empty:
        return None
    return float(rows.sort_values("collected_at")["value"].iloc[-1])


def _resolution_before(
    episodes: pd.DataFrame, when: pd.Timestamp
) -> tuple[pd.Timestamp | None, bool]:
    """The end of the newest episode that began before ``when``; (None, known) when unknown."""
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
    """Whether any recorded episode began at or before ``when``."""
    return bool(not episodes.empty and (pd.to_datetime(episodes["onset_at"]) <= when).any())


def assessment_input_data(store: Store, code: str) -> dict[str, Any]:
    """The assessment input (as plain data) for a stored client; see ``stored_input_data``."""
    return stored_input_data(store, code)[0]


def _usable_findings(findings: pd.DataFrame) -> tuple[pd.DataFrame, list[Issue]]:
    """Findings the input contract accepts, and a note for each stored one it does not.

    Values are checked when written; a value stored before that check (or under an older
    contract) is skipped here and named, so one bad value never blocks the safety triage.
    """
    notes: list[Issue] = []
    keep = []
    for field, value, day in zip(
        findings["field"], findings["value"], findings["recorded_on"], strict=True
    ):
        issue = finding_issue(str(field), value)
        keep.append(issue is None)
        if issue is not None:
            notes.append(
                Issue(
                    location=str(field),
                    message=f"stored finding {field} = {describe_value(value)} (recorded "
                    f"{day}) was skipped: {issue.message}",
                    severity=Severity.WARNING,
                    value=value,
                    expected=issue.expected,
                    code="skipped_stored_value",
                )
            )
    return findings[np.array(keep, dtype=bool)], notes


def stored_input_data(store: Store, code: str) -> tuple[dict[str, Any], list[Issue]]:
    """The assessment input (``hostcap assess --schema``) for a stored client, as plain data.

    Labs, episodes, questionnaires and food trials come from their tables; everything else
    (history, examination findings, genetics, marrow) from the newest dated clinical finding of
    each field. Nothing is guessed: a value the store does not hold is left out, and the
    criteria that need it report ``indeterminate`` with the missing field.

    ``current_episode.*`` findings describe an episode in progress, so only those recorded today
    are used (findings are dated, not timed); an older one is history and must never keep a
    client at EMERGENCY on every later view.

    Returns the data and one warning per stored finding that was skipped because the input
    contract refuses it (the newest valid value of that field, if any, is used instead).
    """
    with store.reading() as session:
        client_row = store.client(session, code)
        sex, birth_year = client_row.sex, client_row.birth_year
    labs = store.frame("labs", code=code)
    episodes = store.frame("episodes", code=code)
    findings = store.frame("findings", code=code)
    questionnaires = store.frame("questionnaires", code=code)
    food = store.frame("food", code=code)
    data: dict[str, Any] = {
        "sex": sex,
        "age_years": dt.date.today().year - int(birth_year),
    }
    # Clinical findings first, so that measured data below can fill what they do not hold.
    if not findings.empty:
        stale = findings["field"].astype(str).str.startswith("current_episode.") & (
            pd.to_datetime(findings["recorded_on"]).dt.date < dt.date.today()
        )
        findings = findings[~stale]
    skipped: list[Issue] = []
    if not findings.empty:
        findings, skipped = _usable_findings(findings)
    if not findings.empty:
        newest = findings.sort_values("recorded_on").groupby("field").tail(1)
        for field, value in zip(newest["field"], newest["value"], strict=True):
            _set_path(data, str(field), value)
    tryptase = labs[labs["analyte"] == "tryptase"].sort_values("collected_at")
    baselines = tryptase[tryptase["context"] == "baseline"]
    trypt: dict[str, Any] = {"baseline_ng_ml": [float(v) for v in baselines["value"]]}
    events = []
    for _, acute in tryptase[tryptase["context"] == "acute"].iterrows():
        if pd.isna(acute["hours_after_onset"]):
            continue
        event: dict[str, Any] = {
            "acute_ng_ml": float(acute["value"]),
            "hours_after_onset": float(acute["hours_after_onset"]),
        }
        if not baselines.empty:
            gaps = (
                pd.to_datetime(baselines["collected_at"]) - pd.Timestamp(acute["collected_at"])
            ).abs()
            nearest = baselines.iloc[int(np.argmin(gaps.to_numpy()))]
            event["baseline_ng_ml"] = float(nearest["value"])
            taken = pd.Timestamp(nearest["collected_at"])
            onset = pd.Timestamp(acute["collected_at"]) - pd.Timedelta(
                hours=float(acute["hours_after_onset"])
            )
            end, known = _resolution_before(episodes, taken)
            if known and end is not None:
                hours = (taken - end).total_seconds() / 3600
                event["baseline_hours_after_resolution"] = round(hours, 2)
            elif taken < onset and not _episode_began_before(episodes, taken):
                # Drawn before this event's onset, no earlier episode recorded: a pre-event
                # baseline (consensus-1 accepts it), entered as negative hours.
                event["baseline_hours_after_resolution"] = round(
                    (taken - onset).total_seconds() / 3600, 2
                )
        events.append(event)
    if events:
        trypt["events"] = events
    if trypt["baseline_ng_ml"] or events:
        data["tryptase"] = trypt
    if not episodes.empty:
        data["episodes"] = [
            {"organ_systems": list(systems), "anaphylaxis": bool(ana)}
            for systems, ana in zip(episodes["organ_systems"], episodes["anaphylaxis"], strict=True)
        ]
    counts = {
        "haemoglobin_g_dl": _latest(labs, "haemoglobin"),
        "platelets_10e9_l": _latest(labs, "platelets"),
        "neutrophils_10e9_l": _latest(labs, "neutrophils"),
    }
    for key, value in counts.items():
        if value is not None and key not in data.get("blood_counts", {}):
            _set_path(data, f"blood_counts.{key}", value)
    crp = _latest(labs, "hs_crp")
    if crp is not None and "hs_crp_mg_l" not in data:
        data["hs_crp_mg_l"] = crp
    if not questionnaires.empty:
        newest_q = questionnaires.sort_values("answered_on").groupby("instrument").tail(1)
        by_instrument = {row["instrument"]: row for _, row in newest_q.iterrows()}
        mapping = {
            "gsrs": ("gsrs_mean", "mean"),
            "fss": ("fss_mean", "mean"),
            "compass31": ("compass31_total", "total"),
            "mct": ("mct_total", "total"),
        }
        for instrument, (key, column) in mapping.items():
            row = by_instrument.get(instrument)
            if row is not None and pd.notna(row[column]):
                _set_path(data, f"questionnaires.{key}", float(row[column]))
    if not food.empty and "food_reactions_count" not in data.get("history", {}):
        reacted = int(food[food["reaction_grade"] >= 1]["food"].nunique())
        _set_path(data, "history.food_reactions_count", reacted)
    return data, skipped
