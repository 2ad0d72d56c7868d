"""output_files: no overwrite without force, no link followed, atomic, private when asked."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from hostcap.errors import InputError
from hostcap.output_files import (
    check_output_file,
    output_folder,
    staged_file,
    write_csv,
    write_text,
    writing,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_written_and_an_existing_one_only_with_force(tmp_path: Path) -> None:
    path = write_text(tmp_path / "a.txt", "one", force=False)
    with pytest.raises(InputError, match=r"'.*a\.txt' already exists; expected .*--force"):
        write_text(path, "two", force=False)
    assert path.read_text() == "one"
    write_text(path, "two", force=True)
    assert path.read_text() == "two"


def test_a_link_is_refused_even_with_force_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("keep")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere.csv")
    for path in (link, dangling):
        for force in (False, True):
            with pytest.raises(InputError, match="symbolic link"):
                write_csv(pd.DataFrame({"a": [1]}), path, force=force)
    assert target.read_text() == "keep" and not (tmp_path / "nowhere.csv").exists()


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        private = write_text(tmp_path / "p.txt", "x", force=False, private=True)
        public = write_text(tmp_path / "q.txt", "x", force=False)
    finally:
        os.umask(old)
    assert _mode(private) == 0o600
    assert _mode(public) == 0o666


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "a.txt", "old", force=False)
    with pytest.raises(RuntimeError), writing(path, force=True) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_file_that_appears_during_the_write_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "race.txt"
    with pytest.raises(InputError, match="already exists"), staged_file(path, force=False) as tmp:
        tmp.write_text("mine")
        path.write_text("theirs")
    assert path.read_text() == "theirs"


def test_folders_missing_unwritable_or_given_as_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        check_output_file(tmp_path / "no" / "a.csv", force=False)
    with pytest.raises(InputError, match="is a folder"):
        check_output_file(tmp_path, force=True)
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match="is a file, not a folder"):
        output_folder(tmp_path / "f")
    made = output_folder(tmp_path / "new" / "deep")
    assert made.is_dir()
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(InputError, match="not writable"):
            check_output_file(locked / "a.csv", force=False)
