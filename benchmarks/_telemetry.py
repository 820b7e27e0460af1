"""An in-memory OpenTelemetry SDK pipeline, and a processor that counts unfinished spans."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class LiveSpanCounter(SpanProcessor):
    """Counts spans started and ended: ``live`` is spans that were started but never ended.

    A span left open (an abandoned stream, an error path that forgets
    ``end()``) is a leak: it pins its attributes and, in a real exporter's
    batch processor, is never sent.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = 0
        self.ended = 0

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        with self._lock:
            self.started += 1

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ended += 1

    @property
    def live(self) -> int:
        """Spans started and not (yet) ended."""
        with self._lock:
            return self.started - self.ended


class Telemetry:
    """A ``TracerProvider`` exporting to memory (``SimpleSpanProcessor``), plus the counter."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.counter = LiveSpanCounter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(self.counter)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def clear(self) -> None:
        """Drop exported spans (between batches, so memory stays flat)."""
        self.exporter.clear()

    def shutdown(self) -> None:
        """Shut the provider down (the end of a run)."""
        self.provider.shutdown()
