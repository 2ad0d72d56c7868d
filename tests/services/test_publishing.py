"""Publishing services: consent, de-identified case reports and the cohort article pack.

Real SQLite store with a synthetic cohort of 20 clients (names with accents and apostrophes),
real WeasyPrint PDFs read back with poppler's pdftotext / pdffonts.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from tests.services.publishing_store import build_cohort, codes, identifiers, set_visit_note

from hostcap.clinical_store import Store, export_tidy
from hostcap.errors import InputError
from hostcap.reports import CARE_ITEMS, format_number
from hostcap.services.analytics import analyze_cohort
from hostcap.services.publishing import (
    CASE_FILES,
    add_consent,
    case_records,
    case_report,
    cohort_pack,
    consent_state,
)

CONSENT_DAY = "2025-06-01"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = build_cohort(tmp_path_factory.mktemp("cohort"))
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def consented(cohort: Store) -> list[str]:
    """The first two clients, with case-report consent."""
    chosen = codes(cohort)[:2]
    for code in chosen:
        add_consent(cohort, code, scope="case_report", consented_on=CONSENT_DAY)
    return chosen


@pytest.fixture(scope="module")
def report_dir(
    cohort: Store, consented: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("case")
    case_report(cohort, consented[0], out)
    return out


def pdf_text(path: Path, *extra: str) -> str:
    result = subprocess.run(
        ["pdftotext", *extra, "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        check=True,
        text=True,
    )
    return result.stdout


def searchable_text(folder: Path) -> dict[str, str]:
    """Every output file under ``folder`` as the text a reader (or a tool) would see."""
    texts: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(folder))
        if path.suffix == ".pdf":
            info = subprocess.run(
                ["pdfinfo", "-enc", "UTF-8", str(path)], capture_output=True, text=True, check=True
            ).stdout
            texts[name] = pdf_text(path) + "\n" + info
        elif path.suffix == ".png":
            texts[name] = path.read_bytes().decode("latin-1")
        else:
            texts[name] = html.unescape(path.read_text(encoding="utf-8"))
    return texts


def leaks(texts: dict[str, str], needles: list[str]) -> list[str]:
    found = []
    for name, text in texts.items():
        flat = unicodedata.normalize("NFC", " ".join(text.split())).casefold()
        for needle in needles:
            probe = unicodedata.normalize("NFC", needle).casefold()
            raw = needle.encode("utf-8").decode("latin-1") if name.endswith(".png") else None
            if probe in flat or (raw is not None and raw in text):
                found.append(f"{needle!r} in {name}")
    return found


# -- consent ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "withdrawn", "wrong_scope"])
def test_case_report_is_refused_without_standing_consent_and_writes_nothing(
    cohort: Store, tmp_path: Path, case: str
) -> None:
    code = {"missing": 5, "withdrawn": 6, "wrong_scope": 7}[case]
    client = codes(cohort)[code]
    if case == "withdrawn":
        add_consent(cohort, client, scope="case_report", consented_on="2025-01-01")
        add_consent(cohort, client, scope="case_report", consented_on="2025-02-01", withdrawn=True)
    if case == "wrong_scope":
        add_consent(cohort, client, scope="cohort_research", consented_on="2025-01-01")
    out = tmp_path / "report"
    with pytest.raises(InputError) as caught:
        case_report(cohort, client, out)
    assert "nothing was written" in str(caught.value)
    assert "case_report" in str(caught.value)
    assert not out.exists()
    assert not consent_state(cohort, client, "case_report").granted


def test_consent_is_audited_and_the_newest_record_decides(cohort: Store, tmp_path: Path) -> None:
    client = codes(cohort)[8]
    form = tmp_path / "signed-form.pdf"
    form.write_bytes(b"%PDF- signed")
    add_consent(cohort, client, scope="case_report", consented_on="2025-01-01", document=form)
    assert consent_state(cohort, client, "case_report").granted
    add_consent(cohort, client, scope="case_report", consented_on="2025-03-01", withdrawn=True)
    state = consent_state(cohort, client, "case_report")
    assert not state.granted and state.record is not None
    records = cohort.consents(client)
    assert records[0]["document_name"] == "signed-form.pdf"
    assert records[0]["document_sha256"] == hashlib.sha256(b"%PDF- signed").hexdigest()
    entries = [e for e in cohort.audit_entries(client) if e["entity"] == "consents"]
    assert len(entries) == 2
    # (the fixture's identities were inserted beside the audit; the consents verify)
    problems = [p.message for p in cohort.verify_audit().problems]
    assert [m for m in problems if "consents" in m] == [], problems


# -- case report ------------------------------------------------------------------------------


def test_case_report_writes_the_contract_files(report_dir: Path) -> None:
    for name in CASE_FILES.values():
        assert (report_dir / name).is_file(), name
    assert (report_dir / "figures" / "measures.svg").is_file()
    assert (report_dir / "figures" / "measures.png").is_file()
    checklist = pd.read_csv(report_dir / "care-checklist.csv")
    assert list(checklist.columns) == ["item", "section", "status", "where"]
    assert len(checklist) == len(CARE_ITEMS)
    assert set(checklist["status"]) <= {"present", "not_available"}
    # no perspective is recorded for the synthetic client
    row = checklist.loc[checklist["section"] == "Patient perspective"].iloc[0]
    assert row["status"] == "not_available"


def test_pdf_text_has_every_care_heading_and_the_before_after_values(
    cohort: Store, consented: list[str], report_dir: Path
) -> None:
    text = " ".join(pdf_text(report_dir / "case-report.pdf").split())
    assert re.search(r"SYNTHETIC DEMO — Tracking .{0,200}: a case report", text), text[:400]
    for _, heading, _ in CARE_ITEMS[1:]:  # 1 is the title itself
        assert heading in text, heading
    records = case_records(cohort, consented[0])
    assert len(records.responders) >= 5
    for _, row in records.responders.iterrows():
        assert format_number(row["baseline"]) in text
        if not math.isnan(row["last"]):
            assert format_number(row["last"]) in text
    assert "HYPOTHESIS" in text
    assert "week 0" in text


def test_pdf_fonts_are_embedded(report_dir: Path) -> None:
    listing = subprocess.run(
        ["pdffonts", str(report_dir / "case-report.pdf")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[2:]
    assert listing, "no fonts listed"
    for line in listing:
        assert line.split()[-5] == "yes", line  # the "emb" column


def test_two_builds_give_the_same_bytes(
    cohort: Store, consented: list[str], report_dir: Path, tmp_path: Path
) -> None:
    case_report(cohort, consented[0], tmp_path)
    for name in (
        "case-report.pdf",
        "case-report.html",
        "figures/measures.svg",
        "care-checklist.csv",
    ):
        first = hashlib.sha256((report_dir / name).read_bytes()).hexdigest()
        second = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert first == second, name


def test_existing_report_is_not_replaced_without_force(
    cohort: Store, consented: list[str], report_dir: Path
) -> None:
    before = (report_dir / "case-report.pdf").read_bytes()
    with pytest.raises(InputError):
        case_report(cohort, consented[0], report_dir)
    assert (report_dir / "case-report.pdf").read_bytes() == before


def test_report_values_equal_the_export_and_the_cohort_analysis(
    cohort: Store, consented: list[str], tmp_path: Path
) -> None:
    code = consented[0]
    records = case_records(cohort, code)
    analysis = analyze_cohort(
        cohort,
        tmp_path / "analysis",
        max_fit_clients=0,
        n_bootstrap=20,
        model_orders=False,
        identified=True,
    )
    responders = pd.read_csv(analysis["responders.csv"])
    mine = responders.loc[
        (responders["client"] == code) & (responders["measure"] != "composite")
    ].set_index("measure")
    ours = records.responders.set_index("measure")
    assert sorted(mine.index) == sorted(ours.index)
    for measure, row in ours.iterrows():
        assert mine.loc[measure, "baseline"] == pytest.approx(row["baseline"], rel=1e-9)
        assert mine.loc[measure, "reliable_change"] == row["reliable_change"]
        if not math.isnan(row["last"]):
            assert mine.loc[measure, "last"] == pytest.approx(row["last"], rel=1e-9)
    # tryptase before/after are stored lab values: the export (days since enrolment) has them
    export_tidy(cohort, tmp_path / "export")
    labs = pd.read_csv(tmp_path / "export" / "labs.csv")
    clients = pd.read_csv(tmp_path / "export" / "clients.csv")
    tryptase = ours.loc["tryptase"]
    candidates = labs.loc[
        (labs["analyte"] == "tryptase")
        & (labs["collected_day"] == round(tryptase["baseline_week"] * 7))
        & (labs["value"].round(6) == round(tryptase["baseline"], 6))
    ]
    assert len(candidates) >= 1
    assert len(clients) == len(codes(cohort))


def test_identifiers_and_dates_appear_in_no_output_of_two_case_reports(
    cohort: Store, consented: list[str], report_dir: Path, tmp_path: Path
) -> None:
    case_report(cohort, consented[1], tmp_path)
    for code, folder in ((consented[0], report_dir), (consented[1], tmp_path)):
        needles = identifiers(cohort, code)
        assert any("'" in n for n in needles) and any(not n.isascii() for n in needles)
        assert leaks(searchable_text(folder), needles) == []


def test_notes_only_with_include_notes_and_then_in_the_check_before_sending_box(
    cohort: Store, tmp_path: Path
) -> None:
    code = codes(cohort)[9]
    add_consent(cohort, code, scope="case_report", consented_on=CONSENT_DAY)
    name = identifiers(cohort, code)[1]
    set_visit_note(cohort, code, f"spoke with {name} by phone")
    case_report(cohort, code, tmp_path / "plain")
    assert leaks(searchable_text(tmp_path / "plain"), [name]) == []
    case_report(cohort, code, tmp_path / "notes", include_notes=True)
    found = leaks(searchable_text(tmp_path / "notes"), [name])
    assert sorted(f.split(" in ")[1] for f in found) == ["case-report.html", "case-report.pdf"]
    text = " ".join(pdf_text(tmp_path / "notes" / "case-report.pdf").split())
    box = text.index("Check before sending")
    assert text.index(name) > box


def test_html_only_format_writes_no_pdf(
    cohort: Store, consented: list[str], tmp_path: Path
) -> None:
    files = case_report(cohort, consented[0], tmp_path, formats="html")
    assert "case-report.html" in files and "case-report.pdf" not in files
    assert not (tmp_path / "case-report.pdf").exists()
    with pytest.raises(InputError):
        case_report(cohort, consented[0], tmp_path / "x", formats="docx")


# -- cohort pack ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack(cohort: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pack")
    return cohort_pack(
        cohort,
        out / "article",
        analysis_dir=out / "analysis",
        max_fit_clients=2,
        n_bootstrap=20,
        model_orders=False,
    )


def test_cohort_pack_writes_tables_figures_methods_checklist_and_article(
    pack: dict[str, Path],
) -> None:
    folder = pack["article.html"].parent
    table1 = pd.read_csv(folder / "table1.csv")
    assert {"characteristic", "group", "n", "missing", "value"} <= set(table1.columns)
    assert "overall" in set(table1["group"])
    assert (table1["n"] + table1["missing"]).ge(0).all()
    clients = table1.loc[(table1["characteristic"] == "clients") & (table1["group"] == "overall")]
    assert int(clients["value"].iloc[0]) == 20
    outcomes = pd.read_csv(folder / "outcomes.csv")
    assert {"improved", "worsened", "week_effect", "week_ci_low", "week_ci_high"} <= set(
        outcomes.columns
    )
    assert (pd.read_csv(folder / "marker_order.csv")["scope"] == "cohort").any()
    assert len(pd.read_csv(folder / "variant_comparison.csv")) >= 1
    assert any(n.endswith(".svg") for n in pack) and any(n.endswith(".png") for n in pack)
    methods = (folder / "methods.md").read_text(encoding="utf-8")
    for fact in ("rulebook 1.", "sha256", "Seed 0", "statsmodels", "mechanistic model version"):
        assert fact in methods, fact
    checklist = pd.read_csv(folder / "reporting-checklist.csv")
    assert len(checklist) == 22 and checklist["where"].notna().all()
    first_page = pdf_text(folder / "article.pdf", "-l", "1")
    assert "SYNTHETIC" in first_page
    assert (pack["analysis/summary.md"]).is_file()


def test_cohort_pack_names_no_client_and_no_date(cohort: Store, pack: dict[str, Path]) -> None:
    folder = pack["article.html"].parent
    texts = searchable_text(folder)
    needles = [n for code in codes(cohort) for n in identifiers(cohort, code)]
    assert leaks(texts, needles) == []


def test_a_red_flag_client_report_opens_with_the_referral_and_stays_de_identified(
    cohort: Store, tmp_path: Path
) -> None:
    code = codes(cohort)[10]
    cohort.add_one(
        "findings",
        {"client_code": code, "field": "kit_d816v", "value": "positive", "date": "2025-01-01"},
    )
    add_consent(cohort, code, scope="case_report", consented_on=CONSENT_DAY)
    case_report(cohort, code, tmp_path)
    first = pdf_text(tmp_path / "case-report.pdf", "-l", "1").lstrip()
    assert first.startswith("REFER FOR SPECIALIST WORK-UP"), first[:200]
    assert leaks(searchable_text(tmp_path), identifiers(cohort, code)) == []
