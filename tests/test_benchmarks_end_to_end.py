"""``python -m benchmarks --quick`` and ``--profile --quick`` run end to end.

Slow (a whole benchmark run in a subprocess each), so not part of the test
session: ``nox -s bench_smoke`` (which CI runs) sets
``SECUREBEDROCK_BENCH_SMOKE=1`` and runs this file. Minimal iterations: the
figures are meaningless here and nothing about time is asserted; only that
every figure was measured, against the stated targets, and the report is well
formed. (A subprocess, since the harness instruments botocore process-wide.)
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.environ.get("SECUREBEDROCK_BENCH_SMOKE") != "1",
    reason="end-to-end benchmark runs: nox -s bench_smoke",
)

#: Every figure, and the target it is judged on (``None``: reported, no target).
EXPECTED_TARGETS = {
    "server_per_request": None,
    "converse_overhead": None,
    "converse_overhead_without_sdk": "<= 1.02",
    "converse_vs_instrumented_boto3": "<= 0.9",
    "async_overhead_without_sdk": "<= 1.02",
    "httpx_overhead_without_sdk": "<= 1.02",
    "httpx_vs_instrumented_httpx": "<= 0.9",
    "stream_throughput": ">= 0.98",
    "policy_evaluation": "<= 5",
    "wire_check": None,
    "client_construction": "<= 1.5",
    "first_call_resolving_profile": None,
    "concurrency": ">= 0.95",
    "memory_rss_growth": "<= 2",
    "memory_live_spans": "<= 0",
}
#: Figures that compare two sides: each reports client CPU beside its ratio.
WITH_CLIENT_CPU = {
    "converse_overhead",
    "converse_overhead_without_sdk",
    "converse_vs_instrumented_boto3",
    "async_overhead_without_sdk",
    "httpx_overhead_without_sdk",
    "httpx_vs_instrumented_httpx",
    "stream_throughput",
    "client_construction",
    "concurrency",
}


def _benchmarks(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *arguments],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_quick_run_writes_a_valid_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    completed = _benchmarks("--quick", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["schema"] == 1
    assert report["quick"] is True
    machine = report["machine"]
    assert machine["nproc"] >= 1
    assert machine["botocore"] != "not installed"
    assert len(machine["load_average_before"]) == 3
    assert len(machine["load_average_after"]) == 3
    figures = {figure["key"]: figure for figure in report["figures"]}
    assert set(figures) == set(EXPECTED_TARGETS)
    for key, figure in figures.items():
        assert figure["error"] is None, (key, figure["error"], completed.stderr)
        assert isinstance(figure["value"], int | float), key
        assert math.isfinite(figure["value"]), key
        assert (figure["target_text"] or None) == EXPECTED_TARGETS[key], key
        if key in WITH_CLIENT_CPU:
            assert figure["cpu"]["baseline"] > 0 and figure["cpu"]["secured"] > 0, key
    # Every round trip compared the same request on the wire, and no span was left open.
    assert figures["memory_live_spans"]["value"] == 0
    assert figures["policy_evaluation"]["data"]["violations"] == []
    # The table is printed with one row per figure.
    for figure in figures.values():
        assert figure["title"] in completed.stdout


def test_only_runs_the_async_and_httpx_figures_by_name(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    names = ("async-no-sdk", "httpx-no-sdk", "httpx-vs-otel")
    completed = _benchmarks("--quick", "--out", str(out), *(f"--only={n}" for n in names))
    assert completed.returncode == 0, completed.stderr
    figures = {f["key"]: f for f in json.loads(out.read_text(encoding="utf-8"))["figures"]}
    assert set(figures) == {
        "async_overhead_without_sdk",
        "httpx_overhead_without_sdk",
        "httpx_vs_instrumented_httpx",
    }
    for key, figure in figures.items():
        assert figure["error"] is None, (key, figure["error"], completed.stderr)


def test_profile_names_the_functions_the_secured_call_adds() -> None:
    completed = _benchmarks("--profile", "--quick")
    assert completed.returncode == 0, completed.stderr
    assert "enforcement only (no OTel SDK)" in completed.stdout
    assert "full (OTel SDK span)" in completed.stdout
    # The secured call's own code is on the secured path, and nowhere on the raw one (the
    # engine itself may fall out of the top rows: a repeated call shape is answered from
    # the client's decision cache).
    assert "securebedrock/_adapter.py" in completed.stdout
    # The httpx transport's own table: its per-request work over plain httpx.
    assert "httpx transport (no OTel SDK)" in completed.stdout
    assert "securebedrock/_httpx_core.py" in completed.stdout
