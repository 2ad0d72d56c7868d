"""FHIR and REDCap in and out: read records through the store, write files, import through the
store's one validating path (all kinds in one transaction), audit every export.

The mappings themselves live in :mod:`hostcap.interop` (pure); this module opens, reads, calls
and saves. Faces (CLI, web) call these functions and render what they return.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from hostcap import interop
from hostcap.clinical_store import KINDS, ImportReport, Store, new_pseudonyms
from hostcap.clinical_store.corrections import input_values
from hostcap.errors import (
    ConfigurationError,
    InputError,
    Issue,
    Severity,
    ValidationError,
)
from hostcap.output_files import write_text
from hostcap.services.records import record_fields, record_kinds

__all__ = [
    "FhirExportReport",
    "InteropImportReport",
    "RedcapExportReport",
    "export_fhir",
    "export_redcap",
    "import_fhir",
    "import_redcap",
    "interop_markdown",
    "kind_fields",
    "pull_redcap",
    "push_redcap",
    "redcap_token",
    "stored_records",
    "write_redcap_dictionary",
]

RecordType = Literal["flat", "eav"]


@dataclass(frozen=True)
class FhirExportReport:
    """What ``fhir export`` wrote."""

    path: Path
    identified: bool
    resources: dict[str, int]


@dataclass(frozen=True)
class RedcapExportReport:
    """What ``redcap export`` (or ``push``) wrote or sent."""

    path: Path | None
    identified: bool
    record_type: str
    rows: int
    clients: int


@dataclass
class InteropImportReport:
    """What an import did (or would do, with ``dry_run``): per kind, and what was not read."""

    reports: list[ImportReport]
    skipped: list[str] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    dry_run: bool = False

    @property
    def inserted(self) -> dict[str, int]:
        return {r.kind: r.inserted for r in self.reports}


def kind_fields() -> dict[str, tuple[Any, ...]]:
    """Every record kind's field declarations (what the mappings are derived from)."""
    return {kind: record_fields(kind) for kind in record_kinds()}


def interop_markdown() -> str:
    """``docs/interop.md`` (register in ``hostcap.generated_docs``)."""
    return interop.interop_markdown(kind_fields())


def stored_records(
    store: Store, *, code: str | None = None
) -> dict[str, list[dict[str, str | None]]]:
    """Every stored record (or one client's) in input form, per kind."""
    if code is not None:
        with store.reading() as session:
            store.client(session, code)
    out: dict[str, list[dict[str, str | None]]] = {}
    for kind in interop.KIND_ORDER:
        spec = KINDS[kind]
        frame = store.frame(kind, code=code)
        rows = []
        for row in frame.to_dict("records"):
            client = str(row["code"] if kind == "clients" else row["client_code"])
            rows.append(input_values(spec, {str(k): v for k, v in row.items()}, client))
        out[kind] = rows
    return out


def _deidentified(
    records: dict[str, list[dict[str, str | None]]], fields: Mapping[str, Any]
) -> dict[str, list[dict[str, str | None]]]:
    codes = sorted(str(r["client_code"]) for r in records.get("clients", []))
    pseudonyms = new_pseudonyms(codes)
    drawn = {c: 1 + secrets.randbelow(364) for c in codes}
    shifts = interop.date_shifts(records, fields, drawn)
    return interop.deidentify(records, fields, pseudonyms, shifts)


def _audit_export(
    store: Store, what: str, path: Path | None, *, identified: bool, actor: str | None, **after: Any
) -> None:
    store.record_audit(
        action="export_identified" if identified else "export",
        entity=what,
        after={"file": path.name if path else None, "identified": identified, **after},
        actor=actor,
    )


def export_fhir(
    store: Store,
    out: Path,
    *,
    code: str | None = None,
    identified: bool = False,
    force: bool = False,
    actor: str | None = None,
    zone: dt.tzinfo | None = None,
) -> FhirExportReport:
    """Write a FHIR R4B Bundle (collection) of the store (or one client) to ``out``.

    De-identified unless ``identified`` (see ``docs/interop.md``); audited either way.
    """
    fields = kind_fields()
    records = stored_records(store, code=code)
    if not identified:
        records = _deidentified(records, fields)
    bundle = interop.build_bundle(records, fields, identified=identified, zone=zone)
    path = write_text(
        Path(out),
        json.dumps(bundle, indent=2, ensure_ascii=False) + "\n",
        force=force,
        option="--out",
        private=identified,
    )
    counts: dict[str, int] = {}
    for entry in bundle["entry"]:
        name = entry["resource"]["resourceType"]
        counts[name] = counts.get(name, 0) + 1
    _audit_export(
        store, "fhir", path, identified=identified, actor=actor, client=code, resources=counts
    )
    return FhirExportReport(path, identified, counts)


def _read_file(path: Path, option: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"{option} {str(path)!r} does not exist; expected a readable file",
            field=option,
            value=str(path),
            expected="a readable file",
        )
    return path.read_bytes()


_ROW = re.compile(r"^(?P<kind>\w+) row (?P<row>\d+)(?:, (?P<field>.*))?$")


def _located(issue: Issue, origins: Mapping[str, Sequence[str]]) -> Issue:
    """A store issue (``labs row 3, unit``) named by the resource or file row it came from."""
    match = _ROW.match(issue.location)
    if match is None:
        return issue
    places = origins.get(match["kind"], ())
    index = int(match["row"]) - 2
    if not 0 <= index < len(places):
        return issue
    where = places[index] + (f", {match['field']}" if match["field"] else "")
    return Issue(where, issue.message, issue.severity, issue.value, issue.expected, issue.code)


def _write(
    store: Store,
    read: interop.FhirImport | interop.RedcapImport,
    *,
    dry_run: bool,
    actor: str | None,
    source: str,
    digest: str,
) -> list[ImportReport]:
    sets = []
    for kind in interop.KIND_ORDER:
        rows = read.records.get(kind)
        if not rows:
            continue
        names = [c.name for c in record_fields(kind)]
        frame = pd.DataFrame(
            [{n: r.get(n) for n in names if r.get(n) not in (None, "")} for r in rows],
            columns=names,
        ).astype("string")
        frame = frame[[c for c in names if frame[c].notna().any() or c == "client_code"]]
        sets.append((kind, frame.reset_index(drop=True)))
    try:
        return store.add_record_sets(
            sets,
            skip_stored=True,
            dry_run=dry_run,
            actor=actor,
            source=source,
            source_sha256=digest,
        )
    except ValidationError as exc:
        raise ValidationError(
            [_located(i, read.origins) for i in exc.issues],
            context=f"{source}: nothing was written",
        ) from None


def import_fhir(
    store: Store,
    path: Path,
    *,
    dry_run: bool = False,
    actor: str | None = None,
    zone: dt.tzinfo | None = None,
) -> InteropImportReport:
    """Import a FHIR Bundle (JSON): every record or none; importing it twice adds nothing."""
    data = _read_file(path, "BUNDLE")
    try:
        bundle = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError.single(
            "BUNDLE", str(path), "a FHIR Bundle in JSON", message=f"cannot be read as JSON: {exc}"
        ) from None
    read = interop.read_bundle(bundle, zone=zone)
    if read.errors:
        raise ValidationError(read.issues, context=f"{Path(path).name}: nothing was written")
    reports = _write(
        store,
        read,
        dry_run=dry_run,
        actor=actor,
        source=Path(path).name,
        digest=hashlib.sha256(data).hexdigest(),
    )
    warnings = [i for i in read.issues if i.severity == Severity.WARNING]
    for report in reports:
        warnings.extend(_located(w, read.origins) for w in report.warnings)
    return InteropImportReport(reports, read.skipped, warnings, dry_run)


# -- REDCap --------------------------------------------------------------------------------------


def _csv_text(header: Sequence[str], rows: Sequence[Mapping[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(header), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _read_csv(data: bytes, option: str) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = data.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text))
        rows = [dict(r) for r in reader]
        header = list(reader.fieldnames or [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValidationError.single(
            option, None, "a UTF-8 CSV file with a header row", message=f"cannot be read: {exc}"
        ) from None
    return header, rows


def write_redcap_dictionary(out: Path, *, force: bool = False) -> Path:
    """Write the REDCap data dictionary (18 columns) of every record kind to ``out``."""
    rows = interop.data_dictionary(kind_fields())
    return write_text(
        Path(out), _csv_text(interop.DICTIONARY_COLUMNS, rows), force=force, option="--out"
    )


def _redcap_rows(
    store: Store, record_type: RecordType, *, identified: bool
) -> tuple[list[str], list[dict[str, str]], int]:
    fields = kind_fields()
    records = stored_records(store)
    if not identified:
        records = _deidentified(records, fields)
    if record_type == "eav":
        header, rows = interop.eav_rows(records, fields)
    else:
        header, rows = interop.flat_rows(records, fields, interop.data_dictionary(fields))
    return header, rows, len(records.get("clients", []))


def export_redcap(
    store: Store,
    out: Path,
    *,
    record_type: RecordType = "flat",
    identified: bool = False,
    force: bool = False,
    actor: str | None = None,
) -> RedcapExportReport:
    """Write the store's records as a REDCap records CSV (flat or EAV); audited."""
    if record_type not in ("flat", "eav"):
        raise ValidationError.single("--type", record_type, "flat or eav")
    header, rows, clients = _redcap_rows(store, record_type, identified=identified)
    path = write_text(
        Path(out), _csv_text(header, rows), force=force, option="--out", private=identified
    )
    _audit_export(
        store,
        "redcap",
        path,
        identified=identified,
        actor=actor,
        record_type=record_type,
        rows=len(rows),
    )
    return RedcapExportReport(path, identified, record_type, len(rows), clients)


def _import_redcap_rows(
    store: Store,
    header: Sequence[str],
    rows: Sequence[Mapping[str, str]],
    dictionary_header: Sequence[str],
    dictionary_rows: Sequence[Mapping[str, Any]],
    *,
    dry_run: bool,
    actor: str | None,
    source: str,
    digest: str,
) -> InteropImportReport:
    dictionary, issues = interop.read_dictionary(dictionary_rows, dictionary_header)
    if issues:
        raise ValidationError(issues, context="data dictionary: nothing was written")
    read = interop.read_records(rows, header, dictionary, kind_fields())
    if read.issues:
        raise ValidationError(read.issues, context=f"{source}: nothing was written")
    reports = _write(store, read, dry_run=dry_run, actor=actor, source=source, digest=digest)
    warnings = [_located(w, read.origins) for r in reports for w in r.warnings]
    return InteropImportReport(reports, [], warnings, dry_run)


def import_redcap(
    store: Store,
    records_path: Path,
    dictionary_path: Path,
    *,
    dry_run: bool = False,
    actor: str | None = None,
) -> InteropImportReport:
    """Import REDCap records (flat or EAV CSV) checked against ``dictionary_path``."""
    data = _read_file(records_path, "RECORDS")
    header, rows = _read_csv(data, "RECORDS")
    dict_header, dict_rows = _read_csv(_read_file(dictionary_path, "--dictionary"), "--dictionary")
    return _import_redcap_rows(
        store,
        header,
        rows,
        dict_header,
        dict_rows,
        dry_run=dry_run,
        actor=actor,
        source=Path(records_path).name,
        digest=hashlib.sha256(data).hexdigest(),
    )


def redcap_token(variable: str) -> str:
    """The API token held in the environment variable ``variable`` (never on a command line)."""
    token = os.environ.get(variable, "").strip()
    if not token:
        raise ConfigurationError(
            f"--token-env {variable!r}: the environment variable is not set or empty; expected "
            "it to hold the REDCap API token"
        )
    return token


def _project(url: str, token_env: str) -> Any:
    from redcap.project import Project  # PyCap: imported here, only pull and push need it

    token = redcap_token(token_env)
    if not url.endswith("/api/"):
        raise InputError(
            f"--url {url!r} is not a REDCap API address; expected one ending in /api/",
            field="--url",
            value=url,
            expected="https://…/api/",
        )
    if len(token) != 32:
        raise ConfigurationError(
            f"--token-env {token_env!r} holds {len(token)} characters; expected a REDCap API "
            "token of 32 characters"
        )
    return Project(url, token)


def _redcap_call(action: str, call: Any) -> Any:
    try:
        return call()
    except Exception as exc:  # PyCap raises RedcapError and requests' errors: one message
        raise ConfigurationError(f"REDCap {action} failed: {exc}") from None


def _connected(url: str, token_env: str) -> tuple[Any, Any]:
    """The REDCap project at ``url`` (its token in ``token_env``) and its version: the first
    call, which shows the URL and the token work."""
    project = _project(url, token_env)
    return project, _redcap_call("version", project.export_version)


def pull_redcap(
    store: Store, url: str, token_env: str, *, dry_run: bool = False, actor: str | None = None
) -> InteropImportReport:
    """Import a REDCap project's records (checked against its own dictionary) over its API."""
    project, version = _connected(url, token_env)
    metadata = _redcap_call("metadata export", lambda: project.export_metadata(format_type="json"))
    records = _redcap_call(
        "record export", lambda: project.export_records(format_type="json", record_type="flat")
    )
    header = list(records[0]) if records else []
    text = json.dumps(records, sort_keys=True).encode()
    report = _import_redcap_rows(
        store,
        header,
        [{k: str(v) for k, v in r.items()} for r in records],
        list(interop.API_KEYS),
        metadata,
        dry_run=dry_run,
        actor=actor,
        source=f"REDCap {version} at {url}",
        digest=hashlib.sha256(text).hexdigest(),
    )
    return report


def push_redcap(
    store: Store, url: str, token_env: str, *, identified: bool = False, actor: str | None = None
) -> RedcapExportReport:
    """Send the data dictionary, the repeating instruments and the records to a REDCap project."""
    project, _ = _connected(url, token_env)
    fields = kind_fields()
    dictionary = interop.data_dictionary(fields)
    metadata = [
        dict(zip(interop.API_KEYS, (row[c] for c in interop.DICTIONARY_COLUMNS), strict=True))
        for row in dictionary
    ]
    _redcap_call("metadata import", lambda: project.import_metadata(metadata, import_format="json"))
    repeating = [
        {"form_name": form, "custom_form_label": ""} for form in interop.repeating_forms(dictionary)
    ]
    _redcap_call(
        "repeating instruments import",
        lambda: project.import_repeating_instruments_events(repeating, import_format="json"),
    )
    _, rows, clients = _redcap_rows(store, "flat", identified=identified)
    _redcap_call("record import", lambda: project.import_records(rows, import_format="json"))
    _audit_export(
        store, "redcap", None, identified=identified, actor=actor, url=url, rows=len(rows)
    )
    return RedcapExportReport(None, identified, "flat", len(rows), clients)
