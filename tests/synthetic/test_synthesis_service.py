"""synthesize_cohort: writes through the validated store, all or nothing, reproducibly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hostcap.clinical_store import Store
from hostcap.errors import ValidationError
from hostcap.services.store import export_store
from hostcap.services.synthesis import load_truth, synthesize_cohort


def _export(url: str, out: Path) -> dict[str, pd.DataFrame]:
    """Every CSV of an export, pseudonyms (random per export) mapped back to client codes."""
    store = Store(url)
    try:
        paths = export_store(store, out, identified=True)
    finally:
        store.dispose()
    mapping = pd.read_csv(out / "pseudonyms.csv")
    codes = dict(zip(mapping["client_pseudonym"], mapping["client_code"], strict=True))
    frames = {}
    for path in paths:
        if path.suffix != ".csv" or path.name == "pseudonyms.csv":
            continue
        frame = pd.read_csv(path)
        frame["client_pseudonym"] = frame["client_pseudonym"].map(codes)
        frames[path.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


def test_same_seed_into_two_databases_gives_identical_exports(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / f'db{i}.sqlite'}" for i in (1, 2)]
    for i, url in enumerate(urls):
        synthesize_cohort(url, 8, 11, weeks=6, truth_out=tmp_path / f"truth{i}.json")
    first, second = (_export(u, tmp_path / f"export{i}") for i, u in enumerate(urls))
    assert first.keys() == second.keys()
    assert len(first) >= 8
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], obj=name)
    assert (tmp_path / "truth0.json").read_bytes() == (tmp_path / "truth1.json").read_bytes()


def test_summary_truth_file_and_store_agree(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    summary = synthesize_cohort(url, 10, 3, weeks=8)
    truth_path = tmp_path / "synthetic-truth-seed3.json"
    assert summary["truth"] == str(truth_path.resolve())
    truth = load_truth(truth_path)
    assert truth["meta"]["seed"] == 3 and truth["meta"]["variant"] == "essay"
    assert len(truth["clients"]) == 10
    assert set(truth["clients"]["client_code"]) == set(truth["parameters"]["client_code"])
    store = Store(url)
    counts = store.row_counts()
    clients = store.list_clients()
    enrolments = store.enrolments(str(clients[0]["code"]))
    audit = store.verify_audit()
    store.dispose()
    assert audit.ok
    assert len(clients) == 10 and all(c["demo"] for c in clients)
    for kind, rows in summary["rows"].items():
        assert rows > 0, kind
    assert counts["lab_results"] == summary["rows"]["labs"]
    assert enrolments[0]["protocol"].startswith("protocol.")
    assert len(enrolments[0]["phases"]) >= 2


def test_existing_client_codes_give_a_clear_error_and_leave_the_store_unchanged(
    store_url: str, tmp_path: Path
) -> None:
    synthesize_cohort(store_url, 4, 5, weeks=4, truth_out=tmp_path / "truth.json")
    store = Store(store_url)
    assert len(store.enrolments("SYN5-00001")) == 1
    before = store.row_counts()
    audit_before = store.verify_audit().entries
    with pytest.raises(ValidationError) as info:
        synthesize_cohort(store, 6, 5, weeks=4)
    assert info.value.issues[0].location == "client_code"
    assert "SYN5-00001" in str(info.value)
    assert "Nothing was written" in str(info.value)
    assert store.row_counts() == before
    assert store.verify_audit().entries == audit_before
    store.dispose()


def test_bad_options_are_refused_before_the_store_is_touched(tmp_path: Path) -> None:
    path = tmp_path / "never.sqlite"
    with pytest.raises(ValidationError) as info:
        synthesize_cohort(f"sqlite:///{path}", 0, 1, variant="nope", effect_scale=-1)
    assert [i.location for i in info.value.issues] == ["--n", "--variant", "--effect-scale"]
    assert not path.exists()
