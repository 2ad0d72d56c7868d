"""FHIR and REDCap commands: ``hostcap fhir export|import``, ``hostcap redcap dictionary|export|
import|pull|push``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hostcap.cli import options
from hostcap.cli.consoles import console, err
from hostcap.cli.lazy import LazyModule
from hostcap.cli.main import app

if TYPE_CHECKING:
    from hostcap.services import interop as interop_services
    from hostcap.services import store as store_services
else:
    interop_services = LazyModule("hostcap.services.interop")
    store_services = LazyModule("hostcap.services.store")


fhir_app = typer.Typer(help="FHIR R4B: export and import Bundles.", no_args_is_help=True)
redcap_app = typer.Typer(
    help="REDCap: data dictionary, records (flat or EAV), pull and push over the API.",
    no_args_is_help=True,
)
app.add_typer(fhir_app, name="fhir")
app.add_typer(redcap_app, name="redcap")


class RecordType(StrEnum):
    flat = "flat"
    eav = "eav"


IdentifiedOption = Annotated[
    bool,
    typer.Option(
        "--identified",
        help="write real client codes, real dates and free text (asks for confirmation; "
        "audited; file 0600). Default: pseudonyms, shifted dates, no free text.",
    ),
]
UrlOption = Annotated[str, typer.Option("--url", help="the REDCap API address (…/api/)")]
TokenEnvOption = Annotated[
    str,
    typer.Option(
        "--token-env",
        help="name of the environment variable that holds the API token (never the token)",
    ),
]


def _print_import(report: interop_services.InteropImportReport, source: str) -> None:
    for line in report.skipped:
        err.print(f"not imported: {line}", markup=False)
    for warning in report.warnings:
        err.print(f"warning: {warning}", markup=False)
    counts = ", ".join(f"{kind} {n}" for kind, n in report.inserted.items()) or "nothing"
    if report.dry_run:
        console.print(f"dry run: {source} is valid; would add {counts}. Nothing was written.")
    else:
        console.print(f"imported {source}: added {counts} (records already stored are skipped)")


def _export_store(
    target: Path | str, *, identified: bool, yes: bool, database: str | None
) -> tuple[Any, str]:
    """The store to export from, once an identified export is confirmed; and how to label it."""
    if identified:
        options.confirm_identified(str(target), "real client codes, real dates and free text", yes)
    return store_services.open_store(database), "IDENTIFIED" if identified else "de-identified"


@fhir_app.command("export")
def fhir_export(
    out: Annotated[Path, typer.Option("--out", help="the Bundle (JSON) to write")],
    client: Annotated[
        str | None, typer.Option("--client", help="only this client (its code)")
    ] = None,
    identified: IdentifiedOption = False,
    yes: options.YesOption = False,
    force: options.ForceOption = False,
    database: options.DatabaseOption = None,
) -> None:
    """Export a FHIR R4B Bundle (collection), de-identified unless --identified."""
    store, label = _export_store(out, identified=identified, yes=yes, database=database)
    report = interop_services.export_fhir(
        store, out, code=client, identified=identified, force=force
    )
    counts = ", ".join(f"{n} {name}" for name, n in report.resources.items())
    console.print(f"wrote {label} FHIR bundle {out}: {counts}", markup=False)


@fhir_app.command("import")
def fhir_import(
    bundle: Annotated[Path, typer.Argument(help="a FHIR R4/R4B Bundle in JSON")],
    dry_run: options.DryRunOption = False,
    database: options.DatabaseOption = None,
) -> None:
    """Import a FHIR Bundle: every record or none; the same bundle twice adds nothing."""
    store = store_services.open_store(database)
    report = interop_services.import_fhir(store, bundle, dry_run=dry_run)
    _print_import(report, str(bundle))


@redcap_app.command("dictionary")
def redcap_dictionary(
    out: Annotated[Path, typer.Option("--out", help="the data dictionary CSV to write")],
    force: options.ForceOption = False,
) -> None:
    """Write the REDCap data dictionary (18 columns) of hostcap's record kinds."""
    path = interop_services.write_redcap_dictionary(out, force=force)
    console.print(f"wrote REDCap data dictionary {path}", markup=False)


@redcap_app.command("export")
def redcap_export(
    out: Annotated[Path, typer.Option("--out", help="the records CSV to write")],
    record_type: Annotated[
        RecordType, typer.Option("--type", help="flat (one row per instance) or eav")
    ] = RecordType.flat,
    force: options.ForceOption = False,
    identified: IdentifiedOption = False,
    yes: options.YesOption = False,
    database: options.DatabaseOption = None,
) -> None:
    """Export the store's records for REDCap, de-identified unless --identified."""
    store, label = _export_store(out, identified=identified, yes=yes, database=database)
    report = interop_services.export_redcap(
        store, out, record_type=record_type.value, identified=identified, force=force
    )
    console.print(
        f"wrote {label} REDCap records {out} ({report.record_type}): {report.rows} rows, "
        f"{report.clients} clients",
        markup=False,
    )


@redcap_app.command("import")
def redcap_import(
    records: Annotated[Path, typer.Argument(help="REDCap records CSV (flat or EAV)")],
    dictionary: Annotated[
        Path, typer.Option("--dictionary", help="the data dictionary CSV the records follow")
    ],
    dry_run: options.DryRunOption = False,
    database: options.DatabaseOption = None,
) -> None:
    """Import REDCap records checked against the dictionary and the store's rules."""
    store = store_services.open_store(database)
    report = interop_services.import_redcap(store, records, dictionary, dry_run=dry_run)
    _print_import(report, str(records))


@redcap_app.command("pull")
def redcap_pull(
    url: UrlOption,
    token_env: TokenEnvOption,
    dry_run: options.DryRunOption = False,
    database: options.DatabaseOption = None,
) -> None:
    """Import a REDCap project's records over its API (checked against its dictionary)."""
    store = store_services.open_store(database)
    report = interop_services.pull_redcap(store, url, token_env, dry_run=dry_run)
    _print_import(report, url)


@redcap_app.command("push")
def redcap_push(
    url: UrlOption,
    token_env: TokenEnvOption,
    identified: IdentifiedOption = False,
    yes: options.YesOption = False,
    database: options.DatabaseOption = None,
) -> None:
    """Send the data dictionary and the records to a REDCap project over its API."""
    store, label = _export_store(url, identified=identified, yes=yes, database=database)
    report = interop_services.push_redcap(store, url, token_env, identified=identified)
    console.print(
        f"pushed {label} records to {url}: {report.rows} rows, {report.clients} clients",
        markup=False,
    )
