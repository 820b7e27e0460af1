"""Each measured figure: a function taking the world and settings, returning a ``Figure``."""

from __future__ import annotations

import gc
import os
import threading
import time
import timeit
from collections.abc import Callable
from typing import Any

from . import _world
from ._report import ClientCpu, Figure, Target
from ._settings import Settings
from ._stats import Paired, interleave, median, percentile, time_each, time_each_with_cpu
from ._world import World

MIB = 1024 * 1024

# ----------------------------------------------------------------------------- helpers


def _warm(world: World, count: int) -> None:
    for _ in range(count):
        world.raw_converse()
        world.secured_converse()
    world.between_batches()


def consume_stream(response: Any) -> int:
    """Read every event of a ConverseStream response; the number of events."""
    count = 0
    for _event in response["stream"]:
        count += 1
    return count


def rss_bytes() -> int:
    """Resident set size now (``/proc/self/status`` VmRSS), not the peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


# ----------------------------------------------------------------------------- figures


def server_cost(world: World, settings: Settings) -> Figure:
    """The server's own time per Converse request, measured in the server's process.

    The round-trip ratio is only interpretable next to it: the larger the
    server's share of a round trip, the more it dilutes the client-side
    overhead (a real Bedrock call, hundreds of milliseconds of inference,
    dilutes it a thousand times more). The endpoint runs in its own process,
    so it no longer competes with the client for the interpreter lock; it
    times its handler (from parsed request line to response written) and
    reports its process CPU per request.
    """
    figure = Figure(
        key="server_per_request", title="server time per request", unit="us", target=None
    )
    for _ in range(min(20, settings.server_calls)):
        world.raw_converse()
    world.server.time_requests()
    try:
        walls, cpus = time_each_with_cpu(world.raw_converse, settings.server_calls)
    finally:
        timing = world.server.timing()
    world.between_batches()
    if timing.requests != settings.server_calls:
        return _with(
            figure,
            error=f"the server timed {timing.requests} requests, not {settings.server_calls}",
        )
    server_us = timing.median_s * 1e6
    server_cpu_us = timing.cpu_per_request_s * 1e6
    trip_us = median(walls) * 1e6
    client_cpu_us = median(cpus) * 1e6
    return _with(
        figure,
        value=server_us,
        detail=(
            f"{server_us:.0f} us of a {trip_us:.0f} us raw round trip ({server_us / trip_us:.0%}: "
            f"body read, SigV4 check, handler, response write); server CPU "
            f"{server_cpu_us:.0f} us/request, raw client CPU {client_cpu_us:.0f} us/call"
        ),
        data={
            "server_us": server_us,
            "server_cpu_us_per_request": server_cpu_us,
            "raw_round_trip_us": trip_us,
            "raw_client_cpu_us": client_cpu_us,
            "requests_timed": timing.requests,
        },
    )


def interleave_with_cpu(
    world: World,
    settings: Settings,
    raw: Callable[[], Any],
    secured: Callable[[], Any],
    *,
    rounds: int,
) -> tuple[Paired, dict[str, list[float]]]:
    """ABBA-interleaved batches of ``raw`` and ``secured``: the pairing of their median
    call times and, per side, the median client CPU per call of each batch."""
    cpu: dict[str, list[float]] = {"raw": [], "secured": []}

    def batch(name: str, call: Callable[[], Any]) -> Callable[[], float]:
        def run() -> float:
            walls, cpus = time_each_with_cpu(call, settings.roundtrip_batch)
            cpu[name].append(median(cpus))
            world.between_batches()
            return median(walls)

        return run

    return interleave(batch("raw", raw), batch("secured", secured), rounds=rounds), cpu


def paired_figure(
    figure: Figure, raw_name: str, paired: Paired, cpu: dict[str, list[float]]
) -> tuple[Figure, dict[str, Any]]:
    """``figure`` valued by the paired ratio, with its detail and client CPU, and its data."""
    deltas = [b - a for a, b in zip(paired.a_rounds, paired.b_rounds, strict=True)]
    overhead_us = median(deltas) * 1e6
    raw_cpu_us, secured_cpu_us = median(cpu["raw"]) * 1e6, median(cpu["secured"]) * 1e6
    data: dict[str, Any] = {
        "raw_us": paired.a * 1e6,
        "secured_us": paired.b * 1e6,
        "overhead_us": overhead_us,
        "raw_client_cpu_us": raw_cpu_us,
        "secured_client_cpu_us": secured_cpu_us,
        "client_cpu_overhead_us": secured_cpu_us - raw_cpu_us,
        "round_ratios": list(paired.ratios),
    }
    detail = (
        f"{raw_name} {paired.a * 1e6:.0f} us, secured {paired.b * 1e6:.0f} us: "
        f"{overhead_us:+.0f} us/call; client CPU {raw_cpu_us:.0f} -> {secured_cpu_us:.0f} us"
    )
    cpu_cost = ClientCpu(unit="us/call", baseline=raw_cpu_us, secured=secured_cpu_us)
    return _with(figure, value=paired.ratio, detail=detail, cpu=cpu_cost), data


def _compare_converse(
    world: World,
    settings: Settings,
    figure: Figure,
    secured: Callable[[], Any],
    *,
    rounds: int,
) -> tuple[Figure, dict[str, Any]]:
    """Raw vs ``secured`` Converse, ABBA-interleaved batches: the figure and its data."""
    paired, cpu = interleave_with_cpu(world, settings, world.raw_converse, secured, rounds=rounds)
    return paired_figure(figure, "raw", paired, cpu)


def converse_overhead(world: World, settings: Settings) -> Figure:
    """Converse round trip, secured vs raw, ABBA-interleaved batches, median of batch ratios.

    No target of its own: with the OpenTelemetry SDK the secured client records
    an audit span that raw boto3 does not, so its target is set against boto3
    with OpenTelemetry's botocore instrumentation (``versus_instrumented_boto3``);
    the policy's own cost is judged without the SDK (``converse_enforcement_only``).
    """
    figure = Figure(
        key="converse_overhead",
        title="Converse round-trip overhead",
        unit="ratio",
        target=None,
    )
    _warm(world, settings.warmup_calls)
    difference = world.wire_difference()
    if difference:
        return _with(figure, error=f"the two clients send different requests: {difference}")
    result, data = _compare_converse(
        world, settings, figure, world.secured_converse, rounds=settings.roundtrip_rounds
    )
    ratios = data["round_ratios"]
    data.update(
        ratio_p10=percentile(ratios, 0.1),
        ratio_p90=percentile(ratios, 0.9),
        rounds=settings.roundtrip_rounds,
        calls_per_batch=settings.roundtrip_batch,
    )
    return _with(result, data=data)


def converse_enforcement_only(world: World, settings: Settings) -> Figure:
    """The same comparison with OpenTelemetry's no-op providers: the policy alone.

    Target <= 1.02: the policy engine, the wire check and the transport checks
    together must be nearly free.
    """
    figure = Figure(
        key="converse_overhead_without_sdk",
        title="Converse overhead, no OTel SDK",
        unit="ratio",
        target=Target(comparison="<=", bound=1.02),
    )
    for _ in range(settings.warmup_calls // 4 + 1):
        world.secured_without_sdk_converse()
    result, data = _compare_converse(
        world,
        settings,
        figure,
        world.secured_without_sdk_converse,
        rounds=max(2, settings.roundtrip_rounds // 2),
    )
    return _with(result, data=data)


def versus_instrumented_boto3(world: World, settings: Settings) -> Figure:
    """Secured vs raw boto3 *with* OpenTelemetry's botocore instrumentation (same provider).

    Target <= 0.90: our audit span, carrying the policy decision, must cost
    less than the telemetry-only peer's span. The instrumentation patches
    ``BaseClient._make_api_call`` on the class, so the raw client records a
    span per call; the secured client bound the original method when it was
    made, so it records only its own audit span.
    """
    figure = Figure(
        key="converse_vs_instrumented_boto3",
        title="Converse vs boto3 + OTel botocore instrumentation",
        unit="ratio",
        target=Target(comparison="<=", bound=0.90),
    )
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    instrumentor = BotocoreInstrumentor()  # type: ignore[no-untyped-call]
    instrumentor.instrument(tracer_provider=world.telemetry.provider)
    try:
        before = world.telemetry.counter.started
        world.raw_converse()
        if world.telemetry.counter.started == before:
            return _with(figure, error="the botocore instrumentation recorded no span")
        for _ in range(settings.warmup_calls // 4 + 1):
            world.raw_converse()
            world.secured_converse()
        world.between_batches()

        paired, cpu = interleave_with_cpu(
            world,
            settings,
            world.raw_converse,
            world.secured_converse,
            rounds=max(2, settings.roundtrip_rounds // 3),
        )
    finally:
        instrumentor.uninstrument()
    deltas = [b - a for a, b in zip(paired.a_rounds, paired.b_rounds, strict=True)]
    raw_cpu_us, secured_cpu_us = median(cpu["raw"]) * 1e6, median(cpu["secured"]) * 1e6
    return _with(
        figure,
        value=paired.ratio,
        cpu=ClientCpu(unit="us/call", baseline=raw_cpu_us, secured=secured_cpu_us),
        detail=(
            f"instrumented raw {paired.a * 1e6:.0f} us, secured {paired.b * 1e6:.0f} us: "
            f"{median(deltas) * 1e6:+.0f} us/call; client CPU {raw_cpu_us:.0f} -> "
            f"{secured_cpu_us:.0f} us"
        ),
        data={
            "instrumented_raw_client_cpu_us": raw_cpu_us,
            "secured_client_cpu_us": secured_cpu_us,
            "instrumented_raw_us": paired.a * 1e6,
            "secured_us": paired.b * 1e6,
            "overhead_us": median(deltas) * 1e6,
            "round_ratios": list(paired.ratios),
        },
    )


def stream_throughput(world: World, settings: Settings) -> Figure:
    """ConverseStream of N events: events per second, secured / raw."""
    figure = Figure(
        key="stream_throughput",
        title="ConverseStream throughput",
        unit="ratio",
        target=Target(comparison=">=", bound=0.98),
    )
    events = settings.stream_events
    seen: dict[str, int] = {}
    cpu: dict[str, list[float]] = {"raw": [], "secured": []}

    def batch(name: str, start_stream: Callable[[int], Any]) -> Callable[[], float]:
        def run() -> float:
            # A collection of the previous batch's garbage would land inside a ~30 ms
            # stream and swing that stream's rate by a third; start each batch clean.
            gc.collect()
            rates = []
            for _ in range(settings.stream_batch):
                start_cpu = time.thread_time()
                start = time.perf_counter()
                count = consume_stream(start_stream(events))
                rates.append(count / (time.perf_counter() - start))
                cpu[name].append(time.thread_time() - start_cpu)
                seen[name] = count
            world.between_batches()
            return median(rates)

        return run

    # A few of each first: connections, parsers and the event-stream decoder warm.
    for _ in range(2):
        batch("raw", world.raw_stream)()
        batch("secured", world.secured_stream)()
    paired = interleave(
        batch("raw", world.raw_stream),
        batch("secured", world.secured_stream),
        rounds=settings.stream_rounds,
    )
    if seen.get("raw") != seen.get("secured"):
        return _with(figure, error=f"event counts differ: {seen}")
    raw_cpu, secured_cpu = median(cpu["raw"]) * 1e3, median(cpu["secured"]) * 1e3
    return _with(
        figure,
        value=paired.ratio,
        cpu=ClientCpu(unit="ms/stream", baseline=raw_cpu, secured=secured_cpu),
        detail=(
            f"{seen.get('raw')} events/stream; raw {paired.a:,.0f} ev/s, "
            f"secured {paired.b:,.0f} ev/s; client CPU per stream {raw_cpu:.1f} -> "
            f"{secured_cpu:.1f} ms"
        ),
        data={
            "raw_client_cpu_ms_per_stream": raw_cpu,
            "secured_client_cpu_ms_per_stream": secured_cpu,
            "events_per_stream": seen.get("raw"),
            "content_deltas_requested": events,
            "raw_events_per_s": paired.a,
            "secured_events_per_s": paired.b,
            "round_ratios": list(paired.ratios),
        },
    )


def policy_evaluation(world: World, settings: Settings) -> Figure:
    """The pure engine on the typical call the round-trip figure makes."""
    figure = Figure(
        key="policy_evaluation",
        title="policy evaluation",
        unit="us",
        target=Target(comparison="<=", bound=5.0),
    )
    from securebedrock import _rules

    params = {
        "modelId": _world.MODEL_ID,
        "messages": list(_world.MESSAGES),
        "inferenceConfig": dict(_world.INFERENCE_CONFIG),
    }
    call = _adapter_call(world, "Converse", params)
    decision = _rules.evaluate(world.policy, call)
    changes = [change.path for change in decision.changes]
    rules = [violation.rule for violation in decision.violations]
    timer = timeit.Timer(
        "evaluate(policy, call)",
        globals={"evaluate": _rules.evaluate, "policy": world.policy, "call": call},
    )
    timer.timeit(settings.evaluate_loops)  # warm any caches the engine keeps
    per_call: list[float] = []
    cpu_per_call: list[float] = []
    for _ in range(settings.evaluate_repeats):
        start_cpu = time.thread_time()
        per_call.append(timer.timeit(settings.evaluate_loops) / settings.evaluate_loops)
        cpu_per_call.append((time.thread_time() - start_cpu) / settings.evaluate_loops)
    value = median(per_call) * 1e6
    cpu_us = median(cpu_per_call) * 1e6
    return _with(
        figure,
        value=value,
        detail=(
            f"Converse, full policy; CPU {cpu_us:.1f} us; changes {changes or 'none'}"
            + (f"; VIOLATIONS {rules}" if rules else "")
        ),
        data={
            "median_us": value,
            "cpu_median_us": cpu_us,
            "min_us": min(per_call) * 1e6,
            "changes": changes,
            "violations": rules,
            "loops": settings.evaluate_loops,
            "repeats": settings.evaluate_repeats,
        },
    )


def wire_check(world: World, settings: Settings) -> Figure:
    """The last check on the prepared request (``_wire.WireCheck.check``), per request.

    The request and the call context are captured from a real secured Converse
    (full policy: guardrail mandated, so the JSON body is parsed; tiers restricted;
    SigV4 required), then the check alone is timed on them.
    """
    figure = Figure(key="wire_check", title="wire check", unit="us", target=None)
    from securebedrock import _wire

    captured: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        captured["request"] = request
        captured["context"] = _wire.current_call.get()

    events = world.secured.meta.events
    events.register_last("before-send.bedrock-runtime.Converse", capture)
    try:
        world.secured_converse()
    finally:
        events.unregister("before-send.bedrock-runtime.Converse", capture)
    context = captured.get("context")
    wire = getattr(context, "wire", None)
    if wire is None:
        return _with(figure, error="no wire check on the secured client's session")
    token = _wire.current_call.set(context)
    try:
        timer = timeit.Timer("check(request)", globals={"check": wire.check, **captured})
        timer.timeit(settings.evaluate_loops)
        per_call = [
            total / settings.evaluate_loops
            for total in timer.repeat(
                repeat=settings.evaluate_repeats, number=settings.evaluate_loops
            )
        ]
    finally:
        _wire.current_call.reset(token)
    value = median(per_call) * 1e6
    request = captured["request"]
    return _with(
        figure,
        value=value,
        detail=f"Converse, full policy, {len(request.body or b'')} B JSON body parsed",
        data={
            "median_us": value,
            "min_us": min(per_call) * 1e6,
            "body_bytes": len(request.body or b""),
            "loops": settings.evaluate_loops,
            "repeats": settings.evaluate_repeats,
        },
    )


def _adapter_call(world: World, operation: str, params: dict[str, Any]) -> Any:
    """The ``Call`` the adapter builds for this client (falls back to building one by hand)."""
    from securebedrock import _rules

    state = world.secured.__dict__.get("_securebedrock_state")
    build = getattr(state, "build_call", None)
    if callable(build):
        return build(operation, params)
    return _rules.Call(
        operation=operation, region=_world.REGION, endpoint_host="127.0.0.1", params=params
    )


def client_construction(world: World, settings: Settings) -> Figure:
    """``securebedrock.client`` (signed org policy file verified) vs ``boto3.client``."""
    figure = Figure(
        key="client_construction",
        title="client construction",
        unit="ratio",
        target=Target(comparison="<=", bound=1.5),
    )
    import boto3

    import securebedrock

    kwargs = world.client_kwargs
    telemetry = _world.telemetry_kwargs(world.telemetry)

    def make_raw() -> None:
        boto3.client("bedrock-runtime", **kwargs).close()

    def make_secured() -> None:
        securebedrock.client(**kwargs, **telemetry).close()

    cpu: dict[str, list[float]] = {"raw": [], "secured": []}

    def batch(name: str, make: Callable[[], None]) -> Callable[[], float]:
        def run() -> float:
            walls, cpus = time_each_with_cpu(make, settings.construct_batch)
            cpu[name].append(median(cpus))
            gc.collect()
            return median(walls)

        return run

    # An application that never calls boto3.client() has no boto3 default session:
    # the second and later secured clients must not pay for a fresh session each.
    saved_session = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None
    try:
        without_default = median(time_each(make_secured, 3)[1:])
    finally:
        boto3.DEFAULT_SESSION = saved_session
    for _ in range(2):
        make_raw()
        make_secured()
    # A client that is closed and dropped must leave nothing behind (a per-client
    # registration in a global registry is a leak that grows with every client).
    gc.collect()
    objects_before = len(gc.get_objects())
    paired = interleave(
        batch("raw", make_raw), batch("secured", make_secured), rounds=settings.construct_rounds
    )
    gc.collect()
    made = settings.construct_rounds * settings.construct_batch
    retained = (len(gc.get_objects()) - objects_before) / made
    raw_cpu, secured_cpu = median(cpu["raw"]) * 1e3, median(cpu["secured"]) * 1e3
    return _with(
        figure,
        value=paired.ratio,
        cpu=ClientCpu(unit="ms/client", baseline=raw_cpu, secured=secured_cpu),
        detail=(
            f"raw {paired.a * 1e3:.2f} ms, secured {paired.b * 1e3:.2f} ms; CPU "
            f"{raw_cpu:.2f} -> {secured_cpu:.2f} ms (signed org policy file discovered); "
            f"{retained:.1f} objects retained per pair of clients made and dropped; "
            f"{without_default * 1e3:.2f} ms without a boto3 default session"
        ),
        data={
            "secured_ms_without_boto3_default_session": without_default * 1e3,
            "objects_retained_per_pair": retained,
            "raw_ms": paired.a * 1e3,
            "secured_ms": paired.b * 1e3,
            "raw_cpu_ms": raw_cpu,
            "secured_cpu_ms": secured_cpu,
            "cpu_ratio": secured_cpu / raw_cpu if raw_cpu > 0 else float("nan"),
            "signed_policy_file": sorted(world.policy_env),
            "round_ratios": list(paired.ratios),
        },
    )


def first_call_resolving_profile(world: World, settings: Settings) -> Figure:
    """A new secured client's first call when the profile must be resolved.

    No target. Without ``[inference_profile.known]`` the first call of each
    client asks the control plane (``GetInferenceProfile``, answered by the
    embedded server) where the profile routes; that first call pays for a
    control-plane client too. The signed org policy file is set aside for this
    figure (it declares the profile): the same policy without the declaration is
    the org policy file meanwhile (``server.org_policy``, unsigned).
    """
    figure = Figure(
        key="first_call_resolving_profile",
        title="first call resolving a profile",
        unit="ms",
        target=None,
    )
    import dataclasses
    import types

    import securebedrock

    policy = dataclasses.replace(
        world.policy,
        inference_profile=dataclasses.replace(
            world.policy.inference_profile, known=types.MappingProxyType({})
        ),
    )
    firsts: list[float] = []
    seconds: list[float] = []
    try:
        with world.server.org_policy(policy):
            for _ in range(max(2, settings.construct_batch - 2)):
                client = securebedrock.client(
                    **world.client_kwargs, **_world.telemetry_kwargs(world.telemetry)
                )

                def call(client: Any = client) -> None:
                    client.converse(modelId=_world.MODEL_ID, messages=list(_world.MESSAGES))

                gc.collect()  # a full collection landing in one of few samples would dominate
                first, second = time_each(call, 2)
                firsts.append(first)
                seconds.append(second)
                client.close()
    finally:
        world.between_batches()
    return _with(
        figure,
        value=median(firsts) * 1e3,
        detail=f"then {median(seconds) * 1e3:.1f} ms for the second call (the route is cached)",
        data={"first_ms": median(firsts) * 1e3, "second_ms": median(seconds) * 1e3},
    )


def memory(world: World, settings: Settings) -> list[Figure]:
    """RSS, live spans, open files and live objects over many calls, abandoned streams included."""
    growth = Figure(
        key="memory_rss_growth",
        title="memory: RSS growth after warm-up",
        unit="MiB",
        target=Target(comparison="<=", bound=2.0),
    )
    live = Figure(
        key="memory_live_spans",
        title="memory: live spans after calls",
        unit="spans",
        target=Target(comparison="<=", bound=0),
    )
    total = settings.memory_calls
    every = max(1, settings.memory_stream_every)
    sample_every = max(1, total // settings.memory_samples)
    # The first fifth fills pools, caches and the allocator's arenas (RSS steps up once,
    # then stays flat); growth is measured from there.
    warmup = sample_every * max(1, settings.memory_samples // 5)
    samples: list[dict[str, Any]] = []

    def sample(calls: int) -> None:
        world.between_batches()
        gc.collect()
        samples.append(
            {
                "calls": calls,
                "rss_mib": rss_bytes() / MIB,
                "live_spans": world.telemetry.counter.live,
                "open_fds": open_fds(),
                "gc_objects": len(gc.get_objects()),
            }
        )

    abandoned = 0
    for index in range(1, total + 1):
        if index % every == 0:
            # An abandoned stream: read one event, drop the response, let gc find it.
            response = world.secured_stream(50)
            next(iter(response["stream"]))
            del response
            abandoned += 1
        else:
            world.secured_converse()
        if index % sample_every == 0 or index == total:
            sample(index)
    after_warmup = [s for s in samples if s["calls"] >= warmup] or samples
    first, last = after_warmup[0], samples[-1]
    rss_growth = last["rss_mib"] - first["rss_mib"]
    data = {
        "calls": total,
        "abandoned_streams": abandoned,
        "warmup_calls": warmup,
        "samples": samples,
        "spans_started": world.telemetry.counter.started,
        "spans_ended": world.telemetry.counter.ended,
    }
    trend = (
        f"RSS {first['rss_mib']:.1f} -> {last['rss_mib']:.1f} MiB, "
        f"fds {first['open_fds']} -> {last['open_fds']}, "
        f"gc objects {first['gc_objects']:,} -> {last['gc_objects']:,}"
    )
    return [
        _with(
            growth,
            value=rss_growth,
            detail=f"{total:,} calls ({abandoned:,} abandoned streams): {trend}",
            data=data,
        ),
        _with(
            live,
            value=float(last["live_spans"]),
            detail=(
                f"{world.telemetry.counter.started:,} started, "
                f"{world.telemetry.counter.ended:,} ended"
            ),
            data={"live_spans": last["live_spans"]},
        ),
    ]


def concurrency(world: World, settings: Settings) -> Figure:
    """N threads sharing one client: calls per second, secured / raw.

    Client CPU is the benchmark process's (``time.process_time``, all its
    threads) per call: the endpoint runs in another process.
    """
    figure = Figure(
        key="concurrency",
        title=f"concurrency ({settings.threads} threads, one client)",
        unit="ratio",
        target=Target(comparison=">=", bound=0.95),
    )
    threads = settings.threads
    per_thread = settings.thread_calls

    cpu: dict[str, list[float]] = {"raw": [], "secured": []}

    def run_threads(name: str, call: Callable[[], Any]) -> float:
        barrier = threading.Barrier(threads + 1)
        errors: list[BaseException] = []

        def worker() -> None:
            barrier.wait()
            try:
                for _ in range(per_thread):
                    call()
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
        gc.collect()  # each batch starts without the previous one's garbage
        for thread in workers:
            thread.start()
        barrier.wait()
        start_cpu = time.process_time()
        start = time.perf_counter()
        for thread in workers:
            thread.join()
        elapsed = time.perf_counter() - start
        cpu[name].append((time.process_time() - start_cpu) / (threads * per_thread))
        world.between_batches()
        if errors:
            raise errors[0]
        return threads * per_thread / elapsed

    run_threads("raw", world.raw_converse)
    run_threads("secured", world.secured_converse)
    cpu["raw"].clear()
    cpu["secured"].clear()
    paired = interleave(
        lambda: run_threads("raw", world.raw_converse),
        lambda: run_threads("secured", world.secured_converse),
        rounds=settings.concurrency_rounds,
    )
    raw_cpu_us, secured_cpu_us = median(cpu["raw"]) * 1e6, median(cpu["secured"]) * 1e6
    return _with(
        figure,
        value=paired.ratio,
        cpu=ClientCpu(unit="us/call", baseline=raw_cpu_us, secured=secured_cpu_us),
        detail=(
            f"raw {paired.a:,.0f} calls/s, secured {paired.b:,.0f} calls/s; client CPU "
            f"{raw_cpu_us:.0f} -> {secured_cpu_us:.0f} us/call"
        ),
        data={
            "raw_client_cpu_us": raw_cpu_us,
            "secured_client_cpu_us": secured_cpu_us,
            "raw_calls_per_s": paired.a,
            "secured_calls_per_s": paired.b,
            "threads": threads,
            "calls_per_thread": per_thread,
            "round_ratios": list(paired.ratios),
        },
    )


def _with(figure: Figure, **changes: Any) -> Figure:
    import dataclasses

    return dataclasses.replace(figure, **changes)
