"""Telemetry building blocks, without a server: operation names, request parameters,
re-securing, and the error type."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from _telemetry_helpers import FAST_RETRY, make_otel
from botocore.client import BaseClient
from botocore.exceptions import ClientError, EndpointConnectionError
from conftest import MODEL_ID

import securebedrock
from securebedrock import _telemetry as T
from securebedrock import _telemetry_semconv as sc
from securebedrock.testing import EmbeddedBedrock


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("Converse", {}, "chat"),
        ("ConverseStream", {}, "chat"),
        ("InvokeModel", {"modelId": "m", "body": b'{"messages": []}'}, "chat"),
        ("InvokeModel", {"modelId": "m", "body": '{"prompt": "x"}'}, "text_completion"),
        ("InvokeModel", {"modelId": "amazon.titan-embed-text-v2:0", "body": b"{}"}, "embeddings"),
        ("InvokeModelWithResponseStream", {"modelId": "m", "body": None}, "text_completion"),
        ("ApplyGuardrail", {}, "ApplyGuardrail"),
        ("StartAsyncInvoke", {"modelId": "m"}, "StartAsyncInvoke"),
    ],
)
def test_gen_ai_operation_names(operation: str, params: dict[str, object], expected: str) -> None:
    assert T._gen_ai_operation(operation, params) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {
                "max_tokens": 10,
                "temperature": 0.1,
                "top_p": 0.5,
                "top_k": 5,
                "stop_sequences": ["a"],
            },
            {
                sc.GEN_AI_REQUEST_MAX_TOKENS: 10,
                sc.GEN_AI_REQUEST_TEMPERATURE: 0.1,
                sc.GEN_AI_REQUEST_TOP_P: 0.5,
                sc.GEN_AI_REQUEST_TOP_K: 5,
                sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("a",),
            },
        ),
        (  # Amazon Titan text
            {"inputText": "x", "textGenerationConfig": {"maxTokenCount": 7, "topP": 0.9}},
            {sc.GEN_AI_REQUEST_MAX_TOKENS: 7, sc.GEN_AI_REQUEST_TOP_P: 0.9},
        ),
        (  # Amazon Nova
            {"messages": [], "inferenceConfig": {"max_new_tokens": 9, "temperature": 0.3}},
            {sc.GEN_AI_REQUEST_MAX_TOKENS: 9, sc.GEN_AI_REQUEST_TEMPERATURE: 0.3},
        ),
        (  # Meta Llama
            {"prompt": "x", "max_gen_len": 11},
            {sc.GEN_AI_REQUEST_MAX_TOKENS: 11},
        ),
        ({"max_tokens": True, "temperature": "hot"}, {}),  # wrong types are ignored
    ],
)
def test_invoke_model_body_parameters(body: dict[str, object], expected: dict[str, object]) -> None:
    params = {"body": json.dumps(body).encode()}
    assert T._request_parameters("InvokeModel", params) == expected


def test_unparseable_or_huge_or_streamed_bodies_give_no_parameters() -> None:
    assert T._request_parameters("InvokeModel", {"body": b"not json"}) == {}
    assert T._request_parameters("InvokeModel", {"body": b"[1, 2]"}) == {}
    huge = json.dumps({"max_tokens": 1, "pad": "x" * (2 << 20)})
    assert T._request_parameters("InvokeModel", {"body": huge}) == {}
    assert T._request_parameters("InvokeModel", {"body": open}) == {}


def test_error_type_is_the_aws_code_or_the_class_name() -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException"}}, "Converse")
    assert T.error_type(throttled) == "ThrottlingException"
    assert T.error_type(EndpointConnectionError(endpoint_url="x")) == "EndpointConnectionError"
    assert T.error_type(ClientError({}, "Converse")) == "ClientError"


def test_secure_takes_providers_and_re_securing_keeps_them(
    raw_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock
) -> None:
    otel = make_otel()
    client = raw_client()
    with bedrock.org_policy():
        securebedrock.secure(client, retry=FAST_RETRY, **otel.kwargs())
        securebedrock.secure(client)  # again, without providers: the first ones stay
    client.converse(modelId=MODEL_ID, messages=[{"role": "user", "content": [{"text": "hi"}]}])
    assert otel.only_span().attributes[T.ATTR_OPERATION] == "Converse"
    assert client._securebedrock_state.retrier.config is FAST_RETRY
