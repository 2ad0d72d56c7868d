"""Writing output files safely: the one place every hostcap command writes a file through.

Four promises, kept here once instead of at each ``to_csv``/``savefig``/``write_text``:

- **No silent overwrite.** An existing file is replaced only with ``force=True`` (``--force``).
- **No symbolic link followed.** A link at the target (dangling or not) is refused, and files
  are created with ``O_NOFOLLOW | O_EXCL``, so a link planted at ``export/labs.csv`` never
  redirects a write and its target stays untouched.
- **Atomic.** Data go to a temporary file in the same folder, which is renamed over the target
  only when complete (``os.link`` when not forcing, so a file that appeared meanwhile is not
  clobbered either); a failed write leaves the old file, or none.
- **Private when asked.** ``private=True`` (databases, backups, identified exports) creates the
  file with mode 0600 whatever the umask; other files get the usual ``0666 & ~umask``.

A person's mistake (a missing or unwritable folder, a folder given as a file, an existing file
without ``--force``, a link) raises :class:`~hostcap.errors.InputError` with a one-line message
naming the option, the path and what was expected; operating-system errors while writing are
translated the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hostcap.errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "PRIVATE_MODE",
    "check_output_file",
    "make_private",
    "output_folder",
    "save_figure",
    "staged_file",
    "write_csv",
    "write_parquet",
    "write_text",
    "writing",
]

PRIVATE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _refuse(option: str, path: Path, problem: str, expected: str) -> InputError:
    return InputError(
        f"{option} {str(path)!r} {problem}; expected {expected}",
        field=option,
        value=str(path),
        expected=expected,
    )


def _lstat(path: Path, option: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        problem = "lies below a file, not a folder"
        raise _refuse(option, path, problem, "a path inside folders") from None
    except OSError as exc:
        problem = f"cannot be inspected ({exc.strerror})"
        raise _refuse(option, path, problem, "a usable path") from None


def _check_target(path: Path, *, force: bool, option: str) -> None:
    info = _lstat(path, option)
    if info is None:
        return
    if stat.S_ISLNK(info.st_mode):
        dangling = "" if path.exists() else " (dangling)"
        raise _refuse(
            option,
            path,
            f"is a symbolic link{dangling}; hostcap never writes through a link",
            "a plain file path (remove the link or choose another path)",
        )
    if stat.S_ISDIR(info.st_mode):
        raise _refuse(option, path, "is a folder", "a file path")
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(option, path, "is not a regular file", "a plain file path")
    if not force:
        raise _refuse(option, path, "already exists", "a new path, or --force to replace the file")


def _check_folder(folder: Path, option: str, path: Path) -> None:
    if not folder.is_dir():
        raise _refuse(
            option,
            path,
            f"is in folder {str(folder)!r}, which does not exist",
            "an existing folder",
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refuse(
            option,
            path,
            f"is in folder {str(folder)!r}, which is not writable",
            "a writable folder",
        )


def check_output_file(
    path: Path, *, force: bool, option: str = "--out", make_parents: bool = False
) -> Path:
    """Refuse ``path`` as an output before any work is done; returns it as a ``Path``.

    Raises
    ------
    InputError
        For a symbolic link, a folder, an existing file without ``force``, or a folder that is
        missing (unless ``make_parents``) or not writable.
    """
    path = Path(path).expanduser()
    _check_target(path, force=force, option=option)
    if make_parents:
        output_folder(path.parent, option=option)
    _check_folder(path.parent, option, path)
    return path


def output_folder(folder: Path, *, option: str = "--out") -> Path:
    """Create ``folder`` (and parents) if missing; refuse a link, a file, or no write access."""
    folder = Path(folder).expanduser()
    info = _lstat(folder, option)
    if info is not None and stat.S_ISLNK(info.st_mode):
        raise _refuse(
            option,
            folder,
            "is a symbolic link; hostcap never writes through a link",
            "a real folder (remove the link or choose another folder)",
        )
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise _refuse(option, folder, "is a file, not a folder", "a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _refuse(
            option, folder, f"cannot be created ({exc.strerror})", "a folder that can be created"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _refuse(option, folder, "is not writable", "a writable folder")
    return folder


def make_private(path: Path) -> None:
    """Set ``path`` to mode 0600 (never following a link)."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)


def _create_temp(path: Path, *, private: bool) -> tuple[int, Path]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, PRIVATE_MODE if private else 0o666)
        except FileExistsError:
            continue
        if private:
            os.fchmod(fd, PRIVATE_MODE)  # the umask may have taken bits off, never added
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path))  # pragma: no cover


def _install(tmp: Path, path: Path, *, force: bool, option: str) -> None:
    """Move the finished temporary file to ``path`` (checked again: the race is real)."""
    _check_target(path, force=force, option=option)
    if force:
        tmp.replace(path)  # rename replaces a link itself, never its target
        return
    try:
        os.link(tmp, path)  # fails if anything appeared at path since the check
    except FileExistsError:
        raise _refuse(
            option, path, "already exists", "a new path, or --force to replace the file"
        ) from None
    except OSError:
        # A file system without hard links: rename after the check above.
        tmp.replace(path)
        return
    tmp.unlink()


@contextlib.contextmanager
def _os_errors(option: str, path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise _refuse(
            option, path, f"cannot be written ({exc.strerror or exc})", "a writable file path"
        ) from None


@contextlib.contextmanager
def staged_file(
    path: Path,
    *,
    force: bool,
    option: str = "--out",
    private: bool = False,
    make_parents: bool = False,
) -> Iterator[Path]:
    """An empty temporary file beside ``path`` that becomes ``path`` when the block succeeds.

    For writers that need a file name rather than a handle (SQLite's backup API). The
    temporary file is removed when the block raises, and ``path`` is left as it was.
    """
    path = check_output_file(path, force=force, option=option, make_parents=make_parents)
    with _os_errors(option, path):
        fd, tmp = _create_temp(path, private=private)
        os.close(fd)
    try:
        yield tmp
        with _os_errors(option, path):
            _install(tmp, path, force=force, option=option)
    finally:
        # SQLite's side files of the temporary name belong to nobody else.
        for leftover in (tmp, *(Path(f"{tmp}{s}") for s in ("-wal", "-shm", "-journal"))):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


@contextlib.contextmanager
def writing(
    path: Path,
    *,
    force: bool,
    option: str = "--out",
    private: bool = False,
    binary: bool = False,
    make_parents: bool = False,
) -> Iterator[IO[Any]]:
    """A handle on a new temporary file that atomically becomes ``path`` when the block ends."""
    path = check_output_file(path, force=force, option=option, make_parents=make_parents)
    with _os_errors(option, path):
        fd, tmp = _create_temp(path, private=private)
    try:
        with _os_errors(option, path):
            handle: IO[Any] = (
                os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
            )
        with handle:
            yield handle
            with _os_errors(option, path):
                handle.flush()
                os.fsync(handle.fileno())
        with _os_errors(option, path):
            _install(tmp, path, force=force, option=option)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text(
    path: Path, text: str, *, force: bool, option: str = "--out", private: bool = False
) -> Path:
    """Write ``text`` (UTF-8) to ``path``; see the module docstring for the promises."""
    path = Path(path)
    with writing(path, force=force, option=option, private=private) as handle:
        handle.write(text)
    return path


def write_csv(
    frame: pd.DataFrame,
    path: Path,
    *,
    force: bool,
    option: str = "--out",
    private: bool = False,
    **to_csv: Any,
) -> Path:
    """``frame.to_csv(path, **to_csv)`` through :func:`writing` (``index=False`` by default)."""
    path = Path(path)
    to_csv.setdefault("index", False)
    with writing(path, force=force, option=option, private=private) as handle:
        frame.to_csv(handle, **to_csv)
    return path


def write_parquet(
    frame: pd.DataFrame, path: Path, *, force: bool, option: str = "--out", **to_parquet: Any
) -> Path:
    """``frame.to_parquet(path, **to_parquet)`` through :func:`writing`."""
    path = Path(path)
    with writing(path, force=force, option=option, binary=True) as handle:
        frame.to_parquet(handle, **to_parquet)
    return path


def save_figure(
    figure: Figure, path: Path, *, force: bool, option: str = "--out", **savefig: Any
) -> Path:
    """``figure.savefig(path, **savefig)`` through :func:`writing` (format from the suffix)."""
    path = Path(path)
    savefig.setdefault("format", path.suffix.lstrip(".").lower() or "png")
    with writing(path, force=force, option=option, binary=True) as handle:
        figure.savefig(handle, **savefig)
    return path
