"""Rollback protection: the highest policy release serial this host has accepted.

One small JSON file per host, ``$SECUREBEDROCK_STATE_DIR/policy-release.json``
(default ``/var/lib/securebedrock/``): ``{"serial": 7, "release": "2026-12-acme-7"}``.
It is one high-water mark per host, not per key, so rotating the signing key
does not reset it. A release whose serial is lower than the mark is refused, in
this process and in every later one (rollback protection as TUF describes it).

- **Reading** happens where a policy file is accepted (client construction,
  ``policy show``, ``doctor``), cached by the state file's identity; never per call.
  A state file that exists but cannot be read or parsed refuses every policy
  that carries a serial (fail closed): the host no longer knows what it accepted.
  A missing file (or directory) means nothing was accepted yet.
- **Writing** only ever raises the mark. It takes an exclusive ``flock`` on a
  lock file next to the state, re-reads the mark under the lock, and replaces
  the state atomically (temporary file, ``fsync``, ``os.replace``, ``fsync`` of
  the directory), so concurrent processes leave the highest serial any of them
  accepted, and a crash leaves the old or the new state, never a torn one.
- Only a **signed** (verified) release raises the mark: the serial of an
  unsigned file proves nothing, and recording it would let whoever can write
  such a file lock the host out of every real release. An unsigned file is
  still refused when its serial is lower than the mark.
- When the mark cannot be **written** (the directory is missing and cannot be
  created, or is read-only for this user), the release is accepted (it is not
  older than anything recorded), a warning is logged once, and ``doctor``
  reports rollback protection as inactive. Refusing instead would turn a
  missing state directory into an outage without protecting anything.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _env
from ._constants import DEFAULT_STATE_DIR, ENV_STATE_DIR
from ._errors import PolicyConfigError
from ._release import ReleasePolicy

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; the mark is then not written
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_FILE_NAME",
    "STATE_FILE_NAME",
    "Mark",
    "SerialCheck",
    "check_serial",
    "clear_cache",
    "raise_mark",
    "read_mark",
    "state_dir",
]

STATE_FILE_NAME = "policy-release.json"
LOCK_FILE_NAME = "policy-release.lock"

_log = logging.getLogger("securebedrock.policy")
_lock = threading.Lock()
_marks: dict[str, tuple[tuple[int, ...] | None, Mark | None]] = {}
_warned: set[tuple[str, int]] = set()


@dataclass(frozen=True, kw_only=True)
class Mark:
    """The highest serial this host accepted, and that release's id."""

    serial: int
    release: str = ""


@dataclass(frozen=True, kw_only=True)
class SerialCheck:
    """The outcome of checking a release against the host's mark.

    ``highest`` is the mark after the check; ``recorded`` says whether the mark
    now covers this release (``False``: unsigned, or the state is not writable,
    with ``note`` saying which).
    """

    state_file: Path
    highest: int | None
    recorded: bool
    note: str = ""
    #: Checked against the mark but deliberately not recorded (a file named on the
    #: command line: previewing a release must not lock the host out of the installed one).
    preview: bool = False


def clear_cache() -> None:
    """Forget cached marks and warnings (tests)."""
    with _lock:
        _marks.clear()
        _warned.clear()


def state_dir(environ: Mapping[str, str]) -> Path:
    """``$SECUREBEDROCK_STATE_DIR``, else the default (looked up at call time, for tests)."""
    value = _env.setting(
        ENV_STATE_DIR,
        environ,
        expected=f"the directory this host keeps its policy state in (default {DEFAULT_STATE_DIR})",
    )
    if value is not None:
        return Path(value)
    return Path(DEFAULT_STATE_DIR)


def _unreadable(path: Path, why: str) -> PolicyConfigError:
    return PolicyConfigError(
        "cannot read the policy release state",
        path="release.serial",
        found=f"{path}: {why}",
        expected="a readable state file holding the highest release serial accepted "
        "(or no file: nothing accepted yet)",
        fix="fix the file's permissions, or restore it; deleting it resets rollback "
        "protection on this host",
    )


def read_mark(directory: Path) -> Mark | None:
    """The mark in ``directory`` (``None``: nothing accepted yet). Unreadable: error."""
    path = directory / STATE_FILE_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    try:
        document: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _unreadable(path, "not JSON") from None
    serial = document.get("serial") if isinstance(document, dict) else None
    release = document.get("release", "") if isinstance(document, dict) else None
    if type(serial) is not int or serial < 0 or not isinstance(release, str):
        raise _unreadable(path, "no non-negative integer serial")
    return Mark(serial=serial, release=release)


def _stat(path: Path) -> tuple[int, ...] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _cached_mark(directory: Path) -> Mark | None:
    path = directory / STATE_FILE_NAME
    identity = _stat(path)
    key = str(path)
    with _lock:
        cached = _marks.get(key)
    if cached is not None and identity is not None and cached[0] == identity:
        return cached[1]
    mark = read_mark(directory)
    with _lock:
        _marks[key] = (identity, mark)
    return mark


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        raise OSError("no file locking on this platform")
    fd = os.open(directory / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_atomically(directory: Path, mark: Mark) -> None:
    payload = json.dumps({"serial": mark.serial, "release": mark.release}) + "\n"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".policy-release.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / STATE_FILE_NAME)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def raise_mark(directory: Path, serial: int, release: str = "") -> Mark:
    """Raise the mark in ``directory`` to ``serial`` (never lower it); the mark after.

    Safe with many processes: exclusive lock, re-read under the lock, atomic
    replace. Raises :class:`OSError` when the state cannot be written.
    """
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    with _locked(directory):
        current = read_mark(directory)
        if current is not None and current.serial >= serial:
            return current
        mark = Mark(serial=serial, release=release)
        _write_atomically(directory, mark)
        return mark


def _rollback(source: str, release: ReleasePolicy, mark: Mark, path: Path) -> PolicyConfigError:
    accepted = f"serial {mark.serial}" + (f' ("{mark.release}")' if mark.release else "")
    return PolicyConfigError(
        "the policy release is older than one this host already accepted (rollback)",
        path="release.serial",
        found=f"{source}: {release.describe()}; this host accepted {accepted} ({path})",
        expected=f"release.serial >= {mark.serial}",
        fix="install the current release of the org policy; an older release is never "
        "accepted again (to undo a release, ship the old content as a new release with a "
        "higher serial)",
    )


def check_serial(
    release: ReleasePolicy | None,
    *,
    signed: bool,
    environ: Mapping[str, str],
    source: str,
    record: bool = True,
) -> SerialCheck | None:
    """Refuse a release older than the host's mark; record a newer signed one.

    ``record=False`` only checks (``policy show --policy-file``, ``doctor
    --policy-file`` preview a file that is not installed). Raises
    :class:`PolicyConfigError` on a rollback or an unreadable state.
    """
    if release is None:
        return None
    directory = state_dir(environ)
    path = directory / STATE_FILE_NAME
    mark = _cached_mark(directory)
    if mark is not None and release.serial < mark.serial:
        raise _rollback(source, release, mark, path)
    highest = None if mark is None else mark.serial
    if not record:
        return SerialCheck(
            state_file=path,
            highest=highest,
            recorded=False,
            note="a file named on the command line is checked against the mark, never recorded",
            preview=True,
        )
    if not signed:
        return SerialCheck(
            state_file=path,
            highest=highest,
            recorded=False,
            note="the file is not signed: its serial is checked but never recorded",
        )
    if mark is not None and mark.serial >= release.serial:
        return SerialCheck(state_file=path, highest=mark.serial, recorded=True)
    warned_key = (str(directory), release.serial)
    with _lock:
        known_unwritable = warned_key in _warned
    if not known_unwritable:
        try:
            mark = raise_mark(directory, release.serial, release.id)
        except OSError as exc:
            note = (
                f"cannot record serial {release.serial} in {path} "
                f"({exc.strerror or exc}): rollback protection is not active on this host"
            )
            with _lock:
                _warned.add(warned_key)
            _log.warning("securebedrock: %s; set %s to a writable directory", note, ENV_STATE_DIR)
        else:
            if release.serial < mark.serial:  # another process accepted a newer one meanwhile
                raise _rollback(source, release, mark, path)
            return SerialCheck(state_file=path, highest=mark.serial, recorded=True)
    return SerialCheck(
        state_file=path,
        highest=highest,
        recorded=False,
        note=f"cannot record serial {release.serial} in {path}: rollback protection is not "
        "active on this host",
    )
