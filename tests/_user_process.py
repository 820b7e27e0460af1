"""Run Python as a user would: a fresh interpreter, isolated from this machine's settings.

Examples, the demo and the docs' user test suite run in subprocesses (they set
process-wide state, and a fresh interpreter is what a reader gets). Each gets the
parent's environment minus anything that could change where or how a client
connects or which policy applies, plus empty AWS config files and an empty,
valid org policy, so the machine's ``/etc/securebedrock/policy.toml`` is never read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_DROPPED_PREFIXES = ("AWS_", "SECUREBEDROCK_", "OTEL_")
_DROPPED_NAMES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The parent's environment minus AWS, proxy, CA, OTel and securebedrock settings."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_DROPPED_PREFIXES)
        and "proxy" not in name.lower()
        and name not in _DROPPED_NAMES
    }
    empty = tmp_path / "empty"
    empty.write_text("")
    org_policy = tmp_path / "org-policy.toml"
    org_policy.write_text("version = 1\n")
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        # No EC2/ECS metadata look-ups for credentials or region: loopback only.
        AWS_EC2_METADATA_DISABLED="true",
        # A set-but-missing policy file fails closed; an empty valid one stands in.
        SECUREBEDROCK_POLICY_FILE=str(org_policy),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def run_python(
    tmp_path: Path, *args: str, timeout: float = 120, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``python *args`` in ``tmp_path`` with :func:`isolated_env`; output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        env=isolated_env(tmp_path, **extra_env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
