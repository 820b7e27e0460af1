"""``securebedrock.aio``: the async client against the embedded HTTPS endpoint.

Each test drives an aiobotocore client with ``asyncio.run`` (plain pytest functions,
no plugin) and asserts what the *server* received, or that it received nothing, and
what the audit span recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

aiobotocore_session = pytest.importorskip("aiobotocore.session")

from _telemetry_helpers import FAST_RETRY, Otel, events, make_otel  # noqa: E402
from botocore.config import Config  # noqa: E402
from conftest import GUARDRAIL, MODEL_ID  # noqa: E402

import securebedrock  # noqa: E402
import securebedrock.aio  # noqa: E402
from securebedrock import _discovery, _transport  # noqa: E402
from securebedrock import _telemetry as T  # noqa: E402
from securebedrock._errors import (  # noqa: E402
    PolicyViolation,
    StreamInterruptedError,
    TransportSecurityError,
)
from securebedrock._policy import (  # noqa: E402
    AuthPolicy,
    GuardrailPolicy,
    ModelsPolicy,
    NetworkPolicy,
    Policy,
    TLSPolicy,
)
from securebedrock.aio._transport import HardenedAIOHTTPSession  # noqa: E402
from securebedrock.testing import EmbeddedBedrock  # noqa: E402

R = TypeVar("R")
GUARDED = GuardrailPolicy(identifier=GUARDRAIL.identifier, version=GUARDRAIL.version)
MESSAGES = [{"role": "user", "content": [{"text": "hello there"}]}]
OTHER_MODEL = "amazon.nova-lite-v1:0"


def run(coroutine: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coroutine)


@pytest.fixture
def otel() -> Otel:
    return make_otel()


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Install an org policy file (TOML body after ``version = 1``)."""

    def install(body: str) -> None:
        path = tmp_path / "org-policy.toml"
        path.write_text("version = 1\n" + body)
        monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))

    return install


Body = Callable[[Any], Awaitable[R]]


@contextlib.contextmanager
def org_for(server: EmbeddedBedrock, policy: Policy | None) -> Iterator[Policy | None]:
    """As conftest's ``secured_client``: ``policy`` pinned to ``server`` is the org policy;
    when the test installed an org file of its own, that file (pinned to the server) is
    the org layer and ``policy`` the code layer. Yields the code policy to pass."""
    org_file = _discovery.org_policy_path()
    if org_file is None:
        with server.org_policy(policy):
            yield None
        return
    org = Policy.from_file(org_file)
    if org.network.endpoint_url == server.endpoint_url:
        yield policy
        return
    with server.org_policy(org):
        yield policy


def with_client(
    server: EmbeddedBedrock,
    body: Body[R],
    policy: Policy | None = None,
    otel: Otel | None = None,
    **kwargs: Any,
) -> R:
    """Run ``body(client)`` with a secured async client for ``server``."""

    async def main() -> R:
        options = {**server.client_kwargs(), "retry": FAST_RETRY, **kwargs}
        if otel is not None:
            options.update(otel.kwargs())
        with org_for(server, policy) as code:
            async with securebedrock.aio.client(**options, policy=code) as client:
                return await body(client)

    return run(main())


async def converse(client: Any, model: str = MODEL_ID) -> Any:
    return await client.converse(modelId=model, messages=MESSAGES)


# --- the secured client ----------------------------------------------------------------------


def test_the_client_is_the_real_aiobotocore_client_with_a_hardened_session(
    bedrock: EmbeddedBedrock,
) -> None:
    async def body(client: Any) -> None:
        assert isinstance(client, aiobotocore_session.AioBaseClient)
        assert isinstance(client._endpoint.http_session, HardenedAIOHTTPSession)
        assert client.meta.config.retries["total_max_attempts"] == 1  # botocore's off

    with_client(bedrock, body)


def test_mandated_guardrail_is_on_the_wire_and_in_the_span(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    response = with_client(bedrock, converse, Policy(guardrail=GUARDED), otel)
    assert response["output"]["message"]["content"][0]["text"]
    (request,) = bedrock.requests
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
    assert request.json["guardrailConfig"]["guardrailVersion"] == GUARDRAIL.version
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "allow"
    assert span.attributes["gen_ai.request.model"] == MODEL_ID
    # Transport facts of the connection that carried it, read on the live connection.
    assert span.attributes[T.ATTR_TLS_VERSION] == "TLSv1.3"
    assert span.attributes[T.ATTR_PEER_ADDRESS_CLASS] == "loopback"
    assert "hello there" not in repr(dict(span.attributes or {}))


def test_invoke_model_carries_the_guardrail_headers(bedrock: EmbeddedBedrock) -> None:
    async def body(client: Any) -> Any:
        response = await client.invoke_model(
            modelId=MODEL_ID,
            body=b'{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, '
            b'"messages": [{"role": "user", "content": "hi"}]}',
        )
        return await response["body"].read()

    assert with_client(bedrock, body, Policy(guardrail=GUARDED))
    (request,) = bedrock.requests
    assert request.headers["X-Amzn-Bedrock-GuardrailIdentifier"] == GUARDRAIL.identifier
    assert request.headers["X-Amzn-Bedrock-GuardrailVersion"] == GUARDRAIL.version


def test_a_denied_model_never_reaches_the_server(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    policy = Policy(models=ModelsPolicy(deny=("anthropic.*",)))
    with pytest.raises(PolicyViolation) as raised:
        with_client(bedrock, converse, policy, otel)
    assert raised.value.rule == "model.not_allowed"
    assert bedrock.requests == []
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert span.attributes[T.ATTR_RULES] == ("model.not_allowed",)


def test_log_only_sends_and_records(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    policy = Policy(mode="log_only", models=ModelsPolicy(deny=("anthropic.*",)))
    with_client(bedrock, converse, policy, otel)
    assert len(bedrock.requests) == 1
    assert otel.only_span().attributes[T.ATTR_DECISION] == "log_only"


@pytest.mark.parametrize("what", ["guardrail", "model"])
def test_a_handler_that_rewrites_the_request_after_the_decision_is_refused(
    bedrock: EmbeddedBedrock, otel: Otel, what: str
) -> None:
    calls: list[str] = []

    def rewrite(request: Any, **_: Any) -> None:
        calls.append(what)
        if what == "model":
            request.url = request.url.replace(quote(MODEL_ID, safe=""), OTHER_MODEL)
        else:
            request.body = b'{"messages": []}'
            request.headers["Content-Length"] = str(len(request.body))

    async def body(client: Any) -> Any:
        client.meta.events.register_last("before-send.bedrock-runtime.Converse", rewrite)
        return await converse(client)

    with pytest.raises(PolicyViolation) as raised:
        with_client(bedrock, body, Policy(guardrail=GUARDED), otel)
    assert raised.value.rule == "wire.mismatch"
    assert "hello there" not in str(raised.value)
    assert calls == [what]  # refused once, never retried
    assert bedrock.requests == []
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert span.attributes[T.ATTR_RULES] == ("wire.mismatch",)


def test_a_call_through_the_class_method_skips_the_engine_and_is_refused(
    bedrock: EmbeddedBedrock,
) -> None:
    async def body(client: Any) -> Any:
        return await type(client)._make_api_call(
            client, "Converse", {"modelId": MODEL_ID, "messages": MESSAGES}
        )

    with pytest.raises(PolicyViolation) as raised:
        with_client(bedrock, body, Policy(guardrail=GUARDED))
    assert raised.value.rule == "wire.mismatch"
    assert bedrock.requests == []


def test_a_bearer_header_is_refused_on_the_wire(bedrock: EmbeddedBedrock) -> None:
    def bearer(request: Any, **_: Any) -> None:
        request.headers["Authorization"] = "Bearer abc"

    async def body(client: Any) -> Any:
        client.meta.events.register_last("before-send.bedrock-runtime", bearer)
        return await converse(client)

    with pytest.raises(PolicyViolation) as raised:
        with_client(bedrock, body, Policy(auth=AuthPolicy(allow_api_keys=False)))
    assert raised.value.rule == "auth.api_key"
    assert bedrock.requests == []


# --- streams ---------------------------------------------------------------------------------


def test_a_complete_stream_is_an_async_iterator_and_ends_the_span(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    async def body(client: Any) -> list[Any]:
        response = await client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
        stream = response["stream"]
        assert isinstance(stream, securebedrock.aio.AsyncSecuredEventStream)
        with pytest.raises(NotImplementedError):
            iter(stream)
        return [event async for event in stream]

    received = with_client(bedrock, body, Policy(guardrail=GUARDED), otel)
    assert "metadata" in received[-1]
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "exhausted"
    assert span.status.is_ok
    assert (
        bedrock.requests[0].json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
    )


@pytest.mark.parametrize("operation", ["ConverseStream", "InvokeModelWithResponseStream"])
def test_a_cut_stream_raises_and_the_span_ends_with_an_error(
    bedrock: EmbeddedBedrock, otel: Otel, operation: str
) -> None:
    bedrock.faults.end_stream_early(after_events=2)
    received: list[Any] = []

    async def body(client: Any) -> None:
        if operation == "ConverseStream":
            stream = (await client.converse_stream(modelId=MODEL_ID, messages=MESSAGES))["stream"]
        else:
            stream = (
                await client.invoke_model_with_response_stream(
                    modelId=MODEL_ID,
                    body=b'{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, '
                    b'"messages": [{"role": "user", "content": "hi"}]}',
                )
            )["body"]
        async for event in stream:
            received.append(event)

    with pytest.raises(StreamInterruptedError):
        with_client(bedrock, body, None, otel)
    assert len(received) == 2  # what arrived was handed over, then the truth
    span = otel.only_span()
    assert span.attributes[T.ATTR_STREAM_END] == "interrupted"
    assert not span.status.is_ok


# --- retries ---------------------------------------------------------------------------------


def test_throttling_is_retried_by_our_layer_only(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    bedrock.faults.throttle(2)
    with_client(bedrock, converse, None, otel, config=Config(retries={"max_attempts": 10}))
    assert len(bedrock.requests) == 3  # one layer: 2 throttled + 1 answered
    span = otel.only_span()
    assert span.attributes[T.ATTR_ATTEMPTS] == 3
    assert len(events(span, T.EVENT_ATTEMPT)) == 3


def test_retry_attempts_are_bounded(bedrock: EmbeddedBedrock) -> None:
    bedrock.faults.throttle(10)
    retry = dataclasses.replace(FAST_RETRY, max_attempts=2)
    with pytest.raises(Exception, match="Throttling"):
        with_client(bedrock, converse, None, None, retry=retry)
    assert len(bedrock.requests) == 2


# --- transport -------------------------------------------------------------------------------


def test_tls_floor_is_on_the_handshake(otel: Otel) -> None:
    with EmbeddedBedrock(tls_max_version="1.2") as capped:
        with pytest.raises(TransportSecurityError) as raised:
            with_client(capped, converse, Policy(tls=TLSPolicy(minimum_version="1.3")), otel)
        assert raised.value.rule == "tls.version"
        assert capped.requests == []
        assert capped.handshake_failures  # refused in the handshake itself
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "deny"
    assert span.attributes[T.ATTR_RULES] == ("tls.version",)


def test_tls_1_2_server_is_accepted_at_a_1_2_floor() -> None:
    _transport.reset_last_connection()
    with EmbeddedBedrock(tls_max_version="1.2") as capped:
        with_client(capped, converse)
        assert len(capped.requests) == 1
        assert _transport.last_connection() is None  # task-local: not this thread's


def test_private_endpoint_outside_allowed_cidrs_is_refused_at_construction(
    bedrock: EmbeddedBedrock, org: Callable[[str], None]
) -> None:
    org('[network]\nrequire_private_endpoint = true\nallowed_cidrs = ["10.0.0.0/8"]\n')
    with pytest.raises(TransportSecurityError) as raised:
        with_client(bedrock, converse, Policy())
    assert raised.value.rule == "network.private_endpoint"
    assert bedrock.requests == []


def test_peer_address_is_checked_on_the_live_connection(
    org: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the pre-check sees 127.0.0.2 (allowed), the connection lands on
    127.0.0.1 (not allowed): refused before the request is written."""
    with EmbeddedBedrock() as server:
        url = f"https://localhost:{server.port}"
        org(
            '[network]\nrequire_private_endpoint = true\nallowed_cidrs = ["127.0.0.2/32"]\n'
            f'endpoint_url = "{url}"\n'
        )
        real = socket.getaddrinfo
        answers: list[str] = []

        def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            assert host in ("localhost", "127.0.0.1"), f"tests never resolve {host!r}"
            if host == "localhost" and not answers:
                answers.append("127.0.0.2")
                return real("127.0.0.2", port, *args, **kwargs)
            answers.append("127.0.0.1")
            return real("127.0.0.1", port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        policy = Policy(network=NetworkPolicy(allowed_cidrs=("127.0.0.2/32",)))

        async def main() -> Any:
            options = {**server.client_kwargs(), "endpoint_url": url}
            async with securebedrock.aio.client(**options, policy=policy) as client:
                assert answers == ["127.0.0.2"]  # the construction-time pre-check passed
                return await converse(client)

        with pytest.raises(TransportSecurityError) as raised:
            run(main())
        assert raised.value.rule == "network.private_endpoint"
        assert "127.0.0.1" in str(raised.value.found)
        assert server.requests == []


def test_a_forwarding_https_proxy_is_refused(bedrock: EmbeddedBedrock) -> None:
    config = Config(
        proxies={"https": "http://127.0.0.1:9"},
        proxies_config={"proxy_use_forwarding_for_https": True},
    )
    with pytest.raises(TransportSecurityError) as raised:
        with_client(bedrock, converse, None, None, config=config)
    assert raised.value.rule == "network.proxy"
    assert bedrock.requests == []


def test_a_proxy_is_refused_under_require_private_endpoint(
    bedrock: EmbeddedBedrock, org: Callable[[str], None]
) -> None:
    org('[network]\nrequire_private_endpoint = true\nallowed_cidrs = ["127.0.0.0/8"]\n')
    config = Config(proxies={"https": "http://127.0.0.1:9"})
    policy = Policy(network=NetworkPolicy(allowed_cidrs=("127.0.0.0/8",)))
    with pytest.raises(TransportSecurityError) as raised:
        with_client(bedrock, converse, policy, None, config=config)
    assert raised.value.rule == "network.proxy"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    "endpoint_url",
    [
        "https://example.com",
        "http://bedrock-runtime.us-east-1.amazonaws.com",
        "https://bedrock-runtime.us-west-2.amazonaws.com",
        "https://bedrock-runtime.us-east-1.amazonaws.com@127.0.0.1",
    ],
)
def test_endpoint_overrides_are_checked_by_the_same_parser(
    bedrock: EmbeddedBedrock, endpoint_url: str
) -> None:
    async def main() -> None:
        options = {**bedrock.client_kwargs(), "endpoint_url": endpoint_url}
        async with securebedrock.aio.client(**options):
            pass

    with pytest.raises(securebedrock.SecureBedrockError):
        run(main())
    assert bedrock.requests == []


def test_verify_false_is_refused(bedrock: EmbeddedBedrock) -> None:
    with pytest.raises(TransportSecurityError):
        with_client(bedrock, converse, None, None, verify=False)


# --- secure() and Session ------------------------------------------------------------------


def test_sync_secure_of_an_async_client_points_at_aio_secure(bedrock: EmbeddedBedrock) -> None:
    async def main() -> None:
        session = aiobotocore_session.get_session()
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as raw:
            with pytest.raises(TypeError, match=r"securebedrock\.aio\.secure"):
                securebedrock.secure(raw)

    run(main())


def test_aio_secure_refuses_a_sync_client(bedrock: EmbeddedBedrock) -> None:
    import boto3

    with pytest.raises(TypeError, match=r"securebedrock\.secure\(\)"):
        securebedrock.aio.secure(boto3.client("bedrock-runtime", **bedrock.client_kwargs()))


def test_aio_secure_secures_an_entered_aiobotocore_client(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    async def main() -> None:
        session = aiobotocore_session.get_session()
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as raw:
            with bedrock.org_policy(Policy(guardrail=GUARDED)):
                secured = securebedrock.aio.secure(raw, **otel.kwargs())
            assert secured is raw
            await converse(secured)

    run(main())
    (request,) = bedrock.requests
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
    assert otel.only_span().attributes[T.ATTR_DECISION] == "allow"


def test_securing_twice_only_tightens(bedrock: EmbeddedBedrock) -> None:
    async def main() -> None:
        session = aiobotocore_session.get_session()
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as raw:
            with bedrock.org_policy(Policy(guardrail=GUARDED)):
                securebedrock.aio.secure(raw)
            with bedrock.org_policy():
                securebedrock.aio.secure(raw, Policy(models=ModelsPolicy(deny=("anthropic.*",))))
            with pytest.raises(PolicyViolation) as raised:
                await converse(raw)
            assert raised.value.rule == "model.not_allowed"
            await converse(raw, OTHER_MODEL)

    run(main())
    (request,) = bedrock.requests  # the allowed model, with the first policy's guardrail
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier


def test_aio_secure_refuses_a_client_that_already_sent(bedrock: EmbeddedBedrock) -> None:
    async def main() -> None:
        session = aiobotocore_session.get_session()
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as raw:
            await converse(raw)
            with pytest.raises(TransportSecurityError, match="already opened connections"):
                with bedrock.org_policy(Policy(guardrail=GUARDED)):
                    securebedrock.aio.secure(raw)

    run(main())
    assert len(bedrock.requests) == 1  # only the unsecured call before


def test_session_secures_bedrock_runtime_clients_only(bedrock: EmbeddedBedrock) -> None:
    with bedrock.org_policy(Policy(guardrail=GUARDED)):
        session = securebedrock.aio.Session()

    async def main() -> None:
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as client:
            assert isinstance(client._endpoint.http_session, HardenedAIOHTTPSession)
            await converse(client)
        async with session.create_client("s3", region_name="us-east-1") as s3:
            assert not isinstance(s3._endpoint.http_session, HardenedAIOHTTPSession)

    run(main())
    assert session.securebedrock_policy.guardrail == GUARDED
    (request,) = bedrock.requests
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier


def test_concurrent_calls_each_get_their_own_span_and_connection_facts(
    bedrock: EmbeddedBedrock, otel: Otel
) -> None:
    async def body(client: Any) -> list[Any]:
        return list(await asyncio.gather(*(converse(client) for _ in range(4))))

    with_client(bedrock, body, Policy(guardrail=GUARDED), otel)
    assert len(bedrock.requests) == 4
    spans = otel.spans()
    assert len(spans) == 4
    assert {s.attributes[T.ATTR_TLS_VERSION] for s in spans} == {"TLSv1.3"}
    assert len({s.context.span_id for s in spans}) == 4


# --- inference profiles ----------------------------------------------------------------------

ACCT = "123456789012"
APP = f"arn:aws:bedrock:us-east-1:{ACCT}:application-inference-profile/a1b2c3d4e5f6"
FM_ARN = f"arn:aws:bedrock:us-east-1::foundation-model/{MODEL_ID}"


def test_an_application_profile_is_resolved_with_sigv4_off_the_event_loop(
    bedrock: EmbeddedBedrock,
) -> None:
    bedrock.add_inference_profile(APP, models=[FM_ARN])

    async def body(client: Any) -> None:
        for _ in range(2):
            await converse(client, APP)

    with_client(bedrock, body, Policy(models=ModelsPolicy(allow=("anthropic.*",))))
    assert [r.operation for r in bedrock.requests] == [
        "GetInferenceProfile",
        "Converse",
        "Converse",
    ]
    assert bedrock.requests[0].auth == "sigv4"


def test_a_cross_region_application_profile_is_refused(bedrock: EmbeddedBedrock) -> None:
    bedrock.add_inference_profile(
        APP, models=[FM_ARN, f"arn:aws:bedrock:us-west-2::foundation-model/{MODEL_ID}"]
    )
    with pytest.raises(PolicyViolation) as raised:
        with_client(bedrock, lambda client: converse(client, APP), Policy())
    assert raised.value.rule == "region.cross_region"
    assert [r.operation for r in bedrock.requests] == ["GetInferenceProfile"]


# --- evasive transport configurations ------------------------------------------------------


def test_an_http_session_class_other_than_aiohttp_is_refused(bedrock: EmbeddedBedrock) -> None:
    httpx_session = pytest.importorskip("aiobotocore.httpxsession")
    from aiobotocore.config import AioConfig

    config = AioConfig(http_session_cls=httpx_session.HttpxSession)
    with pytest.raises(TransportSecurityError, match="http_session_cls"):
        with_client(bedrock, converse, None, None, config=config)
    assert bedrock.requests == []


def test_log_only_records_a_peer_outside_allowed_cidrs_and_sends(
    bedrock: EmbeddedBedrock, org: Callable[[str], None], otel: Otel
) -> None:
    org(
        'mode = "log_only"\n[network]\nrequire_private_endpoint = true\n'
        'allowed_cidrs = ["10.0.0.0/8"]\n'
    )
    with_client(bedrock, converse, Policy(mode="log_only"), otel)
    assert len(bedrock.requests) == 1
    span = otel.only_span()
    assert span.attributes[T.ATTR_DECISION] == "log_only"
    assert span.attributes[T.ATTR_RULES] == ("network.private_endpoint",)
    assert span.attributes[T.ATTR_PEER_ADDRESS_CLASS] == "loopback"


def test_an_aioboto3_client_is_secured_by_aio_secure(bedrock: EmbeddedBedrock, otel: Otel) -> None:
    aioboto3 = pytest.importorskip("aioboto3")

    async def main() -> None:
        session = aioboto3.Session()
        async with session.client("bedrock-runtime", **bedrock.client_kwargs()) as raw:
            with pytest.raises(TypeError, match=r"securebedrock\.aio\.secure"):
                securebedrock.secure(raw)
            with bedrock.org_policy(Policy(guardrail=GUARDED)):
                client = securebedrock.aio.secure(raw, **otel.kwargs())
            await converse(client)
            with pytest.raises(PolicyViolation):
                await converse(client, "us." + MODEL_ID)  # cross-region profile

    run(main())
    (request,) = bedrock.requests
    assert request.json["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL.identifier
    assert [s.attributes[T.ATTR_DECISION] for s in otel.spans()] == ["allow", "deny"]
