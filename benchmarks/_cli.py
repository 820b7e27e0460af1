"""Command line: ``python -m benchmarks [--quick] [--out PATH] [--only KEY ...]``."""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from . import _figures, _figures_paths, _machine, _world
from ._report import Figure, render_markdown, render_table, write_json
from ._settings import Settings

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")

FIGURE_KEYS = (
    "server",
    "converse",
    "converse-no-sdk",
    "converse-vs-otel",
    "async-no-sdk",
    "httpx-no-sdk",
    "httpx-vs-otel",
    "stream",
    "evaluate",
    "wire",
    "construct",
    "first-call",
    "memory",
    "concurrency",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Overhead of securebedrock over raw boto3 on the embedded endpoint.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="minimal iterations (smoke test; figures meaningless)"
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, help=f"JSON report path (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--markdown", action="store_true", help="also print the figures as a markdown table"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the figures, print which functions the secured call adds (cProfile)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=FIGURE_KEYS,
        help="run only these figures (repeatable)",
    )
    return parser


def _failed(key: str, title: str, error: BaseException) -> Figure:
    return Figure(
        key=key, title=title, unit="", target=None, error=f"{type(error).__name__}: {error}"
    )


def run(settings: Settings, only: Sequence[str] | None = None) -> list[Figure]:
    """Every selected figure, each isolated: one that fails is reported, the rest still run."""
    selected = set(only or FIGURE_KEYS)
    figures: list[Figure] = []

    def attempt(key: str, title: str, measure: Callable[[], Figure | list[Figure]]) -> None:
        if key not in selected:
            return
        started = time.perf_counter()
        try:
            result = measure()
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            result = _failed(key, title, error)
        produced = result if isinstance(result, list) else [result]
        elapsed = time.perf_counter() - started
        for figure in produced:
            figure.data.setdefault("seconds", round(elapsed, 2))
        figures.extend(produced)
        print(f"  {key}: {elapsed:.1f} s", file=sys.stderr, flush=True)

    with _world.open_world() as world:
        attempt("server", "server time per request", lambda: _figures.server_cost(world, settings))
        attempt(
            "converse",
            "Converse round-trip overhead",
            lambda: _figures.converse_overhead(world, settings),
        )
        attempt(
            "converse-no-sdk",
            "Converse overhead, no OTel SDK",
            lambda: _figures.converse_enforcement_only(world, settings),
        )
        attempt(
            "converse-vs-otel",
            "Converse vs boto3 + OTel botocore instrumentation",
            lambda: _figures.versus_instrumented_boto3(world, settings),
        )
        attempt(
            "async-no-sdk",
            "async Converse overhead, no OTel SDK (vs aiobotocore)",
            lambda: _figures_paths.async_enforcement_only(world, settings),
        )
        attempt(
            "httpx-no-sdk",
            "Chat Completions overhead, no OTel SDK (vs plain httpx)",
            lambda: _figures_paths.httpx_enforcement_only(world, settings),
        )
        attempt(
            "httpx-vs-otel",
            "Chat Completions vs httpx + OTel httpx instrumentation",
            lambda: _figures_paths.httpx_versus_instrumented(world, settings),
        )
        attempt(
            "stream",
            "ConverseStream throughput",
            lambda: _figures.stream_throughput(world, settings),
        )
        attempt(
            "evaluate", "policy evaluation", lambda: _figures.policy_evaluation(world, settings)
        )
        attempt("wire", "wire check", lambda: _figures.wire_check(world, settings))
        attempt(
            "construct",
            "client construction",
            lambda: _figures.client_construction(world, settings),
        )
        attempt(
            "first-call",
            "first call resolving a profile",
            lambda: _figures.first_call_resolving_profile(world, settings),
        )
        attempt("concurrency", "concurrency", lambda: _figures.concurrency(world, settings))
        # Last: it makes the most calls, and its RSS figures are cleanest after the others.
        attempt("memory", "memory", lambda: _figures.memory(world, settings))
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print the table, write the report; exit 0 even when a target misses (it is a report)."""
    args = build_parser().parse_args(argv)
    settings = Settings.quick() if args.quick else Settings.full()
    if args.profile:
        from . import _profile

        with _world.open_world() as world:
            count = 50 if args.quick else 500
            print(_profile.added_by_secured(world, count=count))
            print()
            print(_profile.added_by_httpx_transport(world, count=count))
        return 0
    started = time.perf_counter()
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    print(f"securebedrock benchmarks ({'quick' if args.quick else 'full'})", file=sys.stderr)
    load_before = _machine.load_average()
    figures = run(settings, args.only)
    duration = time.perf_counter() - started
    machine = _machine.describe()
    # Other processes competing for the CPUs make every wall-clock figure noisier.
    machine["load_average_before"] = load_before
    machine["load_average_after"] = machine["load_average"]
    write_json(
        args.out,
        figures=figures,
        machine=machine,
        meta={
            "started_at": when,
            "quick": args.quick,
            "duration_s": round(duration, 1),
            "settings": settings.__dict__,
        },
    )
    print()
    print(render_table(figures))
    if args.markdown:
        print()
        print(render_markdown(figures, machine))
    print()
    print(
        f"{machine['nproc']} x {machine['cpu_model']}; Python {machine['python']}, "
        f"botocore {machine['botocore']}; load {load_before} before, "
        f"{machine['load_average_after']} after; {duration:.0f} s; "
        f"report: {args.out}"
    )
    return 0
