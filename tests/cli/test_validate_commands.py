"""hostcap validate literature: the exact CSV, a matching summary, figures, no overwrite."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hostcap.cli.main import main

HEADER = (
    "result_id,source,measure,split,published,published_low,published_high,variant,model,verdict"
)


def test_validate_literature_writes_the_exact_csv_a_consistent_summary_and_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "val"
    rc = main(["validate", "literature", "--variant", "essay", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.startswith("HYPOTHESIS")
    assert "held_out essay:" in captured.out
    csv_path = out / "validation.csv"
    assert csv_path.read_text().splitlines()[0] == HEADER
    frame = pd.read_csv(csv_path)
    assert set(frame["variant"]) == {"essay"}
    assert frame["result_id"].is_unique
    conze = frame.set_index("result_id").loc["conze2019_nr300_day14"]
    assert conze["published"] == 51.0 and 40 < conze["model"] < 70
    summary = json.loads((out / "summary.json").read_text())
    counts = frame["verdict"].value_counts().to_dict()
    assert {k: v for k, v in summary["counts"]["verdict"].items() if v} == counts
    assert summary["counts"]["variant"]["essay"] == summary["counts"]["verdict"]
    held = frame[frame["split"] == "held_out"]
    decidable = held[held["verdict"] != "undecidable"]
    perf = summary["performance"]["held_out"]["essay"]
    assert perf["decidable"] == len(decidable)
    assert perf["within"] == int((decidable["verdict"] == "within").sum())
    assert perf["within_2x_pct"] == pytest.approx(
        100 * decidable["verdict"].isin(["within", "within_2x"]).mean(), abs=0.05
    )
    figures = sorted((out / "figures").glob("*.png"))
    assert {p.stem for p in figures} >= {"nad_precursor", "scfa_butyrate", "tryptase_level"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in figures)


def test_validate_literature_refuses_a_non_empty_directory_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "val"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc = main(["validate", "literature", "--variant", "null", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "not empty" in err and "--force" in err
    assert not (out / "validation.csv").exists()
    rc = main(["validate", "literature", "--variant", "null", "--out", str(out), "--force"])
    assert rc == 0, capsys.readouterr().err
    assert (out / "validation.csv").exists() and (out / "keep.txt").read_text() == "mine"


def test_validate_literature_names_an_unknown_variant_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["validate", "literature", "--variant", "nope", "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unknown model variant 'nope'" in err and "Traceback" not in err
    assert not (tmp_path / "v").exists()


def test_validate_calibrate_writes_fitted_values_profiles_and_a_petab_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cal"
    args = ["validate", "calibrate", "--parameter", "tryp_event_max", "--profile-points", "3"]
    rc = main([*args, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.startswith("HYPOTHESIS")
    assert "tryp_event_max = " in captured.out and "held-out results left out" in captured.out
    report = json.loads((out / "calibration.json").read_text())
    (param,) = report["parameters"]
    assert param["id"] == "tryp_event_max"
    assert param["range"][0] <= param["fitted"] <= param["range"][1]
    assert param["results"] == ["salacunill2013_acute_tryptase_1to2h"]
    residuals = pd.read_csv(out / "residuals.csv")
    assert "schwartz1987_anaphylaxis_tryptase" not in set(residuals["result_id"])  # held out
    params = pd.read_csv(out / "petab" / "parameters.tsv", sep="\t")
    assert list(params["parameterId"]) == ["tryp_event_max"]
    assert (out / "petab" / "model.xml").read_text().startswith("<?xml")
    assert main([*args, "--out", str(out)]) == 2  # not empty, no --force
    assert "not empty" in capsys.readouterr().err


def test_design_discriminate_ranks_a_protocol_file_and_writes_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = tmp_path / "nr.yaml"
    protocol.write_text(
        "id: nr_8w\nphases:\n  - id: nr\n    start_week: 0\n"
        "    interventions: [{id: nicotinamide_riboside, dose: 1000}]\n"
    )
    out = tmp_path / "design"
    args = ["design", "discriminate", "--variants", "essay,null", "--protocol", str(protocol)]
    args += ["--measure", "symptom_load", "--measure", "tryptase_serum", "--weeks", "8"]
    rc = main([*args, "--members", "20", "--n-clients", "8", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.startswith("HYPOTHESIS")
    assert "4 designs ranked" in captured.out and "1. nr_8w," in captured.out
    ranking = pd.read_csv(out / "discrimination.csv")
    assert len(ranking) == 4 and set(ranking["protocol"]) == {"nr_8w"}
    assert {"mean_essay", "mean_null", "clients_essay_vs_null"} <= set(ranking.columns)
    rc = main(["design", "discriminate", "--variants", "essay", "--members", "10"])
    err = capsys.readouterr().err
    assert rc != 0 and "two or more variants" in err
