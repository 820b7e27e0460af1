"""``securebedrock demo`` runs offline, exits 0, and shows each step of the tour.

It runs in a subprocess: the demo installs a global OpenTelemetry tracer
provider when none is set, which must not leak into other tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _user_process import run_python

from securebedrock._cli import main


def _run(tmp_path: Path, *code: str) -> subprocess.CompletedProcess[str]:
    return run_python(
        tmp_path,
        *code,
        timeout=60,
        # A host org policy must not change the tour: the demo brings its own.
        SECUREBEDROCK_POLICY_FILE=str(tmp_path / "host-policy-that-the-demo-replaces.toml"),
        SECUREBEDROCK_MODE="enforce",
    )


def test_demo_tour(tmp_path: Path) -> None:
    result = _run(tmp_path, "-m", "securebedrock", "demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "securebedrock demo: an embedded Bedrock endpoint on https://127.0.0.1:" in out
    # 2: the guardrail was attached by securebedrock and the server received it.
    assert "the server received guardrail demo0guard01 version 1 over TLSv1.3" in out
    # 3: the blocked word made the guardrail intervene.
    assert "stopReason=guardrail_intervened" in out
    # 4: streaming.
    assert "text deltas:" in out
    # 5: refused before sending, with the error's diagnostics.
    assert "PolicyViolation, rule region.cross_region" in out
    assert "found:    model 'us.anthropic.claude-3-5-haiku-20241022-v1:0'" in out
    assert "the server received nothing: refused before a byte was sent" in out
    # 6 and 7: log-only sends anyway, and the spans record both decisions.
    assert "sent anyway (stopReason=end_turn)" in out
    assert "decision=deny  rules=region.cross_region" in out
    assert "decision=log_only  rules=region.cross_region" in out
    # Not a terminal: no colour codes. No stray log records.
    assert "\033[" not in out
    assert result.stderr == ""


def test_demo_without_the_otel_sdk(tmp_path: Path) -> None:
    # A plain `pip install .` has only opentelemetry-api: the tour still runs.
    code = (
        "import sys; sys.modules['opentelemetry.sdk'] = None\n"
        "from securebedrock._cli import main\n"
        "sys.exit(main(['demo']))\n"
    )
    result = _run(tmp_path, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "opentelemetry-sdk is not installed" in result.stdout
    # The audit log's records stand in for the spans.
    assert "decision=deny  rules=region.cross_region" in result.stdout
    assert "decision=log_only  rules=region.cross_region" in result.stdout
    assert "PolicyViolation, rule region.cross_region" in result.stdout


def test_demo_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--help"])
    assert exited.value.code == 0
    assert "No AWS account, no network." in " ".join(capsys.readouterr().out.split())
