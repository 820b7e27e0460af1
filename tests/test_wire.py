"""The wire check: what reaches the server is what the policy decided, and the audit says so.

Event handlers that frameworks register on documented botocore extension points
rewrite the request after the decision; the hardened session compares the
prepared request with the decision just before writing it. Every test runs
against the embedded endpoint and asserts what the server received and what
the span and the audit log recorded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from _telemetry_helpers import FAST_RETRY, Otel, events, make_otel
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from conftest import GUARDRAIL, MODEL_ID, org_client

from securebedrock import Policy, PolicyViolation, TransportSecurityError
from securebedrock import _telemetry as T
from securebedrock._constants import AUDIT_LOGGER_NAME
from securebedrock._policy import AuthPolicy, GuardrailPolicy, ServiceTierPolicy, TLSPolicy
from securebedrock.testing import EmbeddedBedrock, RecordedRequest

GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)
PROFILE = f"us.{MODEL_ID}"
ENCODED = quote(MODEL_ID, safe="")
ANTHROPIC_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hello there"}],
    }
)

Make = Callable[..., BaseClient]


def _messages() -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": "hello there"}]}]


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def client(secured_client: Make, otel: Otel) -> Make:
    def make(policy: Policy | None = None, **kwargs: Any) -> BaseClient:
        kwargs.setdefault("retry", FAST_RETRY)
        return secured_client(policy, **otel.kwargs(), **kwargs)

    return make


def _audit(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.securebedrock  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == AUDIT_LOGGER_NAME and hasattr(r, "securebedrock")
    ]


def _violation_count(otel: Otel, rule: str) -> int:
    return sum(
        int(p.value)
        for p in otel.metric_points(T.METRIC_VIOLATIONS)
        if p.attributes.get(T.ATTR_RULE) == rule
    )


# --- the mutations, at each level botocore hands to handlers ------------------------------


def _json_body(data: Any) -> dict[str, Any]:
    return dict(json.loads(data)) if data else {}


def _params_mutation(what: str) -> Callable[[dict[str, Any]], None]:
    def mutate(params: dict[str, Any]) -> None:
        if what == "guardrail":
            params.pop("guardrailConfig", None)
        elif what == "model":
            params["modelId"] = PROFILE
        elif what == "tier":
            params["serviceTier"] = {"type": "priority"}

    return mutate


def _body_mutation(what: str, body: Any) -> bytes:
    document = _json_body(body)
    if what == "guardrail":
        document.pop("guardrailConfig", None)
    elif what == "tier":
        document["serviceTier"] = {"type": "priority"}
    return json.dumps(document).encode()


def _url_mutation(url: str) -> str:
    return url.replace(f"/model/{ENCODED}/", f"/model/{quote(PROFILE, safe='')}/")


def _register(client: BaseClient, event: str, what: str, last: bool) -> list[int]:
    """Register a handler on ``event`` that applies mutation ``what``; returns its call log."""
    calls: list[int] = []
    mutate_params = _params_mutation(what)

    def handler(**kwargs: Any) -> None:
        calls.append(1)
        if event == "provide-client-params":
            mutate_params(kwargs["params"])
        elif event == "before-parameter-build":
            mutate_params(kwargs["params"])
        elif event == "before-call":
            request_dict = kwargs["params"]
            if what == "model":
                request_dict["url_path"] = _url_mutation(request_dict["url_path"])
                request_dict["url"] = _url_mutation(request_dict["url"])
            else:
                request_dict["body"] = _body_mutation(what, request_dict["body"])
        elif event == "before-sign":
            request = kwargs["request"]
            if what == "model":
                request.url = _url_mutation(request.url)
            else:
                request.data = _body_mutation(what, request.data)
        elif event == "before-send":
            request = kwargs["request"]
            if what == "model":
                request.url = _url_mutation(request.url)
            else:
                request.body = _body_mutation(what, request.body)
                request.headers["Content-Length"] = str(len(request.body))

    register = client.meta.events.register_last if last else client.meta.events.register
    register(f"{event}.bedrock-runtime.Converse", handler)
    return calls


EVENTS = (
    ("provide-client-params", False),
    ("before-parameter-build", False),
    ("before-call", False),
    ("before-sign", False),
    ("before-send", False),
    ("before-send", True),
    ("before-sign", True),
)
MUTATIONS = ("guardrail", "model", "tier")


def _policy_for(what: str, mode: str = "enforce") -> Policy:
    if what == "tier":
        return Policy(mode=mode, service_tier=ServiceTierPolicy(allowed=("default",)))
    return Policy(mode=mode, guardrail=GUARDED)


def _the_mutation_arrived(what: str, request: RecordedRequest) -> bool:
    body = request.json or {}
    if what == "guardrail":
        return "guardrailConfig" not in body
    if what == "model":
        return request.model_id == PROFILE
    return body.get("serviceTier") == {"type": "priority"}


@pytest.mark.parametrize("what", MUTATIONS)
@pytest.mark.parametrize(("event", "last"), EVENTS)
def test_enforce_refuses_a_request_a_handler_changed_after_the_decision(
    event: str,
    last: bool,
    what: str,
    client: Make,
    bedrock: EmbeddedBedrock,
    otel: Otel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client(_policy_for(what))
    calls = _register(c, event, what, last)
    with pytest.raises(PolicyViolation) as raised:
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert raised.value.rule == "wire.mismatch"
    assert "hello there" not in str(raised.value)
    assert calls == [1]  # refused once, never retried
    assert bedrock.requests == []  # the server received nothing
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert span.attributes[T.ATTR_RULES] == ("wire.mismatch",)
    (violation,) = events(span, T.EVENT_VIOLATION)
    assert violation[T.ATTR_RULE] == "wire.mismatch" and violation[T.ATTR_DECISION] == "deny"
    assert _violation_count(otel, "wire.mismatch") == 1
    denied = [r for r in _audit(caplog) if r["decision"] == "deny"]
    assert len(denied) == 1 and denied[0]["rules"] == ["wire.mismatch"]
    assert denied[0]["stage"] == "wire"
    assert denied[0]["trace_id"] == format(span.context.trace_id, "032x")


@pytest.mark.parametrize("what", MUTATIONS)
@pytest.mark.parametrize(
    ("event", "last"), [("before-parameter-build", False), ("before-sign", True)]
)
def test_log_only_sends_the_changed_request_and_records_it(
    event: str,
    last: bool,
    what: str,
    client: Make,
    bedrock: EmbeddedBedrock,
    otel: Otel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client(_policy_for(what, "log_only"))
    # In log_only the caller's own parameters go out: pass what enforce would attach, so
    # the only difference on the wire is the handler's.
    extra: dict[str, Any] = {}
    if what == "guardrail":
        extra["guardrailConfig"] = {
            "guardrailIdentifier": GUARDRAIL.identifier,
            "guardrailVersion": GUARDRAIL.version,
        }
    _register(c, event, what, last)
    try:
        c.converse(modelId=MODEL_ID, messages=_messages(), **extra)
    except ClientError:
        pass  # the server may answer the changed request with an error: it received it
    (request,) = bedrock.requests
    assert _the_mutation_arrived(what, request)
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "log_only"
    assert "wire.mismatch" in span.attributes[T.ATTR_RULES]
    assert [v[T.ATTR_RULE] for v in events(span, T.EVENT_VIOLATION)].count("wire.mismatch") == 1
    records = [r for r in _audit(caplog) if "wire.mismatch" in r["rules"]]
    assert len(records) == 1 and records[0]["decision"] == "log_only"
    assert records[0]["stage"] == "wire"


def test_invoke_model_guardrail_headers_removed_by_a_handler_are_refused(
    client: Make, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    c = client(Policy(guardrail=GUARDED))

    def drop(request: Any, **_: Any) -> None:
        del request.headers["X-Amzn-Bedrock-GuardrailIdentifier"]
        del request.headers["X-Amzn-Bedrock-GuardrailVersion"]

    c.meta.events.register_last("before-send.bedrock-runtime.InvokeModel", drop)
    with pytest.raises(PolicyViolation) as raised:
        c.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY)
    assert raised.value.rule == "wire.mismatch"
    assert bedrock.requests == []
    assert otel.only_span().attributes[T.ATTR_DECISION] == "deny"


def test_invoke_model_tier_header_changed_by_a_handler_is_refused(
    client: Make, bedrock: EmbeddedBedrock
) -> None:
    c = client(Policy(service_tier=ServiceTierPolicy(allowed=("default",))))

    def tier(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Bedrock-Service-Tier"] = "priority"

    c.meta.events.register_last("before-send.bedrock-runtime", tier)
    with pytest.raises(PolicyViolation, match="service tier"):
        c.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY)
    assert bedrock.requests == []
    # untouched, the same call goes out
    c.meta.events.unregister("before-send.bedrock-runtime", tier)
    c.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY, serviceTier="default")
    assert len(bedrock.requests) == 1


@pytest.mark.parametrize("event", ["before-sign", "before-send"])
def test_a_handler_that_changes_the_host_is_refused(
    event: str, client: Make, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    c = client()

    def move(request: Any, **_: Any) -> None:
        request.url = request.url.replace("127.0.0.1", "localhost")

    c.meta.events.register_last(f"{event}.bedrock-runtime", move)
    with pytest.raises(PolicyViolation, match="localhost"):
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert bedrock.requests == []
    assert otel.only_span().attributes[T.ATTR_RULES] == ("wire.mismatch",)


def test_a_host_header_added_by_a_handler_is_refused(
    client: Make, bedrock: EmbeddedBedrock
) -> None:
    c = client()

    def host(request: Any, **_: Any) -> None:
        request.headers["Host"] = "bedrock-runtime.us-east-1.amazonaws.com"

    c.meta.events.register_last("before-send.bedrock-runtime", host)
    with pytest.raises(PolicyViolation, match="Host header"):
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert bedrock.requests == []


def test_honest_calls_pass_the_wire_check(
    client: Make, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    policy = Policy(
        guardrail=GUARDED,
        auth=AuthPolicy(allow_api_keys=False),
        service_tier=ServiceTierPolicy(allowed=("default", "priority")),
    )
    c = client(policy)
    c.converse(modelId=MODEL_ID, messages=_messages(), serviceTier={"type": "priority"})
    for _ in c.converse_stream(modelId=MODEL_ID, messages=_messages())["stream"]:
        pass
    c.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY, serviceTier="priority")["body"].read()
    for _ in c.invoke_model_with_response_stream(modelId=MODEL_ID, body=ANTHROPIC_BODY)["body"]:
        pass
    c.apply_guardrail(
        guardrailIdentifier=GUARDRAIL.identifier,
        guardrailVersion=GUARDRAIL.version,
        source="INPUT",
        content=[{"text": {"text": "hello"}}],
    )
    assert len(bedrock.requests) == 5
    assert all(s.attributes[T.ATTR_DECISION] == "allow" for s in otel.spans())


# --- a request with no decision ------------------------------------------------------------


def test_calling_the_class_method_directly_is_refused_and_audited(
    client: Make, bedrock: EmbeddedBedrock, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client(Policy(guardrail=GUARDED))
    with pytest.raises(PolicyViolation) as raised:
        type(c)._make_api_call(c, "Converse", {"modelId": MODEL_ID, "messages": _messages()})
    assert raised.value.rule == "wire.mismatch"
    assert "no securebedrock decision" in str(raised.value)
    assert bedrock.requests == []
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert span.attributes[T.ATTR_OPERATION] == "Converse"
    (record,) = [r for r in _audit(caplog) if r["decision"] == "deny"]
    assert record["rules"] == ["wire.mismatch"] and record["stage"] == "wire"


def test_in_log_only_a_request_with_no_decision_is_sent_and_recorded(
    client: Make, bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    c = client(Policy(mode="log_only"))
    type(c)._make_api_call(c, "Converse", {"modelId": MODEL_ID, "messages": _messages()})
    assert len(bedrock.requests) == 1
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "log_only"
    assert span.attributes[T.ATTR_RULES] == ("wire.mismatch",)


def test_a_secured_call_cannot_lend_its_decision_to_another_client(
    client: Make, bedrock: EmbeddedBedrock
) -> None:
    first, second = client(), client()

    def smuggle(**_: Any) -> None:
        # Inside first's call, send through second's session, bypassing second's policy.
        type(second)._make_api_call(
            second, "Converse", {"modelId": PROFILE, "messages": _messages()}
        )

    first.meta.events.register("before-send.bedrock-runtime", smuggle)
    with pytest.raises(PolicyViolation, match="no securebedrock decision"):
        first.converse(modelId=MODEL_ID, messages=_messages())
    assert bedrock.requests == []


# --- bearer tokens, whatever their spelling ------------------------------------------------

BEARER_SPELLINGS = ("Bearer key", " Bearer key", "\tBearer key", "bearer key", "BEARER key")


@pytest.mark.parametrize("value", BEARER_SPELLINGS)
@pytest.mark.parametrize("last", [False, True])
def test_bearer_headers_are_refused_however_spelled(
    value: str,
    last: bool,
    client: Make,
    bedrock: EmbeddedBedrock,
    otel: Otel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client(Policy(auth=AuthPolicy(allow_api_keys=False)))

    def bearer(request: Any, **_: Any) -> None:
        del request.headers["Authorization"]
        request.headers["Authorization"] = value

    register = c.meta.events.register_last if last else c.meta.events.register
    register("before-send.bedrock-runtime", bearer)
    with pytest.raises(PolicyViolation) as raised:
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert raised.value.rule == "auth.api_key"
    assert "key" not in str(raised.value).replace("API key", "").replace("api_key", "")
    assert bedrock.requests == []
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert span.attributes[T.ATTR_RULES] == ("auth.api_key",)
    assert len(events(span, T.EVENT_VIOLATION)) == 1
    assert _violation_count(otel, "auth.api_key") == 1
    (record,) = [r for r in _audit(caplog) if r["decision"] == "deny"]
    assert record["rules"] == ["auth.api_key"]
    assert record["model_sent"] == MODEL_ID
    assert record["trace_id"] == format(span.context.trace_id, "032x")
    assert record["span_id"] == format(span.context.span_id, "016x")
    assert "policy_digest" in record and record["stage"] in ("before-send", "wire")


@pytest.mark.parametrize("name", ["Authorization ", "authorization"])
def test_a_second_authorization_header_is_refused(
    name: str, client: Make, bedrock: EmbeddedBedrock
) -> None:
    c = client(Policy(auth=AuthPolicy(allow_api_keys=False)))

    def add(request: Any, **_: Any) -> None:
        request.headers = dict(request.headers.items()) if name.islower() else request.headers
        request.headers[name] = "Bearer key"

    c.meta.events.register_last("before-send.bedrock-runtime", add)
    with pytest.raises(PolicyViolation) as raised:
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert raised.value.rule == "auth.api_key"
    assert bedrock.requests == []


@pytest.mark.parametrize("value", [" Bearer key", "\tbearer key"])
def test_bearer_in_log_only_is_sent_and_recorded_once_in_the_shared_schema(
    value: str,
    client: Make,
    bedrock: EmbeddedBedrock,
    otel: Otel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client(Policy(mode="log_only", auth=AuthPolicy(allow_api_keys=False)))

    def bearer(request: Any, **_: Any) -> None:
        del request.headers["Authorization"]
        request.headers["Authorization"] = value

    c.meta.events.register("before-send.bedrock-runtime", bearer)
    with pytest.raises(ClientError):  # the server does not know this key: it received it
        c.converse(modelId=MODEL_ID, messages=_messages())
    (request,) = bedrock.requests
    assert request.auth == "bearer"
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "log_only"
    assert span.attributes[T.ATTR_RULES] == ("auth.api_key",)
    assert len(events(span, T.EVENT_VIOLATION)) == 1
    assert _violation_count(otel, "auth.api_key") == 1
    (record,) = [r for r in _audit(caplog) if r["rules"]]
    assert record["decision"] == "log_only" and record["rules"] == ["auth.api_key"]
    assert record["trace_id"] == format(span.context.trace_id, "032x")
    assert record["model_sent"] == MODEL_ID and "policy_digest" in record


# --- transport refusals are audited as refusals ------------------------------------------


def test_a_transport_refusal_is_audited_as_a_deny(
    otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        c = org_client(
            **server.client_kwargs(),
            policy=server.pin(Policy(tls=TLSPolicy(minimum_version="1.3"))),
            retry=FAST_RETRY,
            **otel.kwargs(),
        )
        with pytest.raises(TransportSecurityError) as raised:
            c.converse(modelId=MODEL_ID, messages=_messages())
        assert raised.value.rule == "tls.version"
        assert server.requests == []
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert span.attributes[T.ATTR_RULES] == ("tls.version",)
    (violation,) = events(span, T.EVENT_VIOLATION)
    assert violation[T.ATTR_RULE] == "tls.version" and violation[T.ATTR_STAGE] == "transport"
    assert _violation_count(otel, "tls.version") == 1
    (record,) = [r for r in _audit(caplog) if r["decision"] == "deny"]
    assert record["rules"] == ["tls.version"] and record["stage"] == "transport"
    assert record["model_sent"] == MODEL_ID
    assert record["trace_id"] == format(span.context.trace_id, "032x")


def test_engine_refusals_keep_their_single_record(
    client: Make, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client(Policy(auth=AuthPolicy(allow_api_keys=False)))
    with pytest.raises(PolicyViolation):
        c.converse(modelId=f"eu.{MODEL_ID}", messages=_messages())
    (record,) = _audit(caplog)
    assert record["decision"] == "deny" and record["stage"] == "engine"
    assert otel.only_span().attributes[T.ATTR_RULES] == ("region.cross_region",)


# --- the control-plane client ----------------------------------------------------------------


def _control_plane(server: EmbeddedBedrock, policy: Policy) -> Any:
    import boto3

    from securebedrock import _transport

    kwargs = _transport.prepare_client_kwargs(
        policy, server.client_kwargs(), boto3.session.Session(), service_name="bedrock"
    )
    client = boto3.client("bedrock", **kwargs)
    _transport.harden_client(client, policy)
    return client


@pytest.mark.parametrize("allow_api_keys", [True, False])
def test_the_control_plane_client_sends_only_sigv4(
    allow_api_keys: bool, bedrock: EmbeddedBedrock
) -> None:
    policy = bedrock.pin(Policy(auth=AuthPolicy(allow_api_keys=allow_api_keys)))
    control = _control_plane(bedrock, policy)

    def bearer(request: Any, **_: Any) -> None:
        del request.headers["Authorization"]
        request.headers["Authorization"] = "\tBearer key"

    control.meta.events.register_last("before-send.bedrock", bearer)
    with pytest.raises(PolicyViolation) as raised:
        control.get_inference_profile(inferenceProfileIdentifier="x1")
    assert raised.value.rule == "auth.api_key"
    assert bedrock.requests == []


def test_the_control_plane_client_stays_on_its_endpoint(bedrock: EmbeddedBedrock) -> None:
    control = _control_plane(bedrock, bedrock.pin())

    def move(request: Any, **_: Any) -> None:
        request.url = request.url.replace("127.0.0.1", "localhost")

    control.meta.events.register_last("before-send.bedrock", move)
    with pytest.raises(PolicyViolation) as raised:
        control.get_inference_profile(inferenceProfileIdentifier="x1")
    assert raised.value.rule == "wire.mismatch"
    assert bedrock.requests == []
    # untouched, the control plane works (the endpoint answers: no such profile)
    control.meta.events.unregister("before-send.bedrock", move)
    with pytest.raises(ClientError):
        control.get_inference_profile(inferenceProfileIdentifier="x1")
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile"]


def test_start_async_invoke_model_in_the_body_is_checked(
    client: Make, bedrock: EmbeddedBedrock
) -> None:
    c = client()
    kwargs: dict[str, Any] = {
        "modelId": "amazon.nova-reel-v1:0",
        "modelInput": {"taskType": "TEXT_VIDEO"},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
    }
    c.start_async_invoke(**kwargs)

    def swap(params: dict[str, Any], **_: Any) -> None:
        params["body"] = params["body"].replace(
            b"amazon.nova-reel-v1:0", b"us.amazon.nova-reel-v1:0"
        )

    c.meta.events.register("before-call.bedrock-runtime.StartAsyncInvoke", swap)
    with pytest.raises(PolicyViolation, match="in the request body"):
        c.start_async_invoke(**kwargs)
    assert [r.operation for r in bedrock.requests] == ["StartAsyncInvoke"]


def test_a_refused_control_plane_request_is_audited_on_the_call(
    client: Make,
    bedrock: EmbeddedBedrock,
    otel: Otel,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5f6"
    bedrock.add_inference_profile(
        app, models=[f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL_ID}"]
    )
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client(Policy(auth=AuthPolicy(allow_api_keys=False)))
    state = c.__dict__["_securebedrock_state"]
    control = state.profiles._control_plane()

    def bearer(request: Any, **_: Any) -> None:
        del request.headers["Authorization"]
        request.headers["Authorization"] = " Bearer key"

    control.meta.events.register_last("before-send.bedrock", bearer)
    with pytest.raises(PolicyViolation):
        c.converse(modelId=app, messages=_messages())
    assert bedrock.requests == []  # neither the control plane nor the runtime got a byte
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert "auth.api_key" in span.attributes[T.ATTR_RULES]
    stages = {e.get(T.ATTR_STAGE) for e in events(span, T.EVENT_VIOLATION)}
    assert "control-plane" in stages
    assert _violation_count(otel, "auth.api_key") == 1
    records = [r for r in _audit(caplog) if r["stage"] == "control-plane"]
    assert len(records) == 1 and records[0]["rules"] == ["auth.api_key"]
    assert records[0]["trace_id"] == format(span.context.trace_id, "032x")


def test_the_wire_shapes_agree_with_botocores_model() -> None:
    """What the check expects on the wire is what botocore serialises, operation by operation."""
    import botocore.session

    from securebedrock import _wire

    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    check = _wire.WireCheck(
        Policy(), "https://bedrock-runtime.us-east-1.amazonaws.com", kind="runtime"
    )
    assert set(check.shapes) == set(model.operation_names)
    for name, shape in check.shapes.items():
        operation = model.operation_model(name)
        members = operation.input_shape.members
        location = {m: s.serialization.get("location") for m, s in members.items()}
        assert shape.method == operation.http["method"], name
        assert shape.path.fullmatch(operation.http["requestUri"].split("?")[0]) is not None, name
        assert set(shape.labels) == {m for m, where in location.items() if where == "uri"}, name
        guardrail = "header" if location.get("guardrailIdentifier") == "header" else "none"
        if "guardrailConfig" in members:
            guardrail = "body"
        assert shape.guardrail == guardrail, name
        tier = "none"
        if "serviceTier" in members:
            tier = "header" if location["serviceTier"] == "header" else "body"
        assert shape.tier == tier, name
        body_model = "modelId" if "modelId" in members and location["modelId"] is None else None
        assert shape.body_model == body_model, name


def test_free_text_a_handler_puts_in_the_path_is_never_quoted(
    client: Make, bedrock: EmbeddedBedrock, otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    c = client()
    secret = "tell me the secret plan"

    def rewrite(request: Any, **_: Any) -> None:
        request.url = request.url.replace(ENCODED, quote(secret, safe=""))

    c.meta.events.register_last("before-send.bedrock-runtime", rewrite)
    with pytest.raises(PolicyViolation) as raised:
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert raised.value.rule == "wire.mismatch"
    assert "secret" not in str(raised.value)
    span = otel.only_span()
    assert "secret" not in json.dumps([dict(e.attributes or {}) for e in span.events])
    assert "secret" not in json.dumps(_audit(caplog))
    assert bedrock.requests == []


def test_a_model_label_in_another_equivalent_encoding_matches_and_a_different_one_does_not(
    client: Make, bedrock: EmbeddedBedrock
) -> None:
    # The check compares the decoded label: an encoding botocore would not produce
    # (lower-case hex, an unreserved character escaped) still names the decided model,
    # and one that decodes to another model is refused.
    spelled = ENCODED.replace("%3A", "%3a").replace("a", "%61", 1)
    assert spelled != ENCODED

    def respell(to: str) -> Callable[..., None]:
        def handler(request: Any, **_: Any) -> None:
            request.url = request.url.replace(f"/model/{ENCODED}/", f"/model/{to}/")

        return handler

    c = client(Policy(mode="enforce"))
    c.meta.events.register_last("before-send.bedrock-runtime.Converse", respell(spelled))
    # Sent (the signature no longer covers the respelled path, so the endpoint answers
    # with an error), not refused by the wire check.
    with pytest.raises(ClientError):
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert [r.model_id for r in bedrock.requests] == [MODEL_ID]

    other = client(Policy(mode="enforce"))
    other_spelled = quote(PROFILE, safe="").replace("%3A", "%3a")
    other.meta.events.register_last("before-send.bedrock-runtime.Converse", respell(other_spelled))
    with pytest.raises(PolicyViolation) as raised:
        other.converse(modelId=MODEL_ID, messages=_messages())
    assert raised.value.rule == "wire.mismatch"
    assert len(bedrock.requests) == 1


class _Name(str):
    def strip(self, *_: Any) -> str:  # a key that would hide itself from the check
        return "x-hidden"


@pytest.mark.parametrize(
    "pairs",
    [
        [("Authorization", "AWS4-HMAC-SHA256 x"), ("Host", "h"), ("X-Other", "1")],
        [("Authorization ", b"Bearer t"), (" HOST", "h:443")],
        [("x-amzn-bedrock-guardrailidentifier", "g"), ("X-Amzn-Bedrock-GuardrailVersion", "1")],
        [(_Name("Authorization "), "Bearer t")],
        [],
    ],
)
def test_reading_botocores_headers_directly_gives_what_iterating_them_gives(
    pairs: list[tuple[Any, Any]],
) -> None:
    from botocore.awsrequest import HeadersDict

    from securebedrock._wire_request import header_values

    headers = HeadersDict()
    for name, value in pairs:
        headers[name] = value
    # The generic reader asks every (name, value) pair through the mapping's own methods.
    generic = header_values([(name, headers[name]) for name in list(headers)])
    assert header_values(headers) == generic


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: text.encode("utf-16"), id="utf-16"),
        pytest.param(lambda text: b"\xef\xbb\xbf" + text.encode(), id="utf-8-bom"),
    ],
)
def test_a_body_re_encoded_by_a_handler_is_unreadable_and_refused(
    encode: Callable[[str], bytes], client: Make, bedrock: EmbeddedBedrock
) -> None:
    # The body is read as the UTF-8 botocore writes; another encoding is not guessed at.
    def handler(request: Any, **_: Any) -> None:
        request.body = encode(request.body.decode())
        request.headers["Content-Length"] = str(len(request.body))

    c = client(Policy(mode="enforce", guardrail=GUARDED))
    c.meta.events.register_last("before-send.bedrock-runtime.Converse", handler)
    with pytest.raises(PolicyViolation) as raised:
        c.converse(modelId=MODEL_ID, messages=_messages())
    assert raised.value.rule == "wire.mismatch"
    assert bedrock.requests == []
