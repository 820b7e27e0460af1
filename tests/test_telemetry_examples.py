"""The telemetry example runs, as a user would run it (a subprocess, a clean environment)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "telemetry" / "audit_telemetry.py"


def test_audit_telemetry_example_runs(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "SECUREBEDROCK_"))
        and name.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    empty = tmp_path / "empty"
    empty.write_text("")
    org = tmp_path / "org-policy.toml"
    org.write_text("version = 1\n")
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        SECUREBEDROCK_POLICY_FILE=str(org),
    )
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "requests the server saw: 2" in out
    assert "securebedrock.attempts = 2" in out
    assert "'error.type': 'ThrottlingException'" in out
    assert "metrics: gen_ai.client.operation.duration, gen_ai.client.token.usage" in out
