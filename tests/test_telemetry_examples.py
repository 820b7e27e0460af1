"""The telemetry example runs, as a user would run it (a subprocess, a clean environment)."""

from __future__ import annotations

from pathlib import Path

from _user_process import run_python

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "telemetry" / "audit_telemetry.py"


def test_audit_telemetry_example_runs(tmp_path: Path) -> None:
    result = run_python(tmp_path, str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "requests the server saw: 2" in out
    assert "securebedrock.attempts = 2" in out
    assert "'error.type': 'ThrottlingException'" in out
    assert "metrics: gen_ai.client.operation.duration, gen_ai.client.token.usage" in out
