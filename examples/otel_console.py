"""OpenTelemetry: print securebedrock's audit spans with the SDK's console exporter.

securebedrock uses the global tracer provider (``opentelemetry-api``); install
``opentelemetry-sdk`` (``pip install 'securebedrock[otel]'``) and configure an
exporter as you would for any instrumented library. Spans carry the decision,
the violated rules, the guardrail, the TLS version and token usage: never the
prompt or the completion.

Run it: ``python examples/otel_console.py``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import securebedrock
from securebedrock.testing import EmbeddedBedrock


# --8<-- [start:setup]
def configure_tracing() -> TracerProvider:
    """Print every finished span to stdout (use an OTLP exporter in production)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-console-example"}))
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


# --8<-- [end:setup]


def converse(client: Any, model_id: str) -> None:
    """One Converse call (its span is printed when it ends)."""
    client.converse(modelId=model_id, messages=[{"role": "user", "content": [{"text": "Hi"}]}])


def main() -> None:
    """One allowed call and one refused call, each with its audit span."""
    provider = configure_tracing()
    with EmbeddedBedrock() as server, server.org_policy():
        client = securebedrock.client(**server.client_kwargs())
        converse(client, "anthropic.claude-3-haiku-20240307-v1:0")
        try:
            converse(client, "global.anthropic.claude-sonnet-4-20250514-v1:0")
        except securebedrock.PolicyViolation as refused:
            print(f"# refused by {refused.rule}; its span has decision=deny")
    provider.shutdown()


if __name__ == "__main__":
    main()
