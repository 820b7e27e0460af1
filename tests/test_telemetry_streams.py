"""Streaming spans end on every path: exhausted, closed, error mid-stream, abandoned.

The gaps known in opentelemetry-instrumentation-botocore (spans leaked for
abandoned streams and for connection errors mid-stream) are the cases here.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from _telemetry_helpers import FAST_RETRY, Otel, make_otel
from botocore.client import BaseClient
from botocore.eventstream import EventStream
from botocore.exceptions import EventStreamError
from conftest import MODEL_ID
from opentelemetry.trace import StatusCode

from securebedrock import _telemetry as T
from securebedrock import _telemetry_semconv as sc
from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]
BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hello there"}],
    }
)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def client(secured_client: Callable[..., BaseClient], otel: Otel) -> BaseClient:
    return secured_client(**otel.kwargs(), retry=FAST_RETRY)


def _open(client: BaseClient, operation: str) -> Any:
    """The wrapped stream of a streaming call."""
    if operation == "ConverseStream":
        return client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]
    return client.invoke_model_with_response_stream(modelId=MODEL_ID, body=BODY)["body"]


STREAMING = pytest.mark.parametrize(
    "operation", ["ConverseStream", "InvokeModelWithResponseStream"]
)


@STREAMING
def test_span_stays_open_until_the_stream_is_exhausted(
    client: BaseClient, otel: Otel, operation: str
) -> None:
    stream = _open(client, operation)
    assert isinstance(stream, EventStream)  # still an EventStream for isinstance checks
    assert otel.spans() == []  # open while the caller reads
    seen = list(stream)
    assert seen
    span = otel.only_span()
    attrs = dict(span.attributes or {})
    assert attrs[T.ATTR_STREAM_END] == "exhausted"
    assert attrs[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert 0 < attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < 10
    assert span.status.status_code is StatusCode.UNSET
    (duration,) = otel.metric_points(sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 1
    # Ending is idempotent: closing an exhausted stream changes nothing.
    stream.close()
    assert len(otel.spans()) == 1
    assert otel.only_span().attributes[T.ATTR_STREAM_END] == "exhausted"


@STREAMING
def test_close_ends_the_span(client: BaseClient, otel: Otel, operation: str) -> None:
    stream = _open(client, operation)
    iterator = iter(stream)
    next(iterator)
    stream.close()
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "closed"
    assert span.status.status_code is StatusCode.UNSET


@STREAMING
def test_connection_error_mid_stream_ends_the_span_with_an_error(
    client: BaseClient, otel: Otel, bedrock: EmbeddedBedrock, operation: str
) -> None:
    bedrock.faults.close_mid_stream(after_events=2)
    stream = _open(client, operation)
    with pytest.raises(Exception) as raised:  # noqa: B017 - whatever botocore raises
        for _ in stream:
            pass
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "error"
    assert span.attributes[sc.ERROR_TYPE] == T.error_type(raised.value)
    assert span.status.status_code is StatusCode.ERROR
    # Mid-stream errors are the caller's: never retried once the stream was handed over.
    assert len(bedrock.requests) == 1


@STREAMING
def test_abandoned_stream_ends_the_span_on_garbage_collection(
    client: BaseClient, otel: Otel, operation: str
) -> None:
    stream = _open(client, operation)
    iterator = iter(stream)
    next(iterator)
    assert otel.spans() == []
    del stream, iterator
    gc.collect()
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "abandoned"
    assert span.status.status_code is StatusCode.UNSET


def test_a_response_dropped_unread_ends_the_span(client: BaseClient, otel: Otel) -> None:
    response = client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
    del response
    gc.collect()
    assert otel.only_span().attributes[T.ATTR_STREAM_END] == "abandoned"


def test_the_wrapper_delegates_to_the_event_stream(client: BaseClient) -> None:
    stream = client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]
    # Attributes botocore's EventStream has are reachable (third-party code pokes at them).
    assert stream._raw_stream is not None
    assert "securebedrock" in repr(stream)
    stream.close()


def test_langchain_aws_streams_through_the_wrapper(client: BaseClient, otel: Otel) -> None:
    from langchain_aws import ChatBedrock, ChatBedrockConverse

    converse = ChatBedrockConverse(client=client, model=MODEL_ID, region_name="us-east-1")
    text = "".join(
        part["text"]
        for chunk in converse.stream("hello")
        for part in (chunk.content if isinstance(chunk.content, list) else [])
        if isinstance(part, dict) and "text" in part
    )
    assert "canned answer" in text
    invoke = ChatBedrock(client=client, model_id=MODEL_ID, region_name="us-east-1", streaming=True)
    assert list(invoke.stream("hello"))
    spans = otel.spans()
    assert [s.attributes[T.ATTR_OPERATION] for s in spans] == [
        "ConverseStream",
        "InvokeModelWithResponseStream",
    ]
    # ChatBedrock stops at the model's stop event and closes the stream itself.
    assert [s.attributes[T.ATTR_STREAM_END] for s in spans] == ["exhausted", "closed"]
    assert all(s.status.status_code is StatusCode.UNSET for s in spans)


# --- the wrapper alone, over a stand-in stream -------------------------------------------


class _FakeStream:
    """Yields ``events`` then raises ``error`` (when given)."""

    def __init__(self, events: list[Any], error: BaseException | None = None) -> None:
        self._events = events
        self._error = error
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        yield from self._events
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self.closed = True

    def get_initial_response(self) -> str:
        return "initial"


def _record(otel: Otel, operation: str = "ConverseStream") -> T.CallRecord:
    telemetry = T.Telemetry(
        mode="enforce",
        policy_digest=None,
        region="us-east-1",
        server_address="example.invalid",
        server_port=443,
        **otel.kwargs(),
    )
    return telemetry.start(operation, {"modelId": MODEL_ID})


def test_a_modelled_stream_error_ends_the_span(otel: Otel) -> None:
    error = EventStreamError(
        {"Error": {"Code": "modelStreamErrorException", "Message": "boom"}}, "ConverseStream"
    )
    inner = _FakeStream([{"messageStart": {"role": "assistant"}}], error)
    stream = T.SecuredEventStream(inner, _record(otel))
    with pytest.raises(EventStreamError):
        list(stream)
    span = otel.only_span()
    assert span.attributes[sc.ERROR_TYPE] == "modelStreamErrorException"
    assert span.attributes[T.ATTR_STREAM_END] == "error"
    (exception,) = [e for e in span.events if e.name == "exception"]
    assert dict(exception.attributes or {}) == {
        "exception.type": "botocore.exceptions.EventStreamError"
    }  # no message: it could quote the request


def test_close_delegates_and_get_initial_response_delegates(otel: Otel) -> None:
    inner = _FakeStream([])
    stream = T.SecuredEventStream(inner, _record(otel))
    assert stream.get_initial_response() == "initial"
    stream.close()
    assert inner.closed
    assert otel.only_span().attributes[T.ATTR_STREAM_END] == "closed"


def test_break_then_resume_keeps_the_span_open(otel: Otel) -> None:
    inner_events: list[dict[str, Any]] = [
        {"contentBlockDelta": {"delta": {"text": str(i)}}} for i in range(3)
    ]
    inner_events.append({"metadata": {"usage": {"inputTokens": 1, "outputTokens": 3}}})

    class _Resumable:
        def __init__(self) -> None:
            self._it = iter(inner_events)

        def __iter__(self) -> Iterator[Any]:
            return self._it

        def close(self) -> None:
            return None

    stream = T.SecuredEventStream(_Resumable(), _record(otel))
    for _ in stream:
        break
    gc.collect()  # the first generator is gone; the stream is not
    assert otel.spans() == []
    assert len(list(stream)) == 3
    assert otel.only_span().attributes[T.ATTR_STREAM_END] == "exhausted"
