"""The control-plane client (GetInferenceProfile), end to end against the embedded endpoint.

What the server received is the evidence: a call refused on its own parameters sends
nothing at all (no GetInferenceProfile either); the control plane is always signed with
SigV4, whatever ``AWS_BEARER_TOKEN_BEDROCK`` and ``auth.allow_api_keys`` say; and it is
reached at its own endpoint (``network.control_plane_endpoint_url``), never at the
runtime pin.
"""

from __future__ import annotations

import dataclasses
import logging
import types
from collections.abc import Callable
from typing import Any

import pytest
from _telemetry_helpers import events, make_otel
from botocore.client import BaseClient
from botocore.config import Config
from conftest import GUARDRAIL, MODEL_ID, org_client

from securebedrock import (
    Policy,
    PolicyConfigError,
    PolicyViolation,
    TransportSecurityError,
    _netcheck,
)
from securebedrock._constants import AUDIT_LOGGER_NAME
from securebedrock._policy import (
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    ModelsPolicy,
    NetworkPolicy,
    RegionsPolicy,
    ServiceTierPolicy,
    TLSPolicy,
)
from securebedrock._telemetry import ATTR_DECISION, ATTR_RULES, EVENT_VIOLATION
from securebedrock._transport_session import HardenedSession
from securebedrock.testing import EmbeddedBedrock

ACCT = "123456789012"
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
SYSTEM = f"arn:aws:bedrock:us-east-1:{ACCT}:inference-profile/{MODEL_ID}"
FM = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL_ID}"
FM_WEST = f"arn:aws:bedrock:us-west-2::foundation-model/{MODEL_ID}"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
TOKEN = "test-bearer-token-0123456789"  # noqa: S105 -- a throwaway value for the test server

Make = Callable[..., BaseClient]
GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)


def _state(client: BaseClient) -> Any:
    return client.__dict__["_securebedrock_state"]


def _audit(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        r.securebedrock  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == AUDIT_LOGGER_NAME and hasattr(r, "securebedrock")
    ]


def _operations(server: EmbeddedBedrock) -> list[tuple[str, str]]:
    return [(r.operation, r.auth) for r in server.requests]


# --- a refused call sends nothing, not even a control-plane request -----------------------

#: (policy, call arguments, rule): refused on rules that do not need the profile's routes.
REFUSED = {
    "client-region": (
        Policy(regions=RegionsPolicy(allowed=("us-west-2",))),
        {},
        "region.not_allowed",
    ),
    "service-tier": (
        Policy(service_tier=ServiceTierPolicy(allowed=("priority",))),
        {},
        "service_tier.not_allowed",
    ),
    "guardrail-conflict": (
        Policy(guardrail=GUARDED),
        {"guardrailConfig": {"guardrailIdentifier": "other0guard1", "guardrailVersion": "1"}},
        "guardrail.conflict",
    ),
    "guardrail-not-a-structure": (
        Policy(guardrail=GUARDED),
        {"guardrailConfig": "gr1abc2def3g"},
        "guardrail.missing",
    ),
}


@pytest.mark.parametrize("model", [APP, SYSTEM])
@pytest.mark.parametrize("name", list(REFUSED))
def test_a_refused_call_never_reaches_the_control_plane(
    name: str,
    model: str,
    bedrock: EmbeddedBedrock,
    secured_client: Make,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    policy, extra, rule = REFUSED[name]
    # The server knows the profile: resolving it would succeed, and be recorded.
    bedrock.add_inference_profile(model, models=[FM])
    otel = make_otel()
    client = secured_client(policy, **otel.kwargs())
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=model, messages=MESSAGES, **extra)
    assert raised.value.rule == rule
    assert bedrock.requests == []
    assert _state(client).profiles.calls == 0
    span = otel.only_span()
    assert span.attributes is not None
    assert span.attributes[ATTR_DECISION] == "deny"
    assert tuple(span.attributes[ATTR_RULES]) == (rule,)  # type: ignore[arg-type]
    assert [e["securebedrock.rule"] for e in events(span, EVENT_VIOLATION)] == [rule]
    (record,) = _audit(caplog)
    assert record["decision"] == "deny" and record["rules"] == [rule]


def test_a_bearer_call_never_reaches_the_control_plane(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", TOKEN)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bedrock.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bedrock.secret_key)
    bedrock.add_inference_profile(APP, models=[FM])
    kwargs = bedrock.client_kwargs()
    # botocore prefers the bearer token only when no keys are passed in code.
    del kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"]
    policy = bedrock.pin(Policy(auth=AuthPolicy(allow_api_keys=False)))
    client = org_client(**kwargs, policy=policy)
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=APP, messages=MESSAGES)
    assert raised.value.rule == "auth.api_key"
    assert bedrock.requests == []


def test_an_otherwise_allowed_call_is_resolved_then_sent(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM])
    client = secured_client(Policy(guardrail=GUARDED, models=ModelsPolicy(allow=("anthropic.*",))))
    client.converse(modelId=APP, messages=MESSAGES)
    assert _operations(bedrock) == [("GetInferenceProfile", "sigv4"), ("Converse", "sigv4")]
    assert (
        bedrock.requests[1].json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
    )


def test_a_call_refused_only_by_its_routes_is_resolved_then_refused(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM, FM_WEST])
    client = secured_client(Policy(guardrail=GUARDED))
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=APP, messages=MESSAGES)
    assert raised.value.rule == "region.cross_region" and "us-west-2" in str(raised.value)
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile"]


def test_log_only_still_resolves_to_record_every_rule(
    bedrock: EmbeddedBedrock, secured_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    # log_only sends the call whatever the rules say, so the routes are worth knowing.
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    bedrock.add_inference_profile(APP, models=[FM, FM_WEST])
    policy = Policy(mode="log_only", service_tier=ServiceTierPolicy(allowed=("priority",)))
    secured_client(policy).converse(modelId=APP, messages=MESSAGES)
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile", "Converse"]
    (record,) = _audit(caplog)
    assert record["decision"] == "log_only"
    assert set(record["rules"]) == {"service_tier.not_allowed", "region.cross_region"}


def test_a_mapped_model_refused_before_resolution_sends_nothing(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM])
    policy = Policy(
        inference_profile=InferenceProfilePolicy(map=types.MappingProxyType({MODEL_ID: APP})),
        regions=RegionsPolicy(allowed=("eu-west-1",)),
    )
    with pytest.raises(PolicyViolation) as raised:
        secured_client(policy).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert raised.value.rule == "region.not_allowed"
    assert bedrock.requests == []


# --- SigV4 only ----------------------------------------------------------------------------


@pytest.fixture
def bearer_env(bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Bedrock API key in the environment, accepted by the server, plus SigV4 keys."""
    bedrock.bearer_tokens.add(TOKEN)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", TOKEN)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", bedrock.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", bedrock.secret_key)


@pytest.mark.usefixtures("bearer_env")
def test_control_plane_signs_with_sigv4_while_api_keys_are_banned(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM])
    # The runtime signs with SigV4 (set in code); the token is still in the environment.
    client = secured_client(
        Policy(auth=AuthPolicy(allow_api_keys=False)), config=Config(signature_version="v4")
    )
    client.converse(modelId=APP, messages=MESSAGES)
    assert _operations(bedrock) == [("GetInferenceProfile", "sigv4"), ("Converse", "sigv4")]
    assert all("Bearer" not in r.headers.get("authorization", "") for r in bedrock.requests)


@pytest.mark.usefixtures("bearer_env")
def test_control_plane_signs_with_sigv4_even_where_api_keys_are_allowed(
    bedrock: EmbeddedBedrock,
) -> None:
    bedrock.add_inference_profile(APP, models=[FM])
    kwargs = bedrock.client_kwargs()
    del kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"]
    client = org_client(**kwargs, policy=bedrock.pin(Policy()))
    client.converse(modelId=APP, messages=MESSAGES)
    # The runtime uses the API key (allowed); the control plane never does.
    assert _operations(bedrock) == [("GetInferenceProfile", "sigv4"), ("Converse", "bearer")]
    assert bedrock.requests[0].access_key == bedrock.access_key


@pytest.mark.usefixtures("bearer_env")
@pytest.mark.parametrize("preference", ["httpBearerAuth", "httpBearerAuth,sigv4"])
def test_control_plane_ignores_a_bearer_auth_scheme_preference(
    preference: str, bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment asks every client to prefer the API key: the runtime may
    # (API keys allowed here), the control plane still signs with SigV4.
    monkeypatch.setenv("AWS_AUTH_SCHEME_PREFERENCE", preference)
    bedrock.add_inference_profile(APP, models=[FM])
    client = org_client(**bedrock.client_kwargs(), policy=bedrock.pin(Policy()))
    client.converse(modelId=APP, messages=MESSAGES)
    assert _operations(bedrock) == [("GetInferenceProfile", "sigv4"), ("Converse", "bearer")]


@pytest.mark.usefixtures("bearer_env")
@pytest.mark.parametrize(
    "config",
    [Config(signature_version="v4"), Config(auth_scheme_preference="sigv4")],
    ids=["signature_version", "auth_scheme_preference"],
)
def test_sigv4_set_in_code_is_not_taken_for_an_api_key(
    config: Config, bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    # The token is in the environment, but the client's Config chooses SigV4: botocore
    # signs with SigV4, and the engine must not refuse the call as an API-key call.
    bedrock.add_inference_profile(APP, models=[FM])
    client = secured_client(Policy(auth=AuthPolicy(allow_api_keys=False)), config=config)
    client.converse(modelId=APP, messages=MESSAGES)
    assert _operations(bedrock) == [("GetInferenceProfile", "sigv4"), ("Converse", "sigv4")]


@pytest.mark.usefixtures("bearer_env")
def test_an_env_api_key_is_refused_by_the_engine_in_log_only_too(
    bedrock: EmbeddedBedrock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    kwargs = bedrock.client_kwargs()
    del kwargs["aws_access_key_id"], kwargs["aws_secret_access_key"]
    policy = bedrock.pin(Policy(mode="log_only", auth=AuthPolicy(allow_api_keys=False)))
    org_client(**kwargs, policy=policy).converse(modelId=MODEL_ID, messages=MESSAGES)
    assert _operations(bedrock) == [("Converse", "bearer")]
    (record,) = _audit(caplog)
    assert record["decision"] == "log_only" and record["rules"] == ["auth.api_key"]


def test_control_plane_refuses_a_bearer_header_set_by_a_handler(
    bedrock: EmbeddedBedrock, secured_client: Make
) -> None:
    bedrock.add_inference_profile(APP, models=[FM])
    client = secured_client(Policy())
    control_plane = _state(client).profiles._control_plane()
    sent: list[str] = []

    def add_bearer(request: Any, **_: Any) -> None:
        header = request.headers.get("Authorization", b"")
        sent.append(header.decode() if isinstance(header, bytes) else header)
        request.headers["Authorization"] = " Bearer injected"

    control_plane.meta.events.register("before-send.bedrock", add_bearer)
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=APP, messages=MESSAGES)
    assert sent and sent[0].startswith("AWS4-HMAC-SHA256")
    # Unresolved, so refused as a route that cannot be established; nothing was sent.
    assert raised.value.rule == "region.cross_region"
    assert "auth.api_key" in str(raised.value)
    assert bedrock.requests == []


# --- its own endpoint ----------------------------------------------------------------------


def test_control_plane_uses_its_own_pinned_endpoint(
    bedrock: EmbeddedBedrock,
) -> None:
    with EmbeddedBedrock() as plane:
        plane.add_credentials(bedrock.access_key, bedrock.secret_key)
        plane.add_inference_profile(APP, models=[FM])
        policy = dataclasses.replace(
            Policy(),
            network=NetworkPolicy(
                endpoint_url=bedrock.endpoint_url, control_plane_endpoint_url=plane.endpoint_url
            ),
        )
        client = org_client(**bedrock.client_kwargs(), policy=policy)
        client.converse(modelId=APP, messages=MESSAGES)
        assert [r.operation for r in plane.requests] == ["GetInferenceProfile"]
        assert [r.operation for r in bedrock.requests] == ["Converse"]
        control_plane = _state(client).profiles._client
        assert control_plane.meta.endpoint_url == plane.endpoint_url
        assert isinstance(control_plane._endpoint.http_session, HardenedSession)


def test_the_runtime_pin_is_never_the_control_plane(bedrock: EmbeddedBedrock) -> None:
    # Only the runtime is pinned: the control plane is the region's bedrock endpoint
    # (what private DNS resolves to the control-plane VPC endpoint), not the runtime's.
    policy = dataclasses.replace(Policy(), network=NetworkPolicy(endpoint_url=bedrock.endpoint_url))
    client = org_client(**bedrock.client_kwargs(), policy=policy)
    control_plane = _state(client).profiles._control_plane()  # built, nothing sent
    assert control_plane.meta.endpoint_url == "https://bedrock.us-east-1.amazonaws.com"
    assert isinstance(control_plane._endpoint.http_session, HardenedSession)
    assert bedrock.requests == []


def test_a_control_plane_pin_does_not_admit_the_runtime(bedrock: EmbeddedBedrock) -> None:
    policy = dataclasses.replace(
        Policy(), network=NetworkPolicy(control_plane_endpoint_url=bedrock.endpoint_url)
    )
    with pytest.raises(TransportSecurityError) as raised:
        org_client(**bedrock.client_kwargs(), policy=policy)
    assert raised.value.rule == "network.endpoint_override"
    assert "network.endpoint_url" in str(raised.value)
    assert bedrock.requests == []


def test_an_unpinned_control_plane_override_is_refused(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runtime pin does not vouch for the same URL as a control plane.
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK", bedrock.endpoint_url)
    bedrock.add_inference_profile(APP, models=[FM])
    policy = dataclasses.replace(Policy(), network=NetworkPolicy(endpoint_url=bedrock.endpoint_url))
    client = org_client(**bedrock.client_kwargs(), policy=policy)
    with pytest.raises(PolicyViolation) as raised:
        client.converse(modelId=APP, messages=MESSAGES)
    assert raised.value.rule == "region.cross_region"
    assert "TransportSecurityError network.endpoint_override" in str(raised.value)
    assert bedrock.requests == []


def test_control_plane_keeps_the_tls_floor(bedrock: EmbeddedBedrock) -> None:
    with EmbeddedBedrock(tls_max_version="1.2") as plane:
        plane.add_inference_profile(APP, models=[FM])
        policy = Policy(
            tls=TLSPolicy(minimum_version="1.3"),
            network=NetworkPolicy(
                endpoint_url=bedrock.endpoint_url, control_plane_endpoint_url=plane.endpoint_url
            ),
        )
        client = org_client(**bedrock.client_kwargs(), policy=policy)
        with pytest.raises(PolicyViolation) as raised:
            client.converse(modelId=APP, messages=MESSAGES)
        assert "TransportSecurityError tls.version" in str(raised.value)
        assert plane.requests == [] and bedrock.requests == []


def test_control_plane_connections_are_peer_checked(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control plane's live socket is checked like the runtime's, whatever DNS said."""
    # The construction-time DNS pre-checks see an allowed address; the connection
    # lands on 127.0.0.1, outside network.allowed_cidrs.
    monkeypatch.setattr(_netcheck, "resolve", lambda host, port: ["127.0.0.2"])
    with EmbeddedBedrock() as plane:
        plane.add_inference_profile(APP, models=[FM])
        policy = Policy(
            network=NetworkPolicy(
                require_private_endpoint=True,
                allowed_cidrs=("127.0.0.2/32",),
                endpoint_url=f"https://localhost:{bedrock.port}",
                control_plane_endpoint_url=f"https://localhost:{plane.port}",
            )
        )
        kwargs = {**bedrock.client_kwargs(), "endpoint_url": f"https://localhost:{bedrock.port}"}
        client = org_client(**kwargs, policy=policy)
        with pytest.raises(PolicyViolation) as raised:
            client.converse(modelId=APP, messages=MESSAGES)
        assert raised.value.rule == "region.cross_region"
        assert "TransportSecurityError network.private_endpoint" in str(raised.value)
        assert plane.requests == [] and bedrock.requests == []


# --- the policy key ------------------------------------------------------------------------


def test_the_key_reads_and_writes_back() -> None:
    url = "https://vpce-0abc-1234.bedrock.us-east-1.vpce.amazonaws.com"
    policy = Policy.from_toml(f'version = 1\n[network]\ncontrol_plane_endpoint_url = "{url}"\n')
    assert policy.network.control_plane_endpoint_url == url
    assert policy.network.endpoint_url == ""
    assert Policy.from_toml(policy.to_toml()) == policy
    assert policy.to_dict()["network"]["control_plane_endpoint_url"] == url
    assert Policy.default().network.control_plane_endpoint_url == ""


@pytest.mark.parametrize(
    "url",
    [
        "http://bedrock.us-east-1.amazonaws.com",
        "https://user:pw@bedrock.us-east-1.amazonaws.com",
        "https://bedrock.us-east-1.amazonaws.com/?x=1",
        "https://bedrock.us-east-1.amazonaws.com:99999",
        "https:///nohost",
        "bedrock.us-east-1.amazonaws.com",
    ],
)
def test_the_key_must_be_an_https_url(url: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        Policy.from_toml(f'version = 1\n[network]\ncontrol_plane_endpoint_url = "{url}"\n')
    assert raised.value.path == "network.control_plane_endpoint_url"
    with pytest.raises(PolicyConfigError):
        NetworkPolicy(control_plane_endpoint_url=url)
    with pytest.raises(PolicyConfigError):
        NetworkPolicy(control_plane_endpoint_url=1)  # type: ignore[arg-type]


def test_the_key_merges_like_the_runtime_pin() -> None:
    a = "https://vpce-0aaa.bedrock.us-east-1.vpce.amazonaws.com"
    b = "https://vpce-0bbb.bedrock.us-east-1.vpce.amazonaws.com"

    def pinned(url: str) -> Policy:
        return Policy(network=NetworkPolicy(control_plane_endpoint_url=url))

    assert pinned(a).merge(Policy()).network.control_plane_endpoint_url == a
    assert Policy().merge(pinned(a)).network.control_plane_endpoint_url == a
    assert pinned(a).merge(pinned(a)).network.control_plane_endpoint_url == a
    with pytest.raises(PolicyConfigError) as raised:
        pinned(a).merge(pinned(b))
    assert raised.value.path == "network.control_plane_endpoint_url"


def test_embedded_bedrock_pins_both_planes(bedrock: EmbeddedBedrock) -> None:
    pinned = bedrock.pin(Policy(tls=TLSPolicy(minimum_version="1.3")))
    assert pinned.network.endpoint_url == bedrock.endpoint_url
    assert pinned.network.control_plane_endpoint_url == bedrock.endpoint_url
    assert pinned.tls.minimum_version == "1.3"
