"""Files through the real command line (a subprocess, as a person runs it): every refusal is
one line on stderr and a non-zero exit, never a traceback, and nothing is overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import hostcap

SRC = str(Path(hostcap.__file__).resolve().parent.parent)
NOTE = "Jane Smith, ph 555-0100"
CODE = "JaneSmith-1985-03-12"


def hostcap_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=SRC)
    env.pop("HOSTCAP_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "from hostcap.cli.main import run; run()", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def refused(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def db(tmp_path: Path) -> list[str]:
    d = ["--database", f"sqlite:///{tmp_path / 'store.sqlite'}"]
    for args in (
        ["init"],
        ["client", "add", CODE, "--sex", "female", "--birth-year", "1985"],
        ["visit", "add", CODE, "--date", "2026-01-05", "--notes", NOTE],
    ):
        done = hostcap_cli(*args, *d, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    return d


def test_exports_through_the_cli_keep_notes_and_codes_in_unless_asked(
    db: list[str], tmp_path: Path
) -> None:
    assert hostcap_cli("export", "--out", "plain", *db, cwd=tmp_path).returncode == 0
    text = "".join(p.read_text() for p in (tmp_path / "plain").iterdir())
    assert NOTE not in text and CODE not in text
    refused(hostcap_cli("export", "--out", "plain", *db, cwd=tmp_path), "already exists")
    done = hostcap_cli("export", "--out", "notes", "--include-free-text", *db, cwd=tmp_path)
    assert done.returncode == 0 and "review" in done.stderr
    assert NOTE in (tmp_path / "notes" / "visits.csv").read_text()


def test_identified_export_needs_yes_without_a_terminal_and_its_own_folder(
    db: list[str], tmp_path: Path
) -> None:
    refused(hostcap_cli("export", "--out", "id", "--identified", *db, cwd=tmp_path), "--yes")
    assert not (tmp_path / "id").exists()
    assert hostcap_cli("export", "--out", "plain", *db, cwd=tmp_path).returncode == 0
    refused(
        hostcap_cli(
            "export", "--out", "plain", "--identified", "--yes", "--force", *db, cwd=tmp_path
        ),
        "holds a de-identified export",
    )
    done = hostcap_cli("export", "--out", "id", "--identified", "--yes", *db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert CODE in (tmp_path / "id" / "pseudonyms.csv").read_text()


def test_a_planted_link_and_unwritable_paths_are_refused_in_one_line(
    db: list[str], tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "trap").mkdir()
    (tmp_path / "trap" / "labs.csv").symlink_to(victim)
    refused(hostcap_cli("export", "--out", "trap", *db, cwd=tmp_path), "symbolic link")
    refused(hostcap_cli("export", "--out", "trap", "--force", *db, cwd=tmp_path), "symbolic link")
    assert victim.read_text() == "precious\n"
    (tmp_path / "afile").write_text("")
    refused(hostcap_cli("export", "--out", "afile/sub", *db, cwd=tmp_path), "afile")
    refused(hostcap_cli("backup", "afile/sub/b.sqlite", *db, cwd=tmp_path), "afile")
    refused(hostcap_cli("export", "--out", "afile", *db, cwd=tmp_path), "not a folder")


def test_backup_refuses_links_and_existing_files_and_writes_0600(
    db: list[str], tmp_path: Path
) -> None:
    (tmp_path / "dangling.sqlite").symlink_to(tmp_path / "elsewhere.sqlite")
    refused(hostcap_cli("backup", "dangling.sqlite", *db, cwd=tmp_path), "symbolic link")
    assert not (tmp_path / "elsewhere.sqlite").exists()
    assert hostcap_cli("backup", "b.sqlite", *db, cwd=tmp_path).returncode == 0
    assert (tmp_path / "b.sqlite").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "store.sqlite").stat().st_mode & 0o777 == 0o600
    refused(hostcap_cli("backup", "b.sqlite", *db, cwd=tmp_path), "already exists", "--force")
    assert hostcap_cli("backup", "b.sqlite", "--force", *db, cwd=tmp_path).returncode == 0


def test_restore_through_the_cli_refuses_bad_backups_and_swaps_good_ones(
    db: list[str], tmp_path: Path
) -> None:
    assert hostcap_cli("backup", "b.sqlite", *db, cwd=tmp_path).returncode == 0
    (tmp_path / "junk.sqlite").write_bytes(b"\x00garbage" * 1000)
    before = (tmp_path / "store.sqlite").read_bytes()
    refused(hostcap_cli("restore", "junk.sqlite", "--force", *db, cwd=tmp_path), "not a readable")
    refused(hostcap_cli("restore", "missing.sqlite", "--force", *db, cwd=tmp_path), "missing")
    refused(hostcap_cli("restore", "b.sqlite", *db, cwd=tmp_path), "--force")
    assert (tmp_path / "store.sqlite").read_bytes() == before
    pg = ["--database", "postgresql://nobody@127.0.0.1:1/none"]
    refused(hostcap_cli("restore", "b.sqlite", *pg, cwd=tmp_path), "pg_restore")
    done = hostcap_cli("restore", "b.sqlite", "--force", *db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "previous store kept" in done.stdout
    kept = [
        p
        for p in tmp_path.glob("store.sqlite.before-restore-*")
        if not p.name.endswith((".audit-key", ".head", ".lock"))
    ]
    assert len(kept) == 1
    verify = hostcap_cli("audit", "--verify", *db, cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_folder_given_as_the_sqlite_file_is_one_line(tmp_path: Path) -> None:
    refused(hostcap_cli("init", "--database", f"sqlite:///{tmp_path}", cwd=tmp_path), "folder")


def test_model_outputs_are_not_overwritten_without_force(tmp_path: Path) -> None:
    (tmp_path / "model.xml").write_text("mine")
    refused(hostcap_cli("model", "export", "-o", "model.xml", cwd=tmp_path), "--force")
    assert (tmp_path / "model.xml").read_text() == "mine"
    done = hostcap_cli("model", "export", "-o", "model.xml", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "model.xml").read_text().startswith("<?xml")


def _on_terminal(answer: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run with stdin on a pseudo-terminal that has ``answer`` typed into it."""
    controller, terminal = os.openpty()
    try:
        os.write(controller, answer.encode())
        env = dict(os.environ, PYTHONPATH=SRC)
        return subprocess.run(
            [sys.executable, "-c", "from hostcap.cli.main import run; run()", *args],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=cwd,
            env=env,
            stdin=terminal,
        )
    finally:
        os.close(terminal)
        os.close(controller)


def test_identified_export_asks_on_a_terminal_and_writes_nothing_on_no(
    db: list[str], tmp_path: Path
) -> None:
    done = _on_terminal("n\n", "export", "--out", "id", "--identified", *db, cwd=tmp_path)
    assert done.returncode != 0 and "IDENTIFIED" in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "id").exists()
    done = _on_terminal("y\n", "export", "--out", "id", "--identified", *db, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "id" / "pseudonyms.csv").exists()
