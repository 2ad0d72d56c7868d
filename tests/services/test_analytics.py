"""Cohort analysis service on a real SQLite store: frames from records, files, CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from tests.services.analytics_store import START, build_store

from hostcap.cli.main import main
from hostcap.clinical_store import Store
from hostcap.outcome_analytics import MIXED_MODEL_COLUMNS, VARIANT_COMPARISON_COLUMNS
from hostcap.services.analytics import (
    ANALYSIS_FILES,
    analyze_cohort,
    client_protocols,
    fit_candidates,
    fit_observations,
    load_cohort,
    model_predicted_orders,
)


@pytest.fixture(scope="module")
def cohort_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("analytics")
    return build_store(f"sqlite:///{folder / 'cohort.sqlite'}", n_clients=15, seed=0)


@pytest.fixture(scope="module")
def analysis(cohort_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One full analysis of the 15-client store (5 per phenotype, so each phenotype's observed
    order is laid beside the model variants' predictions), shared by the tests below."""
    out = tmp_path_factory.mktemp("analysis") / "out"
    analyze_cohort(cohort_store, out, n_bootstrap=30, max_fit_clients=0)
    return out


def _series(measurements: pd.DataFrame, client: str, measure: str) -> list[tuple[float, float]]:
    rows = measurements.loc[
        (measurements["client"] == client) & (measurements["measure"] == measure)
    ]
    return [(float(w), float(v)) for w, v in zip(rows["week"], rows["value"], strict=True)]


def test_frames_follow_the_documented_mapping_from_records(cohort_store: Store) -> None:
    frames = load_cohort(cohort_store)
    m, c = frames.measurements, frames.clients
    assert set(m["measure"]) == {
        "tryptase",
        "hs_crp",
        "symptom_load",
        "fss_mean",
        "antihistamine_ddd",
        "food_tolerance",
    }
    # Weeks are days since the enrolment start / 7; the acute tryptase (day 30) is left out.
    tryptase = _series(m, "S00", "tryptase")
    assert [w for w, _ in tryptase] == pytest.approx([-1.0, 2.0, 4.0, 8.0, 12.0])
    assert all(v < 25.0 for _, v in tryptase)
    assert any("acute" in note for note in frames.notes)
    # Cetirizine 20 mg/day = 2 DDD plus famotidine 40 mg/day = 1 DDD until day 40.
    ddd = dict(_series(m, "S00", "antihistamine_ddd"))
    assert ddd[-1.0] == pytest.approx(3.0)
    assert ddd[4.0] == pytest.approx(3.0)
    assert ddd[8.0] == pytest.approx(2.0)
    # Tomato not tolerated on day −10; egg tolerated on day 20; tomato tolerated on day 50.
    # The share uses each food's most recent trial: 0/1, then 1/2, then 2/2.
    food = _series(m, "S00", "food_tolerance")
    assert [w for w, _ in food] == pytest.approx([-10 / 7, 20 / 7, 50 / 7])
    assert [v for _, v in food] == pytest.approx([0.0, 0.5, 1.0])
    # Symptom load is the diary total (mean of six 0–10 ratings).
    assert all(0 <= v <= 10 for _, v in _series(m, "S00", "symptom_load"))
    # Protocol phases from the enrolment, in protocol order.
    assert set(m["phase"]) == {"0_before", "1_phase", "2_phase"}
    s00 = c.set_index("client").loc["S00"]
    assert s00["phenotype"] == "A" and s00["protocol"] == "essay_8_16"
    assert s00["age_years"] == START.year - 1980
    assert "baseline_ln_tryptase" in c.columns and "baseline_symptom_load" in c.columns


def test_clients_without_enrolment_are_left_out_and_counted(tmp_path: Path) -> None:
    store = build_store(f"sqlite:///{tmp_path / 's.sqlite'}", n_clients=3)
    store.add_client("LONE", sex="female", birth_year=1990)
    frames = load_cohort(store)
    assert "LONE" not in set(frames.clients["client"])
    assert any("1 client(s) without an enrolment" in note for note in frames.notes)


def test_analysis_writes_exactly_the_contract_files(analysis: Path) -> None:
    out = analysis
    for name in ANALYSIS_FILES:
        assert (out / name).is_file()
    top_level = {p.name for p in out.iterdir() if p.is_file()}
    assert top_level == set(ANALYSIS_FILES)
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"forest_mixed_models.png", "km_measures.png", "variant_comparison.png"} <= figures
    assert "spaghetti_tryptase.png" in figures and "km_tryptase.png" in figures

    responders = pd.read_csv(out / "responders.csv")
    assert list(responders.columns) == [
        "client",
        "measure",
        "baseline",
        "last",
        "change",
        "reliable_change",
        "responder",
    ]
    # Clients are named by fresh random pseudonyms (the store's codes never leave unasked).
    composite = responders.loc[responders["measure"] == "composite", "client"]
    assert len(set(composite)) == 15
    assert all(str(c).startswith("P-") for c in responders["client"])
    assert not any(str(c).startswith("S") for c in responders["client"])
    mixed = pd.read_csv(out / "mixed_models.csv")
    assert list(mixed.columns) == list(MIXED_MODEL_COLUMNS)
    assert {"tryptase", "symptom_load"} <= set(mixed["measure"])
    marker = pd.read_csv(out / "marker_order.csv")
    assert {"scope", "measure", "median_weeks", "rank", "rank_ci_low"} <= set(marker.columns)
    assert "cohort" in set(marker["scope"])

    # No fits requested: a header and a note, never numbers.
    variants = pd.read_csv(out / "variant_comparison.csv")
    assert list(variants.columns) == list(VARIANT_COMPARISON_COLUMNS)
    assert len(variants) == 1 and variants[["mean_error", "diff_vs_reference"]].isna().all(None)
    assert "not requested" in variants["note"].iloc[0]

    discovery = json.loads((out / "phenotype_discovery.json").read_text())
    assert "hypothesis" in discovery["hypothesis_note"]
    assert all(f.startswith("baseline_") for f in discovery["features"])

    summary = (out / "summary.md").read_text()
    assert "hypothesis labels" in summary
    assert "does **not** say the protocol caused it" in summary
    assert "no numbers" in summary
    assert "mixed_models.csv" in summary


def test_tryptase_slope_in_phenotype_a_is_recovered_from_the_store(analysis: Path) -> None:
    mixed = pd.read_csv(analysis / "mixed_models.csv").set_index(["measure", "term"])
    row = mixed.loc[("tryptase", "week")]
    # The store's tryptase falls by 4 %/week (ln scale −0.04) in A from week 0.
    assert row["ci_low"] <= -0.04 <= row["ci_high"]
    assert row["ci_high"] < 0


def test_cli_on_an_empty_store_writes_the_files_with_headers_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    store.init()
    out = tmp_path / "cli-out"
    args = ["analyze", "cohort", "--database", store.url, "--out", str(out), "--no-progress"]
    args += ["--max-fit-clients", "0"]
    rc = main(args)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"summary: {out / 'summary.md'}" in captured.out
    for name in ANALYSIS_FILES:
        assert (out / name).is_file() and name in captured.out
    assert "0 enrolled client(s)" in (out / "summary.md").read_text()
    assert list(pd.read_csv(out / "mixed_models.csv").columns) == list(MIXED_MODEL_COLUMNS)


def test_cli_refuses_a_bad_option_naming_it(
    cohort_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        [
            "analyze",
            "cohort",
            "--database",
            cohort_store.url,
            "--out",
            str(tmp_path),
            "--max-fit-clients",
            "-1",
        ]
    )
    captured = capsys.readouterr()
    assert rc != 0
    assert "--max-fit-clients" in captured.err


def test_cli_on_an_uninitialised_store_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(
        ["analyze", "cohort", "--database", f"sqlite:///{tmp_path / 'x.sqlite'}", "--out", "o"]
    )
    assert rc != 0
    assert "hostcap init" in capsys.readouterr().err


def test_each_model_variant_predicts_an_order_from_its_own_simulation() -> None:
    pytest.importorskip("hostcap.services.modelling", reason="example protocols not present")
    orders, note = model_predicted_orders("A")
    assert set(orders) == {"essay", "biochemical", "butyrate_direct", "null"}
    # The essay's chain lowers tryptase visibly in pattern A; the null model cannot.
    assert "tryptase" in orders["essay"]
    assert "tryptase" not in orders["null"]
    assert "example protocol" in note


def test_predicted_orders_sit_beside_the_observed_order(analysis: Path) -> None:
    marker = pd.read_csv(analysis / "marker_order.csv")
    summary = (analysis / "summary.md").read_text()
    assert {"cohort", "phenotype A", "phenotype B", "phenotype C"} <= set(marker["scope"])
    if "rank_essay" in marker.columns:
        a_rows = marker.loc[marker["scope"] == "phenotype A"]
        assert a_rows["rank_essay"].notna().any()
        assert marker.loc[marker["scope"] == "cohort", "rank_essay"].isna().all()
        assert "| A | essay |" in summary
    else:
        assert "no model predictions" in summary


def test_fitting_inputs_come_from_the_stored_records(cohort_store: Store) -> None:
    frames = load_cohort(cohort_store)
    chosen = fit_candidates(frames.measurements, frames.clients, max_clients=4, seed=3)
    assert len(chosen) == 4 and chosen == sorted(chosen)
    assert chosen == fit_candidates(frames.measurements, frames.clients, max_clients=4, seed=3)
    obs = fit_observations(frames.measurements, "S00")
    assert set(obs["measure"]) == {"tryptase_serum", "hs_crp", "symptom_load"}
    assert obs["time_h"].min() == 0.0  # the week −1 baseline is the t = 0 state
    assert obs["time_h"].max() == pytest.approx(12 * 168.0)
    protocol = client_protocols(cohort_store, frames.clients.iloc[:1])["S00"]
    doses = [(p.start_week, [(i.id, i.dose) for i in p.interventions]) for p in protocol.phases]
    assert doses == [
        (0.0, [("nicotinamide_riboside", 300.0)]),
        (4.0, [("nicotinamide_riboside", 600.0)]),
    ]
    assert protocol.phenotype == "A"


def test_variant_fits_give_the_same_errors_in_process_and_on_a_dask_cluster(
    cohort_store: Store, tmp_path: Path
) -> None:
    from hostcap.services.modelling_scale import local_scheduler

    def errors(scheduler: str | None, out: Path) -> pd.DataFrame:
        analyze_cohort(
            cohort_store, out, scheduler, n_bootstrap=20, max_fit_clients=2, model_orders=False
        )
        # "null" is a variant name here, not a missing value.
        return pd.read_csv(out / "variant_comparison.csv", keep_default_na=False, na_values=[""])

    local = errors(None, tmp_path / "local")
    assert set(local["variant"]) == {"essay", "biochemical", "butyrate_direct", "null"}
    assert (local["n_clients"] == 2).all()
    assert local["mean_error"].gt(0).all()
    with local_scheduler(2) as address:
        distributed = errors(address, tmp_path / "dask")
    pd.testing.assert_frame_equal(local, distributed)


def test_identified_analysis_names_clients_by_code_and_is_audited(
    cohort_store: Store, tmp_path: Path
) -> None:
    out = tmp_path / "identified"
    analyze_cohort(
        cohort_store, out, n_bootstrap=20, max_fit_clients=0, model_orders=False, identified=True
    )
    responders = pd.read_csv(out / "responders.csv")
    composite = set(responders.loc[responders["measure"] == "composite", "client"])
    assert composite == {f"S{i:02d}" for i in range(15)}
    actions = [(e["action"], e["entity"]) for e in cohort_store.audit_entries()]
    assert ("export_identified", "analysis") in actions
    assert cohort_store.verify_audit().ok
