"""Enforcement end to end, against the embedded HTTPS Bedrock endpoint.

Every assertion is about what the *server received* (or that it received nothing),
and, in log_only mode, about what the audit log recorded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types
from collections.abc import Callable
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, ParamValidationError
from conftest import GUARDRAIL, MODEL_ID

import securebedrock
from securebedrock import Policy, PolicyViolation
from securebedrock._constants import AUDIT_LOGGER_NAME
from securebedrock._policy import (
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    KnownProfile,
    ModelsPolicy,
    RegionsPolicy,
    ServiceTierPolicy,
)
from securebedrock.testing import EmbeddedBedrock, RecordedRequest

ACCT = "123456789012"
GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
FM_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL_ID}"

Make = Callable[..., BaseClient]


def _messages(text: str = "hello") -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def _body(text: str = "hello") -> str:
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": text}],
        }
    )


def _inference(client: BaseClient, op: str, text: str = "hello", **extra: Any) -> Any:
    if op == "Converse":
        return client.converse(modelId=MODEL_ID, messages=_messages(text), **extra)
    if op == "ConverseStream":
        response = client.converse_stream(modelId=MODEL_ID, messages=_messages(text), **extra)
        events = list(response["stream"])
        return events
    if op == "InvokeModel":
        response = client.invoke_model(modelId=MODEL_ID, body=_body(text), **extra)
        return json.loads(response["body"].read())
    if op == "InvokeModelWithResponseStream":
        response = client.invoke_model_with_response_stream(
            modelId=MODEL_ID, body=_body(text), **extra
        )
        return list(response["body"])
    raise AssertionError(op)


def _sent_guardrail(request: RecordedRequest) -> tuple[str | None, str | None, str | None]:
    if request.operation in ("Converse", "ConverseStream"):
        config = (request.json or {}).get("guardrailConfig") or {}
        return (
            config.get("guardrailIdentifier"),
            config.get("guardrailVersion"),
            config.get("trace"),
        )
    headers = {k.lower(): v for k, v in dict(request.headers).items()}
    return (
        headers.get("x-amzn-bedrock-guardrailidentifier"),
        headers.get("x-amzn-bedrock-guardrailversion"),
        headers.get("x-amzn-bedrock-trace"),
    )


# --- the mandated guardrail reaches the server ----------------------------------------------

INFERENCE_OPS = ["Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"]


@pytest.mark.parametrize("op", INFERENCE_OPS)
def test_server_receives_the_mandated_guardrail(
    op: str, bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    client = secured_client(Policy(guardrail=GUARDED))
    _inference(client, op)
    (request,) = bedrock.requests
    assert request.operation == op
    expected_trace = "enabled" if op.startswith("Converse") else "ENABLED"
    assert _sent_guardrail(request) == (GUARDRAIL.identifier, GUARDRAIL.version, expected_trace)


@pytest.mark.parametrize("op", INFERENCE_OPS)
def test_blocked_word_intervenes_end_to_end(
    op: str, bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    client = secured_client(Policy(guardrail=GUARDED))
    # The caller asked for no guardrail: the blocked word is caught only because
    # securebedrock attached the mandated one.
    result = _inference(client, op, text="please say forbidden things")
    text = json.dumps(result, default=str)
    if op == "Converse":
        assert result["stopReason"] == "guardrail_intervened"
    elif op == "InvokeModel":
        assert "guardrail_intervened" in text or "amazon-bedrock-guardrailAction" in text
    assert GUARDRAIL.blocked_input_message in text or "guardrail_intervened" in text
    # and without securebedrock the same call is answered normally
    bedrock.clear()
    with bedrock.org_policy():
        plain = securebedrock.client(**bedrock.client_kwargs())
    text = json.dumps(_inference(plain, op, text="please say forbidden things"), default=str)
    assert "guardrail_intervened" not in text
    assert _sent_guardrail(bedrock.requests[0])[0] is None


def test_stream_processing_mode_is_kept(bedrock: EmbeddedBedrock, secured_client: Make) -> None:
    client = secured_client(Policy(guardrail=GUARDED))
    _inference(client, "ConverseStream", guardrailConfig={"streamProcessingMode": "async"})
    config = bedrock.requests[0].json["guardrailConfig"]
    assert config["streamProcessingMode"] == "async"
    assert config["guardrailIdentifier"] == GUARDRAIL.identifier


def test_same_guardrail_by_arn_is_sent_as_given(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    arn = f"arn:aws:bedrock:{bedrock.region}:{ACCT}:guardrail/{GUARDRAIL.identifier}"
    client = secured_client(Policy(guardrail=GUARDED))
    client.converse(
        modelId=MODEL_ID,
        messages=_messages(),
        guardrailConfig={"guardrailIdentifier": arn, "guardrailVersion": GUARDRAIL.version},
    )
    assert _sent_guardrail(bedrock.requests[0])[:2] == (arn, GUARDRAIL.version)


# --- every rule, both modes -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """A call that breaks ``rule`` under ``policy``."""

    rule: str
    policy: Policy
    call: Callable[[BaseClient], Any]
    # In log_only mode: what the server must have received (the caller's own params).
    received: Callable[[RecordedRequest], bool] | None
    client_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    bearer_env: bool = False
    inject_bearer: bool = False
    # An event handler that rewrites the prepared request after the decision.
    rewrite_model: str | None = None


def _converse(**extra: Any) -> Callable[[BaseClient], Any]:
    def run(client: BaseClient) -> Any:
        return client.converse(modelId=MODEL_ID, messages=_messages(), **extra)

    return run


def _converse_model(model_id: str) -> Callable[[BaseClient], Any]:
    return lambda client: client.converse(modelId=model_id, messages=_messages())


def _no_guardrail(request: RecordedRequest) -> bool:
    return request.operation == "Converse" and "guardrailConfig" not in (request.json or {})


CASES: dict[str, Case] = {
    "guardrail.missing": Case(
        rule="guardrail.missing",
        policy=Policy(guardrail=GUARDED),
        # a guardrailConfig securebedrock cannot merge the mandated guardrail into
        call=_converse(guardrailConfig=["not", "a", "structure"]),
        received=None,  # botocore itself refuses the caller's params: nothing is sent
    ),
    "guardrail.conflict": Case(
        rule="guardrail.conflict",
        policy=Policy(guardrail=GUARDED),
        call=_converse(
            guardrailConfig={"guardrailIdentifier": "other1234567", "guardrailVersion": "1"}
        ),
        received=lambda r: (
            (r.json or {}).get("guardrailConfig", {}).get("guardrailIdentifier") == "other1234567"
        ),
    ),
    "guardrail.unsupported_operation": Case(
        rule="guardrail.unsupported_operation",
        policy=Policy(guardrail=GUARDED),
        # generates content and has no way to carry a guardrail
        call=lambda client: client.start_async_invoke(
            modelId="amazon.nova-reel-v1:0",
            modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "hello"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
        ),
        received=lambda r: r.operation == "StartAsyncInvoke",
    ),
    "inference_profile.required": Case(
        rule="inference_profile.required",
        policy=Policy(inference_profile=InferenceProfilePolicy(required=True)),
        call=_converse_model(MODEL_ID),
        received=lambda r: r.operation == "Converse" and r.model_id == MODEL_ID,
    ),
    "region.not_allowed": Case(
        rule="region.not_allowed",
        policy=Policy(regions=RegionsPolicy(allowed=("eu-west-1",))),
        call=_converse_model(MODEL_ID),
        received=_no_guardrail,
    ),
    "region.cross_region": Case(
        rule="region.cross_region",
        policy=Policy(),
        call=_converse_model(f"eu.{MODEL_ID}"),
        received=lambda r: r.model_id == f"eu.{MODEL_ID}",
    ),
    "model.not_allowed": Case(
        rule="model.not_allowed",
        policy=Policy(models=ModelsPolicy(allow=("amazon.nova-*",))),
        call=_converse_model(MODEL_ID),
        received=lambda r: r.model_id == MODEL_ID,
    ),
    "service_tier.not_allowed": Case(
        rule="service_tier.not_allowed",
        policy=Policy(service_tier=ServiceTierPolicy(allowed=("priority",))),
        call=_converse_model(MODEL_ID),
        received=lambda r: "serviceTier" not in (r.json or {}),
    ),
    "auth.api_key": Case(
        rule="auth.api_key",
        policy=Policy(auth=AuthPolicy(allow_api_keys=False)),
        call=_converse_model(MODEL_ID),
        received=lambda r: r.auth == "bearer",
        bearer_env=True,
    ),
    "auth.api_key (header set by other code)": Case(
        rule="auth.api_key",
        policy=Policy(auth=AuthPolicy(allow_api_keys=False)),
        call=_converse_model(MODEL_ID),
        received=lambda r: r.auth == "bearer",
        inject_bearer=True,
    ),
    "wire.mismatch": Case(
        rule="wire.mismatch",
        policy=Policy(),
        call=_converse_model(MODEL_ID),
        received=lambda r: r.model_id == f"us.{MODEL_ID}",
        rewrite_model=f"us.{MODEL_ID}",
    ),
}


def test_every_rule_has_a_case() -> None:
    from securebedrock._rules import RULE_IDS

    assert {case.rule for case in CASES.values()} == set(RULE_IDS)


def _audit(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.securebedrock  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == AUDIT_LOGGER_NAME and hasattr(r, "securebedrock")
    ]


#: One entry per attempt to send (counted by the injecting before-send handler).
SEND_ATTEMPTS: list[int] = []


def _client_for(
    case: Case, mode: str, bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> BaseClient:
    if case.bearer_env:
        monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "test-bearer-token")
    policy = dataclasses.replace(case.policy, mode=mode)
    kwargs = {**bedrock.client_kwargs(), **case.client_kwargs}
    if case.bearer_env:
        # botocore uses the bearer token only when no explicit keys are given
        kwargs.pop("aws_access_key_id", None)
        kwargs.pop("aws_secret_access_key", None)
    with bedrock.org_policy(policy):
        client = securebedrock.client(**kwargs)
    if case.inject_bearer:

        def add_bearer(request: Any, **_: Any) -> None:
            SEND_ATTEMPTS.append(1)
            request.headers["Authorization"] = "Bearer injected-by-a-framework"

        client.meta.events.register("before-send.bedrock-runtime", add_bearer)
    if case.rewrite_model is not None:
        target = case.rewrite_model

        def rewrite(params: dict[str, Any], **_: Any) -> None:
            SEND_ATTEMPTS.append(1)
            params["url_path"] = params["url_path"].replace(MODEL_ID.replace(":", "%3A"), target)
            params["url"] = params["url"].replace(MODEL_ID.replace(":", "%3A"), target)

        client.meta.events.register("before-call.bedrock-runtime", rewrite)
    return client


@pytest.mark.parametrize("name", list(CASES))
def test_enforce_refuses_and_sends_nothing(
    name: str,
    bedrock: EmbeddedBedrock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = CASES[name]
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    SEND_ATTEMPTS.clear()
    client = _client_for(case, "enforce", bedrock, monkeypatch)
    with pytest.raises(PolicyViolation) as raised:
        case.call(client)
    error = raised.value
    assert error.rule == case.rule
    assert error.operation in ("Converse", "StartAsyncInvoke")
    assert error.found and error.expected and error.fix
    assert "hello" not in str(error)  # never prompt content
    assert bedrock.requests == []  # the server received nothing
    if case.inject_bearer or case.rewrite_model:
        assert SEND_ATTEMPTS == [1]  # refused on the prepared request, and never retried


@pytest.mark.parametrize("name", list(CASES))
def test_log_only_sends_the_callers_params_and_records_the_rule(
    name: str,
    bedrock: EmbeddedBedrock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = CASES[name]
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    client = _client_for(case, "log_only", bedrock, monkeypatch)
    try:
        case.call(client)
    except ParamValidationError:
        # the caller's own (invalid) params went on to botocore, which refused them
        assert case.received is None
    except ClientError:
        pass  # the server may answer the caller's params with an error: it received them
    if case.received is None:
        assert bedrock.requests == []
    else:
        (request,) = bedrock.requests
        assert case.received(request), request
    records = _audit(caplog)
    assert any(case.rule in record["rules"] for record in records), records
    assert all(record["decision"] != "deny" for record in records)


# --- CountTokens: no guardrail needed, every other rule applies ---------------------------------

_COUNT_INPUTS = {
    "converse": {"converse": {"messages": [{"role": "user", "content": [{"text": "hello"}]}]}},
    "invokeModel": {"invokeModel": {"body": _body()}},
}


@pytest.mark.parametrize("shape", list(_COUNT_INPUTS))
@pytest.mark.parametrize("mode", ["enforce", "log_only"])
def test_count_tokens_reaches_the_server_under_a_mandated_guardrail(
    shape: str,
    mode: str,
    bedrock: EmbeddedBedrock,
    secured_client: Make,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # It generates nothing, so the mandated guardrail does not apply and it is not listed
    # in operations.allow_without_guardrail.
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    policy = Policy(mode=mode, guardrail=GUARDED)  # type: ignore[arg-type]
    assert policy.operations.allow_without_guardrail == ()
    client = secured_client(policy)
    result = client.count_tokens(modelId=MODEL_ID, input=_COUNT_INPUTS[shape])
    assert result["inputTokens"] > 0
    (request,) = bedrock.requests
    assert request.operation == "CountTokens"
    assert request.model_id == MODEL_ID
    assert _sent_guardrail(request)[0] is None  # nothing attached, nothing to attach to
    (record,) = _audit(caplog)
    assert record["decision"] == "allow"
    assert record["rules"] == []


def _count_tokens(model_id: str = MODEL_ID) -> Callable[[BaseClient], Any]:
    return lambda client: client.count_tokens(modelId=model_id, input=_COUNT_INPUTS["converse"])


def _refused_count(rule: str, model_id: str = MODEL_ID, **changes: Any) -> Case:
    """A CountTokens call under a mandated guardrail that ``rule`` refuses."""
    flags = {k: changes.pop(k) for k in ("bearer_env", "inject_bearer") if k in changes}
    policy = dataclasses.replace(Policy(guardrail=GUARDED), **changes)
    return Case(rule=rule, policy=policy, call=_count_tokens(model_id), received=None, **flags)


_ARN_ELSEWHERE = f"arn:aws:bedrock:eu-west-1::foundation-model/{MODEL_ID}"
_NO_KEYS = AuthPolicy(allow_api_keys=False)
COUNT_TOKENS_CASES: dict[str, Case] = {
    "denied model": _refused_count("model.not_allowed", models=ModelsPolicy(deny=("anthropic.*",))),
    "model outside the allow-list": _refused_count(
        "model.not_allowed", models=ModelsPolicy(allow=("amazon.nova-*",))
    ),
    "client region not allowed": _refused_count(
        "region.not_allowed", regions=RegionsPolicy(allowed=("eu-west-1",))
    ),
    "model ARN in another region": _refused_count("region.cross_region", _ARN_ELSEWHERE),
    "cross-region profile id": _refused_count("region.cross_region", f"eu.{MODEL_ID}"),
    "API key": _refused_count("auth.api_key", auth=_NO_KEYS, bearer_env=True),
    "API key set by a before-send handler": _refused_count(
        "auth.api_key", auth=_NO_KEYS, inject_bearer=True
    ),
}


@pytest.mark.parametrize("name", list(COUNT_TOKENS_CASES))
def test_count_tokens_is_still_refused_by_the_other_rules(
    name: str,
    bedrock: EmbeddedBedrock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = COUNT_TOKENS_CASES[name]
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    client = _client_for(case, "enforce", bedrock, monkeypatch)
    with pytest.raises(PolicyViolation) as raised:
        case.call(client)
    assert raised.value.rule == case.rule
    assert raised.value.operation == "CountTokens"
    assert "guardrail.unsupported_operation" not in str(raised.value)
    assert bedrock.requests == []  # the server received nothing
    if not (case.bearer_env or case.inject_bearer):  # decided by the engine, before sending
        (record,) = _audit(caplog)
        assert record["decision"] == "deny"
        assert case.rule in record["rules"]


def test_count_tokens_with_an_odd_model_id_is_refused_before_sending(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    # A non-string model id cannot be checked against the model rules: refused, not waved on.
    client = secured_client(Policy(guardrail=GUARDED, models=ModelsPolicy(allow=("amazon.*",))))
    with pytest.raises((PolicyViolation, ParamValidationError)):
        client.count_tokens(modelId=["anthropic.claude"], input=_COUNT_INPUTS["converse"])
    assert bedrock.requests == []


# --- guardrail attach in log_only: recorded, not applied ---------------------------------------


def test_log_only_records_but_does_not_attach_the_guardrail(
    bedrock: EmbeddedBedrock, secured_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    client = secured_client(Policy(mode="log_only", guardrail=GUARDED))
    result = client.converse(modelId=MODEL_ID, messages=_messages("say forbidden"))
    assert result["stopReason"] != "guardrail_intervened"
    assert _sent_guardrail(bedrock.requests[0])[0] is None
    (record,) = _audit(caplog)
    assert record["decision"] == "log_only"
    assert record["changes"] == ["guardrailConfig"]


# --- inference profiles end to end --------------------------------------------------------------


def test_map_sends_the_profile(bedrock: EmbeddedBedrock, secured_client: Make) -> None:
    policy = Policy(
        inference_profile=InferenceProfilePolicy(
            required=True,
            map=types.MappingProxyType({MODEL_ID: APP}),
            known=types.MappingProxyType({APP: KnownProfile(models=(FM_ARN,))}),
        )
    )
    client = secured_client(policy)
    client.converse(modelId=MODEL_ID, messages=_messages())
    client.converse(modelId=FM_ARN, messages=_messages())
    assert [r.model_id for r in bedrock.requests] == [APP, APP]
    # pre-declared: no control-plane call
    assert all(r.operation == "Converse" for r in bedrock.requests)


def test_application_profile_is_resolved_once(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM_ARN])
    client = secured_client(Policy(models=ModelsPolicy(allow=("anthropic.*",))))
    for _ in range(3):
        client.converse(modelId=APP, messages=_messages())
    assert [r.operation for r in bedrock.requests] == [
        "GetInferenceProfile",
        "Converse",
        "Converse",
        "Converse",
    ]
    resolve = bedrock.requests[0]
    assert resolve.auth == "sigv4" and resolve.tls_version in ("TLSv1.2", "TLSv1.3")


def test_cross_region_application_profile_is_refused(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(
        APP, models=[FM_ARN, f"arn:aws:bedrock:us-west-2::foundation-model/{MODEL_ID}"]
    )
    client = secured_client(Policy())
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=APP, messages=_messages())
    assert raised.value.rule == "region.cross_region"
    assert "us-west-2" in str(raised.value)
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile"]


def test_denied_model_behind_a_profile_is_refused(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM_ARN])
    client = secured_client(Policy(models=ModelsPolicy(deny=("anthropic.claude-3-haiku*",))))
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=APP, messages=_messages())
    assert raised.value.rule == "model.not_allowed"
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile"]


def test_unresolvable_profile_fails_closed(bedrock: EmbeddedBedrock, secured_client: Make) -> None:
    client = secured_client(Policy())  # the server does not know APP
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=APP, messages=_messages())
    error = raised.value
    assert error.rule == "region.cross_region"
    assert "ResourceNotFoundException" in str(error)
    assert "bedrock:GetInferenceProfile" in str(error) and "inference_profile.known" in str(error)
    # the failure is remembered for a while: no control-plane call storm
    with pytest.raises(PolicyViolation):
        client.converse(modelId=APP, messages=_messages())
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile"]
