"""The operations table agrees with botocore's service model, and every module reads it."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import botocore.session
import pytest
from botocore.model import OperationModel, ServiceModel

from securebedrock import _digest, _export, _policy, _telemetry
from securebedrock._errors import PolicyConfigError
from securebedrock._operations import (
    GUARDRAIL_CAPABLE_OPERATIONS,
    GUARDRAIL_INCAPABLE_OPERATIONS,
    OPERATION_NAMES,
    OPERATIONS,
    UNKNOWN_OPERATION,
    Operation,
    match_request,
    operation,
)
from securebedrock._policy import GuardrailPolicy, ModelsPolicy, Policy
from securebedrock._rules import Call, evaluate
from securebedrock.testing import _server

_COUNT = {
    "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
    "input": {"converse": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}},
}


@pytest.fixture(scope="module")
def model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("bedrock-runtime")


def _inputs(op: OperationModel) -> dict[str, Any]:
    return dict(op.input_shape.members) if op.input_shape is not None else {}


def _location(shape: Any) -> str:
    return str(shape.serialization.get("location", "body"))


def test_the_table_names_exactly_botocores_operations(model: ServiceModel) -> None:
    assert set(OPERATIONS) == set(model.operation_names)
    assert OPERATION_NAMES == tuple(sorted(model.operation_names))
    assert all(name == row.name for name, row in OPERATIONS.items())


@pytest.mark.parametrize("name", OPERATION_NAMES)
def test_a_row_agrees_with_botocores_shapes(model: ServiceModel, name: str) -> None:
    row = OPERATIONS[name]
    op = model.operation_model(name)
    inputs = _inputs(op)

    # The model parameter: present exactly when the row names one.
    assert (row.model_param is not None) == ("modelId" in inputs)

    # The guardrail carrier: a guardrailConfig body member, or guardrail headers.
    body_guardrail = "guardrailConfig" in inputs and _location(inputs["guardrailConfig"]) == "body"
    header_guardrail = {
        member for member, shape in inputs.items() if _location(shape) == "header"
    } & {"guardrailIdentifier", "guardrailVersion"}
    assert body_guardrail == (row.guardrail == "converse")
    assert (header_guardrail == {"guardrailIdentifier", "guardrailVersion"}) == (
        row.guardrail == "invoke"
    )
    if row.guardrail in ("incapable", "none"):
        assert not body_guardrail and not header_guardrail

    # The tier carrier: serviceTier as a structure, a string header, or absent.
    tier = inputs.get("serviceTier")
    expected_tier = (
        "none" if tier is None else "structure" if tier.type_name == "structure" else "string"
    )
    assert row.tier == expected_tier

    # The response stream member.
    streams = [
        member
        for member, shape in (op.output_shape.members if op.output_shape else {}).items()
        if shape.serialization.get("eventstream")
    ]
    assert streams == ([row.stream_key] if row.stream_key else [])

    # What the digest reads exists in the request.
    if row.prompt == "messages":
        assert {"messages", "system"} <= set(inputs)
    elif row.prompt == "body":
        assert inputs["body"].type_name == "blob"

    for param in row.arn_params:
        assert param in inputs

    # Where it is sent, and which URI labels name its parameters.
    assert (row.http_method, row.request_uri) == (op.http["method"], op.http["requestUri"])
    for member, shape in inputs.items():
        if _location(shape) == "uri":
            assert "{" + member + "}" in row.request_uri


_PROFILE = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc"
_QUOTED_PROFILE = _PROFILE.replace(":", "%3A").replace("/", "%2F")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/model/m.x-v1/converse", ("Converse", {"modelId": "m.x-v1"})),
        ("post", f"/model/{_QUOTED_PROFILE}/invoke", ("InvokeModel", {"modelId": _PROFILE})),
        ("POST", "/model/m/count-tokens", ("CountTokens", {"modelId": "m"})),
        ("POST", "/async-invoke", ("StartAsyncInvoke", {})),
        ("GET", "/async-invoke", ("ListAsyncInvokes", {})),
        ("GET", "/async-invoke/arn%3Ajob", ("GetAsyncInvoke", {"invocationArn": "arn:job"})),
        (
            "POST",
            "/guardrail/gr1/version/3/apply",
            ("ApplyGuardrail", {"guardrailIdentifier": "gr1", "guardrailVersion": "3"}),
        ),
        # Not an operation: a model id with a raw slash, an empty label, a wrong method,
        # an unknown suffix, a trailing slash.
        ("POST", "/model/a/b/converse", None),
        ("POST", "/model//converse", None),
        ("GET", "/model/m/converse", None),
        ("POST", "/model/m/converse-all", None),
        ("POST", "/model/m/converse/", None),
    ],
)
def test_match_request(method: str, path: str, expected: tuple[str, dict[str, str]] | None) -> None:
    matched = match_request(method, path)
    assert (None if matched is None else (matched[0].name, matched[1])) == expected


def test_match_request_finds_what_botocore_sends(model: ServiceModel) -> None:
    # Every operation's URI, with its labels filled in, routes back to that operation.
    for name in OPERATION_NAMES:
        uri = model.operation_model(name).http["requestUri"]
        labels = {label: f"value-of-{label}" for label in re.findall(r"{(\w+)}", uri)}
        path = re.sub(r"{(\w+)}", r"value-of-\1", uri)
        matched = match_request(OPERATIONS[name].http_method, path)
        assert matched is not None and matched[0].name == name
        assert matched[1] == labels


@pytest.mark.parametrize("row", [*OPERATIONS.values(), UNKNOWN_OPERATION], ids=lambda r: r.name)
def test_a_row_is_consistent_with_itself(row: Operation) -> None:
    # Only an operation that names a model can run one, generate content or need a
    # guardrail; the GenAI span name and the prompt digest need a model too.
    if row.model_param is None:
        assert not row.inference and not row.generates_content
        assert row.guardrail == "none" and row.tier == "none"
        assert row.gen_ai_operation is None and row.prompt == "none"
    else:
        assert row.guardrail != "none"
    assert row.iam_action.startswith("bedrock:")
    if row.prompt != "none":
        assert row.gen_ai_operation is not None


def test_an_unknown_operation_fails_closed() -> None:
    row = operation("InvokeSomethingNew")
    assert row is UNKNOWN_OPERATION
    assert row.inference and row.generates_content
    assert row.guardrail == "incapable" and row.model_param == "modelId"


def test_guardrail_sets_follow_the_carrier_column() -> None:
    assert GUARDRAIL_CAPABLE_OPERATIONS == {
        "Converse",
        "ConverseStream",
        "InvokeModel",
        "InvokeModelWithResponseStream",
    }
    # CountTokens cannot carry a guardrail either, but it generates nothing.
    assert GUARDRAIL_INCAPABLE_OPERATIONS == {
        "InvokeModelWithBidirectionalStream",
        "StartAsyncInvoke",
    }
    assert GUARDRAIL_INCAPABLE_OPERATIONS == {
        name
        for name, row in OPERATIONS.items()
        if row.guardrail == "incapable" and row.generates_content
    }
    assert not OPERATIONS["CountTokens"].generates_content


def test_the_engine_lets_count_tokens_through_a_mandated_guardrail() -> None:
    guarded = Policy(guardrail=GuardrailPolicy(identifier="abc123", version="1"))
    decision = evaluate(guarded, Call(operation="CountTokens", region="us-east-1", params=_COUNT))
    assert decision.allowed and decision.changes == ()
    assert decision.params == _COUNT  # nothing attached
    # Every other rule still applies to it.
    denied = dataclasses.replace(guarded, models=ModelsPolicy(deny=("anthropic.*",)))
    refused = evaluate(denied, Call(operation="CountTokens", region="us-east-1", params=_COUNT))
    assert refused.rules == ("model.not_allowed",)
    # An operation the table does not know still fails closed.
    unknown = Call(operation="CountTokensV2", region="us-east-1", params=_COUNT)
    assert evaluate(guarded, unknown).rules == ("guardrail.unsupported_operation",)


def test_export_does_not_deny_count_tokens_under_a_mandated_guardrail() -> None:
    guarded = Policy(guardrail=GuardrailPolicy(identifier="abc123", version="1"))
    for fmt in _export.EXPORT_FORMATS:
        document = _export.export_policy(guarded, fmt)
        (statement,) = [
            s
            for s in document["Statement"]
            if s["Sid"] == "SecureBedrockDenyOperationsWithoutGuardrail"
        ]
        assert sorted(statement["Action"]) == [
            "bedrock:InvokeModelWithBidirectionalStream",
            "bedrock:StartAsyncInvoke",
        ]
    # The model rules still cover it server-side, as they do on the client.
    denied = dataclasses.replace(guarded, models=ModelsPolicy(deny=("anthropic.*",)))
    (deny,) = [
        s
        for s in _export.export_policy(denied, "scp")["Statement"]
        if s["Sid"] == "SecureBedrockModelDenyList"
    ]
    assert "bedrock:CountTokens" in deny["Action"]


def test_the_policy_schema_accepts_exactly_the_tables_operations() -> None:
    # operations.allow_without_guardrail takes the table's names and refuses a typo.
    for name in OPERATION_NAMES:
        doc = f'version = 1\n[operations]\nallow_without_guardrail = ["{name}"]\n'
        assert _policy.Policy.from_toml(doc).operations.allow_without_guardrail == (name,)
    with pytest.raises(PolicyConfigError, match="bedrock-runtime operation"):
        _policy.Policy.from_toml(
            'version = 1\n[operations]\nallow_without_guardrail = ["Converze"]\n'
        )


def test_export_actions_come_from_the_table() -> None:
    assert _export.MODEL_INFERENCE_ACTIONS == (
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
        "bedrock:InvokeModelWithBidirectionalStream",
        "bedrock:StartAsyncInvoke",
        "bedrock:CountTokens",
    )
    assert _export.GUARDRAIL_ACTIONS == (
        "bedrock:InvokeModel",
        "bedrock:InvokeModelWithResponseStream",
    )


def test_the_embedded_endpoint_streams_what_botocore_streams() -> None:
    assert {name for name, row in OPERATIONS.items() if row.stream_key} == (
        _server._STREAMING_OPERATIONS
    )


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("Converse", {"modelId": "m"}, "chat"),
        ("ConverseStream", {"modelId": "m"}, "chat"),
        ("InvokeModel", {"modelId": "m", "body": b'{"messages": []}'}, "chat"),
        ("InvokeModel", {"modelId": "m", "body": b'{"prompt": "x"}'}, "text_completion"),
        ("InvokeModelWithResponseStream", {"modelId": "amazon.titan-embed"}, "embeddings"),
        ("InvokeModelWithBidirectionalStream", {"modelId": "m"}, "chat"),
        # Not themselves a model invocation: the operation name, as for any other call.
        ("StartAsyncInvoke", {"modelId": "m"}, "StartAsyncInvoke"),
        ("CountTokens", {"modelId": "m"}, "CountTokens"),
        ("ApplyGuardrail", {}, "ApplyGuardrail"),
        ("InvokeSomethingNew", {"modelId": "m"}, "InvokeSomethingNew"),
    ],
)
def test_genai_operation_names(name: str, params: dict[str, Any], expected: str) -> None:
    assert _telemetry._gen_ai_operation(name, params) == expected


def test_the_digest_reads_what_the_table_says() -> None:
    messages = [{"role": "user", "content": [{"text": "hi"}]}]
    assert _digest.prompt_bytes("ConverseStream", {"messages": messages, "modelId": "m"}) == (
        _digest.canonical_json({"messages": messages})
    )
    assert _digest.prompt_bytes("InvokeModelWithResponseStream", {"body": b"{}"}) == b"{}"
    for name in ("CountTokens", "StartAsyncInvoke", "ApplyGuardrail", "InvokeSomethingNew"):
        assert _digest.prompt_bytes(name, {"messages": messages, "body": b"{}"}) is None
