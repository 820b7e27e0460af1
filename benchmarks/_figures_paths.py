"""The async client and the httpx transport against their own raw peers.

Same method as the boto3 figures (``_figures``): the endpoint in its own process,
ABBA-interleaved batches, wire-identical requests (checked, not assumed), the
median of per-round ratios, client CPU per call beside the wall-clock ratio.

- ``async_enforcement_only``: ``securebedrock.aio.client`` with OpenTelemetry's no-op
  providers vs a raw aiobotocore client (target <= 1.02). There is no
  telemetry-only peer for aiobotocore: OpenTelemetry's botocore instrumentation
  wraps ``BaseClient._make_api_call``, which aiobotocore's client overrides, so it
  records nothing for async calls, and no aiobotocore instrumentation is published.
- ``httpx_enforcement_only``: an ``httpx.Client`` on ``securebedrock.HTTPTransport``
  (no-op providers) vs a plain ``httpx.Client`` sending the same Chat Completions
  request, signed with SigV4 by botocore's ``SigV4Auth`` (target <= 1.02).
- ``httpx_versus_instrumented``: the transport with the SDK provider vs the plain
  client instrumented by ``opentelemetry-instrumentation-httpx`` on the same
  provider (target <= 0.90).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace

import securebedrock

from ._figures import interleave_with_cpu, paired_figure
from ._report import Figure, Target
from ._settings import Settings
from ._stats import Paired, interleave, median
from ._world import (
    INFERENCE_CONFIG,
    MESSAGES,
    MODEL_ID,
    PROFILE_ARN,
    REGION,
    World,
    guardrail_config,
)

CHAT_PATH = "/openai/v1/chat/completions"


def _with(figure: Figure, **changes: Any) -> Figure:
    return dataclasses.replace(figure, **changes)


def _paired_figure(
    figure: Figure,
    a_name: str,
    paired: Paired,
    cpu: dict[str, list[float]],
    *,
    rounds: int,
    calls_per_batch: int,
) -> Figure:
    result, data = paired_figure(figure, a_name, paired, cpu)
    data.update(rounds=rounds, calls_per_batch=calls_per_batch)
    return _with(result, data=data)


def _differences(raw: Any, secured: Any, headers: tuple[str, ...] = ()) -> str:
    """How two recorded requests differ in what the server works on ("" when identical)."""
    found = []
    if (raw.operation, raw.path, raw.query) != (secured.operation, secured.path, secured.query):
        found.append(f"{raw.operation} {raw.path}?{raw.query} != {secured.path}?{secured.query}")
    if raw.json != secured.json:
        found.append(f"body {raw.json} != {secured.json}")
    if raw.auth != secured.auth:
        found.append(f"auth {raw.auth} != {secured.auth}")
    raw_headers, secured_headers = dict(raw.headers), dict(secured.headers)
    for name in headers:
        if raw_headers.get(name) != secured_headers.get(name):
            found.append(f"{name} {raw_headers.get(name)} != {secured_headers.get(name)}")
    return "; ".join(found)


# ----------------------------------------------------------------------------- async


async def _timed_batch(call: Callable[[], Awaitable[Any]], count: int) -> tuple[float, float]:
    """Median wall and this thread's CPU seconds per call, over ``count`` awaited calls."""
    clock, cpu = time.perf_counter, time.thread_time
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(count):
        start_cpu = cpu()
        start = clock()
        await call()
        walls.append(clock() - start)
        cpus.append(cpu() - start_cpu)
    return median(walls), median(cpus)


def async_enforcement_only(world: World, settings: Settings) -> Figure:
    """Converse through ``securebedrock.aio`` (no SDK) vs raw aiobotocore, one event loop."""
    figure = Figure(
        key="async_overhead_without_sdk",
        title="async Converse overhead, no OTel SDK (vs aiobotocore)",
        unit="ratio",
        target=Target(comparison="<=", bound=1.02),
    )
    from aiobotocore.session import AioSession

    import securebedrock.aio
    from securebedrock import _adapter

    loop = asyncio.new_event_loop()
    try:
        raw_context = AioSession().create_client("bedrock-runtime", **world.client_kwargs)
        secured_context = securebedrock.aio.client(
            **world.client_kwargs,
            tracer_provider=trace.NoOpTracerProvider(),
            meter_provider=metrics.NoOpMeterProvider(),
        )
        raw = loop.run_until_complete(raw_context.__aenter__())
        secured = loop.run_until_complete(secured_context.__aenter__())
        try:
            if _adapter.installed_policy(secured) != world.policy:
                return _with(figure, error="the async client enforces another policy")

            async def raw_call() -> Any:
                return await raw.converse(
                    modelId=PROFILE_ARN,
                    messages=list(MESSAGES),
                    inferenceConfig=dict(INFERENCE_CONFIG),
                    guardrailConfig=guardrail_config(),
                )

            async def secured_call() -> Any:
                return await secured.converse(
                    modelId=MODEL_ID,
                    messages=list(MESSAGES),
                    inferenceConfig=dict(INFERENCE_CONFIG),
                )

            with warnings.catch_warnings():
                # The raw client is unsecured on purpose: its one warning is not news.
                warnings.simplefilter("ignore", securebedrock.UnsecuredClientWarning)
                for _ in range(settings.warmup_calls // 4 + 1):
                    loop.run_until_complete(raw_call())
                    loop.run_until_complete(secured_call())
            world.between_batches()
            loop.run_until_complete(raw_call())
            loop.run_until_complete(secured_call())
            difference = _differences(*world.server.recent(2))
            world.between_batches()
            if difference:
                return _with(figure, error=f"the two clients send different requests: {difference}")

            cpu: dict[str, list[float]] = {"raw": [], "secured": []}

            def batch(name: str, call: Callable[[], Awaitable[Any]]) -> Callable[[], float]:
                def run() -> float:
                    wall, cpu_s = loop.run_until_complete(
                        _timed_batch(call, settings.roundtrip_batch)
                    )
                    cpu[name].append(cpu_s)
                    world.between_batches()
                    return wall

                return run

            rounds = max(2, settings.roundtrip_rounds // 2)
            paired = interleave(
                batch("raw", raw_call), batch("secured", secured_call), rounds=rounds
            )
        finally:
            loop.run_until_complete(secured_context.__aexit__(None, None, None))
            loop.run_until_complete(raw_context.__aexit__(None, None, None))
    finally:
        loop.close()
    return _paired_figure(
        figure,
        "aiobotocore",
        paired,
        cpu,
        rounds=rounds,
        calls_per_batch=settings.roundtrip_batch,
    )


# ----------------------------------------------------------------------------- httpx


def _chat_body(model: str) -> bytes:
    return json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": MESSAGES[0]["content"][0]["text"]}],
            "max_tokens": INFERENCE_CONFIG["maxTokens"],
            "temperature": INFERENCE_CONFIG["temperature"],
        }
    ).encode()


#: What the transport adds for the benchmark policy's guardrail (the raw client sends it by hand).
def _guardrail_headers() -> dict[str, str]:
    config = guardrail_config()
    return {
        "X-Amzn-Bedrock-GuardrailIdentifier": config["guardrailIdentifier"],
        "X-Amzn-Bedrock-GuardrailVersion": config["guardrailVersion"],
        "X-Amzn-Bedrock-Trace": config["trace"].upper(),
    }


class _RawChat:
    """A plain ``httpx.Client`` sending the request the transport ends up sending, SigV4-signed."""

    def __init__(self, world: World) -> None:
        import botocore.session
        import httpx
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        kwargs = world.client_kwargs
        session = botocore.session.Session()
        session.set_credentials(kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"])
        self._credentials = session.get_credentials()
        self._url = f"{world.server.endpoint_url}{CHAT_PATH}"
        self._body = _chat_body(PROFILE_ARN)
        self._sigv4, self._request = SigV4Auth, AWSRequest
        self.http = httpx.Client(verify=kwargs["verify"])

    def __call__(self) -> Any:
        headers = {"Content-Type": "application/json", **_guardrail_headers()}
        request = self._request(method="POST", url=self._url, headers=headers, data=self._body)
        self._sigv4(self._credentials.get_frozen_credentials(), "bedrock", REGION).add_auth(request)
        response = self.http.post(self._url, content=self._body, headers=dict(request.headers))
        response.raise_for_status()
        return response.content


class _SecuredChat:
    """An ``httpx.Client`` on ``securebedrock.HTTPTransport`` (adds guardrail, profile, SigV4)."""

    def __init__(self, world: World, **observe: Any) -> None:
        import httpx

        kwargs = world.client_kwargs
        self.transport = securebedrock.HTTPTransport(
            region_name=REGION,
            verify=kwargs["verify"],
            aws_access_key_id=kwargs["aws_access_key_id"],
            aws_secret_access_key=kwargs["aws_secret_access_key"],
            **observe,
        )
        self._url = f"{world.server.endpoint_url}{CHAT_PATH}"
        self._body = _chat_body(MODEL_ID)
        self.http = httpx.Client(transport=self.transport)

    def __call__(self) -> Any:
        response = self.http.post(
            self._url, content=self._body, headers={"Content-Type": "application/json"}
        )
        response.raise_for_status()
        return response.content


@contextmanager
def _chat_clients(world: World, **observe: Any) -> Iterator[tuple[_RawChat, _SecuredChat]]:
    raw, secured = _RawChat(world), _SecuredChat(world, **observe)
    try:
        yield raw, secured
    finally:
        raw.http.close()
        secured.http.close()


def _compare_chat(
    world: World,
    settings: Settings,
    figure: Figure,
    raw: Callable[[], Any],
    secured: _SecuredChat,
    *,
    raw_name: str,
    rounds: int,
) -> Figure:

    if secured.transport.policy != world.policy:
        return _with(figure, error="the transport enforces another policy than the benchmark's")
    for _ in range(settings.warmup_calls // 4 + 1):
        raw()
        secured()
    world.between_batches()
    raw()
    secured()
    difference = _differences(
        *world.server.recent(2), headers=tuple(h.lower() for h in _guardrail_headers())
    )
    world.between_batches()
    if difference:
        return _with(figure, error=f"the two clients send different requests: {difference}")
    paired, cpu = interleave_with_cpu(world, settings, raw, secured, rounds=rounds)
    return _paired_figure(
        figure, raw_name, paired, cpu, rounds=rounds, calls_per_batch=settings.roundtrip_batch
    )


def httpx_enforcement_only(world: World, settings: Settings) -> Figure:
    """Chat Completions through ``HTTPTransport`` (no SDK) vs plain httpx with SigV4."""
    figure = Figure(
        key="httpx_overhead_without_sdk",
        title="Chat Completions overhead, no OTel SDK (vs plain httpx)",
        unit="ratio",
        target=Target(comparison="<=", bound=1.02),
    )
    observe = {
        "tracer_provider": trace.NoOpTracerProvider(),
        "meter_provider": metrics.NoOpMeterProvider(),
    }
    with _chat_clients(world, **observe) as (raw, secured):
        return _compare_chat(
            world,
            settings,
            figure,
            raw,
            secured,
            raw_name="plain httpx",
            rounds=max(2, settings.roundtrip_rounds // 2),
        )


def httpx_versus_instrumented(world: World, settings: Settings) -> Figure:
    """The transport with the SDK vs plain httpx + opentelemetry-instrumentation-httpx."""
    figure = Figure(
        key="httpx_vs_instrumented_httpx",
        title="Chat Completions vs httpx + OTel httpx instrumentation",
        unit="ratio",
        target=Target(comparison="<=", bound=0.90),
    )
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    with _chat_clients(world, tracer_provider=world.telemetry.provider) as (raw, secured):
        # Only the plain client is instrumented: the transport records its own audit span.
        HTTPXClientInstrumentor.instrument_client(
            raw.http, tracer_provider=world.telemetry.provider
        )
        try:
            before = world.telemetry.counter.started
            raw()
            if world.telemetry.counter.started == before:
                return _with(figure, error="the httpx instrumentation recorded no span")
            return _compare_chat(
                world,
                settings,
                figure,
                raw,
                secured,
                raw_name="instrumented httpx",
                rounds=max(2, settings.roundtrip_rounds // 3),
            )
        finally:
            HTTPXClientInstrumentor.uninstrument_client(raw.http)
