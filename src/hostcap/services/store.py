"""Store services: open a store, import files, summarise a client, export, back up.

Faces (CLI, later web) call these and render what they return; nothing here prints.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.exc import InterfaceError, OperationalError

from hostcap.clinical_decisions.record_input import ClientRecords, assessment_input
from hostcap.clinical_store import (
    EXPORT_FILES,
    KINDS,
    ImportReport,
    RestoreReport,
    Store,
    export_tidy,
    restore_sqlite_backup,
)
from hostcap.errors import (
    ConfigurationError,
    InputError,
    Issue,
    ValidationError,
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
    "stored_records",
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


def assessment_input_data(store: Store, code: str) -> dict[str, Any]:
    """The assessment input (as plain data) for a stored client; see ``stored_input_data``."""
    return stored_input_data(store, code)[0]


def stored_records(store: Store, code: str) -> ClientRecords:
    """A stored client's records in the form the assessment input is built from."""
    with store.reading() as session:
        client_row = store.client(session, code)
        sex, birth_year = client_row.sex, client_row.birth_year
    return ClientRecords(
        sex=sex,
        birth_year=int(birth_year),
        labs=store.frame("labs", code=code),
        episodes=store.frame("episodes", code=code),
        findings=store.frame("findings", code=code),
        questionnaires=store.frame("questionnaires", code=code),
        food=store.frame("food", code=code),
    )


def stored_input_data(
    store: Store, code: str, *, as_of: dt.date | None = None
) -> tuple[dict[str, Any], list[Issue]]:
    """The assessment input (``hostcap assess --schema``) for a stored client, as plain data.

    Built by ``clinical_decisions.record_input.assessment_input`` from the client's stored
    records as known on ``as_of`` (default today): the same function synthetic cohorts use.
    Returns the data and one warning per stored finding the input contract refused.
    """
    return assessment_input(stored_records(store, code), as_of or dt.date.today())
