"""The main job (``make run``) ends by writing the article pack and one case report."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hostcap.services.main_job import MainJobOptions, MainJobResult, run_research_loop


def test_research_loop_writes_the_article_pack_and_a_case_report(tmp_path: Path) -> None:
    result = MainJobResult()
    options = MainJobOptions(cohort_size=20, seed=2, max_fit_clients=0, n_bootstrap=20)
    said: list[str] = []
    run_research_loop(
        f"sqlite:///{tmp_path / 'cohort.sqlite'}", tmp_path, options, result, said.append
    )
    assert result.analysis["summary.md"] == tmp_path / "analysis" / "summary.md"
    assert result.article["article.pdf"].is_file()
    assert result.case_report["case-report.pdf"].is_file()
    assert result.case_report_code
    first_page = subprocess.run(
        ["pdftotext", "-l", "1", str(result.case_report["case-report.pdf"]), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "SYNTHETIC" in first_page and result.case_report_code not in first_page
    assert {"analyse", "case_report"} <= set(result.seconds)
