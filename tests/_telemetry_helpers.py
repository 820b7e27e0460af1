"""Test helpers for telemetry tests: in-memory OpenTelemetry SDK providers.

Providers are passed to the client explicitly (never set globally), so tests
running in the same process cannot see each other's spans or metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from securebedrock._retry import RetryConfig

#: Retries fast enough for tests.
FAST_RETRY = RetryConfig(max_attempts=4, total_timeout=5.0, initial_backoff=0.001, max_backoff=0.01)


@dataclass
class Otel:
    """An SDK tracer provider and meter provider wired to in-memory sinks."""

    tracer_provider: TracerProvider
    exporter: InMemorySpanExporter
    meter_provider: MeterProvider
    reader: InMemoryMetricReader

    def kwargs(self) -> dict[str, Any]:
        """``tracer_provider=``/``meter_provider=`` for ``securebedrock.client()``/``secure()``."""
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self) -> list[ReadableSpan]:
        """Finished spans of securebedrock's own tracer."""
        return [
            s
            for s in self.exporter.get_finished_spans()
            if s.instrumentation_scope is not None
            and s.instrumentation_scope.name == "securebedrock"
        ]

    def all_spans(self) -> tuple[ReadableSpan, ...]:
        """Every finished span, whoever made it."""
        return tuple(self.exporter.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        """The single securebedrock span (asserts there is exactly one)."""
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_points(self, name: str) -> list[Any]:
        """Data points of metric ``name`` (empty when none were recorded)."""
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def all_metric_text(self) -> str:
        """Every metric name, attribute key and value, as one string (for leak checks)."""
        data = self.reader.get_metrics_data()
        return "" if data is None else data.to_json()


def make_otel() -> Otel:
    """Fresh providers with in-memory sinks."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return Otel(tracer_provider, exporter, meter_provider, reader)


def events(span: ReadableSpan, name: str) -> list[dict[str, Any]]:
    """Attributes of ``span``'s events called ``name``, in order."""
    return [dict(e.attributes or {}) for e in span.events if e.name == name]


def iter_span_text(spans: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> Iterator[str]:
    """Every string a span exports: names, attributes, events, status (for leak checks)."""
    for span in spans:
        yield span.to_json()
