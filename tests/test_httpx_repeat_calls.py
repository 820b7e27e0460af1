"""Repeated calls through one ``HTTPTransport``: what is kept between calls (the cached
decision, a pooled connection's facts) never carries one call's answer into another."""

from __future__ import annotations

import httpx
import pytest
from _telemetry_helpers import Otel, make_otel
from conftest import GUARDRAIL
from test_httpx_transport import (
    CHAT,
    DENIED,
    MODEL,
    POLICY_TOML,
    chat,
    make_core,
    make_transport,
)

import securebedrock
from securebedrock import Policy, PolicyViolation
from securebedrock.testing import EmbeddedBedrock


@pytest.fixture
def otel() -> Otel:
    return make_otel()


def test_calls_of_one_shape_each_carry_the_decision_and_other_shapes_are_decided_anew(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    transport = make_transport(securebedrock.HTTPTransport, bedrock, otel=otel)
    own_guardrail = {
        "X-Amzn-Bedrock-GuardrailIdentifier": "othergr00001",
        "X-Amzn-Bedrock-GuardrailVersion": "1",
    }
    with httpx.Client(transport=transport, base_url=bedrock.endpoint_url) as http:
        for _ in range(3):
            assert http.post(CHAT, json=chat()).status_code == 200
        with pytest.raises(PolicyViolation) as denied:
            http.post(CHAT, json=chat(DENIED))
        with pytest.raises(PolicyViolation) as conflict:
            http.post(CHAT, json=chat(), headers=own_guardrail)
        # The same shape with a bearer key: the banned key is replaced with SigV4 again.
        bearer = http.post(CHAT, json=chat(), headers={"Authorization": "Bearer leaked"})
        assert bearer.status_code == 200
    assert (denied.value.rule, conflict.value.rule) == ("model.not_allowed", "guardrail.conflict")
    assert [r.model_id for r in bedrock.requests] == [MODEL] * 4
    for received in bedrock.requests:
        assert received.headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
        assert received.headers["x-amzn-bedrock-guardrailversion"] == GUARDRAIL.version
        assert received.auth == "sigv4"
        assert "leaked" not in received.headers.get("authorization", "")
    decisions = [dict(s.attributes or {})["securebedrock.decision"] for s in otel.spans()]
    assert decisions == ["allow", "allow", "allow", "deny", "deny", "allow"]
    # One shape per distinct model and guardrail headers (a banned bearer key is decided
    # as the SigV4 call it becomes).
    assert len(transport._core.decisions) == 3


def test_every_call_on_a_pooled_connection_records_it(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    transport = make_transport(securebedrock.HTTPTransport, bedrock, otel=otel)
    with httpx.Client(transport=transport, base_url=bedrock.endpoint_url) as http:
        for _ in range(3):
            assert http.post(CHAT, json=chat()).status_code == 200
        # The pooled connection's facts are kept while it lives, and only then.
        assert len(transport._core.connections) == 1
    for span in otel.spans():
        attributes = dict(span.attributes or {})
        assert attributes["securebedrock.tls.version"] == "TLSv1.3"
        assert attributes["securebedrock.peer.address_class"] == "loopback"


def test_log_only_records_the_version_below_the_floor_on_every_pooled_call(otel: Otel) -> None:
    with EmbeddedBedrock(guardrails=[GUARDRAIL], tls_max_version="1.2") as server:
        policy = Policy.from_toml(
            POLICY_TOML.replace("version = 1", 'version = 1\nmode = "log_only"', 1)
            + '[tls]\nminimum_version = "1.3"\n'
        )
        transport = make_transport(securebedrock.HTTPTransport, server, policy, otel)
        with httpx.Client(transport=transport, base_url=server.endpoint_url) as http:
            for _ in range(3):
                assert http.post(CHAT, json=chat()).status_code == 200
            # A connection with a violation is never kept: each call reads it again.
            assert len(transport._core.connections) == 0
    spans = otel.spans()
    assert len(spans) == 3
    for span in spans:
        attributes = dict(span.attributes or {})
        assert "tls.version" in attributes["securebedrock.rules"]
        assert attributes["securebedrock.tls.version"] == "TLSv1.2"


@pytest.mark.parametrize(
    "extra",
    [
        [("x-amzn-bedrock-guardrailidentifier", GUARDRAIL.identifier)],
        [("AUTHORIZATION", "Bearer other")],
        [("x-api-key", "other")],
        [("Host", "bedrock-runtime.us-east-1.amazonaws.com")],
    ],
)
def test_the_wire_check_reads_every_header_whatever_its_case(
    bedrock: EmbeddedBedrock, extra: list[tuple[str, str]]
) -> None:
    with bedrock.org_policy(Policy.from_toml(POLICY_TOML)):
        core = make_core(bedrock)
    request = httpx.Request("POST", bedrock.endpoint_url + CHAT, json=chat())
    plan = core.plan(request)
    outgoing = core.build(request, plan)
    tampered = httpx.Request(
        "POST",
        outgoing.url,
        headers=[*outgoing.headers.raw, *((k.encode(), v.encode()) for k, v in extra)],
        content=outgoing.content,
    )
    with pytest.raises(PolicyViolation) as caught:
        core._wire_check(tampered, plan)
    assert caught.value.rule == "wire.mismatch"


def test_an_unchanged_path_is_sent_as_the_caller_wrote_it(bedrock: EmbeddedBedrock) -> None:
    with bedrock.org_policy(Policy.from_toml(POLICY_TOML)):
        core = make_core(bedrock)
    request = httpx.Request("POST", bedrock.endpoint_url + CHAT, json=chat())
    outgoing = core.build(request, core.plan(request))
    assert outgoing.url.raw_path == request.url.raw_path == CHAT.encode()
    assert outgoing is not request and outgoing.headers is not request.headers


def test_when_nothing_records_a_whole_body_passes_untouched_and_a_stream_is_still_checked(
    bedrock: EmbeddedBedrock,
) -> None:
    from opentelemetry import metrics, trace

    from securebedrock import StreamInterruptedError

    with bedrock.org_policy(Policy.from_toml(POLICY_TOML)):
        transport = securebedrock.HTTPTransport(
            region_name=bedrock.region,
            verify=bedrock.ca_bundle,
            aws_access_key_id=bedrock.access_key,
            aws_secret_access_key=bedrock.secret_key,
            tracer_provider=trace.NoOpTracerProvider(),
            meter_provider=metrics.NoOpMeterProvider(),
        )
    with httpx.Client(transport=transport, base_url=bedrock.endpoint_url) as http:
        response = http.post(CHAT, json=chat())
        assert response.status_code == 200
        # httpx binds the transport's stream to the response: look inside.
        inner = getattr(response.stream, "_stream", None)
        assert inner is not None and type(inner).__name__ != "SecuredSyncByteStream"
        assert response.json()["choices"]
        with http.stream("POST", CHAT, json=chat(text="x [[truncate]]", stream=True)) as cut:
            assert type(cut.stream._stream).__name__ == "SecuredSyncByteStream"  # type: ignore[attr-defined]
            with pytest.raises(StreamInterruptedError):
                for _ in cut.iter_bytes():
                    pass
    assert bedrock.requests[0].headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
