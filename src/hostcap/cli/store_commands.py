"""Clinical store commands: init, client, lab, med, questionnaire, food, episode, import,
export, audit, backup, restore."""

from __future__ import annotations

import datetime as dt
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app
from hostcap.cli.options import DatabaseOption, ForceOption
from hostcap.errors import InputError, IntegrityError, ValidationError

if TYPE_CHECKING:
    from hostcap.services import client_view as client_views
    from hostcap.services import store as store_services
    from hostcap.services.store import ImportReport
else:
    client_views = LazyModule("hostcap.services.client_view")
    store_services = LazyModule("hostcap.services.store")

__all__ = ["app"]

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

client_app = typer.Typer(help="Clients (pseudonymous codes).", no_args_is_help=True)
lab_app = typer.Typer(help="Laboratory results.", no_args_is_help=True)
med_app = typer.Typer(help="Medication use.", no_args_is_help=True)
questionnaire_app = typer.Typer(help="Questionnaire responses.", no_args_is_help=True)
food_app = typer.Typer(help="Food reintroduction trials.", no_args_is_help=True)
episode_app = typer.Typer(help="Episodes.", no_args_is_help=True)
intervention_app = typer.Typer(help="Protocol interventions.", no_args_is_help=True)
visit_app = typer.Typer(help="Visits (the protocol's contact points).", no_args_is_help=True)
record_app = typer.Typer(
    help="Correct or delete a stored record (audited, with the old values and a reason).",
    no_args_is_help=True,
)
finding_app = typer.Typer(
    help="Clinical findings used by assessments (history, examination, genetics).",
    no_args_is_help=True,
)
app.add_typer(client_app, name="client")
app.add_typer(lab_app, name="lab")
app.add_typer(med_app, name="med")
app.add_typer(questionnaire_app, name="questionnaire")
app.add_typer(food_app, name="food")
app.add_typer(episode_app, name="episode")
app.add_typer(intervention_app, name="intervention")
app.add_typer(visit_app, name="visit")
app.add_typer(finding_app, name="finding")
app.add_typer(record_app, name="record")


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"


class LabContext(StrEnum):
    baseline = "baseline"
    acute = "acute"
    routine = "routine"


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


class VisitKind(StrEnum):
    baseline = "baseline"
    follow_up = "follow_up"
    unscheduled = "unscheduled"
    final = "final"


ReplaceOption = Annotated[
    bool, typer.Option("--replace", help="Overwrite an existing record with the same key.")
]
ConfirmUnusualOption = Annotated[
    bool,
    typer.Option(
        "--confirm-unusual",
        help="Store a dose above the catalog's documented maximum (checked by you; flagged in "
        "the audit). Doses above the hard limit are refused regardless.",
    ),
]


def _report(report: ImportReport, what: str) -> None:
    for w in report.warnings:
        err.print(f"warning: {w}", markup=False)
    if report.dry_run:
        console.print(
            f"dry run: {report.rows_read} {what} rows are valid; {report.inserted} would be "
            f"written ({report.replaced} replacing existing records). Nothing was written."
        )
    elif report.batch is None:
        replaced = f" (replaced {report.replaced})" if report.replaced else ""
        console.print(f"stored {what} record {', '.join(map(str, report.ids))}{replaced}")
    else:
        console.print(
            f"imported {report.inserted} {what} rows (batch {report.batch}; replaced "
            f"{report.replaced})"
        )


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
    store.add_client(code, sex=sex.value, birth_year=birth_year, demo=demo)
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
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


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


@lab_app.command("add")
def lab_add(
    code: str,
    analyte: Annotated[str, typer.Option("--analyte", help="catalog id or LOINC code")],
    value: Annotated[str, typer.Option("--value")],
    unit: Annotated[str, typer.Option("--unit")],
    collected: Annotated[str, typer.Option("--collected", help="YYYY-MM-DDTHH:MM")],
    context: Annotated[LabContext, typer.Option("--context")] = LabContext.routine,
    hours_after_onset: Annotated[str | None, typer.Option("--hours-after-onset")] = None,
    reference_low: Annotated[str | None, typer.Option("--reference-low")] = None,
    reference_high: Annotated[str | None, typer.Option("--reference-high")] = None,
    replace: ReplaceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record a laboratory result (converted to the catalog's canonical unit)."""
    store = store_services.open_store(database)
    report = store.add_one(
        "labs",
        {
            "client_code": code,
            "analyte": analyte,
            "value": value,
            "unit": unit,
            "collected_at": collected,
            "context": context.value,
            "hours_after_onset": hours_after_onset,
            "reference_low": reference_low,
            "reference_high": reference_high,
        },
        replace=replace,
    )
    _report(report, "lab")


@med_app.command("add")
def med_add(
    code: str,
    drug: Annotated[str, typer.Option("--drug")],
    dose: Annotated[str, typer.Option("--dose")],
    unit: Annotated[str, typer.Option("--unit")],
    per_day: Annotated[str, typer.Option("--per-day")],
    start: Annotated[str, typer.Option("--start", help="YYYY-MM-DD")],
    end: Annotated[str | None, typer.Option("--end")] = None,
    rescue_per_week: Annotated[str | None, typer.Option("--rescue-per-week")] = None,
    replace: ReplaceOption = False,
    confirm_unusual: ConfirmUnusualOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record medication use (recording only: hostcap never advises starting or stopping drugs)."""
    store = store_services.open_store(database)
    report = store.add_one(
        "meds",
        {
            "client_code": code,
            "drug": drug,
            "dose": dose,
            "unit": unit,
            "per_day": per_day,
            "start": start,
            "end": end,
            "rescue_doses_per_week": rescue_per_week,
        },
        replace=replace,
        confirm_unusual=confirm_unusual,
    )
    _report(report, "medication")


@questionnaire_app.command("add")
def questionnaire_add(
    code: str,
    instrument: Annotated[str, typer.Option("--instrument")],
    answers: Annotated[str, typer.Option("--answers", help="comma-separated item answers")],
    date: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    replace: ReplaceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record and score a questionnaire response."""
    store = store_services.open_store(database)
    report = store.add_one(
        "questionnaires",
        {"client_code": code, "instrument": instrument, "answers": answers, "date": date},
        replace=replace,
    )
    _report(report, "questionnaire")


@food_app.command("add")
def food_add(
    code: str,
    food: Annotated[str, typer.Option("--food")],
    date: Annotated[str, typer.Option("--date")],
    reaction_grade: Annotated[str, typer.Option("--reaction-grade", help="0 none – 3 severe")],
    dose: Annotated[str | None, typer.Option("--dose")] = None,
    dose_unit: Annotated[str | None, typer.Option("--dose-unit")] = None,
    replace: ReplaceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record a food reintroduction trial."""
    store = store_services.open_store(database)
    report = store.add_one(
        "food",
        {
            "client_code": code,
            "food": food,
            "date": date,
            "reaction_grade": reaction_grade,
            "dose": dose,
            "dose_unit": dose_unit,
        },
        replace=replace,
    )
    _report(report, "food trial")


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


@visit_app.command("add")
def visit_add(
    code: str,
    date: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    kind: Annotated[VisitKind, typer.Option("--kind")] = VisitKind.follow_up,
    week: Annotated[str | None, typer.Option("--week", help="planned week of the protocol")] = None,
    notes: Annotated[str | None, typer.Option("--notes")] = None,
    replace: ReplaceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record a visit."""
    store = store_services.open_store(database)
    values = {"client_code": code, "date": date, "visit_kind": kind.value}
    report = store.add_one("visits", values | {"week": week, "notes": notes}, replace=replace)
    _report(report, "visit")


@finding_app.command("add")
def finding_add(
    code: str,
    field: Annotated[
        str, typer.Option("--field", help="assessment input path, e.g. findings.splenomegaly")
    ],
    value: Annotated[str, typer.Option("--value", help="true/false, a number, or text")],
    date: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    source: Annotated[str | None, typer.Option("--source")] = None,
    replace: ReplaceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record a clinical finding (a dotted assessment-input path and its value)."""
    store = store_services.open_store(database)
    values = {"client_code": code, "field": field, "value": value, "date": date}
    report = store.add_one("findings", values | {"source": source}, replace=replace)
    _report(report, "finding")


@episode_app.command("add")
def episode_add(
    code: str,
    onset: Annotated[str, typer.Option("--onset", help="YYYY-MM-DDTHH:MM")],
    organ_systems: Annotated[
        str, typer.Option("--organ-systems", help="e.g. skin;gastrointestinal")
    ],
    severity: Annotated[str, typer.Option("--severity", help="0–10")],
    treatment: Annotated[str | None, typer.Option("--treatment")] = None,
    emergency_care: Annotated[bool, typer.Option("--emergency-care")] = False,
    anaphylaxis: Annotated[bool, typer.Option("--anaphylaxis")] = False,
    replace: ReplaceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record an episode."""
    store = store_services.open_store(database)
    report = store.add_one(
        "episodes",
        {
            "client_code": code,
            "onset_at": onset,
            "organ_systems": organ_systems,
            "severity": severity,
            "treatment": treatment,
            "emergency_care": str(emergency_care),
            "anaphylaxis": str(anaphylaxis),
        },
        replace=replace,
    )
    _report(report, "episode")


@intervention_app.command("add")
def intervention_add(
    code: str,
    intervention: Annotated[str, typer.Option("--intervention")],
    dose: Annotated[str, typer.Option("--dose")],
    unit: Annotated[str, typer.Option("--unit")],
    start: Annotated[str, typer.Option("--start")],
    end: Annotated[str | None, typer.Option("--end")] = None,
    phase: Annotated[str | None, typer.Option("--phase")] = None,
    replace: ReplaceOption = False,
    confirm_unusual: ConfirmUnusualOption = False,
    database: DatabaseOption = None,
) -> None:
    """Record a protocol intervention (supplement, diet, probiotic)."""
    store = store_services.open_store(database)
    report = store.add_one(
        "interventions",
        {
            "client_code": code,
            "intervention": intervention,
            "dose": dose,
            "unit": unit,
            "start": start,
            "end": end,
            "phase": phase,
        },
        replace=replace,
        confirm_unusual=confirm_unusual,
    )
    _report(report, "intervention")


@app.command("import")
def import_command(
    kind: Annotated[ImportKind, typer.Argument(help="what the file holds")],
    file: Annotated[Path, typer.Argument(help="tidy CSV with a header (docs/import-formats.md)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check only; write nothing")] = False,
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
    _report(report, kind.value)


def _confirm_identified(out: Path, yes: bool) -> None:
    """An identified export leaves the practice's control: a person confirms it."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(
            "--identified writes names, contact details and real dates, and needs "
            "confirmation; stdin is not a terminal: expected --yes to confirm in a script",
            field="--identified",
            value=str(out),
            expected="--yes",
        )
    typer.confirm(
        f"Write an IDENTIFIED export (names, contacts, real dates, code mapping) to {out}?",
        abort=True,
    )


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
    yes: Annotated[
        bool, typer.Option("--yes", help="confirm --identified without asking (scripts)")
    ] = False,
    force: ForceOption = False,
    database: DatabaseOption = None,
) -> None:
    """Export tidy CSV, de-identified unless --identified (pseudonyms, days, no free text)."""
    if identified:
        _confirm_identified(out, yes)
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
