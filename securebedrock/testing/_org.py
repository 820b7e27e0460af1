"""A temporary org policy file for tests, installed through the environment.

Only the org layer may pin an endpoint outside AWS, so a test that talks to the
embedded endpoint on loopback runs under an org policy file that pins it, as a
host would: :func:`installed_org_policy` writes the policy to a temporary file
and points ``SECUREBEDROCK_POLICY_FILE`` at it for the duration of a ``with``
block. ``SECUREBEDROCK_POLICY_PUBLIC_KEY`` is removed meanwhile (the file is not
signed), so the host's own org file and key never leak into the test.

Environment variables belong to the process, so the file applies to every
thread (and to subprocesses started inside the block). Blocks may nest and may
even end out of order, from several threads: the most recently entered block
that is still open decides, and when the last one ends the variables are
restored exactly. Policies are read when a client or session is *constructed*,
so a client made inside the block keeps its policy afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from .._constants import ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY
from .._policy import Policy

__all__ = ["installed_org_policy"]

#: The variables an installed org policy file sets (``None``: unset).
_VARIABLES = (ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY)

_lock = threading.Lock()
#: Open blocks, oldest first: (token, the values they set).
_open: list[tuple[object, dict[str, str | None]]] = []
#: The variables as they were before the oldest open block.
_saved: dict[str, str | None] = {}


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def installed_org_policy(policy: Policy) -> Iterator[Path]:
    """Install ``policy`` as the org policy file for the block; yields the file's path."""
    directory = Path(tempfile.mkdtemp(prefix="securebedrock-org-policy-"))
    path = directory / "policy.toml"
    path.write_text(policy.to_toml(), encoding="utf-8")
    token = object()
    values: dict[str, str | None] = {ENV_POLICY_FILE: str(path), ENV_POLICY_PUBLIC_KEY: None}
    with _lock:
        if not _open:
            _saved.clear()
            _saved.update({name: os.environ.get(name) for name in _VARIABLES})
        _open.append((token, values))
        _apply(values)
    try:
        yield path
    finally:
        with _lock:
            _open[:] = [entry for entry in _open if entry[0] is not token]
            _apply(_open[-1][1] if _open else _saved)
        shutil.rmtree(directory, ignore_errors=True)
