"""Tidy CSV export, de-identified by default.

De-identified (the default):

- clients are known by a **pseudonym drawn at random for this export** (``P-7F3K2Q``), the same
  in every file of the export and different in the next one; it is never computed from the
  client code, so nobody holding the codes can recompute it, and the mapping is not written;
- identifying details are not read at all;
- **free text** (columns declared ``free_text`` in the record kinds: visit and episode notes,
  episode treatment, finding source, intervention phase, food notes) is left out, unless
  ``include_free_text``; then the manifest and README say that it must be reviewed for
  identifiers before the export is shared;
- every date becomes a whole number of days since the client's enrolment (or, without an
  enrolment, since the client's first recorded event); birth year becomes age at that anchor,
  with ages over 89 shown as 90 (HIPAA Safe Harbor). Treat relative days as an
  Expert-Determination/IRB decision, not automatically Safe Harbor (45 CFR 164.514(b)(2)
  lists all date elements except the year).

Identified (``identified=True``): real dates, the identity table and ``pseudonyms.csv``
(pseudonym → client code) as well, every file created with mode 0600; the caller audits it.

Every export folder holds a ``manifest.json`` (kind, time, hostcap version, files, whether free
text is included) and a ``README.txt``. An identified export is never written into a folder that
holds a de-identified one, nor the other way round; existing files are replaced only with
``force``. Files are written through :mod:`hostcap.output_files` (atomic, no link followed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from hostcap import __version__
from hostcap.clinical_store.record_kinds import KINDS
from hostcap.clinical_store.store import Store
from hostcap.clinical_store.tables import ClientIdentityRow, ClientRow, EnrolmentRow
from hostcap.errors import InputError
from hostcap.output_files import check_output_file, output_folder, write_csv, write_text

__all__ = [
    "CLIENT_COLUMN",
    "EXPORT_FILES",
    "MANIFEST_NAME",
    "PSEUDONYMS_NAME",
    "README_NAME",
    "export_kind_of",
    "export_tidy",
    "new_pseudonyms",
]

EXPORT_FILES = {
    "clients": "clients.csv",
    "labs": "labs.csv",
    "meds": "medications.csv",
    "questionnaires": "questionnaires.csv",
    "food": "food_trials.csv",
    "episodes": "episodes.csv",
    "interventions": "interventions.csv",
    "findings": "findings.csv",
    "visits": "visits.csv",
}
MANIFEST_NAME = "manifest.json"
README_NAME = "README.txt"
PSEUDONYMS_NAME = "pseudonyms.csv"
CLIENT_COLUMN = "client_pseudonym"
IDENTIFIED = "identified"
DE_IDENTIFIED = "de-identified"

_DROP = {"id", "client_id", "import_batch"}
_DATE_COLUMNS = {
    "collected_at",
    "start_date",
    "end_date",
    "answered_on",
    "trial_date",
    "onset_at",
    "recorded_on",
    "visit_date",
}
# Crockford-style: no 0/O, 1/I/L or U, so a pseudonym read aloud or copied by hand survives.
_PSEUDONYM_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_PSEUDONYM_LENGTH = 6


def new_pseudonyms(codes: list[str] | pd.Series) -> dict[str, str]:
    """A fresh random pseudonym (``P-`` and 6 characters) for each distinct code.

    Drawn from the operating system's CSPRNG, independent of the code: the same code gets a
    different pseudonym in every call, and no key or hash links the two.
    """
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for code in dict.fromkeys(str(c) for c in codes):
        while True:
            chars = (secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(_PSEUDONYM_LENGTH))
            pseudonym = "P-" + "".join(chars)
            if pseudonym not in used:
                break
        used.add(pseudonym)
        mapping[code] = pseudonym
    return mapping


def _day_column(column: str) -> str:
    """``collected_at`` → ``collected_day``, ``start_date`` → ``start_day``."""
    for suffix in ("_at", "_on", "_date"):
        if column.endswith(suffix):
            return column.removesuffix(suffix) + "_day"
    return column + "_day"


def _flatten(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def _anchors(store: Store, frames: dict[str, pd.DataFrame]) -> dict[str, dt.date]:
    anchors: dict[str, dt.date] = {}
    with store.reading() as session:
        rows = session.execute(
            select(ClientRow.code, EnrolmentRow.started_on).join(
                EnrolmentRow, EnrolmentRow.client_id == ClientRow.id
            )
        ).all()
    for code, started in rows:
        if code not in anchors or started < anchors[code]:
            anchors[code] = started
    enrolled = set(anchors)
    # Without an enrolment, day 0 is the client's first recorded event.
    for frame in frames.values():
        for column in _DATE_COLUMNS & set(frame.columns):
            firsts = pd.to_datetime(frame[column]).groupby(frame["client_code"]).min()
            for key, first in firsts.items():
                code = str(key)
                if pd.isna(first) or code in enrolled:
                    continue
                day = pd.Timestamp(first).date()
                if code not in anchors or day < anchors[code]:
                    anchors[code] = day
    return anchors


def export_kind_of(folder: Path) -> str | None:
    """Which export ``folder`` holds: ``identified``, ``de-identified``, or None (no export).

    Read from its manifest; a folder written before manifests existed is recognised by its
    files (``pseudonyms.csv`` or a ``full_name`` column mean identified).
    """
    folder = Path(folder)
    manifest = folder / MANIFEST_NAME
    if manifest.is_file() and not manifest.is_symlink():
        try:
            kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
        except (ValueError, AttributeError, OSError):
            kind = None
        if kind in (IDENTIFIED, DE_IDENTIFIED):
            return str(kind)
        return IDENTIFIED  # unreadable manifest: assume the more sensitive kind
    if (folder / PSEUDONYMS_NAME).exists():
        return IDENTIFIED
    clients = folder / EXPORT_FILES["clients"]
    if clients.is_file() and not clients.is_symlink():
        try:
            with clients.open(encoding="utf-8") as handle:
                header = handle.readline()
        except (OSError, UnicodeDecodeError):
            return IDENTIFIED
        return IDENTIFIED if "full_name" in header.split(",") else DE_IDENTIFIED
    return None


def _client_table(
    store: Store, anchors: dict[str, dt.date], pseudonyms: dict[str, str], *, identified: bool
) -> pd.DataFrame:
    clients = store.frame("clients")
    codes = clients.get("code", pd.Series(dtype=str)).astype(str)
    table = pd.DataFrame({CLIENT_COLUMN: codes.map(pseudonyms)})
    table["sex"] = clients.get("sex")
    anchor_years = [anchors.get(c, dt.date.today()).year for c in codes]
    ages = [y - b for y, b in zip(anchor_years, clients.get("birth_year", []), strict=True)]
    table["age_at_day0"] = [min(a, 90) for a in ages]
    table["demo"] = clients.get("demo")
    if identified:
        table["birth_year"] = clients.get("birth_year")
        table["day0_date"] = [anchors.get(c) for c in codes]
        with store.reading() as session:
            ident = session.execute(
                select(
                    ClientRow.code,
                    ClientIdentityRow.full_name,
                    ClientIdentityRow.date_of_birth,
                    ClientIdentityRow.email,
                    ClientIdentityRow.phone,
                    ClientIdentityRow.address,
                ).join(ClientIdentityRow, ClientIdentityRow.client_id == ClientRow.id)
            ).all()
        ident_frame = pd.DataFrame(
            ident,
            columns=["client_code", "full_name", "date_of_birth", "email", "phone", "address"],
        )
        ident_frame[CLIENT_COLUMN] = ident_frame["client_code"].astype(str).map(pseudonyms)
        table = table.merge(ident_frame.drop(columns="client_code"), on=CLIENT_COLUMN, how="left")
    return table.sort_values(CLIENT_COLUMN, kind="stable")


def _record_table(
    kind: str,
    frame: pd.DataFrame,
    anchors: dict[str, dt.date],
    pseudonyms: dict[str, str],
    *,
    identified: bool,
    include_free_text: bool,
) -> pd.DataFrame:
    free_text = set(KINDS[kind].free_text_columns)
    dropped = _DROP if include_free_text else _DROP | free_text
    columns = [c for c in frame.columns if c not in dropped]
    out = frame[columns].copy()
    for column in columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_flatten)
    for column in sorted(_DATE_COLUMNS & set(columns)):
        stamps = pd.to_datetime(out[column])
        day0 = pd.to_datetime(out["client_code"].map(lambda c: anchors.get(c)))
        days = (stamps.dt.normalize() - day0).dt.days
        out.insert(list(out.columns).index(column), _day_column(column), days.astype("Int64"))
        if not identified:
            out = out.drop(columns=[column])
    out.insert(0, CLIENT_COLUMN, out.pop("client_code").astype(str).map(pseudonyms))
    # Rows in pseudonym order: the order of the codes (often the order of enrolment) is hidden.
    return out.sort_values(CLIENT_COLUMN, kind="stable")


def _readme(manifest: dict[str, Any]) -> str:
    lines = [f"hostcap export ({manifest['kind']}), written {manifest['created_at']}", ""]
    if manifest["kind"] == IDENTIFIED:
        lines += [
            "IDENTIFIED EXPORT: names, contact details and real dates of clients, and",
            f"{PSEUDONYMS_NAME} linking each pseudonym to its client code. Keep it as",
            "confidential as the clinical record itself; never share it outside the practice.",
            "",
        ]
    if manifest["free_text_included"]:
        lines += [
            "FREE TEXT INCLUDED - REVIEW BEFORE SHARING: the columns listed in",
            f"{MANIFEST_NAME} under free_text_columns are notes typed by people and may hold",
            "names, phone numbers, places or dates. Read every one and remove identifiers",
            "before this export leaves the practice.",
            "",
        ]
    else:
        lines += [
            "Free text (notes, treatments, sources, phase names) is left out; export with",
            "--include-free-text to include it (it must then be reviewed before sharing).",
            "",
        ]
    lines += [
        "Clients are known by pseudonyms drawn at random for this export only (client_pseudonym);",
        "the same client has another pseudonym in every other export.",
        "Dates are whole days since the client's enrolment (day 0)"
        + ("; real dates are included as well." if manifest["kind"] == IDENTIFIED else "."),
        "",
        "Files: " + ", ".join(f["name"] for f in manifest["files"]),
        "",
    ]
    return "\n".join(lines)


def export_tidy(
    store: Store,
    out_dir: Path,
    *,
    identified: bool = False,
    include_free_text: bool = False,
    force: bool = False,
) -> list[Path]:
    """Write one tidy CSV per kind, a manifest and a README into ``out_dir``; returns the paths.

    Raises
    ------
    InputError
        When ``out_dir`` holds an export of the other kind (identified vs de-identified), when
        a file to write already exists and ``force`` is false, or when a target is a symbolic
        link, a folder, or not writable. Nothing is written then.
    """
    kind = IDENTIFIED if identified else DE_IDENTIFIED
    out_dir = output_folder(Path(out_dir), option="--out")
    held = export_kind_of(out_dir)
    if held is not None and held != kind:
        article = {IDENTIFIED: "an", DE_IDENTIFIED: "a"}
        raise InputError(
            f"--out {str(out_dir)!r} holds {article[held]} {held} export; expected a folder "
            f"without one ({article[kind]} {kind} export is never mixed with {article[held]} "
            f"{held} one: choose another folder)",
            field="--out",
            value=str(out_dir),
            expected=f"a folder without {article[held]} {held} export",
        )
    names = [*EXPORT_FILES.values(), MANIFEST_NAME, README_NAME]
    if identified:
        names.append(PSEUDONYMS_NAME)
    for name in names:  # every refusal before the first byte is written
        check_output_file(out_dir / name, force=force, option="--out")

    frames = {k: store.frame(k) for k in EXPORT_FILES if k != "clients"}
    anchors = _anchors(store, frames)
    codes = store.frame("clients").get("code", pd.Series(dtype=str)).astype(str).tolist()
    pseudonyms = new_pseudonyms(sorted(codes))
    tables = {"clients": _client_table(store, anchors, pseudonyms, identified=identified)}
    free_text_columns: dict[str, list[str]] = {}
    for k, frame in frames.items():
        tables[k] = _record_table(
            k,
            frame,
            anchors,
            pseudonyms,
            identified=identified,
            include_free_text=include_free_text,
        )
        if KINDS[k].free_text_columns:
            free_text_columns[EXPORT_FILES[k]] = list(KINDS[k].free_text_columns)

    written: list[Path] = []
    files: list[dict[str, Any]] = []

    def put(name: str, table: pd.DataFrame) -> None:
        path = write_csv(table, out_dir / name, force=force, option="--out", private=identified)
        written.append(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.append({"name": name, "rows": len(table), "sha256": digest})

    for k, table in tables.items():
        put(EXPORT_FILES[k], table)
    if identified:
        mapping = pd.DataFrame(
            {CLIENT_COLUMN: list(pseudonyms.values()), "client_code": list(pseudonyms)}
        ).sort_values(CLIENT_COLUMN)
        put(PSEUDONYMS_NAME, mapping)
    manifest: dict[str, Any] = {
        "format": "hostcap tidy export",
        "kind": kind,
        "created_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "hostcap_version": __version__,
        "free_text_included": include_free_text,
        "review_required": include_free_text,
        "free_text_columns": free_text_columns,
        "client_codes": "replaced by pseudonyms drawn at random for this export",
        "pseudonym_mapping": PSEUDONYMS_NAME if identified else None,
        "dates": "real dates and days since day 0" if identified else "days since day 0",
        "files": files,
    }
    written.append(
        write_text(
            out_dir / README_NAME,
            _readme(manifest),
            force=force,
            option="--out",
            private=identified,
        )
    )
    # The manifest last: a folder with a manifest holds a complete export.
    written.append(
        write_text(
            out_dir / MANIFEST_NAME,
            json.dumps(manifest, indent=2) + "\n",
            force=force,
            option="--out",
            private=identified,
        )
    )
    return written
