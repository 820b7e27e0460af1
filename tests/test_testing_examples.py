"""The docs' example of testing an application offline (examples/testing/) passes.

It runs in a subprocess as a user would run it (``pytest examples/testing``),
isolated from the machine's AWS and securebedrock settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "testing"


def test_user_test_suite_example_passes(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SECUREBEDROCK_"))
        and name.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    empty = tmp_path / "empty"
    empty.write_text("")
    org_policy = tmp_path / "org-policy.toml"
    org_policy.write_text("version = 1\n")
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        SECUREBEDROCK_POLICY_FILE=str(org_policy),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(EXAMPLE_DIR),
            "-c",
            os.devnull,
            str(EXAMPLE_DIR),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout
