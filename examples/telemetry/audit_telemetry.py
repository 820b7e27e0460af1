"""Audit telemetry with explicit providers, and the single retry layer.

securebedrock records one OpenTelemetry span per Bedrock call plus GenAI
metrics. Here the tracer and meter providers are passed to the client (rather
than set globally) and a throttled call is retried by securebedrock's own
retry layer: the span shows one event per attempt.

Run it: ``python examples/telemetry/audit_telemetry.py``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import securebedrock
from securebedrock.testing import EmbeddedBedrock

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


# --8<-- [start:client]
def secured_client(server: EmbeddedBedrock, exporter: Any, reader: Any) -> Any:
    """A secured client whose spans and metrics go to the given exporter and reader."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[reader])
    return securebedrock.client(
        **server.client_kwargs(),  # region_name, endpoint_url, ... as for boto3.client
        tracer_provider=tracer_provider,  # default: the global provider
        meter_provider=meter_provider,  # default: the global provider
        retry=securebedrock.RetryConfig(max_attempts=3, total_timeout=10.0, initial_backoff=0.05),
    )


# --8<-- [end:client]


def main() -> None:
    """A throttled call, retried; print what the audit span and the metrics recorded."""
    exporter = InMemorySpanExporter()
    reader = InMemoryMetricReader()
    with EmbeddedBedrock() as server, server.org_policy():
        client = secured_client(server, exporter, reader)
        server.faults.throttle(1)  # the first attempt is throttled, the second succeeds
        client.converse(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "Hi"}]}])
        print(f"requests the server saw: {len(server.requests)}")

    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    print(f"span: {span.name}")
    for key in (
        "securebedrock.decision",
        "securebedrock.attempts",
        "gen_ai.usage.input_tokens",
        "gen_ai.response.finish_reasons",
        "securebedrock.tls.version",
    ):
        print(f"  {key} = {attributes.get(key)}")
    for event in span.events:
        print(f"  event {event.name} {dict(event.attributes or {})}")
    data = reader.get_metrics_data()
    names = sorted(
        metric.name
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
    )
    print(f"metrics: {', '.join(names)}")


if __name__ == "__main__":
    main()
