"""Publishing: consent records, de-identified CARE case reports and the cohort article pack.

``hostcap consent add``, ``hostcap report case`` and ``hostcap report cohort`` call these. Each
report is made from what the store holds and from the computations the other commands use:

- values and reliable-change verdicts: :func:`hostcap.services.analytics.load_cohort` and
  :func:`hostcap.outcome_analytics.responder_table` (as ``hostcap analyze cohort``);
- criteria, phenotype label and plan: the newest assessment stored by ``hostcap assess``;
- the model variants' fit: :func:`hostcap.mechanistic_model.compare_variants` on the
  observations and protocol :mod:`hostcap.services.analytics` builds for its fits;
- the cohort pack: the analysis of ``hostcap analyze cohort``
  (:func:`hostcap.services.analytics.run_cohort_analysis`) and the tables
  :mod:`hostcap.reports.cohort_files` renders from it.

Nothing is written unless the consent check passes and every output file may be written
(existing files only with ``force``); files are written atomically through
:mod:`hostcap.output_files`. The consent records are kept by :mod:`hostcap.services.consent`
(its names are re-exported here).
"""

from __future__ import annotations

import datetime as dt
import platform
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Unpack

import pandas as pd

from hostcap import __version__
from hostcap.catalog import get_instrument
from hostcap.clinical_store import Store
from hostcap.errors import HostcapError, InputError, ValidationError
from hostcap.mechanistic_model import compare_variants as fit_every_variant
from hostcap.mechanistic_model import load_definition
from hostcap.outcome_analytics import CohortFrames, get_measure, responder_table
from hostcap.output_files import check_output_file, output_folder, writing
from hostcap.reports import (
    CaseRecords,
    CohortAnalysis,
    PackProvenance,
    article_figure_alt,
    article_html,
    build_case_report,
    care_checklist,
    case_figure,
    case_report_html,
    data_uri,
    figure_png,
    figure_svg,
    html_to_pdf,
    marker_order_table,
    methods_markdown,
    mixed_models_table,
    outcomes_table,
    reporting_checklist,
    summary_figures,
    table1,
    variant_table,
)
from hostcap.services.analytics import (
    AnalysisOptions,
    AnalysisSettings,
    check_analysis_folder,
    client_protocols,
    fit_candidates,
    fit_observations,
    load_cohort,
    run_cohort_analysis,
    write_cohort_analysis,
)
from hostcap.services.assessment import load_rulebook_file
from hostcap.services.assessment_reports import client_safety_banner
from hostcap.services.consent import (
    CONSENT_SCOPES,
    ConsentState,
    add_consent,
    add_consent_at,
    consent_state,
    require_consent,
)
from hostcap.services.store import open_store

__all__ = [
    "CASE_FILES",
    "COHORT_FILES",
    "CONSENT_SCOPES",
    "FORMATS",
    "ConsentState",
    "add_consent",
    "add_consent_at",
    "case_report",
    "case_report_at",
    "cohort_pack",
    "cohort_pack_at",
    "consent_state",
    "parse_formats",
    "write_example_case_report",
]

FORMATS: tuple[str, ...] = ("html", "pdf")
#: The files of a case report (figures go to ``figures/``).
CASE_FILES: Mapping[str, str] = {
    "html": "case-report.html",
    "pdf": "case-report.pdf",
    "checklist": "care-checklist.csv",
}
CASE_FIGURE = "measures"
#: Seed of the per-client model fit (same data, same fit).
CASE_FIT_SEED = 0


# ------------------------------------------------------------------------------------------------
# output


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"html,pdf"`` → ``("html", "pdf")``; an unknown or empty format is refused."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in items if f.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ValidationError.single("--format", ",".join(items), "html, pdf or html,pdf")
    return chosen


def _check_outputs(paths: Sequence[Path], *, force: bool) -> None:
    """Refuse, before any work, an output that exists (unless ``force``) or cannot be made."""
    for path in paths:
        output_folder(path.parent, option="--out")
        check_output_file(path, force=force, option="--out")


def _write_bytes(path: Path, content: bytes) -> Path:
    # Outputs were checked (or --force given) before the report was built.
    with writing(path, force=True, option="--out", binary=True) as handle:
        handle.write(content)
    return path


# ------------------------------------------------------------------------------------------------
# case report


def _reference_keys(assessment: Mapping[str, Any] | None, measures: Iterable[str]) -> list[str]:
    """Citation keys of exactly the criteria, rules, instruments and thresholds used."""
    keys: list[str] = ["gagnier2013_care"]
    if assessment is not None:
        result = assessment["result"]
        book = load_rulebook_file()
        for crit in result.get("criteria", {}).values():
            if crit.get("citation"):
                keys.append(str(crit["citation"]))
        rule_ids = [
            c.get("rule_id") for c in (result.get("phenotype") or {}).get("contributions", [])
        ]
        plan = result.get("plan") or {}
        if plan.get("protocol_id"):
            rule_ids.append(plan["protocol_id"])
        for rule_id in rule_ids:
            if not rule_id:
                continue
            try:
                keys.append(book.get(str(rule_id)).citation)
            except HostcapError:
                continue
    for measure in measures:
        try:
            spec = get_measure(measure)
        except HostcapError:
            continue
        keys += [k for k in spec.citations if k != "assumed"]
        instrument = measure.removesuffix("_mean").removesuffix("_total")
        if instrument != measure:
            try:
                keys += list(get_instrument(instrument).citation_keys())
            except HostcapError:
                continue
    return list(dict.fromkeys(keys))


def _model_fit(
    store: Store, measurements: pd.DataFrame, clients: pd.DataFrame, code: str
) -> tuple[pd.DataFrame | None, str]:
    """Every model variant fitted to this client as ``hostcap analyze cohort`` fits a client."""
    if fit_candidates(measurements, clients, 1, CASE_FIT_SEED) != [code]:
        return None, (
            "Not available: the client has no model preset (phenotype A, B or C) or fewer than "
            "3 times with tryptase, hs-CRP or symptom load (2 after week 0)."
        )
    phenotype = str(clients.set_index("client").loc[code, "phenotype"])
    protocol = client_protocols(store, clients)[code]
    try:
        table = fit_every_variant(
            fit_observations(measurements, code),
            phenotype=phenotype,
            protocol=protocol,
            seed=CASE_FIT_SEED,
        )
    except HostcapError as exc:
        return None, f"Not available: the fit failed ({exc})."
    note = (
        "Each variant of the mechanistic model (a hypothesis) fitted to this client's tryptase, "
        "hs-CRP and symptom load under the recorded interventions; lower AIC and lower "
        "held-out last-visit error (root mean square standardised residual; 1 = as good as "
        "measurement noise allows) fit better. One person's data rank the variants for that "
        "person only."
    )
    return table, note


def _de_identified_banner(lines: Sequence[str], code: str) -> list[str]:
    """The safety banner every view of a client carries, without the code or a date."""
    out = []
    for line in lines:
        line = re.sub(
            r" \(from assessment #\d+ of [^)]*\)", " (from the newest stored assessment)", line
        )
        line = re.sub(r"\d{4}-\d{2}-\d{2}", "[date removed]", line.replace(code, "this client"))
        out.append(line)
    return out


def case_records(store: Store, code: str) -> CaseRecords:
    """Everything a case report of ``code`` is made from (no identifying field is read)."""
    with store.reading() as session:
        client = store.client(session, code)
        sex, birth_year, demo = client.sex, client.birth_year, bool(client.demo)
    enrolments = store.enrolments(code)
    if not enrolments:
        raise InputError(
            f"client {code!r} is not enrolled in a protocol; expected an enrolment (the "
            f"timeline counts weeks from its start): `hostcap enrol {code} ...`",
            field="enrolment",
            value=code,
            expected="an enrolled client",
        )
    enrolment = enrolments[0]
    kinds = (
        "labs",
        "meds",
        "questionnaires",
        "food",
        "episodes",
        "interventions",
        "findings",
        "visits",
    )
    records = {kind: store.frame(kind, code=code) for kind in kinds}
    frames = load_cohort(store)
    m = frames.measurements.loc[frames.measurements["client"] == code].reset_index(drop=True)
    c = frames.clients.loc[frames.clients["client"] == code].reset_index(drop=True)
    responders = (
        responder_table(m)
        if len(m)
        else pd.DataFrame(columns=["client", "measure", "baseline", "last", "change"])
    )
    fit, note = _model_fit(store, m, c, code) if len(c) else (None, "Not available.")
    assessments = store.assessments(code)
    assessment = assessments[-1] if assessments else None
    return CaseRecords(
        safety=_de_identified_banner(client_safety_banner(store, code), code),
        sex=sex,
        birth_year=birth_year,
        demo=demo,
        protocol=str(enrolment["protocol"]),
        started_on=enrolment["started_on"],
        phenotype_label=enrolment["phenotype_label"],
        phases=[(p["name"], p["start_week"], p["end_week"]) for p in enrolment["phases"]],
        records=records,
        enrolment_notes=enrolment.get("notes"),
        assessment=assessment,
        responders=responders,
        measurements=m[["measure", "week", "value"]],
        model_fit=fit,
        model_note=note,
        reference_keys=_reference_keys(assessment, responders["measure"].astype(str)),
        versions={"hostcap": __version__},
    )


def case_report(
    store: Store,
    code: str,
    out_dir: Path,
    *,
    formats: str | Iterable[str] = FORMATS,
    include_notes: bool = False,
    force: bool = False,
) -> dict[str, Path]:
    """Write a de-identified CARE case report of ``code`` under ``out_dir``.

    Refuses (nothing written) a client without a standing ``case_report`` consent, and output
    files that exist unless ``force``.

    Returns
    -------
    dict of str to Path
        Every file written, by its name relative to ``out_dir``.
    """
    chosen = parse_formats(formats)
    out = Path(out_dir)
    require_consent(store, code, "case_report")
    targets = {CASE_FILES[f]: out / CASE_FILES[f] for f in chosen}
    targets[CASE_FILES["checklist"]] = out / CASE_FILES["checklist"]
    targets[f"figures/{CASE_FIGURE}.svg"] = out / "figures" / f"{CASE_FIGURE}.svg"
    targets[f"figures/{CASE_FIGURE}.png"] = out / "figures" / f"{CASE_FIGURE}.png"
    _check_outputs(list(targets.values()), force=force)

    records = case_records(store, code)
    report = build_case_report(records, include_notes=include_notes)
    figure = case_figure(records.measurements, records.phases)
    png = figure_png(figure)
    svg = figure_svg(figure)
    files: dict[str, Path] = {}
    files[f"figures/{CASE_FIGURE}.svg"] = _write_bytes(targets[f"figures/{CASE_FIGURE}.svg"], svg)
    files[f"figures/{CASE_FIGURE}.png"] = _write_bytes(targets[f"figures/{CASE_FIGURE}.png"], png)
    if "html" in chosen:
        html = case_report_html(report, {CASE_FIGURE: f"figures/{CASE_FIGURE}.svg"})
        files[CASE_FILES["html"]] = _write_bytes(targets[CASE_FILES["html"]], html.encode())
    if "pdf" in chosen:
        inline = case_report_html(report, {CASE_FIGURE: data_uri(svg, "image/svg+xml")})
        files[CASE_FILES["pdf"]] = _write_bytes(targets[CASE_FILES["pdf"]], html_to_pdf(inline))
    checklist = care_checklist(report).to_csv(index=False, lineterminator="\n")
    files[CASE_FILES["checklist"]] = _write_bytes(
        targets[CASE_FILES["checklist"]], checklist.encode()
    )
    store.record_audit(
        action="report",
        entity="case_report",
        client_code=code,
        after={"formats": list(chosen), "include_notes": include_notes, "files": sorted(files)},
    )
    return files


def case_report_at(
    database_url: str | None, code: str, out_dir: Path, **options: Any
) -> dict[str, Path]:
    """:func:`case_report` on the store at ``database_url`` (or the configured default)."""
    store = open_store(database_url)
    try:
        return case_report(store, code, out_dir, **options)
    finally:
        store.dispose()


# ------------------------------------------------------------------------------------------------
# cohort article pack

#: The files of the article pack (figures go to ``figures/``, as SVG and PNG).
COHORT_FILES: Mapping[str, str] = {
    "table1": "table1.csv",
    "outcomes": "outcomes.csv",
    "marker_order": "marker_order.csv",
    "mixed_models": "mixed_models.csv",
    "variants": "variant_comparison.csv",
    "methods": "methods.md",
    "checklist": "reporting-checklist.csv",
    "html": "article.html",
    "pdf": "article.pdf",
}
#: Figures of the analysis shown in the article (all are written to ``figures/``).
ARTICLE_FIGURES: tuple[tuple[str, str], ...] = (
    ("km_measures", "Time to sustained reliable improvement, per measure (Kaplan–Meier)."),
    ("forest_mixed_models", "Mixed-model fixed effects per measure with 95 % CIs."),
    ("variant_comparison", "HYPOTHESIS: model variants' held-out error per client."),
)
SOFTWARE: tuple[str, ...] = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "lifelines",
    "scikit-learn",
    "matplotlib",
    "jinja2",
    "weasyprint",
)


def _software_versions() -> dict[str, str]:
    versions = {"hostcap": __version__, "python": platform.python_version()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cohort_pack(
    store: Store,
    out_dir: Path,
    *,
    formats: str | Iterable[str] = FORMATS,
    analysis_dir: Path | None = None,
    scheduler: str | None = None,
    force: bool = False,
    **options: Unpack[AnalysisOptions],
) -> dict[str, Path]:
    """Write the cohort article pack under ``out_dir`` (and, with ``analysis_dir``, the full
    analysis files of ``hostcap analyze cohort`` from the same run).

    The analysis is :func:`hostcap.services.analytics.run_cohort_analysis` with
    ``analyze cohort``'s defaults; ``scheduler`` and ``options`` are passed to it (see
    :func:`hostcap.services.analytics.analyze_cohort`). Real clients without a standing
    ``cohort_research`` consent are left out (synthetic and demo clients need none; they are
    labelled on the first page).
    """
    settings = AnalysisSettings(**options)
    chosen = parse_formats(formats)
    out = Path(out_dir)
    n_in_store = len(store.list_clients())
    frames, left_out = _consented_frames(store)
    _check_pack_outputs(out, chosen, analysis_dir, force=force)
    results = run_cohort_analysis(store, frames, scheduler, **options)
    provenance = _pack_provenance(
        store,
        results,
        settings,
        n_in_store=n_in_store,
        n_left_out_consent=left_out,
        analysis_dir=analysis_dir,
    )
    files = _write_pack_tables(results, provenance, out)
    svgs = _write_pack_figures(results, out / "figures", files)
    files |= _write_article(results, provenance, svgs, out, chosen)
    if analysis_dir is not None:
        for name, path in write_cohort_analysis(
            results, store, Path(analysis_dir), force=force
        ).items():
            files[f"analysis/{name}"] = path
    store.record_audit(
        action="report",
        entity="cohort_pack",
        after={
            "clients": len(results.frames.clients),
            "left_out_no_consent": left_out,
            "files": sorted(files),
        },
    )
    return files


def _consented_frames(store: Store) -> tuple[CohortFrames, int]:
    """The cohort frames of the clients who may enter the pack, and how many were left out.

    Real clients need a standing ``cohort_research`` consent; synthetic and demo clients need
    none. Refused (nothing written) when no client is left.
    """
    frames = load_cohort(store)
    consented = store.consented_codes("cohort_research")
    clients = frames.clients
    keep = clients["demo"].astype(bool) | clients["client"].isin(consented)
    left_out = int((~keep).sum())
    if left_out:
        kept = set(clients.loc[keep, "client"])
        frames = type(frames)(
            frames.measurements.loc[frames.measurements["client"].isin(kept)].reset_index(
                drop=True
            ),
            clients.loc[keep].reset_index(drop=True),
            frames.notes,
        )
    if frames.clients.empty:
        raise InputError(
            "no enrolled client may enter the cohort pack (real clients need a standing "
            "cohort_research consent: `hostcap consent add CODE --scope cohort_research "
            "--date YYYY-MM-DD`); nothing was written",
            field="consent",
            value=f"{left_out} client(s) without consent",
            expected="at least one enrolled client with consent, or synthetic/demo clients",
        )
    return frames, left_out


def _check_pack_outputs(
    out: Path, chosen: Sequence[str], analysis_dir: Path | None, *, force: bool
) -> None:
    """Refuse, before the analysis runs, any pack file (or figure, or analysis file) that
    exists unless ``force``, and any that cannot be made."""
    names = [n for k, n in COHORT_FILES.items() if k not in FORMATS or k in chosen]
    _check_outputs([out / n for n in names], force=force)
    figures_dir = out / "figures"
    output_folder(figures_dir, option="--out")
    if not force and any(figures_dir.glob("*.svg")):
        raise InputError(
            f"--out {str(figures_dir)!r} already holds figures; expected a new folder, or "
            "--force to replace them",
            field="--out",
            value=str(figures_dir),
            expected="a new folder, or --force",
        )
    if analysis_dir is not None:
        check_analysis_folder(Path(analysis_dir), force=force)


def _pack_provenance(
    store: Store,
    results: CohortAnalysis,
    settings: AnalysisSettings,
    *,
    n_in_store: int,
    n_left_out_consent: int,
    analysis_dir: Path | None,
) -> PackProvenance:
    """What made the pack: versions, rulebook, model, settings, and who is in it."""
    book = load_rulebook_file()
    return PackProvenance(
        versions=_software_versions(),
        rulebook_version=book.version,
        rulebook_sha256=book.sha256,
        model_version=str(load_definition("essay").version),
        seed=settings.seed,
        n_bootstrap=settings.n_bootstrap,
        max_fit_clients=settings.max_fit_clients,
        n_in_store=n_in_store,
        n_left_out_consent=n_left_out_consent,
        n_demo=int(results.frames.clients["demo"].astype(bool).sum()),
        source=store.engine.url.render_as_string(hide_password=True),
        analysis_folder=str(analysis_dir) if analysis_dir is not None else None,
    )


def _write_pack_tables(
    results: CohortAnalysis, provenance: PackProvenance, out: Path
) -> dict[str, Path]:
    """The CSV tables, the reporting checklist and ``methods.md``."""
    files: dict[str, Path] = {}
    tables = {
        "table1": table1(results),
        "outcomes": outcomes_table(results),
        "marker_order": marker_order_table(results),
        "mixed_models": mixed_models_table(results),
        "variants": variant_table(results),
        "checklist": reporting_checklist(),
    }
    for key, frame in tables.items():
        text = frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")
        files[COHORT_FILES[key]] = _write_bytes(out / COHORT_FILES[key], text.encode())
    files[COHORT_FILES["methods"]] = _write_bytes(
        out / COHORT_FILES["methods"], methods_markdown(results, provenance).encode()
    )
    return files


def _write_pack_figures(
    results: CohortAnalysis, figures_dir: Path, files: dict[str, Path]
) -> dict[str, bytes]:
    """Every figure of the analysis as PNG and SVG (added to ``files``); the SVGs by name."""
    svgs: dict[str, bytes] = {}
    for name, figure in summary_figures(results):
        stem = name.removesuffix(".png")
        png = figure_png(figure)
        svg = figure_svg(figure)  # closes the figure
        svgs[stem] = svg
        files[f"figures/{stem}.png"] = _write_bytes(figures_dir / f"{stem}.png", png)
        files[f"figures/{stem}.svg"] = _write_bytes(figures_dir / f"{stem}.svg", svg)
    return svgs


def _write_article(
    results: CohortAnalysis,
    provenance: PackProvenance,
    svgs: Mapping[str, bytes],
    out: Path,
    chosen: Sequence[str],
) -> dict[str, Path]:
    """``article.html`` (figures linked) and ``article.pdf`` (figures inlined), as chosen."""
    shown = [(n, caption) for n, caption in ARTICLE_FIGURES if n in svgs]

    def page(source: Callable[[str], str]) -> str:
        figures = [
            {"src": source(n), "caption": c, "alt": article_figure_alt(n, results)}
            for n, c in shown
        ]
        return article_html(results, provenance, figures)

    files: dict[str, Path] = {}
    if "html" in chosen:
        html = page(lambda n: f"figures/{n}.svg")
        files[COHORT_FILES["html"]] = _write_bytes(out / COHORT_FILES["html"], html.encode())
    if "pdf" in chosen:
        inline = page(lambda n: data_uri(svgs[n], "image/svg+xml"))
        files[COHORT_FILES["pdf"]] = _write_bytes(out / COHORT_FILES["pdf"], html_to_pdf(inline))
    return files


def cohort_pack_at(database_url: str | None, out_dir: Path, **options: Any) -> dict[str, Path]:
    """:func:`cohort_pack` on the store at ``database_url`` (or the configured default)."""
    store = open_store(database_url)
    try:
        return cohort_pack(store, out_dir, **options)
    finally:
        store.dispose()


# ------------------------------------------------------------------------------------------------
# the documented example

#: The synthetic client of ``docs/examples/`` (cohort size and seed fix every value).
EXAMPLE_COHORT: tuple[int, int] = (3, 11)


def write_example_case_report(out_dir: Path) -> dict[str, Path]:
    """``docs/examples/``: the case report of a synthetic client (``make docs``).

    A throw-away SQLite store gets a synthetic cohort (:data:`EXAMPLE_COHORT`), its first
    client is assessed (without the trajectory band) and given a case-report consent, and its
    report is written to ``out_dir`` (replacing the previous example).
    """
    import tempfile

    from hostcap.services.assessment import assess_stored_clients
    from hostcap.services.synthesis import synthesize_cohort

    n, seed = EXAMPLE_COHORT
    with tempfile.TemporaryDirectory(prefix="hostcap-example-") as work:
        url = f"sqlite:///{Path(work) / 'example.sqlite'}"
        synthesize_cohort(url, n, seed, truth_out=Path(work) / "truth.json")
        store = Store(url)
        try:
            code = str(store.list_clients()[0]["code"])
            assess_stored_clients(store, [code], with_trajectory=False)
            add_consent(store, code, scope="case_report", consented_on=dt.date(2025, 1, 1))
            return case_report(store, code, Path(out_dir), force=True)
        finally:
            store.dispose()
