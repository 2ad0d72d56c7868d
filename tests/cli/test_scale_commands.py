"""hostcap population / sensitivity / fit: the CLI output contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import roadrunner

from hostcap.cli.main import main
from hostcap.mechanistic_model import protocol_from_yaml, to_sbml

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_FILE = ROOT / "examples" / "protocols" / "phenotype-a-gut-first.yaml"


def test_population_writes_bands_members_and_rerunnable_params(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pop.parquet"
    params = tmp_path / "params.csv"
    rc = main(
        [
            "population",
            "--variant",
            "essay",
            "--phenotype",
            "A",
            "--protocol",
            str(PROTOCOL_FILE),
            "--n",
            "6",
            "--seed",
            "1",
            "--weeks",
            "4",
            "--out",
            str(out),
            "--params-out",
            str(params),
            "--full",
            "--chunk-size",
            "4",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert '"members": 6' in capsys.readouterr().out
    bands = pd.read_parquet(out)
    assert list(bands.columns) == ["time_h", "name", "quantile", "value"]
    assert sorted(bands["quantile"].unique()) == [0.05, 0.25, 0.5, 0.75, 0.95]
    assert bands["time_h"].nunique() == 29
    assert {"producers", "mc_threshold", "symptom_load", "tryptase_serum"} <= set(bands["name"])
    members = pd.read_parquet(tmp_path / "pop-members.parquet")
    assert list(members.columns) == ["member", "time_h", "name", "value"]
    assert members["member"].nunique() == 6
    table = pd.read_csv(params)
    assert table.columns[0] == "member" and len(table) == 6

    # Any member re-runs in libRoadRunner from the exported SBML and params.csv.
    protocol = protocol_from_yaml(PROTOCOL_FILE.read_text(encoding="utf-8"))
    sbml = to_sbml("essay", "A", protocol, weeks=4)
    times = np.arange(0.0, 4 * 168.0 + 1e-9, 24.0)
    for member in (0, 4):
        rr = roadrunner.RoadRunner(sbml)
        rr.integrator.relative_tolerance = 1e-10
        rr.integrator.absolute_tolerance = 1e-12
        row = table[table["member"] == member].iloc[0]
        # Initial amounts first: setting an init() value re-initialises global parameters.
        for sid in rr.model.getFloatingSpeciesIds():
            rr.setValue(f"init({sid})", float(row[sid]))
        for pid in rr.model.getGlobalParameterIds():
            if pid in table.columns:
                rr.setValue(pid, float(row[pid]))
        result = rr.simulate(
            times=times.tolist(), selections=["time", "[mc_threshold]", "symptom_load"]
        )
        ours = members[(members["member"] == member) & (members["name"] == "mc_threshold")]
        ours = ours.sort_values("time_h")["value"].to_numpy()
        theirs = np.asarray(result[:, 1])
        assert np.max(np.abs(theirs - ours) / np.abs(theirs)) < 1e-4
