"""The measured world: one embedded endpoint, a raw boto3 client and a secured client.

Both clients talk to the *same* ``EmbeddedBedrock`` server, which runs in a
process of its own (``_endpoint.RemoteEndpoint``), with the same endpoint URL,
CA bundle, credentials and (default, keep-alive) connection pool. The raw
client is asked to send exactly the request the secured client ends up
sending after the policy has attached the guardrail and mapped the model to
its inference profile, so the server does the same work for both and any
difference is client-side cost: the price of securebedrock.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import tempfile
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from opentelemetry import metrics, trace

import securebedrock
from securebedrock import _adapter, _policy

from . import _signed
from ._endpoint import RemoteEndpoint
from ._telemetry import Telemetry

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
MODEL_ID = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MODEL_ARN = f"arn:aws:bedrock:{REGION}::foundation-model/{MODEL_ID}"
PROFILE_ARN = f"arn:aws:bedrock:{REGION}:{ACCOUNT_ID}:application-inference-profile/bench01"
GUARDRAIL_ID = "benchguard01"
GUARDRAIL_VERSION = "1"
PROMPT = "Summarise the quarterly operations report in three short bullet points."

#: What the caller passes (the secured client adds the guardrail and maps the model).
MESSAGES: tuple[dict[str, Any], ...] = ({"role": "user", "content": [{"text": PROMPT}]},)
INFERENCE_CONFIG: Mapping[str, Any] = types.MappingProxyType({"maxTokens": 256, "temperature": 0.2})


def guardrail_config() -> dict[str, str]:
    """The ``guardrailConfig`` the policy attaches (the raw client sends it by hand)."""
    return {
        "guardrailIdentifier": GUARDRAIL_ID,
        "guardrailVersion": GUARDRAIL_VERSION,
        "trace": "enabled",
    }


def stream_messages(events: int) -> list[dict[str, Any]]:
    """A prompt asking the embedded endpoint for a stream of ``events`` content deltas."""
    return [{"role": "user", "content": [{"text": f"{PROMPT} [[stream:{events}]]"}]}]


def full_policy() -> _policy.Policy:
    """The full policy: every per-call rule on (before ``server.pin``)."""
    return _policy.Policy(
        mode="enforce",
        tls=_policy.TLSPolicy(minimum_version="1.2"),
        network=_policy.NetworkPolicy(
            require_private_endpoint=True, allowed_cidrs=("127.0.0.0/8",)
        ),
        guardrail=_policy.GuardrailPolicy(
            identifier=GUARDRAIL_ID, version=GUARDRAIL_VERSION, trace="enabled"
        ),
        inference_profile=_policy.InferenceProfilePolicy(
            map=types.MappingProxyType({MODEL_ID: PROFILE_ARN}),
            known=types.MappingProxyType({PROFILE_ARN: _policy.KnownProfile(models=(MODEL_ARN,))}),
        ),
        regions=_policy.RegionsPolicy(allowed=(REGION,)),
        models=_policy.ModelsPolicy(allow=("anthropic.claude-*", "amazon.nova-*")),
    )


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def telemetry_kwargs(telemetry: Telemetry) -> dict[str, Any]:
    """How to hand our ``TracerProvider`` to ``securebedrock.client``.

    Explicit injection when the client takes it; otherwise the process-wide
    provider (set once, in ``install_global_provider``) is what it uses.
    """
    if _accepts(securebedrock.client, "tracer_provider"):
        return {"tracer_provider": telemetry.provider}
    return {}


_global_provider_set = False


def install_global_provider(telemetry: Telemetry) -> None:
    """Make ``telemetry`` the global provider too (raw boto3 emits no spans; harmless for it)."""
    global _global_provider_set
    if _global_provider_set:
        return
    trace.set_tracer_provider(telemetry.provider)
    _global_provider_set = True


@dataclass(kw_only=True)
class World:
    """The server, the two clients and the telemetry pipeline, for one benchmark run."""

    server: RemoteEndpoint
    client_kwargs: dict[str, Any]
    policy: _policy.Policy
    #: ``SECUREBEDROCK_POLICY_FILE`` / ``_PUBLIC_KEY`` of the signed org policy (set while open).
    policy_env: dict[str, str]
    telemetry: Telemetry
    raw: Any  # a botocore client: its operation methods are generated at run time
    secured: Any
    #: The same policy with the OpenTelemetry API's no-op providers: enforcement only.
    secured_without_sdk: Any

    # -- the calls compared ------------------------------------------------------

    def raw_converse(self) -> Any:
        """The typical Converse call as the secured client sends it, made by raw boto3."""
        return self.raw.converse(
            modelId=PROFILE_ARN,
            messages=list(MESSAGES),
            inferenceConfig=dict(INFERENCE_CONFIG),
            guardrailConfig=guardrail_config(),
        )

    def secured_converse(self) -> Any:
        """The typical Converse call through the secured client."""
        return self.secured.converse(
            modelId=MODEL_ID, messages=list(MESSAGES), inferenceConfig=dict(INFERENCE_CONFIG)
        )

    def secured_without_sdk_converse(self) -> Any:
        """The typical Converse call through the no-SDK secured client."""
        return self.secured_without_sdk.converse(
            modelId=MODEL_ID, messages=list(MESSAGES), inferenceConfig=dict(INFERENCE_CONFIG)
        )

    def raw_stream(self, events: int) -> Any:
        """A ConverseStream of ``events`` deltas, as the secured client sends it, by raw boto3."""
        return self.raw.converse_stream(
            modelId=PROFILE_ARN,
            messages=stream_messages(events),
            inferenceConfig=dict(INFERENCE_CONFIG),
            guardrailConfig=guardrail_config(),
        )

    def secured_stream(self, events: int) -> Any:
        """A ConverseStream of ``events`` deltas through the secured client."""
        return self.secured.converse_stream(
            modelId=MODEL_ID,
            messages=stream_messages(events),
            inferenceConfig=dict(INFERENCE_CONFIG),
        )

    # -- housekeeping ----------------------------------------------------------------

    def between_batches(self) -> None:
        """Forget what the server recorded and the spans exported (memory must stay flat)."""
        forget_requests(self.server)
        self.telemetry.clear()

    def wire_difference(self) -> str:
        """How the two clients' Converse requests differ on the wire ("" when identical).

        The comparison is only fair when the server gets the same request from
        both; this is checked, not assumed.
        """
        forget_requests(self.server)
        self.raw_converse()
        self.secured_converse()
        raw, secured = self.server.recent(2)
        forget_requests(self.server)
        differences = []
        if raw.operation != secured.operation:
            differences.append(f"operation {raw.operation} != {secured.operation}")
        if raw.path != secured.path or raw.query != secured.query:
            differences.append(f"path {raw.path}?{raw.query} != {secured.path}?{secured.query}")
        if raw.json != secured.json:
            differences.append(f"body {raw.json} != {secured.json}")
        return "; ".join(differences)


def forget_requests(server: Any) -> None:
    """Drop the server's request log (10,000 recorded requests would be memory growth)."""
    server.clear()


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def open_world() -> Iterator[World]:
    """Start the server in its own process, write and sign the org policy, build both clients.

    The full policy is the *org policy file* (signed; the environment points
    at it inside this process only), as a platform team ships it: every
    secured client, including the ones the construction figure makes,
    discovers it, verifies its signature and enforces it.
    """
    telemetry = Telemetry()
    if not telemetry_kwargs(telemetry):
        install_global_provider(telemetry)
    server = RemoteEndpoint(
        guardrails=[(GUARDRAIL_ID, GUARDRAIL_VERSION, ("forbidden",))], region=REGION
    )
    with server, tempfile.TemporaryDirectory(prefix="securebedrock-bench-") as scratch:
        server.add_inference_profile(PROFILE_ARN, [MODEL_ARN])
        client_kwargs = dict(server.client_kwargs())
        intended = server.pin(full_policy())
        policy_env = _signed.signed_policy_env(intended, scratch)
        with _environment(policy_env):
            secured = securebedrock.client(**client_kwargs, **telemetry_kwargs(telemetry))
            effective = _adapter.installed_policy(secured)
            if effective != intended:
                # Figures measured under another policy than the one described are worthless.
                raise RuntimeError(
                    f"the secured client enforces {effective!r}, not the benchmark policy"
                )
            world = World(
                server=server,
                client_kwargs=client_kwargs,
                policy=effective,
                policy_env=policy_env,
                telemetry=telemetry,
                raw=boto3.client("bedrock-runtime", **client_kwargs),
                secured=secured,
                secured_without_sdk=securebedrock.client(
                    **client_kwargs,
                    tracer_provider=trace.NoOpTracerProvider(),
                    meter_provider=metrics.NoOpMeterProvider(),
                ),
            )
            try:
                yield world
            finally:
                world.raw.close()
                world.secured.close()
                world.secured_without_sdk.close()
                telemetry.shutdown()
                gc.collect()
