"""Clinical store commands: init, client, lab, med, questionnaire, food, episode, import,
export, audit, backup, restore."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hostcap.cli.consoles import console, err
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import (
    DatabaseOption,
    DryRunOption,
    ForceOption,
    YesOption,
    confirm_identified,
)
from hostcap.cli.record_commands import ConfirmUnusualOption, ReplaceOption, choice_enum
from hostcap.cli.record_reports import print_report
from hostcap.errors import IntegrityError, ValidationError
from hostcap.record_fields import DECLARATIONS

if TYPE_CHECKING:
    from hostcap.services import client_view as client_views
    from hostcap.services import store as store_services
else:
    client_views = LazyModule("hostcap.services.client_view")
    store_services = LazyModule("hostcap.services.store")

__all__ = ["app"]


client_app = typer.Typer(help="Clients (pseudonymous codes).", no_args_is_help=True)
record_app = typer.Typer(
    help="Correct or delete a stored record (audited, with the old values and a reason).",
    no_args_is_help=True,
)
app.add_typer(client_app, name="client")
app.add_typer(record_app, name="record")


Sex: Any = choice_enum(DECLARATIONS["clients"].column("sex"))


class ImportKind(StrEnum):
    clients = "clients"
    labs = "labs"
    meds = "meds"
    questionnaires = "questionnaires"
    food = "food"
    episodes = "episodes"
    interventions = "interventions"
    findings = "findings"
    visits = "visits"


@app.command("init")
def init_command(database: DatabaseOption = None) -> None:
    """Create the store or upgrade it to the newest schema."""
    store = store_services.open_store(database, require_schema=False)
    revision = store.init()
    console.print(f"store ready at {store.engine.url!r} (schema {revision})", markup=False)
    console.print(
        f"audit key: {store.audit.files.key_path} (keep it with the store: without it the store "
        "can be neither verified nor written)",
        markup=False,
    )


@client_app.command("add")
def client_add(
    code: Annotated[str, typer.Argument(help="Pseudonymous client code (no names).")],
    sex: Annotated[Sex, typer.Option("--sex")],
    birth_year: Annotated[int, typer.Option("--birth-year", help="YYYY")],
    demo: Annotated[bool, typer.Option("--demo", help="Mark as demonstration data.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Add a client."""
    store = store_services.open_store(database)
    store.add_client(code, sex=str(sex), birth_year=birth_year, demo=demo)
    console.print(f"client {code} added", markup=False)


@client_app.command("list")
def client_list(database: DatabaseOption = None) -> None:
    """List clients."""
    store = store_services.open_store(database)
    table = Table("code", "sex", "birth year", "demo")
    for c in store.list_clients():
        table.add_row(c["code"], c["sex"], str(c["birth_year"]), "yes" if c["demo"] else "")
    console.print(table)


def _fmt(value: Any) -> str:
    return client_views.format_value(value)  # one formatter for the CLI and the web app


def _render_overview(overview: dict[str, Any]) -> None:
    client = overview["client"]
    # Safety first: live triage and the newest stored assessment's emergency/referral reasons.
    for line in overview.get("safety", []):
        console.print(f"[bold red]{escape(line)}[/]")
    demo = " (DEMO DATA)" if client["demo"] else ""
    console.print(
        f"[bold]{client['code']}[/]{demo}  sex {client['sex']}, born {client['birth_year']}"
        + (f", enrolled {client['enrolled_on']}" if client["enrolled_on"] else "")
    )
    for e in overview.get("enrolments", []):
        phases = ", ".join(
            f"{p['name']} wk {_fmt(p['start_week'])}–{_fmt(p['end_week'])}" for p in e["phases"]
        )
        label = (
            f", phenotype label {e['phenotype_label']} (hypothesis)" if e["phenotype_label"] else ""
        )
        console.print(
            f"protocol {e['protocol']} from {e['started_on']}{label}"
            + (f": {phases}" if phases else ""),
            markup=False,
        )
    counts = ", ".join(f"{k} {v}" for k, v in overview["counts"].items())
    console.print(f"records: {counts}")
    if overview["latest_labs"]:
        t = Table(
            "analyte", "value", "unit", "collected", "context", "warning", title="latest labs"
        )
        for lab in overview["latest_labs"]:
            t.add_row(
                *(
                    _fmt(lab[k])
                    for k in ("analyte", "value", "unit", "collected_at", "context", "warning")
                )
            )
        console.print(t)
    if overview["current_medications"]:
        t = Table(
            "drug", "dose", "per day", "DDD/day", "class", "since", title="current medications"
        )
        for m in overview["current_medications"]:
            t.add_row(
                m["drug"],
                f"{_fmt(m['dose'])} {m['dose_unit']}",
                _fmt(m["per_day"]),
                _fmt(m["ddd_per_day"]),
                m["drug_class"],
                _fmt(m["start_date"]),
            )
        console.print(t)
        load = ", ".join(f"{k} {v:.2f}" for k, v in overview["antihistamine_load_ddd"].items())
        console.print(
            f"medication load (daily dose / WHO DDD; a transparent, non-validated measure): {load}"
        )
    if overview["latest_questionnaires"]:
        t = Table(
            "instrument", "date", "total", "mean", "interpretation", title="latest questionnaires"
        )
        for q in overview["latest_questionnaires"]:
            t.add_row(
                *(
                    _fmt(q[k])
                    for k in ("instrument", "answered_on", "total", "mean", "interpretation")
                )
            )
        console.print(t)
    food = overview["food_trials"]
    console.print(f"food reintroduction: {food['tolerated']} of {food['trialled']} foods tolerated")
    ep = overview["episodes"]
    last = f", last {_fmt(ep['last_onset'])}" if ep["count"] else ""
    console.print(f"episodes: {ep['count']} (anaphylaxis {ep['anaphylaxis']}){last}")


@client_app.command("show")
def client_show(code: str, database: DatabaseOption = None) -> None:
    """Show a client's records, safety status first."""
    store = store_services.open_store(database)
    _render_overview(client_views.client_view(store, code))


def _parse_phase(text: str) -> tuple[str, float, float]:
    name, _, weeks = text.partition(":")
    start, _, end = weeks.partition(":")
    try:
        return name.strip(), float(start), float(end)
    except ValueError:
        raise ValidationError.single(
            "--phase", text, "NAME:START_WEEK:END_WEEK, e.g. restore:0:8"
        ) from None


@app.command("enrol")
def enrol_command(
    code: str,
    protocol: Annotated[str, typer.Option("--protocol", help="protocol name")],
    start: Annotated[str, typer.Option("--start", help="YYYY-MM-DD (day 0)")],
    phase: Annotated[
        list[str] | None,
        typer.Option("--phase", help="NAME:START_WEEK:END_WEEK, repeat in order"),
    ] = None,
    phenotype_label: Annotated[
        str | None, typer.Option("--phenotype-label", help="rule-based label, e.g. A")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Enrol a client in a protocol (day 0 anchors de-identified dates and analysis weeks)."""
    try:
        started_on = dt.date.fromisoformat(start)
    except ValueError:
        raise ValidationError.single("--start", start, "a date YYYY-MM-DD") from None
    phases = [_parse_phase(p) for p in phase or []]
    store = store_services.open_store(database)
    store.add_enrolment(
        code,
        protocol=protocol,
        started_on=started_on,
        phenotype_label=phenotype_label,
        phases=phases,
    )
    console.print(f"enrolled {code} in {protocol} from {started_on} ({len(phases)} phases)")


@app.command("import")
def import_command(
    kind: Annotated[ImportKind, typer.Argument(help="what the file holds")],
    file: Annotated[Path, typer.Argument(help="tidy CSV with a header (docs/import-formats.md)")],
    dry_run: DryRunOption = False,
    replace: ReplaceOption = False,
    confirm_unusual: ConfirmUnusualOption = False,
    database: DatabaseOption = None,
) -> None:
    """Import a tidy CSV: every row or none; every problem reported with its row."""
    store = store_services.open_store(database)
    report = store_services.import_file(
        store,
        kind.value,
        file,
        dry_run=dry_run,
        replace=replace,
        confirm_unusual=confirm_unusual,
    )
    print_report(report, kind.value)


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="directory for the CSV files")],
    identified: Annotated[
        bool,
        typer.Option(
            "--identified",
            help="include identifying details, real dates and the pseudonym → code mapping "
            "(asks for confirmation; audited; files 0600)",
        ),
    ] = False,
    include_free_text: Annotated[
        bool,
        typer.Option(
            "--include-free-text",
            help="include notes and other free text (left out by default); the export is then "
            "marked for review before sharing",
        ),
    ] = False,
    yes: YesOption = False,
    force: ForceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Export tidy CSV, de-identified unless --identified (pseudonyms, days, no free text)."""
    if identified:
        confirm_identified(str(out), "names, contact details and real dates", yes)
    store = store_services.open_store(database)
    paths = store_services.export_store(
        store, out, identified=identified, include_free_text=include_free_text, force=force
    )
    label = "IDENTIFIED" if identified else "de-identified"
    console.print(f"wrote {len(paths)} {label} files to {out}", markup=False)
    if include_free_text:
        err.print(
            "warning: free text is included; review it for identifiers before sharing "
            "(see README.txt in the export folder)",
            markup=False,
        )


@app.command("audit")
def audit_command(
    code: Annotated[str | None, typer.Argument(help="only this client's entries")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="verify the hash chain")] = False,
    limit: Annotated[int | None, typer.Option("--limit")] = None,
    database: DatabaseOption = None,
) -> None:
    """Show the audit log, or verify its hash chain."""
    store = store_services.open_store(database)
    if verify:
        result = store.verify_audit()
        for note in result.notes:
            console.print(f"note: {note}", markup=False)
        if not result.ok:
            for p in result.problems:
                err.print(f"audit: {p.message}", markup=False)
            raise IntegrityError(
                f"audit verification failed: {len(result.problems)} problem(s) in "
                f"{result.entries} entries and {result.rows_checked} stored rows"
            )
        console.print(
            f"audit chain intact: {result.entries} entries, head {result.head_hash[:16]}; "
            f"{result.rows_checked} stored rows match their audited hashes"
        )
        return
    table = Table("seq", "at", "actor", "action", "entity", "id", "client")
    for e in store.audit_entries(code, limit=limit):
        table.add_row(
            str(e["seq"]),
            e["at"][:19],
            e["actor"],
            e["action"],
            e["entity"],
            e["entity_id"] or "",
            e["client_code"] or "",
        )
    console.print(table)


ReasonOption = Annotated[
    str, typer.Option("--reason", help="why (required; kept in the audit log)")
]
AcceptUnauditedOption = Annotated[
    bool,
    typer.Option(
        "--accept-unaudited-change",
        help="change a record that was altered outside hostcap, keeping the mismatch in the "
        "audit log (otherwise refused)",
    ),
]


@record_app.command("correct")
def record_correct(
    kind: Annotated[str, typer.Argument(help="record kind: labs, meds, findings, ...")],
    record_id: Annotated[int, typer.Argument(metavar="ID", help="the record's id")],
    field: Annotated[
        list[str], typer.Option("--field", help="input field, as in `KIND add`; repeatable")
    ],
    value: Annotated[
        list[str], typer.Option("--value", help="its new value (empty clears it); one per --field")
    ],
    reason: ReasonOption,
    accept_unaudited_change: AcceptUnauditedOption = False,
    database: DatabaseOption = None,
) -> None:
    """Correct fields of a stored record, validated as on entry; the old row stays audited."""
    if len(field) != len(value):
        raise ValidationError.single(
            "--value", f"{len(value)} values", f"one --value for each of the {len(field)} --field"
        )
    store = store_services.open_store(database)
    change = store.correct_record(
        kind,
        record_id,
        dict(zip(field, value, strict=True)),
        reason=reason,
        accept_unaudited_change=accept_unaudited_change,
    )
    before = change["before"]
    after = change["after"]
    changed = sorted(k for k in after if after[k] != before.get(k))
    console.print(
        f"corrected {kind} record {record_id}: {', '.join(changed) or 'no stored value changed'}",
        markup=False,
    )


@record_app.command("delete")
def record_delete(
    kind: Annotated[str, typer.Argument(help="record kind: labs, meds, findings, ...")],
    record_id: Annotated[int, typer.Argument(metavar="ID", help="the record's id")],
    reason: ReasonOption,
    accept_unaudited_change: AcceptUnauditedOption = False,
    database: DatabaseOption = None,
) -> None:
    """Delete a stored record; the audit log keeps its values and the reason."""
    store = store_services.open_store(database)
    store.delete_record(
        kind, record_id, reason=reason, accept_unaudited_change=accept_unaudited_change
    )
    console.print(f"deleted {kind} record {record_id} (kept in the audit log)", markup=False)


@app.command("backup")
def backup_command(
    path: Annotated[Path, typer.Argument(help="where to write the copy (created 0600)")],
    force: ForceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Online backup of a SQLite store, verified before it is put in place."""
    store = store_services.open_store(database)
    counts = store.backup(path, force=force)
    total = sum(counts.values())
    console.print(f"backup written and verified: {path} ({total} rows)", markup=False)


@app.command("restore")
def restore_command(
    backup: Annotated[Path, typer.Argument(help="a file written by `hostcap backup`")],
    force: Annotated[
        bool, typer.Option("--force", help="replace an existing store (it is kept beside it)")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Replace a SQLite store by a backup, after checking the backup's integrity and audit log.

    The old store is kept as STORE.before-restore-TIMESTAMP (mode 0600). PostgreSQL stores are
    restored with pg_restore.
    """
    report = store_services.restore_store(database, backup, force=force)
    kept = f"; previous store kept as {report.kept}" if report.kept else ""
    console.print(
        f"restored {report.store} from {backup} ({sum(report.rows.values())} rows, "
        f"{report.audit_entries} audit entries verified){kept}",
        markup=False,
    )
