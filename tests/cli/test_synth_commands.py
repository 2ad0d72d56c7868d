"""hostcap synth cohort: the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostcap.cli.main import main


def test_synth_cohort_writes_the_store_and_the_truth_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = tmp_path / "truth" / "cohort.json"
    rc = main(
        [
            "synth",
            "cohort",
            "--n",
            "6",
            "--seed",
            "4",
            "--weeks",
            "4",
            "--effect-scale",
            "0.5",
            "--database",
            f"sqlite:///{tmp_path / 'store.sqlite'}",
            "--truth-out",
            str(truth),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["n_clients"] == 6
    assert summary["effect_scale"] == 0.5
    assert summary["truth"] == str(truth)
    assert "SYNTHETIC" in captured.err
    body = json.loads(truth.read_text(encoding="utf-8"))
    assert body["meta"]["effect_scale"] == 0.5


def test_synth_cohort_bad_options_exit_2_naming_each_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "never.sqlite"
    rc = main(
        [
            "synth",
            "cohort",
            "--n",
            "0",
            "--variant",
            "astral",
            "--effect-scale",
            "-1",
            "--database",
            f"sqlite:///{db}",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "--n: got 0; expected a whole number of clients from 1 to 20000" in err
    assert "--variant: got 'astral'" in err
    assert "--effect-scale: got -1.0" in err
    assert not db.exists()
