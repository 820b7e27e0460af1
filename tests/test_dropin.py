"""securebedrock.client() is a drop-in for boto3's bedrock-runtime client.

Every operation of the bedrock-runtime model goes through a secured client
and round-trips against the embedded endpoint; we assert what the *server*
received, not only what came back.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from conftest import org_client

import securebedrock
from securebedrock._adapter import SecuredApiCall
from securebedrock.testing import DEFAULT_ANSWER, EmbeddedBedrock

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Hello there"}]}]
ANTHROPIC_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hello there"}],
    }
)
S3_OUTPUT = {"s3OutputDataConfig": {"s3Uri": "s3://bucket/prefix"}}

ALL_OPERATIONS = {
    "ApplyGuardrail",
    "Converse",
    "ConverseStream",
    "CountTokens",
    "GetAsyncInvoke",
    "InvokeGuardrailChecks",
    "InvokeModel",
    "InvokeModelWithBidirectionalStream",
    "InvokeModelWithResponseStream",
    "ListAsyncInvokes",
    "StartAsyncInvoke",
}


def test_the_operation_list_is_complete() -> None:
    # If botocore adds an operation, this test fails until test_dropin covers it.
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    assert set(model.operation_names) == ALL_OPERATIONS


@pytest.fixture
def client(secured_client: Callable[..., BaseClient]) -> BaseClient:
    return secured_client()


def test_is_a_real_secured_botocore_client(client: BaseClient) -> None:
    assert isinstance(client, BaseClient)
    assert type(client).__name__ == "BedrockRuntime"
    assert isinstance(client._make_api_call, SecuredApiCall)


def test_converse(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    response = client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert response["output"]["message"]["content"] == [{"text": DEFAULT_ANSWER}]
    (request,) = bedrock.requests
    assert (request.operation, request.model_id) == ("Converse", MODEL_ID)
    assert request.json["messages"] == MESSAGES
    assert request.tls_version == "TLSv1.3"


def test_converse_stream(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    events = list(client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"])
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert text == DEFAULT_ANSWER
    assert events[-1]["metadata"]["usage"]["totalTokens"] > 0
    assert bedrock.requests[-1].operation == "ConverseStream"


def test_invoke_model(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    response = client.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY)
    assert json.loads(response["body"].read())["content"][0]["text"] == DEFAULT_ANSWER
    request = bedrock.requests[-1]
    assert request.operation == "InvokeModel"
    assert json.loads(request.body) == json.loads(ANTHROPIC_BODY)


def test_invoke_model_with_response_stream(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    response = client.invoke_model_with_response_stream(modelId=MODEL_ID, body=ANTHROPIC_BODY)
    chunks = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    assert chunks[-1]["type"] == "message_stop"
    assert bedrock.requests[-1].operation == "InvokeModelWithResponseStream"


def test_count_tokens(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    assert (
        client.count_tokens(modelId=MODEL_ID, input={"converse": {"messages": MESSAGES}})[
            "inputTokens"
        ]
        == 2
    )
    assert bedrock.requests[-1].operation == "CountTokens"
    assert bedrock.requests[-1].json == {"input": {"converse": {"messages": MESSAGES}}}


def test_apply_guardrail(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    guardrail = bedrock.guardrails[0]
    response = client.apply_guardrail(
        guardrailIdentifier=guardrail.identifier,
        guardrailVersion=guardrail.version,
        source="INPUT",
        content=[{"text": {"text": "forbidden"}}],
    )
    assert response["action"] == "GUARDRAIL_INTERVENED"
    request = bedrock.requests[-1]
    assert request.operation == "ApplyGuardrail"
    assert request.path == f"/guardrail/{guardrail.identifier}/version/{guardrail.version}/apply"


def test_invoke_guardrail_checks(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    response = client.invoke_guardrail_checks(
        messages=[{"role": "user", "content": [{"text": "hi"}]}],
        checks={"promptAttack": {"categories": [{"category": "JAILBREAK"}]}},
    )
    assert response["results"]["promptAttack"]["results"][0]["category"] == "JAILBREAK"
    assert bedrock.requests[-1].operation == "InvokeGuardrailChecks"


def test_async_invoke_operations_and_paginator(
    client: BaseClient, bedrock: EmbeddedBedrock
) -> None:
    arns = [
        client.start_async_invoke(
            modelId="amazon.nova-reel-v1:0", modelInput={}, outputDataConfig=S3_OUTPUT
        )["invocationArn"]
        for _ in range(3)
    ]
    assert bedrock.requests[-1].operation == "StartAsyncInvoke"
    assert client.get_async_invoke(invocationArn=arns[0])["invocationArn"] == arns[0]
    assert bedrock.requests[-1].operation == "GetAsyncInvoke"
    assert client.can_paginate("list_async_invokes")
    pages = list(
        client.get_paginator("list_async_invokes").paginate(PaginationConfig={"PageSize": 2})
    )
    assert [len(p["asyncInvokeSummaries"]) for p in pages] == [2, 1]
    assert [r.operation for r in bedrock.requests[-2:]] == ["ListAsyncInvokes"] * 2


def test_bidirectional_stream_still_goes_through_the_wrapper(
    client: BaseClient, bedrock: EmbeddedBedrock
) -> None:
    # botocore generates no method for this operation (it needs HTTP/2 and an
    # input event stream, which botocore cannot send); _make_api_call still
    # serializes it as a plain HTTP/1.1 POST. It must pass our wrapper like any
    # other operation, so it cannot become a way around the policy.
    assert not hasattr(client, "invoke_model_with_bidirectional_stream")
    assert isinstance(client._make_api_call, SecuredApiCall)
    with pytest.raises(client.exceptions.ValidationException, match="HTTP/2"):
        client._make_api_call(
            "InvokeModelWithBidirectionalStream", {"modelId": MODEL_ID, "body": {}}
        )
    assert bedrock.requests[-1].operation == "InvokeModelWithBidirectionalStream"


# ------------------------------------------------------------ drop-in surface


def test_introspection_keeps_working(client: BaseClient) -> None:
    assert client.meta.service_model.service_name == "bedrock-runtime"
    assert client.meta.region_name == "us-east-1"
    assert issubclass(client.exceptions.ValidationException, Exception)
    assert client.can_paginate("list_async_invokes")
    assert not client.can_paginate("converse")
    assert client.waiter_names == []
    with pytest.raises(ValueError):
        client.get_waiter("nope")
    raw = boto3.client("bedrock-runtime", region_name="us-east-1")
    assert sorted(n for n in dir(client) if not n.startswith("_")) == sorted(
        n for n in dir(raw) if not n.startswith("_")
    )


def test_modelled_exceptions_are_the_clients_own(
    client: BaseClient, bedrock: EmbeddedBedrock
) -> None:
    # Errors the *server* sends still map to the client's modelled classes.
    with pytest.raises(client.exceptions.ValidationException):
        client.invoke_model(modelId=MODEL_ID, body=b"not json")
    assert bedrock.requests[-1].status == 400
    bedrock.faults.throttle(n=5)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(modelId=MODEL_ID, messages=MESSAGES)


def test_user_before_send_handler_still_runs(client: BaseClient, bedrock: EmbeddedBedrock) -> None:
    def add_header(request: Any, **_: Any) -> None:
        request.headers["x-app-trace"] = "abc123"

    client.meta.events.register("before-send.bedrock-runtime.Converse", add_header)
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests[-1].headers["X-App-Trace"] == "abc123"


def test_session_secures_only_bedrock_runtime(bedrock: EmbeddedBedrock) -> None:
    with bedrock.org_policy():
        session = securebedrock.Session(region_name="us-east-1")
    runtime = session.client("bedrock-runtime", **bedrock.client_kwargs())
    assert isinstance(runtime._make_api_call, SecuredApiCall)
    runtime.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests[-1].operation == "Converse"
    s3 = session.client("s3", region_name="us-east-1")
    assert not isinstance(s3.__dict__.get("_make_api_call"), SecuredApiCall)
    assert type(s3).__name__ == "S3"


def test_secure_in_place_returns_the_same_object(bedrock: EmbeddedBedrock) -> None:
    raw = boto3.client("bedrock-runtime", **bedrock.client_kwargs())
    with bedrock.org_policy():
        secured = securebedrock.secure(raw)
    assert secured is raw
    assert isinstance(raw._make_api_call, SecuredApiCall)
    raw.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests[-1].operation == "Converse"


def test_other_services_are_a_programming_error_not_a_refusal() -> None:
    # ValueError, so that `except SecureBedrockError` (refusals) does not hide the bug.
    with pytest.raises(ValueError, match="bedrock-runtime.*found 's3'"):
        securebedrock.client("s3")
    with pytest.raises(ValueError, match="found 's3'"):
        securebedrock.secure(boto3.client("s3", region_name="us-east-1"))
    with pytest.raises(TypeError, match="found dict"):
        securebedrock.secure({})  # type: ignore[type-var]


def test_client_binds_arguments_as_boto3_does(bedrock: EmbeddedBedrock) -> None:
    kwargs = bedrock.client_kwargs()
    # boto3.client("bedrock-runtime", "us-east-1", ...): the region may be positional.
    region = kwargs.pop("region_name")
    secured = org_client("bedrock-runtime", region, policy=bedrock.pin(), **kwargs)
    assert secured.meta.region_name == region
    secured.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert bedrock.requests[-1].operation == "Converse"
    with bedrock.org_policy():
        session = securebedrock.Session()
    from_session = session.client("bedrock-runtime", region, **kwargs)
    assert isinstance(from_session._make_api_call, SecuredApiCall)
    assert from_session.meta.region_name == region
    # What boto3 rejects, we reject the same way.
    with pytest.raises(TypeError):
        securebedrock.client("bedrock-runtime", region, region_name=region)
    with pytest.raises(TypeError):
        securebedrock.client("bedrock-runtime", regoin_name=region)  # a typo
    with pytest.raises(TypeError):
        securebedrock.client(*(["bedrock-runtime"] + [None] * 11))


def test_client_parameters_match_boto3s() -> None:
    import inspect

    from securebedrock import _client

    ours = list(inspect.signature(_client._boto3_client_parameters).parameters)
    theirs = list(inspect.signature(boto3.session.Session.client).parameters)[1:]
    assert ours == theirs


def test_secure_keeps_the_clients_own_retry_configuration(bedrock: EmbeddedBedrock) -> None:
    bedrock.faults.throttle(3)
    single = boto3.client(
        "bedrock-runtime",
        **bedrock.client_kwargs(),
        config=Config(retries={"total_max_attempts": 1}),
    )
    with bedrock.org_policy():
        securebedrock.secure(single)
    with pytest.raises(single.exceptions.ThrottlingException):
        single.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert [r.operation for r in bedrock.requests] == ["Converse"]


def test_errors_pickle_with_every_attribute() -> None:
    import pickle

    from securebedrock._rules import Violation

    violations = (
        Violation(rule="model.not_allowed", found="a", expected="b", fix="c"),
        Violation(rule="guardrail.missing", found="d", expected="e", fix="f"),
    )
    errors: list[securebedrock.SecureBedrockError] = [
        securebedrock.PolicyViolation(
            rule="model.not_allowed",
            operation="Converse",
            found="a",
            expected="b",
            fix="c",
            violations=violations,
        ),
        securebedrock.TransportSecurityError(
            rule="tls.version", host="h.example", found="x", expected="y", fix="z"
        ),
        securebedrock.PolicyConfigError("bad", path="tls.minimum_version", found="1", fix="f"),
        securebedrock.SecureBedrockError("plain", found="f"),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
        assert type(again) is type(error)
        assert str(again) == str(error)
        assert vars(again) == vars(error)
        assert again.retryable is False
    violation = errors[0]
    assert isinstance(violation, securebedrock.PolicyViolation)
    assert [v.rule for v in violation.violations] == ["model.not_allowed", "guardrail.missing"]
    # A violation built without the list still lists itself.
    single = securebedrock.PolicyViolation(
        rule="auth.api_key", operation="Converse", found="a", expected="b", fix="c"
    )
    assert [(v.rule, v.found) for v in single.violations] == [("auth.api_key", "a")]
    assert securebedrock.NON_RETRYABLE_ERRORS == (securebedrock.SecureBedrockError,)


# ------------------------------------------------------------ LangChain


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any connection to a non-loopback address made during the test."""
    attempts: list[Any] = []
    original = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> Any:
        attempts.append(address)
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"non-loopback connection attempted: {address!r}")
        return original(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts


def test_langchain_chat_bedrock_converse(
    client: BaseClient, bedrock: EmbeddedBedrock, loopback_only: list[Any]
) -> None:
    import langchain_aws  # a test dependency: a missing one must fail, not skip

    control = boto3.client("bedrock", **bedrock.client_kwargs())
    chat = langchain_aws.ChatBedrockConverse(
        client=client, bedrock_client=control, model=MODEL_ID, region_name="us-east-1"
    )
    assert chat.invoke("Hello there").content == DEFAULT_ANSWER
    streamed = "".join(
        str(chunk.content)
        if isinstance(chunk.content, str)
        else "".join(part.get("text", "") for part in chunk.content if isinstance(part, dict))
        for chunk in chat.stream("Hello there")
    )
    assert streamed == DEFAULT_ANSWER
    assert [r.operation for r in bedrock.requests] == ["Converse", "ConverseStream"]
    assert loopback_only, "the guard saw the connections"


def test_langchain_tool_calling(
    client: BaseClient, bedrock: EmbeddedBedrock, loopback_only: list[Any]
) -> None:
    import langchain_aws

    bedrock.set_tool_input("get_weather", {"city": "Paris"})
    control = boto3.client("bedrock", **bedrock.client_kwargs())
    chat = langchain_aws.ChatBedrockConverse(
        client=client, bedrock_client=control, model=MODEL_ID, region_name="us-east-1"
    )
    tool = {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
    reply = chat.bind_tools([tool]).invoke("please use tool get_weather")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    sent = bedrock.requests[-1].json
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
