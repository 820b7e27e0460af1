"""The trust anchor: which Ed25519 keys may sign the org policy on this host.

``/etc/securebedrock/trusted_keys.pem`` holds one or more PEM public keys
(``-----BEGIN PUBLIC KEY-----`` blocks; text between blocks is ignored), all
honoured, so a key can be rotated without an outage. When the file exists:

- every org policy file must be signed by one of its keys, wherever
  ``SECUREBEDROCK_POLICY_FILE`` points; no environment variable turns this off;
- it alone decides which keys are trusted: a key in
  ``SECUREBEDROCK_POLICY_PUBLIC_KEY`` is ignored, with a warning, because
  whoever controls the environment must not choose the signer;
- a file with no key, a block that is not an Ed25519 public key, an unreadable
  file, or a file (or directory) that group or others may write is an error,
  never "no keys".

The path is the module attribute :data:`TRUSTED_KEYS_FILE`, looked up at call
time so tests can point it elsewhere; nothing in the environment moves it.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ._constants import TRUSTED_KEYS_FILE
from ._errors import PolicyConfigError

__all__ = [
    "TRUSTED_KEYS_FILE",
    "TrustedKey",
    "anchor_identity",
    "anchor_path",
    "is_root_owned",
    "key_id",
    "load_anchor",
    "trusted",
    "writable_by_others",
]

_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n.*?-----END (?P=label)-----", re.DOTALL
)
_ANCHOR_FIX = (
    "the anchor must be root-owned and writable by its owner only: "
    "chown root:root {path} && chmod 0644 {path} (and its directory 0755)"
)


@dataclass(frozen=True, kw_only=True)
class TrustedKey:
    """One trusted Ed25519 public key, its id, and where it came from."""

    key: Ed25519PublicKey
    key_id: str
    source: str


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name of a public key: ``ed25519:`` + 16 hex of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def trusted(public_key: Ed25519PublicKey, source: str) -> TrustedKey:
    """Wrap a key given some other way (``SECUREBEDROCK_POLICY_PUBLIC_KEY``, ``--public-key``)."""
    return TrustedKey(key=public_key, key_id=key_id(public_key), source=source)


def _error(summary: str, found: str, expected: str, fix: str) -> PolicyConfigError:
    return PolicyConfigError(summary, found=found, expected=expected, fix=fix)


def anchor_path() -> Path | None:
    """The trust anchor when it exists, else ``None``.

    Anything but "it does not exist" (a permission error on its directory, a
    dangling symlink) counts as existing, so the load fails closed.
    """
    path = Path(TRUSTED_KEYS_FILE)
    try:
        path.lstat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return path
    return path


def anchor_identity(path: Path) -> tuple[object, ...]:
    """What the cache of verified policies keys on: the anchor's and its directory's stat."""
    parts: list[object] = [str(path)]
    for item in (path, path.parent):
        try:
            st = item.stat()
        except OSError:
            parts.append(None)
            continue
        parts.append((st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode, st.st_uid))
    return tuple(parts)


def writable_by_others(path: Path) -> str | None:
    """Why group or others may change ``path`` (or replace it in its directory), or ``None``."""
    try:
        st = path.stat()
        parent = path.parent.stat()
    except OSError:
        return None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    sticky = bool(parent.st_mode & stat.S_ISVTX)
    if parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky:
        return (
            f"{path.parent} is writable by group or others "
            f"(mode {stat.S_IMODE(parent.st_mode):04o}): anyone may replace {path.name}"
        )
    return None


def load_anchor(path: Path) -> tuple[TrustedKey, ...]:
    """Every key of the anchor file; any problem is a :class:`PolicyConfigError`."""
    problem = writable_by_others(path)
    if problem is not None:
        raise _error(
            "the trust anchor is writable by others",
            problem,
            "a root-owned anchor only its owner can write",
            _ANCHOR_FIX.format(path=path),
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _error(
            "cannot read the trust anchor",
            f"{path}: {exc.strerror or exc}",
            "a readable file of PEM Ed25519 public keys",
            f"make {path} readable (0644), or remove it to run without a trust anchor",
        ) from None
    blocks = [match for match in _PEM_BLOCK.finditer(data)]
    if not blocks:
        raise _error(
            "the trust anchor holds no key",
            f"{path}: no -----BEGIN PUBLIC KEY----- block",
            "one or more PEM Ed25519 public keys",
            "put the organisation's policy signing public key(s) in the file "
            "(`securebedrock policy keygen` writes one)",
        )
    keys: list[TrustedKey] = []
    for index, block in enumerate(blocks, start=1):
        keys.append(_parse_block(path, index, block.group(0)))
    return tuple(_unique(keys))


def _parse_block(path: Path, index: int, pem: bytes) -> TrustedKey:
    where = f"{path}, key {index}"
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _error(
            "a trust anchor key does not parse",
            f"{where}: {reason}",
            "PEM Ed25519 public keys only (-----BEGIN PUBLIC KEY-----)",
            "fix or remove the broken block: every key in the anchor must be valid",
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise _error(
            "a trust anchor key is not an Ed25519 key",
            f"{where}: {type(key).__name__}",
            "Ed25519 public keys only",
            "generate signing keys with `securebedrock policy keygen`",
        )
    return trusted(key, f"trust anchor {path}")


def _unique(keys: Sequence[TrustedKey]) -> list[TrustedKey]:
    seen: dict[str, TrustedKey] = {}
    for item in keys:
        seen.setdefault(item.key_id, item)
    return list(seen.values())


def is_root_owned(path: Path) -> bool | None:
    """Whether ``path`` belongs to root (``None`` when it cannot be checked)."""
    try:
        return os.stat(path).st_uid == 0
    except OSError:
        return None
