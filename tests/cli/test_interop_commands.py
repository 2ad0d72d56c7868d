"""``hostcap fhir`` and ``hostcap redcap`` through the command line, as a person runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.services.redcap_fake import TOKEN, FakeProject, running

from hostcap.cli.main import main

CODE = "CLI-IO-1"


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    d = ["--database", f"sqlite:///{tmp_path / 'cli.sqlite'}"]
    assert main(["init", *d]) == 0
    assert main(["client", "add", CODE, "--sex", "female", "--birth-year", "1985", *d]) == 0
    lab = ["lab", "add", CODE, "--analyte", "tryptase", "--value", "7.5", "--unit", "ug/L"]
    assert main([*lab, "--collected", "2026-01-05T09:00", "--context", "baseline", *d]) == 0
    assert main(["visit", "add", CODE, "--date", "2026-01-05", "--notes", "Jane Roe", *d]) == 0
    return d


def _other(tmp_path: Path, name: str) -> list[str]:
    d = ["--database", f"sqlite:///{tmp_path / name}.sqlite"]
    assert main(["init", *d]) == 0
    return d


def test_fhir_export_and_import_through_the_cli(
    db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bundle.json"
    assert main(["fhir", "export", "--out", str(out), "--client", CODE, *db]) == 0
    assert "de-identified FHIR bundle" in capsys.readouterr().out
    text = out.read_text()
    assert CODE not in text and "Jane Roe" not in text
    other = _other(tmp_path, "other")
    assert main(["fhir", "import", str(out), "--dry-run", *other]) == 0
    assert "Nothing was written" in capsys.readouterr().out
    assert main(["fhir", "import", str(out), *other]) == 0
    assert "added clients 1, visits 1, labs 1" in capsys.readouterr().out
    assert main(["fhir", "import", str(out), *other]) == 0
    assert "added clients 0, visits 0, labs 0" in capsys.readouterr().out


def test_identified_exports_need_yes_without_a_terminal(
    db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "id.json"
    assert main(["fhir", "export", "--out", str(out), "--identified", *db]) != 0
    assert "--yes" in capsys.readouterr().err and not out.exists()
    assert main(["fhir", "export", "--out", str(out), "--identified", "--yes", *db]) == 0
    resources = [e["resource"] for e in json.loads(out.read_text())["entry"]]
    assert resources[0]["identifier"][0]["value"] == CODE
    assert out.stat().st_mode & 0o077 == 0
    records = tmp_path / "id.csv"
    assert main(["redcap", "export", "--out", str(records), "--identified", *db]) != 0
    capsys.readouterr()


def test_a_bad_bundle_is_one_error_line_and_a_non_zero_exit(
    db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["fhir", "import", str(bad), *db]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_redcap_dictionary_export_and_import_through_the_cli(
    db: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dictionary, records = tmp_path / "dd.csv", tmp_path / "r.csv"
    assert main(["redcap", "dictionary", "--out", str(dictionary)]) == 0
    assert main(["redcap", "export", "--out", str(records), "--type", "eav", *db]) == 0
    other = _other(tmp_path, "other")
    args = ["redcap", "import", str(records), "--dictionary", str(dictionary), *other]
    assert main(args) == 0
    assert "added clients 1, visits 1, labs 1" in capsys.readouterr().out


def test_redcap_push_and_pull_through_the_cli(
    db: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDCAP_TEST_TOKEN", TOKEN)
    with running(FakeProject()) as url:
        push = ["redcap", "push", "--url", url, "--token-env", "REDCAP_TEST_TOKEN"]
        assert main([*push, *db]) == 0
        assert "pushed de-identified records" in capsys.readouterr().out
        pull = ["redcap", "pull", "--url", url, "--token-env", "REDCAP_TEST_TOKEN"]
        assert main([*pull, *_other(tmp_path, "pulled")]) == 0
    assert "added clients 1, visits 1, labs 1" in capsys.readouterr().out
