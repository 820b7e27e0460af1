"""``python -m benchmarks --profile``: where the secured client's extra time goes.

Profiles the same number of Converse calls on the raw and on the secured
client with ``cProfile`` and prints, per function, the calls and time the
secured side adds. The endpoint runs in another process, so only client
work is profiled. Call counts are deterministic, so this attribution holds
even on a busy machine (absolute times under a profiler are inflated; compare
rows with each other, not with the benchmark's figures).
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from typing import Any

from ._world import World

Row = tuple[float, float, str]


def flat(profile: cProfile.Profile) -> dict[str, tuple[int, float]]:
    """Per function (``file:line(name)``, site-packages prefix cut): calls and own seconds."""
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    flat: dict[str, tuple[int, float]] = {}
    for (filename, line, function), (_, calls, own_time, _, _) in stats.items():
        name = f"{str(filename).split('site-packages/')[-1]}:{line}({function})"
        flat[name] = (calls, own_time)
    return flat


def _run(world: World, call: Callable[[], Any], count: int) -> dict[str, tuple[int, float]]:
    for _ in range(min(50, count)):
        call()
    world.between_batches()
    profile = cProfile.Profile()
    profile.enable()
    for index in range(count):
        call()
        if index % 100 == 99:
            world.between_batches()
    profile.disable()
    world.between_batches()
    return flat(profile)


def added_rows(
    raw: dict[str, tuple[int, float]], secured: dict[str, tuple[int, float]], count: int
) -> list[Row]:
    """Per call, the functions whose call count differs: (calls added, own seconds added, name).

    Only functions called a different number of times are listed (time alone
    is noise); the largest own-time difference first.
    """
    rows: list[Row] = []
    for name in set(raw) | set(secured):
        raw_calls, raw_time = raw.get(name, (0, 0.0))
        calls, own_time = secured.get(name, (0, 0.0))
        if calls != raw_calls:
            rows.append(((calls - raw_calls) / count, (own_time - raw_time) / count, name))
    rows.sort(key=lambda row: -row[1])
    return rows


def render_rows(label: str, rows: list[Row], top: int = 30, call: str = "Converse") -> str:
    """One section of the report: the total calls added, then the ``top`` rows."""
    total_calls = sum(row[0] for row in rows)
    lines = [
        f"{label}: {total_calls:+.0f} function calls per {call} call",
        f"{'calls':>8} {'own us':>8}  function",
    ]
    lines += [f"{c:+8.1f} {t * 1e6:+8.1f}  {name}" for c, t, name in rows[:top]]
    return "\n".join(lines)


def added_by_secured(world: World, count: int = 500, top: int = 30) -> str:
    """A table of the functions the secured Converse call adds over the raw one."""
    raw = _run(world, world.raw_converse, count)
    sections = []
    for label, call in (
        ("enforcement only (no OTel SDK)", world.secured_without_sdk_converse),
        ("full (OTel SDK span)", world.secured_converse),
    ):
        secured = _run(world, call, count)
        sections.append(render_rows(label, added_rows(raw, secured, count), top))
    return "\n\n".join(sections)


def added_by_httpx_transport(world: World, count: int = 500, top: int = 30) -> str:
    """A table of the functions ``HTTPTransport`` (no SDK) adds to a Chat Completions call
    over plain httpx sending the same, SigV4-signed request."""
    from opentelemetry import metrics, trace

    from ._figures_paths import _chat_clients

    observe = {
        "tracer_provider": trace.NoOpTracerProvider(),
        "meter_provider": metrics.NoOpMeterProvider(),
    }
    with _chat_clients(world, **observe) as (raw, secured):
        raw_flat = _run(world, raw, count)
        secured_flat = _run(world, secured, count)
    rows = added_rows(raw_flat, secured_flat, count)
    return render_rows("httpx transport (no OTel SDK)", rows, top, call="Chat Completions")
