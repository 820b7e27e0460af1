"""Content digests: the normalization documented in docs/telemetry.md, and the key rules."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Callable

import pytest
from _telemetry_helpers import FAST_RETRY, make_otel
from botocore.client import BaseClient
from conftest import MODEL_ID

import securebedrock
from securebedrock import _digest
from securebedrock import _telemetry as T

KEY = "a-test-key-of-32-bytes-exactly!!"
DIGEST_POLICY = dataclasses.replace(
    securebedrock.Policy.default(),
    audit=dataclasses.replace(securebedrock.Policy.default().audit, content="digest"),
)


def _hmac(data: bytes) -> str:
    return "hmac-sha256:" + hmac.new(KEY.encode(), data, hashlib.sha256).hexdigest()


def test_canonical_json_is_sorted_compact_utf8_with_base64_bytes() -> None:
    value = {"b": [1, {"é": b"\x00\xff"}], "a": "x"}
    assert _digest.canonical_json(value) == '{"a":"x","b":[1,{"é":"AP8="}]}'.encode()


def test_prompt_normalization_per_operation() -> None:
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    assert _digest.prompt_bytes("Converse", {"messages": messages, "modelId": "m"}) == (
        _digest.canonical_json({"messages": messages})
    )
    system = [{"text": "be brief"}]
    assert _digest.prompt_bytes("ConverseStream", {"messages": messages, "system": system}) == (
        _digest.canonical_json({"messages": messages, "system": system})
    )
    assert _digest.prompt_bytes("InvokeModel", {"body": "é"}) == "é".encode()
    assert _digest.prompt_bytes("InvokeModel", {"body": b"raw"}) == b"raw"
    assert _digest.prompt_bytes("InvokeModel", {"body": open}) is None  # a stream: not read
    assert _digest.prompt_bytes("ListAsyncInvokes", {}) is None


def test_the_key_is_required_long_enough_and_only_for_digest_mode() -> None:
    assert _digest.load_key(securebedrock.Policy.default(), {}) is None
    assert _digest.load_key(DIGEST_POLICY, {"SECUREBEDROCK_AUDIT_HMAC_KEY": KEY}) == KEY.encode()
    for environ in ({}, {"SECUREBEDROCK_AUDIT_HMAC_KEY": "short"}):
        with pytest.raises(securebedrock.PolicyConfigError) as raised:
            _digest.load_key(DIGEST_POLICY, environ)
        assert raised.value.path == "audit.content"
        assert "short" not in str(raised.value)  # never echo (part of) a secret


def test_stream_and_invoke_model_completion_digests_follow_the_documented_normalization(
    secured_client: Callable[..., BaseClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECUREBEDROCK_AUDIT_HMAC_KEY", KEY)
    otel = make_otel()
    client = secured_client(DIGEST_POLICY, retry=FAST_RETRY, **otel.kwargs())
    messages = [{"role": "user", "content": [{"text": "hello"}]}]
    deltas = b"".join(
        _digest.canonical_json(event["contentBlockDelta"]["delta"]) + b"\n"
        for event in client.converse_stream(modelId=MODEL_ID, messages=messages)["stream"]
        if "contentBlockDelta" in event
    )
    body = json.dumps({"anthropic_version": "x", "max_tokens": 5, "messages": []})
    answer = client.invoke_model(modelId=MODEL_ID, body=body)["body"].read()
    chunks = b"".join(
        event["chunk"]["bytes"]
        for event in client.invoke_model_with_response_stream(modelId=MODEL_ID, body=body)["body"]
        if "chunk" in event
    )
    stream, invoke, invoke_stream = otel.spans()
    assert stream.attributes[T.ATTR_COMPLETION_DIGEST] == _hmac(deltas)
    assert stream.attributes[T.ATTR_PROMPT_DIGEST] == _hmac(
        _digest.canonical_json({"messages": messages})
    )
    assert invoke.attributes[T.ATTR_COMPLETION_DIGEST] == _hmac(answer)
    assert invoke.attributes[T.ATTR_PROMPT_DIGEST] == _hmac(body.encode())
    assert invoke_stream.attributes[T.ATTR_COMPLETION_DIGEST] == _hmac(chunks)
