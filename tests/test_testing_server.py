"""The embedded Bedrock endpoint, exercised with plain, unmodified boto3.

These tests prove the server is faithful enough to test securebedrock
against: botocore parses every response, event streams pass its CRC checks,
errors map to the modelled exception classes, SigV4 is really verified.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import urllib3.exceptions
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from securebedrock.testing import DEFAULT_ANSWER, EmbeddedBedrock, GuardrailSpec

# The same values as the ``bedrock`` fixture in conftest.py (checked below).
GUARDRAIL = GuardrailSpec(identifier="gr1abc2def3g", version="3", blocked_words=("forbidden",))
MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"

MESSAGES = [{"role": "user", "content": [{"text": "Hello there"}]}]
NO_RETRY = Config(retries={"total_max_attempts": 1})
ANTHROPIC_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hello there"}],
    }
)
TOOL_CONFIG = {
    "tools": [
        {
            "toolSpec": {
                "name": "read_file",
                "description": "Read a file",
                "inputSchema": {"json": {"type": "object", "properties": {"path": {}}}},
            }
        }
    ]
}


def _text(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


# ------------------------------------------------------------------ lifecycle


def test_stop_does_not_hang_with_open_keepalive_connection() -> None:
    server = EmbeddedBedrock().start()
    client = boto3.client("bedrock-runtime", **server.client_kwargs())
    client.converse(modelId=MODEL_ID, messages=MESSAGES)  # leaves a pooled connection open
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(timeout=30)  # a hang guard, not a speed limit
    assert not stopper.is_alive(), "stop() hung on an open keep-alive connection"
    with pytest.raises(RuntimeError):
        _ = server.port


def test_endpoint_attributes(bedrock: EmbeddedBedrock) -> None:
    assert bedrock.guardrails == (GUARDRAIL,)
    assert bedrock.host == "127.0.0.1"
    assert bedrock.endpoint_url == f"https://127.0.0.1:{bedrock.port}"
    assert open(bedrock.ca_bundle).read().startswith("-----BEGIN CERTIFICATE-----")
    assert bedrock.client_kwargs() == {
        "endpoint_url": bedrock.endpoint_url,
        "verify": bedrock.ca_bundle,
        "region_name": "us-east-1",
        "aws_access_key_id": bedrock.access_key,
        "aws_secret_access_key": bedrock.secret_key,
    }


def test_certificate_verifies_for_ip_and_localhost(bedrock: EmbeddedBedrock) -> None:
    context = ssl.create_default_context(cafile=bedrock.ca_bundle)
    for name in ("127.0.0.1", "localhost"):
        with socket.create_connection(("127.0.0.1", bedrock.port), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=name) as tls:
                assert tls.version() == "TLSv1.3"
    # An untrusting client (system CAs only) refuses the throwaway CA.
    with socket.create_connection(("127.0.0.1", bedrock.port), timeout=5) as sock:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(sock, server_hostname="localhost")


def test_pin_only_changes_the_endpoint(bedrock: EmbeddedBedrock) -> None:
    import securebedrock

    base = securebedrock.Policy.default()
    pinned = bedrock.pin()
    assert pinned.network.endpoint_url == bedrock.endpoint_url
    assert pinned.mode == base.mode and pinned.tls == base.tls
    assert pinned.network.allowed_cidrs == base.network.allowed_cidrs


# --------------------------------------------------------- runtime operations


def test_converse_round_trip_and_recording(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    response = raw_client().converse(
        modelId=MODEL_ID,
        messages=MESSAGES,
        inferenceConfig={"maxTokens": 20},
        serviceTier={"type": "priority"},
    )
    assert response["output"]["message"]["content"] == [{"text": DEFAULT_ANSWER}]
    assert response["stopReason"] == "end_turn"
    assert response["usage"] == {"inputTokens": 2, "outputTokens": 10, "totalTokens": 12}
    assert response["serviceTier"] == {"type": "priority"}
    assert response["ResponseMetadata"]["RequestId"]
    (request,) = bedrock.requests
    assert request.operation == "Converse"
    assert request.method == "POST"
    # botocore percent-encodes the ':' of the model id in the path.
    assert request.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert request.model_id == MODEL_ID
    assert request.json["messages"] == MESSAGES
    assert request.headers["Content-Type"] == request.headers["content-type"]
    assert request.tls_version == "TLSv1.3"
    assert request.client_address[0] == "127.0.0.1"
    assert (request.status, request.error_type, request.auth) == (200, None, "sigv4")
    assert request.access_key == bedrock.access_key
    bedrock.clear()
    assert bedrock.requests == []


def test_answer_never_echoes_the_prompt(raw_client: Callable[..., BaseClient]) -> None:
    secret = "my-very-secret-prompt-text"
    response = raw_client().converse(modelId=MODEL_ID, messages=_text(secret))
    assert secret not in json.dumps(response["output"])


def test_converse_stream_events_decode(raw_client: Callable[..., BaseClient]) -> None:
    response = raw_client().converse_stream(modelId=MODEL_ID, messages=MESSAGES)
    events = list(response["stream"])
    assert events[0] == {"messageStart": {"role": "assistant"}}
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert text == DEFAULT_ANSWER
    assert {"contentBlockStop": {"contentBlockIndex": 0}} in events
    assert events[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 10
    assert "latencyMs" in events[-1]["metadata"]["metrics"]


def test_stream_length_is_controllable(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    client = raw_client()
    events = list(
        client.converse_stream(modelId=MODEL_ID, messages=_text("[[stream:500]]"))["stream"]
    )
    assert sum("contentBlockDelta" in e for e in events) == 500
    bedrock.stream_events = 3
    events = list(client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"])
    assert sum("contentBlockDelta" in e for e in events) == 3


def test_invoke_model_anthropic(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    response = raw_client().invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY)
    body = json.loads(response["body"].read())
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": DEFAULT_ANSWER}]
    assert body["usage"] == {"input_tokens": 2, "output_tokens": 10}
    assert response["contentType"] == "application/json"
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "2"
    assert headers["x-amzn-bedrock-output-token-count"] == "10"
    assert "amazon-bedrock-guardrailAction" not in body
    assert bedrock.requests[-1].body == ANTHROPIC_BODY.encode()


def test_invoke_model_titan_and_generic_bodies(raw_client: Callable[..., BaseClient]) -> None:
    client = raw_client()
    titan = client.invoke_model(
        modelId="amazon.titan-text-express-v1", body=json.dumps({"inputText": "Hello"})
    )
    result = json.loads(titan["body"].read())
    assert result["results"][0]["outputText"] == DEFAULT_ANSWER
    assert result["results"][0]["completionReason"] == "FINISH"
    llama = client.invoke_model(
        modelId="us.meta.llama3-1-8b-instruct-v1:0", body=json.dumps({"prompt": "Hello"})
    )
    assert json.loads(llama["body"].read())["generation"] == DEFAULT_ANSWER


def test_invoke_model_with_response_stream(raw_client: Callable[..., BaseClient]) -> None:
    response = raw_client().invoke_model_with_response_stream(modelId=MODEL_ID, body=ANTHROPIC_BODY)
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert chunks[0]["type"] == "message_start"
    text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
    assert text == DEFAULT_ANSWER
    assert chunks[-1]["type"] == "message_stop"
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 10
    assert response["contentType"] == "application/json"


def test_invoke_model_with_response_stream_titan(raw_client: Callable[..., BaseClient]) -> None:
    response = raw_client().invoke_model_with_response_stream(
        modelId="amazon.titan-text-express-v1", body=json.dumps({"inputText": "x [[stream:4]]"})
    )
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert len(chunks) == 4
    assert chunks[-1]["completionReason"] == "FINISH"


def test_count_tokens(raw_client: Callable[..., BaseClient]) -> None:
    client = raw_client()
    converse = client.count_tokens(modelId=MODEL_ID, input={"converse": {"messages": MESSAGES}})
    assert converse["inputTokens"] == 2
    invoke = client.count_tokens(
        modelId=MODEL_ID, input={"invokeModel": {"body": ANTHROPIC_BODY.encode()}}
    )
    assert invoke["inputTokens"] == 2


def test_apply_guardrail(raw_client: Callable[..., BaseClient]) -> None:
    client = raw_client()
    blocked = client.apply_guardrail(
        guardrailIdentifier=GUARDRAIL.identifier,
        guardrailVersion=GUARDRAIL.version,
        source="INPUT",
        content=[{"text": {"text": "something Forbidden here"}}],
    )
    assert blocked["action"] == "GUARDRAIL_INTERVENED"
    assert blocked["outputs"] == [{"text": GUARDRAIL.blocked_input_message}]
    word = blocked["assessments"][0]["wordPolicy"]["customWords"][0]
    assert word == {"match": "forbidden", "action": "BLOCKED", "detected": True}
    clean = client.apply_guardrail(
        guardrailIdentifier=GUARDRAIL.identifier,
        guardrailVersion=GUARDRAIL.version,
        source="OUTPUT",
        content=[{"text": {"text": "harmless"}}],
    )
    assert clean["action"] == "NONE" and clean["outputs"] == []
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.apply_guardrail(
            guardrailIdentifier="unknown1",
            guardrailVersion="1",
            source="INPUT",
            content=[{"text": {"text": "x"}}],
        )


def test_invoke_guardrail_checks(raw_client: Callable[..., BaseClient]) -> None:
    response = raw_client().invoke_guardrail_checks(
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
        checks={
            "contentFilter": {"categories": [{"category": "HATE"}]},
            "promptAttack": {"categories": [{"category": "JAILBREAK"}]},
        },
    )
    assert response["results"]["contentFilter"]["results"] == [
        {"category": "HATE", "severityScore": 0.0}
    ]
    assert response["usage"]["promptAttack"] == {"textUnits": 1}


def test_async_invoke_start_get_and_paginate(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    client = raw_client()
    arns = [
        client.start_async_invoke(
            modelId="amazon.nova-reel-v1:0",
            modelInput={"taskType": "TEXT_VIDEO"},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
        )["invocationArn"]
        for _ in range(5)
    ]
    assert len(set(arns)) == 5
    assert bedrock.requests[-1].model_id == "amazon.nova-reel-v1:0"
    job = client.get_async_invoke(invocationArn=arns[0])
    assert job["status"] == "Completed" and job["invocationArn"] == arns[0]
    assert job["submitTime"].year == 2026  # parsed into a datetime by botocore
    pages = list(
        client.get_paginator("list_async_invokes").paginate(PaginationConfig={"PageSize": 2})
    )
    assert [len(p["asyncInvokeSummaries"]) for p in pages] == [2, 2, 1]
    listed = [s["invocationArn"] for p in pages for s in p["asyncInvokeSummaries"]]
    assert listed == list(reversed(arns))  # newest first, like Bedrock's default
    # The query string (maxResults, nextToken) was part of what SigV4 verified.
    assert "nextToken=" in bedrock.requests[-1].query
    # Idempotency: the same client token gives the same job.
    token_args: dict[str, Any] = {
        "modelId": "amazon.nova-reel-v1:0",
        "modelInput": {},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
        "clientRequestToken": "same-token-123",
    }
    first = client.start_async_invoke(**token_args)["invocationArn"]
    assert client.start_async_invoke(**token_args)["invocationArn"] == first


def test_bidirectional_stream_is_refused_as_http1(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    client = raw_client()
    assert not hasattr(client, "invoke_model_with_bidirectional_stream")
    with pytest.raises(client.exceptions.ValidationException, match="HTTP/2"):
        client._make_api_call(
            "InvokeModelWithBidirectionalStream", {"modelId": MODEL_ID, "body": {}}
        )
    assert bedrock.requests[-1].operation == "InvokeModelWithBidirectionalStream"


# ------------------------------------------------------------------ tool use


def test_converse_tool_use(bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]) -> None:
    bedrock.set_tool_input("read_file", {"path": "/tmp/x"})
    client = raw_client()
    response = client.converse(
        modelId=MODEL_ID, messages=_text("please use tool read_file"), toolConfig=TOOL_CONFIG
    )
    assert response["stopReason"] == "tool_use"
    tool_use = response["output"]["message"]["content"][-1]["toolUse"]
    assert tool_use["name"] == "read_file" and tool_use["input"] == {"path": "/tmp/x"}
    # After the tool result comes back, the model answers in text (agent loops end).
    followup = [
        *_text("please use tool read_file"),
        response["output"]["message"],
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": tool_use["toolUseId"], "content": [{"text": "ok"}]}}
            ],
        },
    ]
    final = client.converse(modelId=MODEL_ID, messages=followup, toolConfig=TOOL_CONFIG)
    assert final["stopReason"] == "end_turn"
    # No toolConfig: no tool use, whatever the prompt says.
    plain = client.converse(modelId=MODEL_ID, messages=_text("use tool read_file"))
    assert plain["stopReason"] == "end_turn"


def test_converse_stream_tool_use(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    tool_input = {"path": "/a/rather/long/path/to/make/several/chunks.txt"}
    bedrock.set_tool_input("read_file", tool_input)
    events = list(
        raw_client().converse_stream(
            modelId=MODEL_ID, messages=_text("use tool"), toolConfig=TOOL_CONFIG
        )["stream"]
    )
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "read_file"
    pieces = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e
    ]
    assert len(pieces) > 1
    assert json.loads("".join(pieces)) == tool_input
    assert {"messageStop": {"stopReason": "tool_use"}} in events


def test_invoke_model_anthropic_tool_use(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    bedrock.set_tool_input("read_file", {"path": "/tmp/some/file/name.txt"})
    request = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "tools": [{"name": "read_file", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "use tool"}]}],
    }
    client = raw_client()
    body = json.loads(
        client.invoke_model(modelId=MODEL_ID, body=json.dumps(request))["body"].read()
    )
    assert body["stop_reason"] == "tool_use"
    tool_use = body["content"][-1]
    assert (tool_use["type"], tool_use["name"]) == ("tool_use", "read_file")
    assert tool_use["input"] == {"path": "/tmp/some/file/name.txt"}
    stream = client.invoke_model_with_response_stream(modelId=MODEL_ID, body=json.dumps(request))
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    partial = "".join(
        c["delta"]["partial_json"] for c in chunks if c["type"] == "content_block_delta"
    )
    assert json.loads(partial) == {"path": "/tmp/some/file/name.txt"}
    assert chunks[1]["content_block"]["type"] == "tool_use"
    assert any(c.get("delta", {}).get("stop_reason") == "tool_use" for c in chunks)
    # A tool_result in the latest user turn: the model answers in text.
    request["messages"] = [
        *request["messages"],
        {"role": "assistant", "content": [tool_use]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "ok"}],
        },
    ]
    body = json.loads(
        client.invoke_model(modelId=MODEL_ID, body=json.dumps(request))["body"].read()
    )
    assert body["stop_reason"] == "end_turn"


# ------------------------------------------------------------------ guardrails


def test_guardrail_intervenes_only_with_its_id_and_version(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    client = raw_client(config=NO_RETRY)
    forbidden = _text("tell me the forbidden thing")
    # Without a guardrail, the same prompt is answered.
    assert client.converse(modelId=MODEL_ID, messages=forbidden)["stopReason"] == "end_turn"
    config = {"guardrailIdentifier": GUARDRAIL.identifier, "guardrailVersion": "3"}
    blocked = client.converse(modelId=MODEL_ID, messages=forbidden, guardrailConfig=config)
    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["output"]["message"]["content"] == [{"text": GUARDRAIL.blocked_input_message}]
    # By ARN too.
    arn = GUARDRAIL.arn("us-east-1", bedrock.account_id)
    by_arn = client.converse(
        modelId=MODEL_ID,
        messages=forbidden,
        guardrailConfig={"guardrailIdentifier": arn, "guardrailVersion": "3", "trace": "enabled"},
    )
    assert by_arn["stopReason"] == "guardrail_intervened"
    assert GUARDRAIL.identifier in by_arn["trace"]["guardrail"]["inputAssessment"]
    # A harmless prompt passes the guardrail.
    ok = client.converse(modelId=MODEL_ID, messages=MESSAGES, guardrailConfig=config)
    assert ok["stopReason"] == "end_turn"
    # Wrong version, unknown id: refused like Bedrock does.
    for bad in ({**config, "guardrailVersion": "2"}, {**config, "guardrailIdentifier": "zzz9"}):
        with pytest.raises(client.exceptions.ValidationException, match="guardrail"):
            client.converse(modelId=MODEL_ID, messages=forbidden, guardrailConfig=bad)


def test_guardrail_on_output(
    raw_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock
) -> None:
    bedrock.add_guardrail(
        GuardrailSpec(
            identifier="outguard1",
            version="1",
            blocked_words=("canned",),
            blocked_output_message="Output blocked.",
        )
    )
    response = raw_client().converse(
        modelId=MODEL_ID,
        messages=MESSAGES,
        guardrailConfig={"guardrailIdentifier": "outguard1", "guardrailVersion": "1"},
    )
    assert response["stopReason"] == "guardrail_intervened"
    assert response["output"]["message"]["content"] == [{"text": "Output blocked."}]


def test_guardrail_streaming(raw_client: Callable[..., BaseClient]) -> None:
    config = {"guardrailIdentifier": GUARDRAIL.identifier, "guardrailVersion": "3"}
    events = list(
        raw_client().converse_stream(
            modelId=MODEL_ID, messages=_text("forbidden"), guardrailConfig=config
        )["stream"]
    )
    assert {"messageStop": {"stopReason": "guardrail_intervened"}} in events
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert deltas == [GUARDRAIL.blocked_input_message]


def test_guardrail_invoke_model(raw_client: Callable[..., BaseClient]) -> None:
    client = raw_client(config=NO_RETRY)
    args = {"guardrailIdentifier": GUARDRAIL.identifier, "guardrailVersion": "3"}
    forbidden = json.dumps({"messages": [{"role": "user", "content": "forbidden"}]})
    blocked = client.invoke_model(modelId=MODEL_ID, body=forbidden, **args)
    body = json.loads(blocked["body"].read())
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert body["content"][0]["text"] == GUARDRAIL.blocked_input_message
    headers = blocked["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-guardrailaction"] == "INTERVENED"
    passed = json.loads(
        client.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY, **args)["body"].read()
    )
    assert passed["amazon-bedrock-guardrailAction"] == "NONE"
    no_guardrail = json.loads(client.invoke_model(modelId=MODEL_ID, body=forbidden)["body"].read())
    assert no_guardrail["content"][0]["text"] == DEFAULT_ANSWER
    stream = client.invoke_model_with_response_stream(modelId=MODEL_ID, body=forbidden, **args)
    chunks = [json.loads(e["chunk"]["bytes"]) for e in stream["body"]]
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(
            modelId=MODEL_ID, body=forbidden, guardrailIdentifier="nope1", guardrailVersion="1"
        )


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("arm", "exception", "status"),
    [
        (lambda f: f.throttle(), "ThrottlingException", 429),
        (lambda f: f.model_not_ready(), "ModelNotReadyException", 429),
        (lambda f: f.server_error(status=500), "InternalServerException", 500),
        (lambda f: f.server_error(status=503), "ServiceUnavailableException", 503),
        (lambda f: f.access_denied(), "AccessDeniedException", 403),
    ],
)
def test_faults_raise_modelled_exceptions(
    bedrock: EmbeddedBedrock,
    raw_client: Callable[..., BaseClient],
    arm: Callable[[Any], None],
    exception: str,
    status: int,
) -> None:
    client = raw_client(config=NO_RETRY)
    arm(bedrock.faults)
    with pytest.raises(getattr(client.exceptions, exception)) as raised:
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert bedrock.requests[-1].error_type == exception
    assert bedrock.faults.pending == 0
    client.converse(modelId=MODEL_ID, messages=MESSAGES)  # the fault was used up


def test_botocore_retries_through_a_throttle(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    bedrock.faults.throttle(n=1)
    response = raw_client(
        config=Config(retries={"mode": "standard", "total_max_attempts": 3})
    ).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert [r.status for r in bedrock.requests] == [429, 200]


def test_fault_limited_to_an_operation(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    client = raw_client(config=NO_RETRY)
    bedrock.faults.throttle(n=1, operation="ConverseStream")
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)


def test_validation_errors(raw_client: Callable[..., BaseClient]) -> None:
    client = raw_client(config=NO_RETRY)
    with pytest.raises(client.exceptions.ValidationException, match="model identifier"):
        client.converse(modelId="not a model id", messages=MESSAGES)
    with pytest.raises(client.exceptions.ValidationException, match="messages"):
        client.invoke_model(modelId=MODEL_ID, body=json.dumps({"prompt": "x"}))
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId=MODEL_ID, body=b"not json")


def test_close_mid_stream(bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]) -> None:
    client = raw_client()
    bedrock.faults.close_mid_stream(n=1, after_events=2)
    stream = client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]
    received = []
    # botocore lets urllib3's error through from the event-stream iterator.
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for event in stream:
            received.append(event)
    assert len(received) == 2
    # The next stream is complete again (the fault was used once).
    assert len(list(client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"])) > 3


def test_stream_error_event(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    from botocore.exceptions import EventStreamError

    client = raw_client()
    bedrock.faults.stream_error("throttlingException", after_events=3)
    received = []
    with pytest.raises(EventStreamError) as raised:
        for event in client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]:
            received.append(event)
    assert len(received) == 3
    assert raised.value.response["Error"]["Code"] == "throttlingException"
    # The connection was left clean: the next call on the pool works.
    assert client.converse(modelId=MODEL_ID, messages=MESSAGES)["stopReason"] == "end_turn"


def test_delay_fault_triggers_read_timeout(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    bedrock.faults.delay(1.0)
    client = raw_client(config=Config(read_timeout=0.2, retries={"total_max_attempts": 1}))
    with pytest.raises(ReadTimeoutError):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)


# ------------------------------------------------------------------ auth


def test_bad_signature_is_refused_and_recorded(bedrock: EmbeddedBedrock) -> None:
    kwargs = {**bedrock.client_kwargs(), "aws_secret_access_key": "wrong-secret"}
    client = boto3.client("bedrock-runtime", **kwargs, config=NO_RETRY)
    with pytest.raises(ClientError) as raised:
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert raised.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    (request,) = bedrock.requests
    assert (request.operation, request.status, request.auth) == ("Converse", 403, "sigv4")
    assert request.error_type == "InvalidSignatureException"


def test_unknown_access_key_is_refused(bedrock: EmbeddedBedrock) -> None:
    kwargs = {**bedrock.client_kwargs(), "aws_access_key_id": "AKIAUNKNOWN000000000"}
    client = boto3.client("bedrock-runtime", **kwargs, config=NO_RETRY)
    with pytest.raises(ClientError, match="UnrecognizedClientException"):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)


def test_wrong_region_scope_is_refused(bedrock: EmbeddedBedrock) -> None:
    kwargs = {**bedrock.client_kwargs(), "region_name": "eu-west-1"}
    client = boto3.client("bedrock-runtime", **kwargs, config=NO_RETRY)
    with pytest.raises(ClientError, match="InvalidSignatureException"):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)


def test_unsigned_request_is_refused(bedrock: EmbeddedBedrock) -> None:
    context = ssl.create_default_context(cafile=bedrock.ca_bundle)
    pool = urllib3.HTTPSConnectionPool("127.0.0.1", bedrock.port, ssl_context=context)
    response = pool.request("POST", "/model/x.y/converse", body=b"{}", retries=False)
    assert response.status == 403
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert bedrock.requests[-1].auth == "none"


def test_tampered_body_fails_signature(bedrock: EmbeddedBedrock) -> None:
    client = boto3.client("bedrock-runtime", **bedrock.client_kwargs(), config=NO_RETRY)

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"Hello", b"Jello")

    # Registered after botocore's signer: the bytes on the wire no longer match.
    client.meta.events.register_last("before-send.bedrock-runtime.Converse", tamper)
    with pytest.raises(ClientError, match="InvalidSignatureException"):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)


def test_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "good-token")
    with EmbeddedBedrock(bearer_tokens={"good-token"}) as server:
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=server.endpoint_url,
            verify=server.ca_bundle,
            region_name=server.region,
            config=NO_RETRY,
        )
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
        assert server.requests[-1].auth == "bearer"
        assert server.requests[-1].headers["Authorization"] == "Bearer good-token"
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "bad-token")
    with EmbeddedBedrock(bearer_tokens={"good-token"}) as server:
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=server.endpoint_url,
            verify=server.ca_bundle,
            region_name=server.region,
            config=NO_RETRY,
        )
        with pytest.raises(ClientError) as raised:
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert server.requests[-1].status == 403


# ------------------------------------------------------------------ TLS


def test_tls_cap_at_1_2() -> None:
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        client = boto3.client("bedrock-runtime", **server.client_kwargs())
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
        assert server.requests[-1].tls_version == "TLSv1.2"
        # A client that insists on TLS 1.3 cannot connect: recorded as a handshake failure.
        context = ssl.create_default_context(cafile=server.ca_bundle)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            with pytest.raises(ssl.SSLError):
                context.wrap_socket(sock, server_hostname="localhost")
        deadline = time.monotonic() + 5
        while not server.handshake_failures and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.handshake_failures
        assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        ("wrong_host", "(?i)hostname|IP address mismatch"),
        ("expired", "(?i)expired"),
        ("untrusted", "(?i)unable to get local issuer|self.signed|unknown ca"),
    ],
)
def test_broken_certificates_are_refused_by_a_verifying_client(
    certificate: Any, reason: str
) -> None:
    from botocore.exceptions import SSLError

    with EmbeddedBedrock(certificate=certificate) as server:
        client = boto3.client("bedrock-runtime", **server.client_kwargs(), config=NO_RETRY)
        with pytest.raises(SSLError, match=reason):
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
        assert server.requests == []  # nothing was sent
        # Without verification, the same server answers: only the certificate differs.
        insecure = {**server.client_kwargs(), "verify": False}
        with pytest.warns(Warning):  # urllib3's InsecureRequestWarning
            boto3.client("bedrock-runtime", **insecure).converse(
                modelId=MODEL_ID, messages=MESSAGES
            )
        assert len(server.requests) == 1


def test_invalid_certificate_kind_rejected() -> None:
    with pytest.raises(ValueError, match="certificate kind"):
        EmbeddedBedrock(certificate="bogus")  # type: ignore[arg-type]


def test_invalid_tls_cap_rejected() -> None:
    with pytest.raises(ValueError):
        EmbeddedBedrock(tls_max_version="1.1")  # type: ignore[arg-type]


# ------------------------------------------------------------------ control plane


def test_control_plane_get_inference_profile_and_guardrail(bedrock: EmbeddedBedrock) -> None:
    control = boto3.client("bedrock", **bedrock.client_kwargs(), config=NO_RETRY)
    model_arn = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL_ID}"
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1y2z3"
    bedrock.add_inference_profile(arn, models=[model_arn])
    for identifier in (arn, "x1y2z3"):
        profile = control.get_inference_profile(inferenceProfileIdentifier=identifier)
        assert profile["inferenceProfileArn"] == arn
        assert profile["models"] == [{"modelArn": model_arn}]
        assert profile["type"] == "APPLICATION"
    assert bedrock.requests[-1].operation == "GetInferenceProfile"
    with pytest.raises(control.exceptions.ResourceNotFoundException):
        control.get_inference_profile(inferenceProfileIdentifier="unknown")
    guardrail = control.get_guardrail(
        guardrailIdentifier=GUARDRAIL.identifier, guardrailVersion="3"
    )
    assert guardrail["guardrailId"] == GUARDRAIL.identifier
    assert guardrail["version"] == "3"
    assert guardrail["wordPolicy"]["words"] == [{"text": "forbidden"}]
    assert guardrail["blockedInputMessaging"] == GUARDRAIL.blocked_input_message
    with pytest.raises(control.exceptions.ResourceNotFoundException):
        control.get_guardrail(guardrailIdentifier="unknown1")
    assert bedrock.requests[-1].operation == "GetGuardrail"


def test_system_defined_profile_routes_invoke_model_family(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/titanish"
    bedrock.add_inference_profile(
        arn, models=["arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1"]
    )
    response = raw_client().invoke_model(modelId=arn, body=json.dumps({"inputText": "hi"}))
    assert "results" in json.loads(response["body"].read())
    # The ARN travelled percent-encoded in the path and was decoded for the record.
    assert bedrock.requests[-1].model_id == arn
    assert "%2F" in bedrock.requests[-1].path


# ------------------------------------------------------------------ concurrency


def test_concurrent_clients_share_one_botocore_client(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient]
) -> None:
    client = raw_client(config=Config(max_pool_connections=8))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                client.converse(modelId=MODEL_ID, messages=MESSAGES)
                list(client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(bedrock.requests) == 80
    # Keep-alive: far fewer connections than requests.
    assert len({r.client_address for r in bedrock.requests}) <= 16


# ------------------------------------------------------------------ CLI


def test_command_line_prints_connection_details() -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "securebedrock.testing", "--tls-max", "1.2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        details = dict(line.split(":", 1) for line in lines)
        url = details["endpoint_url"].strip()
        assert url.startswith("https://127.0.0.1:")
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=url,
            verify=details["ca_bundle"].strip(),
            region_name="us-east-1",
            aws_access_key_id=details["aws_access_key_id"].strip(),
            aws_secret_access_key=details["aws_secret_access_key"].strip(),
        )
        assert client.converse(modelId=MODEL_ID, messages=MESSAGES)["stopReason"] == "end_turn"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0  # SIGTERM is a clean stop
    assert not os.path.exists(details["ca_bundle"].strip())  # temporary CA removed


# ------------------------------------------------------------------ raw framing


def test_event_stream_frames_pass_botocore_crc_checks() -> None:
    from botocore.eventstream import EventStreamBuffer

    from securebedrock.testing._eventstream import encode_event, encode_exception

    buffer = EventStreamBuffer()
    buffer.add_data(encode_event("chunk", {"bytes": base64.b64encode(b"x").decode()}))
    buffer.add_data(encode_exception("throttlingException", "slow down"))
    first, second = list(buffer)
    assert first.headers[":event-type"] == "chunk"
    assert json.loads(first.payload) == {"bytes": "eA=="}
    assert second.headers[":message-type"] == "exception"
    corrupted = bytearray(encode_event("chunk", {}))
    corrupted[-1] ^= 0xFF
    bad = EventStreamBuffer()
    bad.add_data(bytes(corrupted))
    with pytest.raises(Exception, match="(?i)checksum|crc"):
        list(bad)


def test_ipv6_loopback() -> None:
    with EmbeddedBedrock(host="::1") as server:
        assert server.endpoint_url == f"https://[::1]:{server.port}"
        client = boto3.client("bedrock-runtime", **server.client_kwargs())
        client.converse(modelId=MODEL_ID, messages=MESSAGES)
        assert server.requests[-1].client_address[0] == "::1"


def test_stop_does_not_wait_for_a_delayed_response() -> None:
    server = EmbeddedBedrock().start()
    server.faults.delay(30)
    client = boto3.client(
        "bedrock-runtime",
        **server.client_kwargs(),
        config=Config(read_timeout=60, retries={"total_max_attempts": 1}),
    )
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            client.converse(modelId=MODEL_ID, messages=MESSAGES)
        except BaseException as error:  # noqa: BLE001 - inspected below
            outcome.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while server.faults.pending and time.monotonic() < deadline:
        time.sleep(0.01)  # the delay fault is taken once the request is being handled
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    stopper.join(timeout=30)  # hang guards, not speed limits
    caller.join(timeout=30)
    assert not stopper.is_alive(), "stop() hung on a request in progress"
    assert not caller.is_alive()
    assert outcome, "the call must fail (connection closed), not hang or succeed"
