"""OpenTelemetry's botocore instrumentation works whichever order it and securebedrock
are set up in, and ``uninstrument()`` takes effect on clients secured earlier."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _telemetry_helpers import FAST_RETRY, Otel, make_otel
from botocore.client import BaseClient
from conftest import MODEL_ID
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def instrumentor() -> Iterator[BotocoreInstrumentor]:
    instrumentor = BotocoreInstrumentor()
    yield instrumentor
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def _theirs(otel: Otel) -> list[Any]:
    ours = otel.spans()
    return [s for s in otel.all_spans() if s not in ours]


def _call_and_count(client: BaseClient, otel: Otel) -> tuple[int, int]:
    """(our spans, their spans) added by one call; theirs must nest under ours."""
    ours_before, theirs_before = len(otel.spans()), len(_theirs(otel))
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    ours = otel.spans()[ours_before:]
    theirs = _theirs(otel)[theirs_before:]
    for span in theirs:
        assert span.parent is not None and span.parent.span_id == ours[-1].context.span_id
    return len(ours), len(theirs)


@pytest.mark.parametrize("order", ["instrument-then-secure", "secure-then-instrument"])
def test_botocore_spans_whatever_the_order_and_uninstrument_takes_effect(
    order: str,
    secured_client: Callable[..., BaseClient],
    otel: Otel,
    instrumentor: BotocoreInstrumentor,
    bedrock: EmbeddedBedrock,
) -> None:
    if order == "instrument-then-secure":
        instrumentor.instrument(tracer_provider=otel.tracer_provider)
        client = secured_client(retry=FAST_RETRY, **otel.kwargs())
    else:
        client = secured_client(retry=FAST_RETRY, **otel.kwargs())
        instrumentor.instrument(tracer_provider=otel.tracer_provider)
    assert _call_and_count(client, otel) == (1, 1)
    instrumentor.uninstrument()
    assert _call_and_count(client, otel) == (1, 0)
    # and instrumenting again, after the client exists, applies again
    instrumentor.instrument(tracer_provider=otel.tracer_provider)
    assert _call_and_count(client, otel) == (1, 1)
    assert len(bedrock.requests) == 3
