"""The benchmark harness runs end to end and writes a valid report.

Runs ``python -m benchmarks --quick`` in a subprocess (the harness installs a
process-wide tracer provider, which must not leak into other tests). Minimal
iterations: the figures are meaningless here and nothing about time is
asserted, ever; only that every figure was measured and the report is well
formed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# ``benchmarks`` is a top-level package of the repository, not of the installed
# distribution: ``python -m benchmarks`` finds it from the repository root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._report import Figure, Target, render_table  # noqa: E402
from benchmarks._stats import interleave, median, percentile  # noqa: E402

EXPECTED_KEYS = {
    "server_per_request",
    "converse_overhead",
    "converse_overhead_without_sdk",
    "converse_vs_instrumented_boto3",
    "stream_throughput",
    "policy_evaluation",
    "wire_check",
    "client_construction",
    "first_call_resolving_profile",
    "concurrency",
    "memory_rss_growth",
    "memory_live_spans",
}


def test_quick_run_writes_a_valid_report(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["schema"] == 1
    assert report["quick"] is True
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["botocore"] != "not installed"
    figures = {figure["key"]: figure for figure in report["figures"]}
    assert set(figures) == EXPECTED_KEYS
    for key, figure in figures.items():
        assert figure["error"] is None, (key, figure["error"], completed.stderr)
        assert isinstance(figure["value"], int | float), key
        assert math.isfinite(figure["value"]), key
    # Every round trip compared the same request on the wire, and no span was left open.
    assert figures["memory_live_spans"]["value"] == 0
    assert figures["policy_evaluation"]["data"]["violations"] == []
    # The table is printed with one row per figure.
    for figure in figures.values():
        assert figure["title"] in completed.stdout


def test_interleave_alternates_abba() -> None:
    order: list[str] = []

    def side(name: str, value: float) -> object:
        def run() -> float:
            order.append(name)
            return value

        return run

    paired = interleave(side("a", 2.0), side("b", 3.0), rounds=4)  # type: ignore[arg-type]
    assert "".join(order) == "abbaabba"
    assert paired.ratio == 1.5
    assert paired.a_rounds == (2.0,) * 4


def test_statistics_and_targets() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert math.isnan(median([]))
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == 5.0
    assert Target(comparison="<=", bound=1.05).holds(1.05)
    assert not Target(comparison="<=", bound=1.05).holds(1.06)
    assert Target(comparison=">=", bound=0.95).holds(0.97)
    assert not Target(comparison=">=", bound=0.95).holds(float("nan"))
    failed = Figure(key="k", title="broken figure", unit="ratio", target=None, error="boom")
    assert failed.ok is False
    table = render_table([failed])
    assert "broken figure" in table and "FAIL" in table


def test_profile_names_the_functions_the_secured_call_adds() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--profile", "--quick"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "enforcement only (no OTel SDK)" in completed.stdout
    assert "full (OTel SDK span)" in completed.stdout
    # The engine is on the secured path, and nowhere on the raw one.
    assert "securebedrock/_rules.py" in completed.stdout


def test_reused_ssl_context_is_hardened_and_only_when_unused() -> None:
    """The construction speed-up (reusing the replaced session's unused SSL context)
    must not weaken anything: the context is hardened, and a used one is never reused."""
    import ssl

    import boto3

    import securebedrock
    from securebedrock import _transport
    from securebedrock.testing import EmbeddedBedrock

    with EmbeddedBedrock() as server:
        kwargs = server.client_kwargs()
        tls13 = securebedrock.Policy.from_toml('version = 1\n[tls]\nminimum_version = "1.3"\n')
        client = securebedrock.client(**kwargs, policy=server.pin(tls13))
        context = client._endpoint.http_session._manager.connection_pool_kw["ssl_context"]
        assert context.minimum_version == ssl.TLSVersion.TLSv1_3
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True

        # A session that has connected (a pool exists, the CA bundle is loaded) is never
        # a source of a context to reuse.
        raw = boto3.client("bedrock-runtime", **kwargs)
        raw.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            messages=[{"role": "user", "content": [{"text": "hello"}]}],
        )
        used = raw._endpoint.http_session
        assert _transport._spare_ssl_context(used) is None
        own_context = used._manager.connection_pool_kw["ssl_context"]
        # secure() on an existing client never reuses its context, used or not.
        securebedrock.secure(raw, policy=server.pin())
        hardened = raw._endpoint.http_session._manager.connection_pool_kw["ssl_context"]
        assert hardened is not own_context
        assert hardened.verify_mode == ssl.CERT_REQUIRED
        client.close()
        raw.close()


def test_a_dropped_secured_client_is_freed_at_once_and_its_leftovers_fail_closed() -> None:
    """No reference cycle: a secured client is freed by reference counting, like a raw
    one (a cycle left ~1,000 objects per client to the cyclic collector). Code that kept
    ``_make_api_call`` after dropping the client gets an error, and nothing is sent."""
    import gc
    import weakref

    import pytest

    import securebedrock
    from securebedrock.testing import EmbeddedBedrock

    with EmbeddedBedrock() as server:
        client = securebedrock.client(**server.client_kwargs(), policy=server.pin())
        alive = weakref.ref(client)
        leftover = client._make_api_call
        was_enabled = gc.isenabled()
        gc.disable()  # freed by reference counting, not by the cyclic collector
        try:
            del client
            assert alive() is None
        finally:
            if was_enabled:
                gc.enable()
        with pytest.raises(securebedrock.SecureBedrockError, match="gone"):
            leftover(
                "Converse",
                {
                    "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
                    "messages": [{"role": "user", "content": [{"text": "hello"}]}],
                },
            )
        assert server.requests == []
