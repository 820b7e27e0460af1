"""The GenAI metric instruments: one set per meter provider, shared by every client."""

from __future__ import annotations

import threading
from typing import Final

from opentelemetry import metrics

from .. import _telemetry_semconv as sc
from .._constants import INSTRUMENTATION_NAME
from .._version import __version__
from .names import METRIC_VIOLATIONS

__all__ = ["InstrumentSet", "instruments"]

# Bucket advice from the GenAI semantic conventions.
_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip

# One meter and one set of instruments per meter provider, shared by every client.
# Creating them per client leaked: the API's global proxy provider (in force until an
# SDK provider is installed) keeps every meter and instrument ever created, so each
# new client grew it for good; an SDK provider logs a duplicate-instrument warning
# instead. Entries hold their provider, so an ``id()`` is never reused while cached.
InstrumentSet = tuple[metrics.Histogram, metrics.Histogram, metrics.Counter]
_instrument_cache: dict[int, tuple[object, InstrumentSet]] = {}
_instrument_lock = threading.Lock()
_INSTRUMENT_CACHE_LIMIT = 32


def instruments(meter_provider: metrics.MeterProvider | None) -> InstrumentSet:
    """The duration, token-usage and violation instruments for ``meter_provider``."""
    key = id(meter_provider)
    with _instrument_lock:
        cached = _instrument_cache.get(key)
        if cached is not None and cached[0] is meter_provider:
            return cached[1]
        meter = metrics.get_meter(INSTRUMENTATION_NAME, __version__, meter_provider=meter_provider)
        found: InstrumentSet = (
            meter.create_histogram(
                sc.GEN_AI_CLIENT_OPERATION_DURATION,
                unit="s",
                description="Duration of a Bedrock call, including retries and, for streams, "
                "until the stream ends",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            meter.create_histogram(
                sc.GEN_AI_CLIENT_TOKEN_USAGE,
                unit="{token}",
                description="Input and output tokens per Bedrock call",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            ),
            meter.create_counter(
                METRIC_VIOLATIONS,
                unit="{violation}",
                description="Policy violations found, by rule and mode (enforced or logged)",
            ),
        )
        if len(_instrument_cache) >= _INSTRUMENT_CACHE_LIMIT:
            _instrument_cache.clear()
        _instrument_cache[key] = (meter_provider, found)
        return found
