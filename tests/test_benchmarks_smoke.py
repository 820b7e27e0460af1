"""The benchmark harness's parts, cheaply: statistics, the report, the profile's
filtering, and the out-of-process endpoint with the wire-identity check.

Nothing about time is asserted, ever. The end-to-end runs (``python -m
benchmarks --quick`` and ``--profile`` in subprocesses) are in
``tests/test_benchmarks_end_to_end.py`` and run in ``nox -s bench_smoke``.
"""

from __future__ import annotations

import cProfile
import dataclasses
import json
import math
import os
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# ``benchmarks`` is a top-level package of the repository, not of the installed
# distribution: it is importable from the repository root.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import securebedrock  # noqa: E402
from benchmarks import _figures, _profile, _world  # noqa: E402
from benchmarks._report import (  # noqa: E402
    ClientCpu,
    Figure,
    Target,
    render_markdown,
    render_table,
    write_json,
)
from benchmarks._settings import Settings  # noqa: E402
from benchmarks._stats import interleave, median, percentile  # noqa: E402
from securebedrock import _adapter  # noqa: E402
from securebedrock._constants import ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY  # noqa: E402


def test_interleave_alternates_abba() -> None:
    order: list[str] = []

    def side(name: str, value: float) -> Any:
        def run() -> float:
            order.append(name)
            return value

        return run

    paired = interleave(side("a", 2.0), side("b", 3.0), rounds=4)
    assert "".join(order) == "abbaabba"
    assert paired.ratio == 1.5
    assert paired.a_rounds == (2.0,) * 4


def test_statistics_and_targets() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert math.isnan(median([]))
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == 5.0
    assert Target(comparison="<=", bound=1.02).holds(1.02)
    assert not Target(comparison="<=", bound=1.02).holds(1.021)
    assert Target(comparison=">=", bound=0.98).holds(0.99)
    assert not Target(comparison=">=", bound=0.98).holds(float("nan"))
    failed = Figure(key="k", title="broken figure", unit="ratio", target=None, error="boom")
    assert failed.ok is False
    table = render_table([failed])
    assert "broken figure" in table and "FAIL" in table


MACHINE = {
    "nproc": 2,
    "cpu_model": "test CPU",
    "python": "3.x",
    "botocore": "1",
    "urllib3": "2",
    "opentelemetry-sdk": "1",
    "load_average_before": [3.5, 2.0, 1.0],
    "load_average_after": [4.25, 2.5, 1.5],
}


def test_the_report_gives_client_cpu_beside_the_ratio_and_the_load(tmp_path: Path) -> None:
    cpu = ClientCpu(unit="us/call", baseline=1000.0, secured=1100.0)
    assert math.isclose(cpu.ratio, 1.1)
    assert math.isnan(ClientCpu(unit="us/call", baseline=0.0, secured=1.0).ratio)
    figure = Figure(
        key="converse_overhead_without_sdk",
        title="Converse overhead, no OTel SDK",
        unit="ratio",
        target=Target(comparison="<=", bound=1.02),
        value=1.05,
        cpu=cpu,
        detail="numbers",
    )
    assert figure.ok is False
    table = render_table([figure])
    header, _, row = table.splitlines()
    assert "CPU ratio" in header
    assert "1.050" in row and "1.100" in row and "FAIL" in row
    markdown = render_markdown([figure], MACHINE)
    assert "| 1.100 |" in markdown and "[4.25, 2.5, 1.5]" in markdown

    out = tmp_path / "report.json"
    write_json(str(out), figures=[figure], machine=MACHINE, meta={"quick": True})
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["machine"]["load_average_after"] == [4.25, 2.5, 1.5]
    assert report["all_targets_hold"] is False
    (written,) = report["figures"]
    assert written["cpu"]["baseline"] == 1000.0 and math.isclose(written["cpu"]["ratio"], 1.1)
    assert written["target_text"] == "<= 1.02" and written["ok"] is False


def _only_raw_work() -> int:
    return sum(range(10))


def _added_work() -> int:
    return len(str(12345))


def test_the_profile_lists_only_functions_the_secured_side_calls_more() -> None:
    def profile(call: Any, count: int) -> dict[str, tuple[int, float]]:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(count):
            call()
        profiler.disable()
        return _profile.flat(profiler)

    raw = profile(_only_raw_work, 4)
    secured = profile(lambda: (_only_raw_work(), _added_work(), _added_work()), 4)
    rows = _profile.added_rows(raw, secured, 4)
    names = [name for _, _, name in rows]
    assert any("_added_work" in name for name in names)
    # Called as often on both sides: not a cost of the secured side.
    assert not any("_only_raw_work" in name for name in names)
    (added,) = [row for row in rows if "_added_work" in row[2]]
    assert added[0] == 2.0  # calls added per call
    section = _profile.render_rows("full (OTel SDK span)", rows)
    assert section.splitlines()[0].startswith("full (OTel SDK span): +")
    assert "_added_work" in section


def test_the_endpoint_runs_in_its_own_process_and_both_clients_send_one_request() -> None:
    quick = Settings.quick()
    with _world.open_world() as world:
        assert world.server.pid != os.getpid()
        assert not [t for t in threading.enumerate() if t.name.startswith("embedded-bedrock")]
        assert world.wire_difference() == ""

        # The wire check can fail: a raw side that sends another body is caught.
        def other_raw_converse() -> Any:
            return world.raw.converse(
                modelId=_world.PROFILE_ARN,
                messages=list(_world.MESSAGES),
                inferenceConfig={"maxTokens": 255},
                guardrailConfig=_world.guardrail_config(),
            )

        world.raw_converse = other_raw_converse  # type: ignore[method-assign]
        assert "body" in world.wire_difference()
        del world.raw_converse

        # The server times its own requests and reports them over the channel.
        server = _figures.server_cost(world, quick)
        assert server.error is None, server.error
        assert server.data["requests_timed"] == quick.server_calls
        assert server.data["server_cpu_us_per_request"] > 0
        assert world.server.requests == []

        # An unsigned org policy file pinning the child's server, for a block only.
        signed_file = os.environ[ENV_POLICY_FILE]
        tls13 = dataclasses.replace(
            world.policy, tls=dataclasses.replace(world.policy.tls, minimum_version="1.3")
        )
        with world.server.org_policy(tls13) as path:
            assert os.environ[ENV_POLICY_FILE] == path
            assert ENV_POLICY_PUBLIC_KEY not in os.environ
            client = securebedrock.client(**world.client_kwargs)
            assert _adapter.installed_policy(client) == world.server.pin(tls13)
            client.close()
        assert os.environ[ENV_POLICY_FILE] == signed_file
        assert ENV_POLICY_PUBLIC_KEY in os.environ

        # A client-side figure: client CPU beside the ratio, judged on the stated target.
        no_sdk = _figures.converse_enforcement_only(world, quick)
        assert no_sdk.error is None, no_sdk.error
        assert no_sdk.target == Target(comparison="<=", bound=1.02)
        assert no_sdk.cpu is not None and no_sdk.cpu.baseline > 0 and no_sdk.cpu.secured > 0
