"""The CLI contract: hostcap simulate, hostcap model export, hostcap model card."""

from __future__ import annotations

from pathlib import Path

import libsbml
import pandas as pd
import pytest

from hostcap.cli.main import main
from hostcap.mechanistic_model import compile_model, sbml_errors
from hostcap.services.modelling import EXAMPLE_PROTOCOLS_DIR, simulate_example_protocols

PROTOCOL_A = EXAMPLE_PROTOCOLS_DIR / "phenotype-a-gut-first.yaml"


def test_simulate_writes_a_tidy_csv_with_sbml_ids_and_a_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, plot = tmp_path / "traj.csv", tmp_path / "traj.png"
    args = ["simulate", "--variant", "essay", "--phenotype", "A", "--protocol", str(PROTOCOL_A)]
    rc = main([*args, "--weeks", "4", "--out", str(out), "--plot", str(plot)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert captured.out.startswith("HYPOTHESIS")
    assert "phenotype A" in captured.out and "success" in captured.out
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["time_h", "week", "name", "value", "unit"]
    assert sorted(set(frame["week"].round(6))) == pytest.approx([d / 7 for d in range(29)])
    m = compile_model("essay")
    assert set(m.state_ids) <= set(frame["name"])
    assert {"symptom_load", "tryptase_serum", "hs_crp"} <= set(frame["name"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_takes_the_phenotype_from_the_protocol_and_names_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.csv"
    rc = main(["simulate", "--protocol", str(PROTOCOL_A), "--weeks", "1", "--out", str(out)])
    assert rc == 0
    assert "phenotype A" in capsys.readouterr().out
    rc = main(["simulate", "--phenotype", "Q", "--weeks", "1", "--out", str(out)])
    assert rc == 2
    assert "'Q'" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "id: bad\nphases:\n  - id: a\n    start_week: 0\n    interventions:\n"
        "      - {id: unicorn_tears, dose: 1}\n      - {id: nicotinamide_riboside, dose: 1e6}\n"
    )
    rc = main(["simulate", "--protocol", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "unicorn_tears" in err and "1e+06 mg/d" in err and "bad.yaml" in err
    rc = main(["simulate", "--protocol", str(tmp_path / "none.yaml"), "--out", str(out)])
    assert rc == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["sbml", "antimony"])
def test_model_export_writes_valid_sbml_or_antimony_with_protocol_events(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / f"model.{fmt}"
    rc = main(
        [
            "model",
            "export",
            "--format",
            fmt,
            "--variant",
            "biochemical",
            "--phenotype",
            "A",
            "--protocol",
            str(PROTOCOL_A),
            "-o",
            str(target),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    text = target.read_text()
    if fmt == "sbml":
        assert sbml_errors(text) == []
        assert libsbml.readSBMLFromString(text).getModel().getNumEvents() == 2
    else:
        assert "model host_capacity_biochemical()" in text
        assert text.count(": at (time >= ") == 2
    assert "HYPOTHESIS" in capsys.readouterr().out


def test_model_card_writes_markdown_and_the_diagram_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = tmp_path / "model-card.md"
    assert main(["model", "card", "--out", str(card)]) == 0
    text = card.read_text()
    assert "HYPOTHESIS" in text.splitlines()[4]
    assert "](model-causal-diagram.png)" in text
    png = tmp_path / "model-causal-diagram.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert png.stat().st_size < 250_000  # 1.2.0: two more nodes (H1 metabolite), ~203 KB
    assert "wrote" in capsys.readouterr().out


def test_demo_hook_simulates_each_phenotype_under_its_example_protocol(tmp_path: Path) -> None:
    written = simulate_example_protocols(tmp_path / "demo", weeks=2)
    assert [p.name for p in written] == [
        "traj-A.csv",
        "traj-A.png",
        "traj-B.csv",
        "traj-B.png",
        "traj-C.csv",
        "traj-C.png",
    ]
    assert all(p.stat().st_size > 0 for p in written)


def test_simulate_shows_protocol_warnings_but_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    high = tmp_path / "high.yaml"
    high.write_text(
        "id: high\nphenotype: B\nphases:\n  - id: a\n    start_week: 0\n    interventions:\n"
        "      - {id: nicotinamide_riboside, dose: 2000}\n"
    )
    out = tmp_path / "t.csv"
    rc = main(["simulate", "--protocol", str(high), "--weeks", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0
    assert "warning:" in captured.err and "2000 mg/d" in captured.err
    assert "100-1000 mg/d" in captured.err
    assert out.exists()
