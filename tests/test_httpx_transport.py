"""securebedrock.HTTPTransport / AsyncHTTPTransport against the embedded endpoint.

Plain httpx clients, real TLS on loopback: what the server received (or that it
received nothing), and what the audit span recorded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _telemetry_helpers import Otel, events, iter_span_text, make_otel
from conftest import GUARDRAIL

import securebedrock
from securebedrock import Policy, PolicyViolation, StreamInterruptedError, TransportSecurityError
from securebedrock._httpx import HTTPTransport
from securebedrock._httpx_core import Core
from securebedrock.testing import EmbeddedBedrock

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
DENIED = "meta.llama3-8b-instruct-v1:0"
CHAT = "/openai/v1/chat/completions"
PROMPT = "a private question about the quarterly numbers"

#: A mandated guardrail, a denied model family, and no API keys.
POLICY_TOML = f"""
version = 1
[auth]
allow_api_keys = false
[guardrail]
identifier = "{GUARDRAIL.identifier}"
version = "{GUARDRAIL.version}"
[models]
deny = ["meta.*"]
"""
POLICY = Policy.from_toml(POLICY_TOML)


def transport_kwargs(server: EmbeddedBedrock, otel: Otel | None = None) -> dict[str, Any]:
    """Arguments of a transport for ``server`` (its CA, its credentials)."""
    return {
        "region_name": server.region,
        "verify": server.ca_bundle,
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
        **(otel.kwargs() if otel is not None else {}),
    }


def make_transport(
    cls: Any, server: EmbeddedBedrock, policy: Policy = POLICY, otel: Otel | None = None
) -> Any:
    """A transport made under ``policy`` as the org policy file, pinned to ``server``
    (only the org layer may pin an endpoint outside AWS; the policy is read at
    construction)."""
    with server.org_policy(policy):
        return cls(**transport_kwargs(server, otel))


def chat(model: str = MODEL, text: str = PROMPT, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def client(bedrock: EmbeddedBedrock, otel: Otel) -> Callable[..., httpx.Client]:
    def make(policy: Policy = POLICY) -> httpx.Client:
        transport = make_transport(securebedrock.HTTPTransport, bedrock, policy, otel)
        return httpx.Client(transport=transport, base_url=bedrock.endpoint_url)

    return make


# -- the guardrail, the model rules, the auth rule ------------------------------------------


def test_the_guardrail_rides_on_the_request_and_sigv4_replaces_a_bearer_key(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], otel: Otel
) -> None:
    response = client().post(CHAT, json=chat(), headers={"Authorization": "Bearer unused"})
    assert response.status_code == 200, response.text
    [received] = bedrock.requests
    assert received.operation == "ChatCompletions"
    assert received.headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
    assert received.headers["x-amzn-bedrock-guardrailversion"] == GUARDRAIL.version
    assert received.headers["x-amzn-bedrock-trace"] == "ENABLED"
    # auth.allow_api_keys = false: the bearer placeholder never left, SigV4 verified.
    assert received.auth == "sigv4" and received.access_key == bedrock.access_key
    assert "unused" not in received.headers.get("authorization", "")
    span = otel.only_span()
    assert span.name == f"chat {MODEL}"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["securebedrock.decision"] == "allow"
    assert attributes["aws.bedrock.guardrail.id"] == GUARDRAIL.identifier
    assert attributes["gen_ai.usage.input_tokens"] > 0
    assert PROMPT not in "\n".join(iter_span_text(otel.spans()))


def test_a_denied_model_never_reaches_the_server(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], otel: Otel
) -> None:
    with pytest.raises(PolicyViolation) as caught:
        client().post(CHAT, json=chat(DENIED))
    assert caught.value.rule == "model.not_allowed"
    assert caught.value.operation == "ChatCompletions"
    assert bedrock.requests == []
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["securebedrock.decision"] == "deny"
    assert attributes["securebedrock.rules"] == ("model.not_allowed",)


def test_a_guardrail_of_the_callers_own_is_a_conflict(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    headers = {
        "X-Amzn-Bedrock-GuardrailIdentifier": "othergr00001",
        "X-Amzn-Bedrock-GuardrailVersion": "1",
    }
    with pytest.raises(PolicyViolation) as caught:
        client().post(CHAT, json=chat(), headers=headers)
    assert caught.value.rule == "guardrail.conflict"
    assert bedrock.requests == []


def test_two_guardrail_headers_are_refused_not_guessed(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    headers = [
        ("X-Amzn-Bedrock-GuardrailIdentifier", GUARDRAIL.identifier),
        ("x-amzn-bedrock-guardrailidentifier", "othergr00001"),
    ]
    with pytest.raises(PolicyViolation) as caught:
        client().post(CHAT, json=chat(), headers=headers)
    assert caught.value.rule == "api.unsupported"
    assert bedrock.requests == []


def test_a_body_naming_the_model_twice_is_refused(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    # Parsers disagree on which duplicate wins: the service could read the denied one.
    body = (
        f'{{"model": "{MODEL}", "messages": [{{"role": "user", "content": "x"}}], '
        f'"model": "{DENIED}"}}'
    )
    with pytest.raises(PolicyViolation) as caught:
        client().post(CHAT, content=body, headers={"Content-Type": "application/json"})
    assert caught.value.rule == "api.unsupported"
    assert bedrock.requests == []


@pytest.mark.parametrize("model", [None, 7, ["anthropic.claude-3-haiku-20240307-v1:0"], ""])
def test_a_model_that_is_not_a_string_is_refused(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], model: object
) -> None:
    with pytest.raises(PolicyViolation) as caught:
        client().post(CHAT, json={"model": model, "messages": []})
    assert caught.value.rule == "api.unsupported"
    assert bedrock.requests == []


def test_a_blocked_word_gets_the_guardrail_intervention(
    client: Callable[..., httpx.Client], otel: Otel
) -> None:
    blocked = GUARDRAIL.blocked_words[0]
    answer = client().post(CHAT, json=chat(text=f"tell me {blocked} things")).json()
    assert answer["choices"][0]["finish_reason"] == "content_filter"
    assert answer["choices"][0]["message"]["content"] == GUARDRAIL.blocked_input_message
    span = otel.only_span()
    assert events(span, "securebedrock.guardrail.intervention")


def test_the_service_tier_rule_reads_the_body(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    policy = Policy.from_toml(POLICY_TOML + '[service_tier]\nallowed = ["default"]\n')
    with pytest.raises(PolicyViolation) as caught:
        client(policy).post(CHAT, json=chat(service_tier="priority"))
    assert caught.value.rule == "service_tier.not_allowed"
    assert bedrock.requests == []
    assert client(policy).post(CHAT, json=chat(service_tier="default")).status_code == 200


def test_a_mapped_model_goes_out_as_its_profile(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    policy = Policy.from_toml(
        POLICY_TOML
        + '[regions]\ncross_region = true\nallowed_geographies = ["us"]\n'
        + f'[inference_profile]\nmap = {{ "{MODEL}" = "us.{MODEL}" }}\n'
    )
    assert client(policy).post(CHAT, json=chat()).status_code == 200
    [received] = bedrock.requests
    assert received.json["model"] == f"us.{MODEL}"
    assert received.json["messages"] == chat()["messages"]


def test_api_keys_allowed_send_the_bearer_key(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    bedrock.bearer_tokens.add("a-bedrock-api-key")
    policy = Policy.from_toml(
        POLICY_TOML.replace("allow_api_keys = false", "allow_api_keys = true")
    )
    transport = make_transport(HTTPTransport, bedrock, policy, otel)
    with httpx.Client(transport=transport, base_url=bedrock.endpoint_url) as http:
        response = http.post(
            CHAT, json=chat(), headers={"Authorization": "Bearer a-bedrock-api-key"}
        )
    assert response.status_code == 200
    assert bedrock.requests[-1].auth == "bearer"


def test_without_credentials_a_banned_bearer_key_is_refused(bedrock: EmbeddedBedrock) -> None:
    kwargs = transport_kwargs(bedrock)
    del kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"]
    with bedrock.org_policy(POLICY):
        transport = HTTPTransport(**kwargs)
    with httpx.Client(transport=transport, base_url=bedrock.endpoint_url) as http:
        with pytest.raises(PolicyViolation) as caught:
            http.post(CHAT, json=chat(), headers={"Authorization": "Bearer key"})
    assert caught.value.rule == "auth.api_key"
    assert bedrock.requests == []


# -- where a request may go ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://api.openai.com/v1/chat/completions", "network.endpoint_override"),
        ("https://bedrock-runtime.us-west-2.amazonaws.com/openai/v1/chat/completions",
         "network.endpoint_override"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com:8443/openai/v1/chat/completions",
         "network.endpoint_override"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com.evil.example/openai/v1/chat/completions",
         "network.endpoint_override"),
        ("https://user:pw@bedrock-runtime.us-east-1.amazonaws.com/openai/v1/chat/completions",
         "network.endpoint_override"),
        ("http://bedrock-runtime.us-east-1.amazonaws.com/openai/v1/chat/completions",
         "tls.plaintext"),
    ],
)  # fmt: skip
def test_only_bedrock_hosts_of_the_region_or_the_pin(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], url: str, rule: str
) -> None:
    with pytest.raises(TransportSecurityError) as caught:
        client().post(url, json=chat())
    assert caught.value.rule == rule
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/openai/v1/models"),
        ("GET", CHAT),
        ("POST", "/openai/v1//chat/completions"),
        ("POST", "/openai/v1/chat/completions/"),
        ("POST", "/openai/v1/chat/completions?x=1"),
        ("POST", "/model/anthropic.claude-3-haiku-20240307-v1:0/converse"),
    ],
)
def test_requests_the_transport_cannot_read_are_refused(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], method: str, path: str
) -> None:
    with pytest.raises(PolicyViolation) as caught:
        client().request(method, path, json=chat())
    assert caught.value.rule == "api.unsupported"
    assert bedrock.requests == []


def test_the_mantle_apis_cannot_carry_the_guardrail(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], otel: Otel
) -> None:
    for path in ("/v1/chat/completions", "/anthropic/v1/messages", "/v1/responses"):
        with pytest.raises(PolicyViolation) as caught:
            client().post(path, json=chat())
        assert caught.value.rule == "guardrail.unsupported_operation"
    assert bedrock.requests == []


def test_without_a_guardrail_mantle_requests_are_signed_for_bedrock_mantle(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    policy = Policy.from_toml(
        'version = 1\n[auth]\nallow_api_keys = false\n[models]\ndeny = ["meta.*"]\n'
    )
    response = client(policy).post("/v1/chat/completions", json=chat())
    # The server verifies the signature with service bedrock-mantle: 200 proves it.
    assert response.status_code == 200, response.text
    assert bedrock.requests[-1].operation == "MantleChatCompletions"
    assert bedrock.requests[-1].auth == "sigv4"
    with pytest.raises(PolicyViolation):
        client(policy).post("/v1/chat/completions", json=chat(DENIED))
    assert len(bedrock.requests) == 1


# -- streams ---------------------------------------------------------------------------------


def test_a_stream_passes_through_untouched(client: Callable[..., httpx.Client], otel: Otel) -> None:
    with client().stream("POST", CHAT, json=chat(stream=True)) as response:
        body = b"".join(response.iter_bytes())
    assert body.rstrip().endswith(b"data: [DONE]")
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["securebedrock.stream.end"] == "exhausted"


def test_a_stream_cut_before_done_is_an_error_for_the_caller_and_the_span(
    client: Callable[..., httpx.Client], otel: Otel
) -> None:
    with client().stream("POST", CHAT, json=chat(text="hi [[truncate]]", stream=True)) as response:
        with pytest.raises(StreamInterruptedError) as caught:
            for _ in response.iter_bytes():
                pass
    assert caught.value.terminal == "data: [DONE]"
    span = otel.only_span()
    assert dict(span.attributes or {})["securebedrock.stream.end"] == "interrupted"
    assert span.status.is_ok is False


# -- the live connection ---------------------------------------------------------------------


def test_the_tls_floor_fails_the_handshake_before_the_request(otel: Otel) -> None:
    with EmbeddedBedrock(guardrails=[GUARDRAIL], tls_max_version="1.2") as server:
        policy = Policy.from_toml(POLICY_TOML + '[tls]\nminimum_version = "1.3"\n')
        transport = make_transport(HTTPTransport, server, policy, otel)
        with httpx.Client(transport=transport, base_url=server.endpoint_url) as http:
            with pytest.raises(TransportSecurityError) as caught:
                http.post(CHAT, json=chat())
        assert caught.value.rule == "tls.version"
        assert server.requests == []


def test_log_only_records_the_negotiated_version_below_the_floor(otel: Otel) -> None:
    with EmbeddedBedrock(guardrails=[GUARDRAIL], tls_max_version="1.2") as server:
        policy = Policy.from_toml(
            POLICY_TOML.replace("version = 1", 'version = 1\nmode = "log_only"', 1)
            + '[tls]\nminimum_version = "1.3"\n'
        )
        transport = make_transport(HTTPTransport, server, policy, otel)
        with httpx.Client(transport=transport, base_url=server.endpoint_url) as http:
            assert http.post(CHAT, json=chat()).status_code == 200
        attributes = dict(otel.only_span().attributes or {})
        assert "tls.version" in attributes["securebedrock.rules"]
        assert attributes["securebedrock.tls.version"] == "TLSv1.2"


def test_the_peer_address_is_checked_before_tls(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    policy = Policy.from_toml(
        POLICY_TOML + '[network]\nrequire_private_endpoint = true\nallowed_cidrs = ["10.0.0.0/8"]\n'
    )
    with pytest.raises(TransportSecurityError) as caught:
        client(policy).post(CHAT, json=chat())
    assert caught.value.rule == "network.private_endpoint"
    assert bedrock.requests == []


def test_the_span_records_the_connection(client: Callable[..., httpx.Client], otel: Otel) -> None:
    client().post(CHAT, json=chat())
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["securebedrock.tls.version"] == "TLSv1.3"
    assert attributes["securebedrock.peer.address_class"] == "loopback"


def test_verification_cannot_be_turned_off(bedrock: EmbeddedBedrock) -> None:
    with pytest.raises(TransportSecurityError):
        HTTPTransport(**{**transport_kwargs(bedrock), "verify": False})


# -- the last check --------------------------------------------------------------------------


def test_the_wire_check_refuses_a_request_that_differs_from_its_decision(
    bedrock: EmbeddedBedrock,
) -> None:
    with bedrock.org_policy(POLICY):
        core = make_core(bedrock)
    request = httpx.Request("POST", bedrock.endpoint_url + CHAT, json=chat())
    plan = core.plan(request)
    outgoing = core.build(request, plan)
    _tamper(core, plan, outgoing)


def make_core(bedrock: EmbeddedBedrock) -> Core:
    return Core(
        region_name=bedrock.region,
        policy=None,
        verify=bedrock.ca_bundle,
        aws_access_key_id=bedrock.access_key,
        aws_secret_access_key=bedrock.secret_key,
        aws_session_token=None,
        botocore_session=None,
        tracer_provider=None,
        meter_provider=None,
    )


def _tamper(core: Core, plan: Any, outgoing: httpx.Request) -> None:
    for name in ("X-Amzn-Bedrock-GuardrailIdentifier", "Authorization"):
        tampered = httpx.Request(
            "POST",
            outgoing.url,
            headers=[(k, v) for k, v in outgoing.headers.items() if k.lower() != name.lower()],
            content=outgoing.content,
        )
        with pytest.raises(PolicyViolation) as caught:
            core._wire_check(tampered, plan)
        assert caught.value.rule == "wire.mismatch"
    other_body = json.dumps(chat(DENIED)).encode()
    tampered = httpx.Request("POST", outgoing.url, headers=outgoing.headers, content=other_body)
    with pytest.raises(PolicyViolation, match="body"):
        core._wire_check(tampered, plan)


# -- async -----------------------------------------------------------------------------------


def test_the_async_transport_enforces_the_same(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    async def main() -> None:
        transport = make_transport(securebedrock.AsyncHTTPTransport, bedrock, otel=otel)
        async with httpx.AsyncClient(transport=transport, base_url=bedrock.endpoint_url) as http:
            response = await http.post(CHAT, json=chat())
            assert response.status_code == 200
            async with http.stream("POST", CHAT, json=chat(stream=True)) as streamed:
                body = b"".join([chunk async for chunk in streamed.aiter_bytes()])
            assert body.rstrip().endswith(b"data: [DONE]")
            with pytest.raises(PolicyViolation):
                await http.post(CHAT, json=chat(DENIED))
            async with http.stream(
                "POST", CHAT, json=chat(text="x [[truncate]]", stream=True)
            ) as cut:
                with pytest.raises(StreamInterruptedError):
                    async for _ in cut.aiter_bytes():
                        pass

    asyncio.run(main())
    assert [r.model_id for r in bedrock.requests] == [MODEL, MODEL, MODEL]
    assert all(r.headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
               for r in bedrock.requests)  # fmt: skip
    decisions = [dict(s.attributes or {})["securebedrock.decision"] for s in otel.spans()]
    assert sorted(decisions) == ["allow", "allow", "allow", "deny"]


def test_the_async_peer_check_refuses_before_tls(bedrock: EmbeddedBedrock) -> None:
    policy = Policy.from_toml(
        POLICY_TOML + '[network]\nrequire_private_endpoint = true\nallowed_cidrs = ["10.0.0.0/8"]\n'
    )

    async def main() -> None:
        transport = make_transport(securebedrock.AsyncHTTPTransport, bedrock, policy)
        async with httpx.AsyncClient(transport=transport, base_url=bedrock.endpoint_url) as http:
            with pytest.raises(TransportSecurityError) as caught:
                await http.post(CHAT, json=chat())
            assert caught.value.rule == "network.private_endpoint"

    asyncio.run(main())
    assert bedrock.requests == []


# -- evasive paths and audit of early refusals -----------------------------------------------


def test_an_event_hook_that_swaps_the_model_is_decided_on_what_is_sent(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    # httpx's request hooks run before the transport: it decides on the final request.
    def swap(request: httpx.Request) -> None:
        body = json.loads(request.content)
        body["model"] = DENIED
        request._content = json.dumps(body).encode()
        request.stream = httpx.ByteStream(request._content)
        request.headers["Content-Length"] = str(len(request._content))

    transport = make_transport(HTTPTransport, bedrock, otel=otel)
    with httpx.Client(
        transport=transport, base_url=bedrock.endpoint_url, event_hooks={"request": [swap]}
    ) as http:
        with pytest.raises(PolicyViolation) as caught:
            http.post(CHAT, json=chat())
    assert caught.value.rule == "model.not_allowed"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        # A runtime path on the mantle host and a mantle path on the runtime host.
        ("https://bedrock-mantle.us-east-1.api.aws/openai/v1/chat/completions", "api.unsupported"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com/v1/chat/completions", "api.unsupported"),
        ("https://bedrock-mantle.eu-west-1.api.aws/v1/chat/completions",
         "network.endpoint_override"),
    ],
)  # fmt: skip
def test_each_host_serves_only_its_own_apis(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], url: str, rule: str
) -> None:
    with pytest.raises(securebedrock.SecureBedrockError) as caught:
        client().post(url, json=chat())
    assert getattr(caught.value, "rule", None) == rule
    assert bedrock.requests == []


def test_a_fips_policy_refuses_the_non_fips_host(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    policy = Policy.from_toml(POLICY_TOML + "[tls]\nfips = true\n")
    with pytest.raises(TransportSecurityError) as caught:
        client(policy).post(
            "https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1/chat/completions",
            json=chat(),
        )
    assert caught.value.rule == "tls.fips"


@pytest.mark.parametrize("stream", [1, "true", None])
def test_a_stream_flag_that_is_not_a_bool_is_refused(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], stream: object
) -> None:
    with pytest.raises(PolicyViolation) as caught:
        client().post(CHAT, json=chat(stream=stream))
    assert caught.value.rule == "api.unsupported"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://api.openai.com/v1/chat/completions", "network.endpoint_override"),
        ("/openai/v1/models", "api.unsupported"),
    ],
)
def test_refusals_before_the_decision_are_audited(
    client: Callable[..., httpx.Client], otel: Otel, url: str, rule: str
) -> None:
    with pytest.raises(securebedrock.SecureBedrockError):
        client().post(url, json=chat())
    span = otel.only_span()
    attributes = dict(span.attributes or {})
    assert attributes["securebedrock.decision"] == "deny"
    assert attributes["securebedrock.rules"] == (rule,)
    assert span.status.is_ok is False
    assert [e["securebedrock.rule"] for e in events(span, "securebedrock.policy.violation")] == [
        rule
    ]


def test_connection_refusals_are_audited(client: Callable[..., httpx.Client], otel: Otel) -> None:
    policy = Policy.from_toml(
        POLICY_TOML + '[network]\nrequire_private_endpoint = true\nallowed_cidrs = ["10.0.0.0/8"]\n'
    )
    with pytest.raises(TransportSecurityError):
        client(policy).post(CHAT, json=chat())
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["securebedrock.decision"] == "deny"
    assert attributes["securebedrock.rules"] == ("network.private_endpoint",)


def test_the_transport_reports_the_wire_checks_rule() -> None:
    from securebedrock import _httpx_api, _wire

    assert _httpx_api.RULE_WIRE_MISMATCH == _wire.RULE_WIRE_MISMATCH


def test_invoke_model_carries_the_guardrail_and_maps_the_model_in_the_path(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    policy = Policy.from_toml(
        POLICY_TOML
        + '[regions]\ncross_region = true\nallowed_geographies = ["us"]\n'
        + f'[inference_profile]\nmap = {{ "{MODEL}" = "us.{MODEL}" }}\n'
    )
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 32,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    response = client(policy).post(f"/model/{MODEL.replace(':', '%3A')}/invoke", json=body)
    assert response.status_code == 200, response.text
    [received] = bedrock.requests
    assert received.operation == "InvokeModel"
    assert received.model_id == f"us.{MODEL}"
    assert received.headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
    assert received.auth == "sigv4"
    with pytest.raises(PolicyViolation) as caught:
        client(policy).post(f"/model/{DENIED}/invoke", json=body)
    assert caught.value.rule == "model.not_allowed"
    assert len(bedrock.requests) == 1


@pytest.mark.parametrize(
    ("style", "complete", "cut"),
    [
        ("openai", b'data: {"choices": []}\n\ndata: [DONE]\n\n', b'data: {"choices": []}\n\n'),
        (
            "anthropic",
            b'event: message_start\ndata: {"type": "message_start"}\n\n'
            b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
            b'event: message_start\ndata: {"type": "message_start"}\n\n',
        ),
        (
            "responses",
            b'event: response.created\ndata: {"type": "response.created"}\n\n'
            b'event: response.completed\ndata: {"type": "response.completed",'
            b' "response": {"usage": {"input_tokens": 3, "output_tokens": 5}}}\n\n',
            b'event: response.created\ndata: {"type": "response.created"}\n\n',
        ),
    ],
)
def test_each_stream_style_knows_its_terminal_event(
    otel: Otel, style: str, complete: bytes, cut: bytes
) -> None:
    from securebedrock._httpx_stream import BodyObserver
    from securebedrock._telemetry import Telemetry

    telemetry = Telemetry(
        mode="enforce",
        policy_digest=None,
        region="us-east-1",
        server_address="bedrock-mantle.us-east-1.api.aws",
        server_port=443,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    )
    for body, ends_well in ((complete, True), (cut, False)):
        observer = BodyObserver(
            telemetry.start("MantleResponses", {"modelId": MODEL}), operation="X", style=style
        )
        # Split mid-line: events may straddle chunks.
        for piece in (body[:7], body[7:]):
            observer.feed(piece)
        assert (observer.finished() is None) is ends_well
    ends = [dict(s.attributes or {})["securebedrock.stream.end"] for s in otel.spans()]
    assert ends == ["exhausted", "interrupted"]


def test_proxy_variables_do_not_route_around_the_checks(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client given a transport ignores HTTPS_PROXY/ALL_PROXY, and so does the transport's
    # own pool: the request goes straight to the endpoint the checks saw (port 9 refuses).
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert client().post(CHAT, json=chat()).status_code == 200
    assert len(bedrock.requests) == 1


def test_the_async_transport_checks_the_negotiated_version(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    async def main() -> None:
        transport = make_transport(securebedrock.AsyncHTTPTransport, bedrock, otel=otel)
        async with httpx.AsyncClient(transport=transport, base_url=bedrock.endpoint_url) as http:
            assert (await http.post(CHAT, json=chat())).status_code == 200

    asyncio.run(main())
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["securebedrock.tls.version"] == "TLSv1.3"
    assert attributes["securebedrock.peer.address_class"] == "loopback"


def test_the_async_tls_floor_fails_the_handshake_before_the_request(otel: Otel) -> None:
    with EmbeddedBedrock(guardrails=[GUARDRAIL], tls_max_version="1.2") as server:
        policy = Policy.from_toml(POLICY_TOML + '[tls]\nminimum_version = "1.3"\n')

        async def main() -> None:
            transport = make_transport(securebedrock.AsyncHTTPTransport, server, policy, otel)
            async with httpx.AsyncClient(transport=transport, base_url=server.endpoint_url) as h:
                with pytest.raises(TransportSecurityError) as caught:
                    await h.post(CHAT, json=chat())
                assert caught.value.rule == "tls.version"

        asyncio.run(main())
        assert server.requests == []
    assert dict(otel.only_span().attributes or {})["securebedrock.rules"] == ("tls.version",)


def test_a_host_header_naming_another_host_is_refused(
    bedrock: EmbeddedBedrock, client: Callable[..., httpx.Client]
) -> None:
    with pytest.raises(PolicyViolation) as caught:
        client().post(
            CHAT, json=chat(), headers={"Host": "bedrock-runtime.us-west-2.amazonaws.com"}
        )
    assert caught.value.rule == "wire.mismatch"
    assert "Host header" in str(caught.value)
    assert bedrock.requests == []


def test_the_org_policy_file_is_the_floor_and_its_release_is_on_the_span(
    bedrock: EmbeddedBedrock,
    otel: Otel,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = tmp_path / "policy.toml"
    org.write_text(
        'version = 1\n[release]\nid = "2026-12-test-1"\nserial = 1\n'
        f'[guardrail]\nidentifier = "{GUARDRAIL.identifier}"\nversion = "{GUARDRAIL.version}"\n'
        f'[network]\nendpoint_url = "{bedrock.endpoint_url}"\n'
    )
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    monkeypatch.setenv("SECUREBEDROCK_STATE_DIR", str(tmp_path / "state"))
    # The code policy names no guardrail: the org file's is mandated all the same.
    code = Policy.from_toml('version = 1\n[models]\ndeny = ["meta.*"]\n')
    transport = HTTPTransport(**transport_kwargs(bedrock, otel), policy=code)
    assert transport.policy.guardrail.identifier == GUARDRAIL.identifier
    with httpx.Client(transport=transport, base_url=bedrock.endpoint_url) as http:
        assert http.post(CHAT, json=chat()).status_code == 200
    assert (
        bedrock.requests[-1].headers["x-amzn-bedrock-guardrailidentifier"] == GUARDRAIL.identifier
    )
    attributes = dict(otel.only_span().attributes or {})
    assert attributes["securebedrock.policy.release"] == "2026-12-test-1"


def test_a_per_region_pin_admits_its_endpoint_for_that_region_only(
    bedrock: EmbeddedBedrock, otel: Otel, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = tmp_path / "policy.toml"
    org.write_text(
        POLICY_TOML + f'[network]\nendpoint_urls = {{ "us-east-1" = "{bedrock.endpoint_url}" }}\n'
    )
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(org))
    transport = HTTPTransport(**transport_kwargs(bedrock, otel))
    with httpx.Client(transport=transport, base_url=bedrock.endpoint_url) as http:
        assert http.post(CHAT, json=chat()).status_code == 200
    other = HTTPTransport(**{**transport_kwargs(bedrock), "region_name": "us-west-2"})
    with httpx.Client(transport=other, base_url=bedrock.endpoint_url) as http:
        with pytest.raises(TransportSecurityError) as caught:
            http.post(CHAT, json=chat())
    assert caught.value.rule == "network.endpoint_override"
    assert len(bedrock.requests) == 1
