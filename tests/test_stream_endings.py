"""A response stream that ends before its terminal event is an error, for the caller and
on the span; a complete stream, a caller's early close() and a modelled stream error are
left as they are.

The cuts are made by the embedded endpoint (``faults.end_stream_early``): the HTTP
response ends cleanly, so raw boto3 takes the partial stream for a complete one.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from _telemetry_helpers import FAST_RETRY, Otel, events, make_otel
from botocore.client import BaseClient
from botocore.exceptions import EventStreamError
from conftest import GUARDRAIL, MODEL_ID
from opentelemetry.trace import StatusCode

import securebedrock
from securebedrock import _telemetry as T
from securebedrock import _telemetry_semconv as sc
from securebedrock._policy import GuardrailPolicy
from securebedrock.testing import EmbeddedBedrock

SENTINEL = "PROMPT-SENTINEL-7f3a"
MESSAGES = [{"role": "user", "content": [{"text": f"hello there {SENTINEL}"}]}]
BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": f"hello there {SENTINEL}"}],
    }
)
STREAMING = pytest.mark.parametrize(
    "operation", ["ConverseStream", "InvokeModelWithResponseStream"]
)
#: How the endpoint ends a stream early (keyword arguments of ``end_stream_early``).
CUTS = pytest.mark.parametrize(
    "cut",
    [
        pytest.param({}, id="final-chunk"),
        pytest.param({"partial_event": True}, id="half-an-event"),
        pytest.param({"close_delimited": True}, id="close-delimited"),
    ],
)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def client(secured_client: Callable[..., BaseClient], otel: Otel) -> BaseClient:
    return secured_client(**otel.kwargs(), retry=FAST_RETRY)


def _open(client: BaseClient, operation: str) -> Any:
    if operation == "ConverseStream":
        return client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]
    return client.invoke_model_with_response_stream(modelId=MODEL_ID, body=BODY)["body"]


def _complete_length(raw_client: Callable[..., BaseClient], operation: str) -> int:
    return len(list(_open(raw_client(), operation)))


@STREAMING
@CUTS
def test_raw_boto3_takes_a_cut_stream_for_a_complete_one(
    bedrock: EmbeddedBedrock,
    raw_client: Callable[..., BaseClient],
    operation: str,
    cut: dict[str, Any],
) -> None:
    # The fault reproduces the problem: without securebedrock, no error at all.
    bedrock.faults.end_stream_early(after_events=2, **cut)
    assert len(list(_open(raw_client(), operation))) == 2


@STREAMING
@CUTS
def test_a_cut_stream_raises_and_the_span_ends_with_an_error(
    client: BaseClient, otel: Otel, bedrock: EmbeddedBedrock, operation: str, cut: dict[str, Any]
) -> None:
    bedrock.faults.end_stream_early(after_events=2, **cut)
    received = []
    with pytest.raises(securebedrock.StreamInterruptedError) as raised:
        for event in _open(client, operation):
            received.append(event)
    assert len(received) == 2  # every event that arrived was handed over first
    error = raised.value
    assert isinstance(error, securebedrock.SecureBedrockError)
    assert error.operation == operation
    assert error.events == 2
    assert error.terminal in str(error)
    assert "metadata" in error.terminal or "amazon-bedrock-invocationMetrics" in error.terminal
    assert error.found and error.expected and error.fix
    assert SENTINEL not in str(error)
    span = otel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "StreamInterruptedError"
    assert span.attributes[T.ATTR_STREAM_END] == "interrupted"
    assert events(span, T.EVENT_EXCEPTION) == [
        {T.ATTR_EXCEPTION_TYPE: "securebedrock._errors.StreamInterruptedError"}
    ]
    assert SENTINEL not in span.to_json()
    (duration,) = otel.metric_points(sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == "StreamInterruptedError"
    # Mid-stream problems are the caller's to retry: one request reached the server.
    assert len(bedrock.requests) == 1


@STREAMING
def test_a_stream_cut_just_before_its_terminal_event_raises(
    client: BaseClient,
    otel: Otel,
    bedrock: EmbeddedBedrock,
    raw_client: Callable[..., BaseClient],
    operation: str,
) -> None:
    # ConverseStream: messageStop arrived, metadata did not. InvokeModelWithResponseStream:
    # everything but the chunk with the invocation metrics.
    total = _complete_length(raw_client, operation)
    bedrock.faults.end_stream_early(after_events=total - 1)
    stream = _open(client, operation)
    received = []
    with pytest.raises(securebedrock.StreamInterruptedError) as raised:
        for event in stream:
            received.append(event)
    assert len(received) == total - 1
    if operation == "ConverseStream":
        assert "messageStop" in received[-1]
        assert raised.value.last_event == "messageStop"
    assert otel.only_span().status.status_code is StatusCode.ERROR


@STREAMING
def test_a_complete_stream_is_unchanged(client: BaseClient, otel: Otel, operation: str) -> None:
    received = list(_open(client, operation))
    assert received
    span = otel.only_span()
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[T.ATTR_STREAM_END] == "exhausted"
    assert sc.ERROR_TYPE not in span.attributes


@STREAMING
def test_an_early_close_is_not_an_error(client: BaseClient, otel: Otel, operation: str) -> None:
    stream = _open(client, operation)
    for _ in stream:
        break
    stream.close()
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "closed"
    assert span.status.status_code is StatusCode.UNSET
    # Iterating a closed stream is not reported as a cut either.
    assert otel.only_span() is span


@STREAMING
def test_an_abandoned_stream_is_not_an_error(
    client: BaseClient, otel: Otel, operation: str
) -> None:
    stream = _open(client, operation)
    iterator = iter(stream)
    next(iterator)
    del stream, iterator
    gc.collect()
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "abandoned"
    assert span.status.status_code is StatusCode.UNSET


@STREAMING
def test_a_modelled_stream_error_still_raises_botocores_error(
    client: BaseClient, otel: Otel, bedrock: EmbeddedBedrock, operation: str
) -> None:
    bedrock.faults.stream_error("modelStreamErrorException", after_events=2)
    with pytest.raises(EventStreamError) as raised:
        list(_open(client, operation))
    assert raised.value.response["Error"]["Code"] == "modelStreamErrorException"
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "error"
    assert span.attributes[sc.ERROR_TYPE] == "modelStreamErrorException"


@STREAMING
def test_a_dropped_connection_still_raises_the_connection_error(
    client: BaseClient, otel: Otel, bedrock: EmbeddedBedrock, operation: str
) -> None:
    # The caller already gets an error here (as with raw boto3): it is passed on as it is.
    bedrock.faults.close_mid_stream(after_events=2)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        list(_open(client, operation))
    assert otel.only_span().attributes[T.ATTR_STREAM_END] == "error"


def test_the_error_pickles() -> None:
    error = securebedrock.StreamInterruptedError(
        operation="ConverseStream", events=3, terminal="a 'metadata' event", last_event="x"
    )
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)
    assert type(again) is securebedrock.StreamInterruptedError
    assert (again.operation, again.events, again.last_event) == ("ConverseStream", 3, "x")
    assert str(again) == str(error)
    assert vars(again) == vars(error)
    # Like every securebedrock error: never retried by a retry layer (see its docstring).
    assert again.retryable is False
    assert isinstance(again, securebedrock.NON_RETRYABLE_ERRORS)


# -- the terminal criterion, on hand-made streams ---------------------------------------


class _Inner:
    """A minimal stand-in for botocore's EventStream (iteration and close only)."""

    def __init__(self, inner_events: list[Any]) -> None:
        self._events = inner_events

    def __iter__(self) -> Iterator[Any]:
        return iter(self._events)

    def close(self) -> None:
        return None


def _record(otel: Otel, operation: str) -> T.CallRecord:
    telemetry = T.Telemetry(
        mode="enforce",
        policy_digest=None,
        region="us-east-1",
        server_address="example.invalid",
        server_port=443,
        **otel.kwargs(),
    )
    return telemetry.start(operation, {"modelId": MODEL_ID})


def _chunk(payload: Any) -> dict[str, Any]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"chunk": {"bytes": data}}


def test_metrics_named_in_generated_text_do_not_end_a_stream(otel: Otel) -> None:
    text = {"type": "content_block_delta", "delta": {"text": "amazon-bedrock-invocationMetrics"}}
    stream = T.SecuredEventStream(
        _Inner([_chunk(text)]), _record(otel, "InvokeModelWithResponseStream")
    )
    with pytest.raises(securebedrock.StreamInterruptedError):
        list(stream)


@pytest.mark.parametrize(
    "last",
    [
        pytest.param(
            {"outputText": "", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 1}},
            id="titan",
        ),
        pytest.param(
            {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 1}},
            id="anthropic",
        ),
        # Not JSON, or too large to parse: never a false alarm on a complete stream.
        pytest.param(b'{"amazon-bedrock-invocationMetrics": {', id="unparsable"),
        pytest.param(
            b'{"amazon-bedrock-invocationMetrics": ' + b"[" * 100_000, id="absurdly-nested"
        ),
    ],
)
def test_the_invocation_metrics_chunk_ends_an_invoke_stream(otel: Otel, last: Any) -> None:
    inner = _Inner([_chunk({"outputText": "hi"}), _chunk(last)])
    stream = T.SecuredEventStream(inner, _record(otel, "InvokeModelWithResponseStream"))
    assert len(list(stream)) == 2
    assert otel.only_span().status.status_code is StatusCode.UNSET


def test_message_stop_alone_does_not_end_a_converse_stream(otel: Otel) -> None:
    inner = _Inner([{"messageStart": {"role": "assistant"}}, {"messageStop": {"stopReason": "x"}}])
    stream = T.SecuredEventStream(inner, _record(otel, "ConverseStream"))
    with pytest.raises(securebedrock.StreamInterruptedError) as raised:
        list(stream)
    assert raised.value.events == 2
    assert raised.value.last_event == "messageStop"


@pytest.mark.parametrize(
    ("model_id", "body"),
    [
        ("amazon.titan-text-express-v1", {"inputText": "hello"}),
        ("amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        ("meta.llama3-8b-instruct-v1:0", {"prompt": "hello"}),
    ],
)
def test_complete_invoke_streams_of_every_family_are_not_cut(
    client: BaseClient, otel: Otel, model_id: str, body: dict[str, Any]
) -> None:
    stream = client.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(body))
    assert list(stream["body"])
    assert otel.only_span().status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("blocked", [False, True])
def test_a_stream_the_guardrail_stopped_is_complete(
    secured_client: Callable[..., BaseClient], otel: Otel, blocked: bool
) -> None:
    policy = dataclasses.replace(
        securebedrock.Policy.default(),
        guardrail=GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version),
    )
    client = secured_client(policy, **otel.kwargs())
    text = "forbidden words" if blocked else "hello"
    messages = [{"role": "user", "content": [{"text": text}]}]
    list(client.converse_stream(modelId=MODEL_ID, messages=messages)["stream"])
    body = json.dumps({**json.loads(BODY), "messages": [{"role": "user", "content": text}]})
    list(client.invoke_model_with_response_stream(modelId=MODEL_ID, body=body)["body"])
    spans = otel.spans()
    assert [s.status.status_code for s in spans] == [StatusCode.UNSET, StatusCode.UNSET]
    if blocked:
        assert all(s.attributes.get(T.ATTR_GUARDRAIL_ACTION) for s in spans)


def _deltas(count: int) -> list[dict[str, Any]]:
    return [{"contentBlockDelta": {"delta": {"text": "x"}, "contentBlockIndex": 0}}] * count


def test_text_deltas_are_counted_and_kept_as_the_last_event(otel: Otel) -> None:
    # Text deltas after the first take the stream's hot path: they still count, and a
    # stream cut after them reports the delta as its last event.
    inner = _Inner([{"messageStart": {"role": "assistant"}}, *_deltas(5)])
    stream = T.SecuredEventStream(inner, _record(otel, "ConverseStream"))
    with pytest.raises(securebedrock.StreamInterruptedError) as raised:
        list(stream)
    assert raised.value.events == 6
    assert raised.value.last_event == "contentBlockDelta"
    assert otel.only_span().attributes[T.ATTR_STREAM_END] == "interrupted"


def test_a_delta_that_also_carries_metadata_ends_the_stream(otel: Otel) -> None:
    odd = {"contentBlockDelta": {"delta": {"text": "x"}}, "metadata": {"usage": {}}}
    inner = _Inner([{"messageStart": {"role": "assistant"}}, *_deltas(2), odd])
    stream = T.SecuredEventStream(inner, _record(otel, "ConverseStream"))
    assert len(list(stream)) == 4
    assert otel.only_span().status.status_code is StatusCode.UNSET


class _Failing(_Inner):
    def __iter__(self) -> Iterator[Any]:
        yield from _deltas(3)
        raise ConnectionError("reset")


def test_an_error_raised_by_the_wrapped_stream_mid_way_ends_the_span(otel: Otel) -> None:
    stream = T.SecuredEventStream(_Failing([]), _record(otel, "ConverseStream"))
    received = []
    with pytest.raises(ConnectionError):
        for event in stream:
            received.append(event)
    assert len(received) == 3
    span = otel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[T.ATTR_STREAM_END] == "error"


def test_an_error_the_caller_throws_into_the_iteration_is_not_the_streams(otel: Otel) -> None:
    stream = T.SecuredEventStream(_Inner(_deltas(3)), _record(otel, "ConverseStream"))
    iterator = iter(stream)
    next(iterator)
    with pytest.raises(KeyError):
        iterator.throw(KeyError("the caller's"))
    # Not recorded as a stream error; the caller closing the stream ends it as closed.
    stream.close()
    assert otel.only_span().attributes[T.ATTR_STREAM_END] == "closed"
