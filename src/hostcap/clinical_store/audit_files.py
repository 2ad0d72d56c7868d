"""The audit key and the chain head, kept outside the database.

The key (32 random bytes, hex, file mode 0600) makes every audit hash an HMAC, so a chain
recomputed by someone who can write to the database but cannot read the key does not verify.
The head file (``KEY.head``, 0600) records the newest committed entry (sequence number and hash)
and the first keyed entry; deleting the newest entries, emptying ``audit_log`` and
``audit_head``, or rewriting keyed entries as unkeyed ones then disagrees with it.

Writers on several processes update the head file under an exclusive lock (``KEY.lock``) and
only ever move it forward (a higher sequence number replaces a lower one), by writing a
temporary file and renaming it over the old one, so it always holds the highest committed head.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostcap.errors import ConfigurationError

__all__ = ["AuditFiles", "ExternalHead", "key_id"]

_KEY_BYTES = 32


def key_id(key: bytes) -> str:
    """A short public fingerprint of a key (stored with each keyed entry)."""
    return hashlib.sha256(b"hostcap audit key id\0" + key).hexdigest()[:16]


@dataclass(frozen=True)
class ExternalHead:
    """What the head file says: the newest committed entry and where keyed hashing began."""

    seq: int
    hash: str
    keyed_since: int | None
    key_id: str | None


def _write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a new temporary file beside ``path`` with mode 0600; return it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


@dataclass(frozen=True)
class AuditFiles:
    """The key file of one store and the head and lock files beside it."""

    key_path: Path

    @property
    def head_path(self) -> Path:
        return self.key_path.with_name(self.key_path.name + ".head")

    @property
    def lock_path(self) -> Path:
        return self.key_path.with_name(self.key_path.name + ".lock")

    # -- key -------------------------------------------------------------------------------------

    def read_key(self) -> bytes | None:
        """The key, or None when the key file does not exist."""
        try:
            text = self.key_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"audit key file {str(self.key_path)!r} cannot be read ({exc}); expected a "
                "readable file holding 64 hex digits (setting HOSTCAP_AUDIT_KEY_FILE)"
            ) from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != _KEY_BYTES:
            raise ConfigurationError(
                f"audit key file {str(self.key_path)!r} does not hold an audit key; expected "
                f"{2 * _KEY_BYTES} hex digits (setting HOSTCAP_AUDIT_KEY_FILE)"
            )
        return key

    def create_key(self) -> bytes:
        """Create the key file (0600) unless another process just did; return the key."""
        try:
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = _write_private(self.key_path, secrets.token_bytes(_KEY_BYTES).hex() + "\n")
            try:
                os.link(tmp, self.key_path)  # atomic, and never replaces an existing key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        except OSError as exc:
            raise ConfigurationError(
                f"audit key file {str(self.key_path)!r} cannot be created ({exc}); expected a "
                "writable location (setting HOSTCAP_AUDIT_KEY_FILE)"
            ) from None
        key = self.read_key()
        assert key is not None
        return key

    def write_key(self, key: bytes) -> None:
        """Install ``key`` here (0600), e.g. beside a backup; an existing other key is refused."""
        existing = self.read_key()
        if existing is not None:
            if existing != key:
                raise ConfigurationError(
                    f"audit key file {str(self.key_path)!r} already holds another key; expected "
                    "no key file there (move it aside)"
                )
            return
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_private(self.key_path, key.hex() + "\n")
        try:
            os.link(tmp, self.key_path)
        finally:
            tmp.unlink()

    # -- head ------------------------------------------------------------------------------------

    def read_head(self) -> ExternalHead | None:
        """The head recorded outside the database, or None when there is no head file."""
        try:
            data: Any = json.loads(self.head_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"audit head file {str(self.head_path)!r} cannot be read ({exc}); expected the "
                "JSON file hostcap writes beside the audit key"
            ) from None
        try:
            return ExternalHead(
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                keyed_since=None if data.get("keyed_since") is None else int(data["keyed_since"]),
                key_id=data.get("key_id"),
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigurationError(
                f"audit head file {str(self.head_path)!r} is not a hostcap head file; expected "
                "JSON with seq and hash"
            ) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def replace_head(self, head: ExternalHead | None) -> None:
        """Set the head file to ``head`` (or remove it), even backwards.

        Only for a restore: the store's whole chain was replaced by a verified copy, so the
        head recorded for the replaced chain no longer describes it.
        """
        with self._locked():
            if head is None:
                self.head_path.unlink(missing_ok=True)
                return
            text = json.dumps(
                {
                    "seq": head.seq,
                    "hash": head.hash,
                    "keyed_since": head.keyed_since,
                    "key_id": head.key_id,
                },
                sort_keys=True,
            )
            tmp = _write_private(self.head_path, text + "\n")
            tmp.replace(self.head_path)

    def advance_head(
        self, seq: int, hash_: str, *, keyed_since: int | None, key: str | None
    ) -> None:
        """Record ``seq``/``hash_`` as the head unless the file already holds a later one."""
        with self._locked():
            current = self.read_head()
            if current is not None and current.seq >= seq:
                return
            since = keyed_since
            if current is not None and current.keyed_since is not None:
                since = current.keyed_since if since is None else min(since, current.keyed_since)
            text = json.dumps(
                {"seq": seq, "hash": hash_, "keyed_since": since, "key_id": key},
                sort_keys=True,
            )
            tmp = _write_private(self.head_path, text + "\n")
            tmp.replace(self.head_path)
