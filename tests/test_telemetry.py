"""Audit telemetry against the embedded Bedrock endpoint: spans, metrics, audit log.

Providers are passed in explicitly (in-memory exporter and metric reader), so
tests do not share global OpenTelemetry state.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _telemetry_helpers import FAST_RETRY, Otel, events, make_otel
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from conftest import GUARDRAIL, MODEL_ID
from opentelemetry.trace import SpanKind, StatusCode

import securebedrock
from securebedrock import _telemetry as T
from securebedrock import _telemetry_semconv as sc
from securebedrock._policy import GuardrailPolicy, RegionsPolicy
from securebedrock.testing import EmbeddedBedrock

MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]
ANTHROPIC_BODY = json.dumps(
    {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "temperature": 0.5,
        "messages": [{"role": "user", "content": "hello there"}],
    }
)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def client(secured_client: Callable[..., BaseClient], otel: Otel) -> Callable[..., BaseClient]:
    """``client(policy=None, **kw)``: a secured client for the embedded endpoint, telemetry
    going to ``otel``, fast retries."""

    def make(policy: securebedrock.Policy | None = None, **kwargs: Any) -> BaseClient:
        kwargs.setdefault("retry", FAST_RETRY)
        return secured_client(policy, **otel.kwargs(), **kwargs)

    return make


def _attrs(otel: Otel) -> dict[str, Any]:
    return dict(otel.only_span().attributes or {})


# --- one span per call, every operation ------------------------------------------------


def _call_every_operation(c: BaseClient) -> None:
    c.converse(modelId=MODEL_ID, messages=MESSAGES, inferenceConfig={"maxTokens": 20})
    for _ in c.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]:
        pass
    c.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY)["body"].read()
    for _ in c.invoke_model_with_response_stream(modelId=MODEL_ID, body=ANTHROPIC_BODY)["body"]:
        pass
    c.count_tokens(modelId=MODEL_ID, input={"converse": {"messages": MESSAGES}})
    c.apply_guardrail(
        guardrailIdentifier=GUARDRAIL.identifier,
        guardrailVersion=GUARDRAIL.version,
        source="INPUT",
        content=[{"text": {"text": "hello"}}],
    )
    c.invoke_guardrail_checks(
        messages=[{"role": "user", "content": [{"text": "hello"}]}],
        checks={"contentFilter": {"categories": [{"category": "HATE"}]}},
    )
    arn = c.start_async_invoke(
        modelId="amazon.nova-reel-v1:0",
        modelInput={"taskType": "TEXT_VIDEO"},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://bucket/out"}},
    )["invocationArn"]
    c.get_async_invoke(invocationArn=arn)
    c.list_async_invokes()
    # botocore generates no method for it (HTTP/2 only); the embedded endpoint refuses it.
    with pytest.raises(ClientError):
        c._make_api_call(
            "InvokeModelWithBidirectionalStream",
            {"modelId": "amazon.nova-sonic-v1:0", "body": {"chunk": {"bytes": b"{}"}}},
        )


ALL_OPERATIONS = (
    "Converse",
    "ConverseStream",
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "CountTokens",
    "ApplyGuardrail",
    "InvokeGuardrailChecks",
    "StartAsyncInvoke",
    "GetAsyncInvoke",
    "ListAsyncInvokes",
    "InvokeModelWithBidirectionalStream",
)


def test_one_client_span_per_call_for_all_11_operations(
    client: Callable[..., BaseClient], otel: Otel, bedrock: EmbeddedBedrock
) -> None:
    c = client()
    _call_every_operation(c)
    spans = otel.spans()
    assert [s.attributes[T.ATTR_OPERATION] for s in spans] == list(ALL_OPERATIONS)
    assert [r.operation for r in bedrock.requests] == list(ALL_OPERATIONS)
    assert len(c.meta.service_model.operation_names) == 11
    for span in spans:
        attrs = dict(span.attributes or {})
        assert span.kind is SpanKind.CLIENT
        assert attrs[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
        assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1"
        assert attrs[sc.SERVER_PORT] == bedrock.port
        assert attrs[sc.CLOUD_REGION] == "us-east-1"
        assert attrs[T.ATTR_DECISION] == "allow"
        assert attrs[T.ATTR_MODE] == "enforce"
        assert attrs[T.ATTR_POLICY_DIGEST] == c._securebedrock_state.policy.digest
        assert attrs[T.ATTR_ATTEMPTS] == 1
        assert len(events(span, T.EVENT_ATTEMPT)) == 1
        if attrs[T.ATTR_OPERATION] != "InvokeModelWithBidirectionalStream":
            assert attrs[sc.AWS_REQUEST_ID], span.name
            assert span.status.status_code is StatusCode.UNSET, span.name
    by_op = {s.attributes[T.ATTR_OPERATION]: s for s in spans}
    assert by_op["Converse"].name == f"chat {MODEL_ID}"
    assert by_op["ConverseStream"].name == f"chat {MODEL_ID}"
    assert by_op["InvokeModel"].name == f"chat {MODEL_ID}"  # a messages-API body
    assert by_op["ApplyGuardrail"].name == "bedrock-runtime.ApplyGuardrail"
    assert by_op["ListAsyncInvokes"].name == "bedrock-runtime.ListAsyncInvokes"
    assert by_op["ApplyGuardrail"].attributes[sc.GEN_AI_OPERATION_NAME] == "ApplyGuardrail"
    assert by_op["ApplyGuardrail"].attributes[sc.AWS_BEDROCK_GUARDRAIL_ID] == GUARDRAIL.identifier
    bidi = by_op["InvokeModelWithBidirectionalStream"]
    assert bidi.status.status_code is StatusCode.ERROR
    assert bidi.attributes[sc.ERROR_TYPE] == "ValidationException"


def test_converse_span_attributes(client: Callable[..., BaseClient], otel: Otel) -> None:
    client().converse(
        modelId=MODEL_ID,
        messages=MESSAGES,
        inferenceConfig={"maxTokens": 20, "temperature": 0.2, "topP": 0.9, "stopSequences": ["X"]},
    )
    attrs = _attrs(otel)
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == MODEL_ID
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 20
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == pytest.approx(0.2)
    assert attrs[sc.GEN_AI_REQUEST_TOP_P] == pytest.approx(0.9)
    assert attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("X",)
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0
    assert attrs[T.ATTR_MODEL_REQUESTED] == attrs[T.ATTR_MODEL_SENT] == MODEL_ID
    assert attrs[T.ATTR_RULES] == ()
    # The transport's record of the connection that carried the request.
    assert attrs[T.ATTR_TLS_VERSION] in ("TLSv1.2", "TLSv1.3")
    assert attrs[T.ATTR_PEER_ADDRESS_CLASS] == "loopback"
    assert otel.only_span().status.status_code is StatusCode.UNSET


def test_invoke_model_parameters_from_a_small_json_body(
    client: Callable[..., BaseClient], otel: Otel
) -> None:
    body = client().invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY)["body"].read()
    assert json.loads(body)["content"]  # the caller still gets the whole body
    attrs = _attrs(otel)
    assert attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == pytest.approx(0.5)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)


def test_guardrail_intervention_is_an_event(client: Callable[..., BaseClient], otel: Otel) -> None:
    blocked = [{"role": "user", "content": [{"text": "something forbidden"}]}]
    guardrail = {"guardrailIdentifier": GUARDRAIL.identifier, "guardrailVersion": "3"}
    c = client()
    response = c.converse(modelId=MODEL_ID, messages=blocked, guardrailConfig=guardrail)
    assert response["stopReason"] == "guardrail_intervened"
    body = json.dumps({"anthropic_version": "x", "max_tokens": 5,
                       "messages": [{"role": "user", "content": "forbidden"}]})  # fmt: skip
    c.invoke_model(modelId=MODEL_ID, body=body, **guardrail)["body"].read()
    for _ in c.converse_stream(modelId=MODEL_ID, messages=blocked, guardrailConfig=guardrail)[
        "stream"
    ]:
        pass
    for _ in c.invoke_model_with_response_stream(modelId=MODEL_ID, body=body, **guardrail)["body"]:
        pass
    converse, invoke, stream, invoke_stream = otel.spans()
    for span in (converse, invoke, stream, invoke_stream):
        assert span.attributes[sc.AWS_BEDROCK_GUARDRAIL_ID] == GUARDRAIL.identifier
        assert span.attributes[T.ATTR_GUARDRAIL_VERSION] == "3"
        assert len(events(span, T.EVENT_GUARDRAIL)) == 1, span.name
    assert events(converse, T.EVENT_GUARDRAIL)[0][T.ATTR_GUARDRAIL_ACTION] == "guardrail_intervened"
    assert events(invoke, T.EVENT_GUARDRAIL)[0][T.ATTR_GUARDRAIL_ACTION] == "INTERVENED"
    assert converse.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("guardrail_intervened",)


def test_mandated_guardrail_is_recorded_as_sent(
    client: Callable[..., BaseClient], otel: Otel, bedrock: EmbeddedBedrock
) -> None:
    policy = dataclasses.replace(
        securebedrock.Policy.default(),
        guardrail=GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version),
    )
    client(policy).converse(modelId=MODEL_ID, messages=MESSAGES)
    attrs = _attrs(otel)
    sent = bedrock.requests[-1].json["guardrailConfig"]["guardrailIdentifier"]
    assert attrs[sc.AWS_BEDROCK_GUARDRAIL_ID] == sent
    assert attrs[T.ATTR_GUARDRAIL_VERSION] == GUARDRAIL.version
    assert "guardrailConfig" in attrs[T.ATTR_CHANGES][0]


# --- policy decisions --------------------------------------------------------------------

EU_ONLY = dataclasses.replace(
    securebedrock.Policy.default(), regions=RegionsPolicy(allowed=("eu-west-1",))
)
LOG_ONLY = dataclasses.replace(securebedrock.Policy.default(), mode="log_only")


@pytest.fixture
def log_only_org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An org policy file in log_only mode allowing only eu-west-1 (code may not loosen
    ``enforce`` to ``log_only``: only the org file can say ``log_only``)."""
    org = tmp_path / "org-policy.toml"
    org.write_text('version = 1\nmode = "log_only"\n[regions]\nallowed = ["eu-west-1"]\n')
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))


def test_enforced_violation_span_is_a_deny_with_error_type(
    client: Callable[..., BaseClient], otel: Otel, bedrock: EmbeddedBedrock
) -> None:
    with pytest.raises(securebedrock.PolicyViolation) as raised:
        client(EU_ONLY).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert raised.value.rule == "region.not_allowed"
    assert bedrock.requests == []
    span = otel.only_span()
    attrs = dict(span.attributes or {})
    assert attrs[T.ATTR_DECISION] == "deny"
    assert attrs[T.ATTR_RULES] == ("region.not_allowed",)
    assert attrs[sc.ERROR_TYPE] == "PolicyViolation"
    assert span.status.status_code is StatusCode.ERROR
    (violation,) = events(span, T.EVENT_VIOLATION)
    assert violation[T.ATTR_RULE] == "region.not_allowed"
    assert "us-east-1" in violation[T.ATTR_FOUND]
    assert events(span, T.EVENT_ATTEMPT) == []  # nothing was sent
    (point,) = otel.metric_points(T.METRIC_VIOLATIONS)
    assert point.value == 1
    assert dict(point.attributes) == {
        T.ATTR_RULE: "region.not_allowed",
        T.ATTR_MODE: "enforce",
        T.ATTR_DECISION: "deny",
        sc.GEN_AI_OPERATION_NAME: "chat",
    }


@pytest.mark.usefixtures("log_only_org")
def test_log_only_violation_proceeds_and_is_recorded(
    client: Callable[..., BaseClient], otel: Otel, bedrock: EmbeddedBedrock
) -> None:
    client(LOG_ONLY).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert len(bedrock.requests) == 1
    span = otel.only_span()
    attrs = dict(span.attributes or {})
    assert attrs[T.ATTR_DECISION] == "log_only"
    assert attrs[T.ATTR_MODE] == "log_only"
    assert attrs[T.ATTR_RULES] == ("region.not_allowed",)
    assert sc.ERROR_TYPE not in attrs
    assert span.status.status_code is StatusCode.UNSET
    assert len(events(span, T.EVENT_VIOLATION)) == 1
    (point,) = otel.metric_points(T.METRIC_VIOLATIONS)
    assert dict(point.attributes)[T.ATTR_DECISION] == "log_only"


@pytest.mark.usefixtures("log_only_org")
def test_audit_log_has_one_json_record_per_decision(
    client: Callable[..., BaseClient], otel: Otel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="securebedrock.audit")
    c = client(LOG_ONLY)
    c.converse(modelId=MODEL_ID, messages=MESSAGES)
    records = [r for r in caplog.records if r.name == "securebedrock.audit"]
    assert len(records) == 1
    fields = records[0].securebedrock  # type: ignore[attr-defined]
    json.dumps(fields)  # JSON-serializable
    assert records[0].levelno == logging.WARNING
    assert fields["decision"] == "log_only"
    assert fields["rules"] == ["region.not_allowed"]
    assert fields["operation"] == "Converse"
    assert fields["model_sent"] == MODEL_ID
    span = otel.only_span()
    assert fields["trace_id"] == format(span.context.trace_id, "032x")
    assert fields["span_id"] == format(span.context.span_id, "016x")


# --- metrics -------------------------------------------------------------------------------


def test_duration_and_token_metrics(
    client: Callable[..., BaseClient], otel: Otel, bedrock: EmbeddedBedrock
) -> None:
    c = client()
    c.converse(modelId=MODEL_ID, messages=MESSAGES)
    c.converse(modelId=MODEL_ID, messages=MESSAGES)
    (duration,) = otel.metric_points(sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 2
    assert dict(duration.attributes) == {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "aws.bedrock",
        sc.GEN_AI_REQUEST_MODEL: MODEL_ID,
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: bedrock.port,
        T.ATTR_DECISION: "allow",
    }
    tokens = otel.metric_points(sc.GEN_AI_CLIENT_TOKEN_USAGE)
    assert {p.attributes[sc.GEN_AI_TOKEN_TYPE] for p in tokens} == {"input", "output"}
    assert all(p.count == 2 for p in tokens)


def test_instruments_are_created_once_per_client_not_per_call(
    client: Callable[..., BaseClient], otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = client()
    telemetry = c._securebedrock_state.telemetry
    created: list[str] = []
    meter = otel.meter_provider.get_meter("securebedrock")
    original = type(meter).create_histogram

    def spy(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        created.append(name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(type(meter), "create_histogram", spy)
    c.converse(modelId=MODEL_ID, messages=MESSAGES)
    assert created == []
    assert c._securebedrock_state.telemetry is telemetry


# --- fail open, optional -------------------------------------------------------------------


class _ExplodingProcessor:
    """A span processor whose every hook raises."""

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        raise RuntimeError("processor on_start broke")

    def on_end(self, span: Any) -> None:
        raise RuntimeError("processor on_end broke")

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _ExplodingExporter:
    def export(self, spans: Any) -> Any:
        raise RuntimeError("exporter broke")

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def test_a_broken_processor_or_exporter_never_breaks_a_call(
    secured_client: Callable[..., BaseClient],
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(_ExplodingProcessor())  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(_ExplodingExporter()))  # type: ignore[arg-type]
    metrics_only = make_otel()
    c = secured_client(
        tracer_provider=provider, meter_provider=metrics_only.meter_provider, retry=FAST_RETRY
    )
    assert c.converse(modelId=MODEL_ID, messages=MESSAGES)["stopReason"] == "end_turn"
    for _ in c.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]:
        pass
    # Metrics are still recorded when the span pipeline raises.
    (duration,) = metrics_only.metric_points(sc.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.count == 2
    with pytest.raises(securebedrock.PolicyViolation):
        secured_client(EU_ONLY, tracer_provider=provider).converse(
            modelId=MODEL_ID, messages=MESSAGES
        )


class _BrokenTracer:
    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer broke")


class _BrokenTracerProvider:
    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return _BrokenTracer()


class _BrokenMeter:
    def __getattr__(self, name: str) -> Any:
        def instrument(*args: Any, **kwargs: Any) -> Any:
            return _BrokenInstrument()

        return instrument


class _BrokenInstrument:
    def record(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("meter broke")

    def add(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("meter broke")


class _BrokenMeterProvider:
    def get_meter(self, *args: Any, **kwargs: Any) -> Any:
        return _BrokenMeter()


def test_a_broken_tracer_or_meter_never_breaks_a_call(
    secured_client: Callable[..., BaseClient],
) -> None:
    c = secured_client(
        tracer_provider=_BrokenTracerProvider(), meter_provider=_BrokenMeterProvider()
    )
    assert c.converse(modelId=MODEL_ID, messages=MESSAGES)["stopReason"] == "end_turn"
    events_seen = list(c.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"])
    assert events_seen[-1].get("metadata")
    with pytest.raises(securebedrock.PolicyViolation):
        secured_client(
            EU_ONLY, tracer_provider=_BrokenTracerProvider(), meter_provider=_BrokenMeterProvider()
        ).converse(modelId=MODEL_ID, messages=MESSAGES)


def test_without_an_sdk_everything_is_a_no_op(
    secured_client: Callable[..., BaseClient],
) -> None:
    from opentelemetry import metrics, trace

    # The API's defaults: a no-op tracer and meter (what an app without the SDK gets).
    c = secured_client(
        tracer_provider=trace.NoOpTracerProvider(), meter_provider=metrics.NoOpMeterProvider()
    )
    response = c.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
    assert list(response["stream"])
    assert c.converse(modelId=MODEL_ID, messages=MESSAGES)["stopReason"] == "end_turn"
    record = c._securebedrock_state.telemetry.start("Converse", {"modelId": MODEL_ID})
    assert record.recording is False
    record.end()


def test_digest_mode_records_keyed_digests(
    client: Callable[..., BaseClient], otel: Otel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from securebedrock import _digest

    key = "k" * 32
    monkeypatch.setenv("SECUREBEDROCK_AUDIT_HMAC_KEY", key)
    policy = dataclasses.replace(
        securebedrock.Policy.default(),
        audit=dataclasses.replace(securebedrock.Policy.default().audit, content="digest"),
    )
    c = client(policy)
    monkeypatch.delenv("SECUREBEDROCK_AUDIT_HMAC_KEY")  # read once, at construction
    response = c.converse(modelId=MODEL_ID, messages=MESSAGES)
    attrs = _attrs(otel)
    expected_prompt = _digest.digest(key.encode(), _digest.canonical_json({"messages": MESSAGES}))
    expected_completion = _digest.digest(key.encode(), _digest.canonical_json(response["output"]))
    assert attrs[T.ATTR_PROMPT_DIGEST] == expected_prompt
    assert attrs[T.ATTR_COMPLETION_DIGEST] == expected_completion
    assert expected_prompt.startswith("hmac-sha256:")


def test_digest_mode_without_a_key_is_refused_at_construction(
    secured_client: Callable[..., BaseClient],
) -> None:
    policy = dataclasses.replace(
        securebedrock.Policy.default(),
        audit=dataclasses.replace(securebedrock.Policy.default().audit, content="digest"),
    )
    with pytest.raises(securebedrock.PolicyConfigError) as raised:
        secured_client(policy)
    assert raised.value.path == "audit.content"
    assert "SECUREBEDROCK_AUDIT_HMAC_KEY" in str(raised.value)


# --- alongside opentelemetry-instrumentation-botocore ------------------------------------


def test_runs_alongside_the_botocore_instrumentation(
    client: Callable[..., BaseClient], otel: Otel, bedrock: EmbeddedBedrock
) -> None:
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor

    instrumentor = BotocoreInstrumentor()
    instrumentor.instrument(tracer_provider=otel.tracer_provider)
    try:
        c = client()
        c.converse(modelId=MODEL_ID, messages=MESSAGES)
        for _ in c.converse_stream(modelId=MODEL_ID, messages=MESSAGES)["stream"]:
            pass
        c.invoke_model(modelId=MODEL_ID, body=ANTHROPIC_BODY)["body"].read()
        for _ in c.invoke_model_with_response_stream(modelId=MODEL_ID, body=ANTHROPIC_BODY)["body"]:
            pass
        bedrock.faults.throttle(1)
        c.converse(modelId=MODEL_ID, messages=MESSAGES)  # two attempts
    finally:
        instrumentor.uninstrument()
    ours = otel.spans()
    theirs = [s for s in otel.all_spans() if s not in ours]
    assert len(ours) == 5
    children = {
        mine.context.span_id: [
            s for s in theirs if s.parent is not None and s.parent.span_id == mine.context.span_id
        ]
        for mine in ours
    }
    # Ours wraps the instance's _make_api_call; theirs wraps the class's: theirs is inside,
    # one child per attempt.
    assert [len(children[mine.context.span_id]) for mine in ours] == [1, 1, 1, 1, 2]
    assert len(theirs) == 6
    for mine in ours:
        assert all(
            child.context.trace_id == mine.context.trace_id
            for child in children[mine.context.span_id]
        )
    assert all(s.status.status_code is StatusCode.UNSET for s in ours)
    assert [s.attributes[T.ATTR_STREAM_END] for s in ours if T.ATTR_STREAM_END in s.attributes] == [
        "exhausted",
        "exhausted",
    ]


def test_transport_violations_logged_by_a_log_only_policy_are_on_the_span(
    client: Callable[..., BaseClient], otel: Otel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = tmp_path / "org-policy.toml"
    org.write_text('version = 1\nmode = "log_only"\n[network]\nrequire_private_endpoint = true\n')
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    client(LOG_ONLY).converse(modelId=MODEL_ID, messages=MESSAGES)
    span = otel.only_span()
    # The loopback endpoint is not a private address: the transport let it through
    # (log_only) and recorded the rule on the connection.
    assert span.attributes[T.ATTR_RULES] == ("network.private_endpoint",)
    assert span.attributes[T.ATTR_DECISION] == "log_only"
    (violation,) = events(span, T.EVENT_VIOLATION)
    assert violation[T.ATTR_RULE] == "network.private_endpoint"
    (point,) = otel.metric_points(T.METRIC_VIOLATIONS)
    assert point.attributes[T.ATTR_RULE] == "network.private_endpoint"


def test_sampling_relevant_attributes_are_set_at_span_start(
    secured_client: Callable[..., BaseClient], bedrock: EmbeddedBedrock
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, SamplingResult

    seen: list[dict[str, Any]] = []

    class Recording(Sampler):
        def should_sample(self, parent_context: Any, trace_id: int, name: str,
                          kind: Any = None, attributes: Any = None, links: Any = None,
                          trace_state: Any = None) -> SamplingResult:  # fmt: skip
            seen.append({"name": name, **dict(attributes or {})})
            return ALWAYS_OFF.should_sample(parent_context, trace_id, name)

        def get_description(self) -> str:
            return "recording"

    client = secured_client(tracer_provider=TracerProvider(sampler=Recording()))
    client.converse(modelId=MODEL_ID, messages=MESSAGES)
    (start,) = seen
    assert start["name"] == f"chat {MODEL_ID}"
    assert start[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert start[sc.GEN_AI_PROVIDER_NAME] == "aws.bedrock"
    assert start[sc.GEN_AI_REQUEST_MODEL] == MODEL_ID
    assert start[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert start[sc.SERVER_PORT] == bedrock.port
    assert start[T.ATTR_OPERATION] == "Converse"


def test_session_clients_use_the_sessions_providers(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    kwargs = bedrock.client_kwargs()
    with bedrock.org_policy():
        session = securebedrock.Session(
            region_name=kwargs.pop("region_name"),
            aws_access_key_id=kwargs.pop("aws_access_key_id"),
            aws_secret_access_key=kwargs.pop("aws_secret_access_key"),
            retry=FAST_RETRY,
            **otel.kwargs(),
        )
    bedrock.faults.throttle(1)
    session.client("bedrock-runtime", **kwargs).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert otel.only_span().attributes[T.ATTR_ATTEMPTS] == 2


def test_a_stubbed_stream_that_is_not_an_event_stream_is_left_alone(otel: Otel) -> None:
    telemetry = T.Telemetry(
        mode="enforce",
        policy_digest=None,
        region="us-east-1",
        server_address="example.invalid",
        server_port=443,
        **otel.kwargs(),
    )
    stubbed = [{"messageStart": {"role": "assistant"}}]
    response = {"stream": stubbed, "ResponseMetadata": {"RequestId": "r1"}}
    record = telemetry.start("ConverseStream", {"modelId": MODEL_ID})
    assert record.response(response)["stream"] is stubbed
    assert otel.only_span().attributes[sc.AWS_REQUEST_ID] == "r1"


def test_apply_guardrail_intervention_is_an_event(
    client: Callable[..., BaseClient], otel: Otel
) -> None:
    response = client().apply_guardrail(
        guardrailIdentifier=GUARDRAIL.identifier,
        guardrailVersion=GUARDRAIL.version,
        source="INPUT",
        content=[{"text": {"text": "something forbidden"}}],
    )
    assert response["action"] == "GUARDRAIL_INTERVENED"
    (event,) = events(otel.only_span(), T.EVENT_GUARDRAIL)
    assert event == {
        T.ATTR_GUARDRAIL_ACTION: "GUARDRAIL_INTERVENED",
        T.ATTR_GUARDRAIL_SOURCE: "action",
    }


def test_works_with_only_the_opentelemetry_api(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "api_only.py"
    script.write_text(
        "import sys\n"
        "sys.modules['opentelemetry.sdk'] = None  # as if opentelemetry-sdk were not installed\n"
        "import securebedrock\n"
        "from securebedrock.testing import EmbeddedBedrock\n"
        f"MODEL = {MODEL_ID!r}\n"
        "MESSAGES = [{'role': 'user', 'content': [{'text': 'hi'}]}]\n"
        "with EmbeddedBedrock() as server, server.org_policy():\n"
        "    c = securebedrock.client(**server.client_kwargs())\n"
        "    assert c.converse(modelId=MODEL, messages=MESSAGES)['stopReason'] == 'end_turn'\n"
        "    assert list(c.converse_stream(modelId=MODEL, messages=MESSAGES)['stream'])\n"
        "record = c._securebedrock_state.telemetry.start('Converse', {})\n"
        "assert record.recording is False\n"
        "print('api-only ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OTEL_"))}
    org = tmp_path / "org-policy.toml"
    org.write_text("version = 1\n")
    env["SECUREBEDROCK_POLICY_FILE"] = str(org)
    result = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "api-only ok" in result.stdout
