"""Each transport refusal carries its own rule id, on the sync, async and httpx paths.

Every refusal goes through the public API (``securebedrock.client``, ``secure``,
``securebedrock.aio``, ``HTTPTransport``) against the embedded endpoint, and the
server receives nothing. The refusals that have no policy key are refused in
``log_only`` mode too. ``tls.version`` itself (the negotiated version below the
floor) is covered in ``test_transport.py``, ``test_aio.py`` and
``test_httpx_transport.py``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import boto3
import httpx
import pytest
from botocore.awsrequest import AWSHTTPSConnection
from botocore.client import BaseClient

import securebedrock
from securebedrock import Policy
from securebedrock._errors import PolicyConfigError, TransportSecurityError
from securebedrock._policy import TLSPolicy
from securebedrock._transport_refusals import TRANSPORT_RULE_IDS
from securebedrock._transport_session import GuardedHTTPSConnection
from securebedrock.testing import EmbeddedBedrock

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
CHAT = "/openai/v1/chat/completions"
LOG_ONLY = Policy(mode="log_only")
MODES = pytest.mark.parametrize("policy", [None, LOG_ONLY], ids=["enforce", "log_only"])
R = TypeVar("R")


def run(coroutine: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coroutine)


def converse(client: Any) -> Any:
    return client.converse(modelId=MODEL_ID, messages=MESSAGES)


def refused(call: Callable[[], object]) -> TransportSecurityError:
    """The :class:`TransportSecurityError` ``call`` raises (anything else fails the test)."""
    with pytest.raises(TransportSecurityError) as caught:
        call()
    assert type(caught.value) is TransportSecurityError
    assert caught.value.rule in TRANSPORT_RULE_IDS
    assert str(caught.value).startswith(f"[{caught.value.rule}]")
    return caught.value


def test_the_former_tls_version_refusals_each_have_an_id_of_their_own() -> None:
    ids = set(TRANSPORT_RULE_IDS)
    assert len(ids) == len(TRANSPORT_RULE_IDS)
    assert {
        "tls.version",
        "tls.plaintext",
        "tls.verify_disabled",
        "tls.ssl_disabled",
        "tls.context_tampered",
        "transport.internals_changed",
        "transport.unchecked_connection",
    } <= ids


# --- the sync client --------------------------------------------------------------------------


@MODES
@pytest.mark.parametrize("scheme", ["http", "HTTP", "Http"])
def test_sync_http_endpoint_is_tls_plaintext(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    policy: Policy | None,
    scheme: str,
) -> None:
    url = f"{scheme}://127.0.0.1:{bedrock.port}"
    error = refused(lambda: secured_client(policy, endpoint_url=url))
    assert error.rule == "tls.plaintext" and "http://" in str(error.found).lower()
    assert bedrock.requests == []


@MODES
def test_sync_http_endpoint_from_the_environment_is_tls_plaintext(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    policy: Policy | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", f"http://127.0.0.1:{bedrock.port}")
    error = refused(lambda: secured_client(policy, endpoint_url=None))
    assert error.rule == "tls.plaintext"
    assert "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" in str(error.found)
    assert bedrock.requests == []


def test_sync_plain_http_connection_is_tls_plaintext(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient]
) -> None:
    # Even an http:// URL that reached the hardened session never gets a connection.
    session: Any = secured_client()._endpoint.http_session  # type: ignore[attr-defined]
    pool = session._manager.connection_from_url(f"http://127.0.0.1:{bedrock.port}/")
    error = refused(lambda: pool.urlopen("GET", "/", retries=False))
    assert error.rule == "tls.plaintext"
    assert bedrock.requests == []


@MODES
@pytest.mark.parametrize("verify", [False, "", 0])
def test_sync_verify_off_is_tls_verify_disabled(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    policy: Policy | None,
    verify: object,
) -> None:
    error = refused(lambda: secured_client(policy, verify=verify))
    assert error.rule == "tls.verify_disabled"
    assert bedrock.requests == []


@MODES
def test_sync_secure_of_an_unverified_client_is_tls_verify_disabled(
    bedrock: EmbeddedBedrock, raw_client: Callable[..., BaseClient], policy: Policy | None
) -> None:
    raw = raw_client(verify=False)
    with bedrock.org_policy(policy):
        error = refused(lambda: securebedrock.secure(raw))
    assert error.rule == "tls.verify_disabled" and error.host == "127.0.0.1"
    assert bedrock.requests == []


def test_sync_install_refuses_an_unverified_client_as_tls_verify_disabled(
    bedrock: EmbeddedBedrock,
) -> None:
    # A framework building its own boto3 client after install(): refused at creation.
    with bedrock.org_policy():
        securebedrock.install()
        try:
            error = refused(
                lambda: boto3.client(
                    "bedrock-runtime", **{**bedrock.client_kwargs(), "verify": False}
                )
            )
        finally:
            securebedrock.uninstall()
    assert error.rule == "tls.verify_disabled"
    assert bedrock.requests == []


@MODES
def test_sync_use_ssl_false_is_tls_ssl_disabled(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], policy: Policy | None
) -> None:
    error = refused(lambda: secured_client(policy, use_ssl=False))
    assert error.rule == "tls.ssl_disabled"
    assert bedrock.requests == []


@MODES
def test_sync_tampered_ssl_context_is_tls_context_tampered(
    bedrock: EmbeddedBedrock, secured_client: Callable[..., BaseClient], policy: Policy | None
) -> None:
    client: Any = secured_client(policy)
    context: ssl.SSLContext = client._endpoint.http_session._manager.connection_pool_kw[
        "ssl_context"
    ]
    # Something in the process turns host-name checking off after the client was made.
    context.check_hostname = False
    error = refused(lambda: converse(client))
    assert error.rule == "tls.context_tampered" and error.host == "127.0.0.1"
    assert "check_hostname=False" in str(error.found)
    assert bedrock.requests == []


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: setattr(raw._endpoint, "http_session", None), id="no-session"),
        pytest.param(
            lambda raw: delattr(raw._endpoint.http_session, "_proxy_config"), id="no-settings"
        ),
    ],
)
def test_sync_changed_client_internals_are_transport_internals_changed(
    bedrock: EmbeddedBedrock,
    raw_client: Callable[..., BaseClient],
    damage: Callable[[Any], None],
) -> None:
    raw = raw_client()
    damage(raw)
    with bedrock.org_policy():
        error = refused(lambda: securebedrock.secure(raw))
    assert error.rule == "transport.internals_changed"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    ("method", "found"),
    [
        ("_new_conn", "peer address was not checked"),
        ("connect", "not checked after connect()"),
    ],
)
def test_sync_a_connection_that_bypassed_the_checks_is_transport_unchecked_connection(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    found: str,
) -> None:
    # As if urllib3 stopped calling the hooks the checks live in.
    monkeypatch.setattr(GuardedHTTPSConnection, method, getattr(AWSHTTPSConnection, method))
    client = secured_client()
    error = refused(lambda: converse(client))
    assert error.rule == "transport.unchecked_connection" and found in str(error.found)
    assert bedrock.requests == []


# --- securebedrock.aio ------------------------------------------------------------------------


def aio_client(server: EmbeddedBedrock, policy: Policy | None = None, **kwargs: Any) -> None:
    """Make (and call through) an async client for ``server`` under ``policy`` as the
    org policy; every test here expects the construction or the call to be refused."""
    pytest.importorskip("aiobotocore")
    import securebedrock.aio

    async def main() -> None:
        options = {**server.client_kwargs(), **kwargs}
        with server.org_policy(policy):
            async with securebedrock.aio.client(**options) as client:
                await client.converse(modelId=MODEL_ID, messages=MESSAGES)

    run(main())


@MODES
def test_aio_http_endpoint_is_tls_plaintext(
    bedrock: EmbeddedBedrock, policy: Policy | None
) -> None:
    url = f"HTTP://127.0.0.1:{bedrock.port}"
    error = refused(lambda: aio_client(bedrock, policy, endpoint_url=url))
    assert error.rule == "tls.plaintext"
    assert bedrock.requests == []


@MODES
def test_aio_verify_false_is_tls_verify_disabled(
    bedrock: EmbeddedBedrock, policy: Policy | None
) -> None:
    error = refused(lambda: aio_client(bedrock, policy, verify=False))
    assert error.rule == "tls.verify_disabled"
    assert bedrock.requests == []


@MODES
def test_aio_use_ssl_false_is_tls_ssl_disabled(
    bedrock: EmbeddedBedrock, policy: Policy | None
) -> None:
    error = refused(lambda: aio_client(bedrock, policy, use_ssl=False))
    assert error.rule == "tls.ssl_disabled"
    assert bedrock.requests == []


@MODES
def test_aio_tampered_ssl_context_is_tls_context_tampered(
    bedrock: EmbeddedBedrock, policy: Policy | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("aiobotocore")
    from securebedrock.aio._transport import HardenedAIOHTTPSession

    guarded = HardenedAIOHTTPSession._sb_guarded

    def tampered(self: Any, connector: Any) -> Any:
        # Something reconfigures the connector's context after securebedrock hardened it.
        context = connector._ssl
        assert isinstance(context, ssl.SSLContext)
        context.check_hostname = False
        return guarded(self, connector)

    monkeypatch.setattr(HardenedAIOHTTPSession, "_sb_guarded", tampered)
    error = refused(lambda: aio_client(bedrock, policy))
    assert error.rule == "tls.context_tampered"
    assert bedrock.requests == []


def test_aio_changed_client_internals_are_transport_internals_changed(
    bedrock: EmbeddedBedrock,
) -> None:
    aio_session = pytest.importorskip("aiobotocore.session")
    import securebedrock.aio

    async def main() -> None:
        session = aio_session.get_session()
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as raw:
            del raw._endpoint.http_session._proxy_config
            with bedrock.org_policy():
                securebedrock.aio.secure(raw)

    error = refused(lambda: run(main()))
    assert error.rule == "transport.internals_changed"
    assert bedrock.requests == []


def test_aio_client_that_already_opened_connections_is_transport_unchecked_connection(
    bedrock: EmbeddedBedrock,
) -> None:
    aio_session = pytest.importorskip("aiobotocore.session")
    import securebedrock.aio

    async def main() -> None:
        session = aio_session.get_session()
        async with session.create_client("bedrock-runtime", **bedrock.client_kwargs()) as raw:
            await raw.converse(modelId=MODEL_ID, messages=MESSAGES)
            with bedrock.org_policy():
                securebedrock.aio.secure(raw)

    error = refused(lambda: run(main()))
    assert error.rule == "transport.unchecked_connection"
    assert "already opened connections" in str(error.found)
    # The one request the unsecured client sent before; nothing after.
    assert len(bedrock.requests) == 1


def test_aio_other_http_session_class_is_transport_unchecked_connection(
    bedrock: EmbeddedBedrock,
) -> None:
    httpx_session = pytest.importorskip("aiobotocore.httpxsession")
    from aiobotocore.config import AioConfig

    config = AioConfig(http_session_cls=httpx_session.HttpxSession)
    error = refused(lambda: aio_client(bedrock, config=config))
    assert error.rule == "transport.unchecked_connection"
    assert bedrock.requests == []


# --- securebedrock.HTTPTransport / AsyncHTTPTransport ------------------------------------------


def transport(
    server: EmbeddedBedrock, cls: Any, policy: Policy | None = None, **kwargs: Any
) -> Any:
    options = {
        "region_name": server.region,
        "verify": server.ca_bundle,
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
        **kwargs,
    }
    with server.org_policy(policy):
        return cls(**options)


def chat() -> dict[str, Any]:
    return {"model": MODEL_ID, "messages": [{"role": "user", "content": "hello"}]}


@MODES
@pytest.mark.parametrize("scheme", ["http", "HTTP"])
def test_httpx_http_request_is_tls_plaintext(
    bedrock: EmbeddedBedrock, policy: Policy | None, scheme: str
) -> None:
    url = f"{scheme}://127.0.0.1:{bedrock.port}{CHAT}"
    client = httpx.Client(transport=transport(bedrock, securebedrock.HTTPTransport, policy))
    error = refused(lambda: client.post(url, json=chat()))
    assert error.rule == "tls.plaintext"

    async def main() -> None:
        async_transport = transport(bedrock, securebedrock.AsyncHTTPTransport, policy)
        async with httpx.AsyncClient(transport=async_transport) as async_client:
            await async_client.post(url, json=chat())

    error = refused(lambda: run(main()))
    assert error.rule == "tls.plaintext"
    assert bedrock.requests == []


@MODES
@pytest.mark.parametrize("cls", ["HTTPTransport", "AsyncHTTPTransport"])
def test_httpx_verify_false_is_tls_verify_disabled(
    bedrock: EmbeddedBedrock, policy: Policy | None, cls: str
) -> None:
    error = refused(lambda: transport(bedrock, getattr(securebedrock, cls), policy, verify=False))
    assert error.rule == "tls.verify_disabled"
    assert bedrock.requests == []


@MODES
def test_httpx_tampered_ssl_context_is_tls_context_tampered(
    bedrock: EmbeddedBedrock, policy: Policy | None
) -> None:
    made = transport(bedrock, securebedrock.HTTPTransport, policy)
    made._core.ssl_context.check_hostname = False
    client = httpx.Client(transport=made, base_url=bedrock.endpoint_url)
    error = refused(lambda: client.post(CHAT, json=chat()))
    assert error.rule == "tls.context_tampered"
    assert bedrock.requests == []


# --- a FIPS policy in a region without a FIPS endpoint: one error type in every mode -------


FIPS_REGION_LESS = "eu-west-1"


def fips(mode: str) -> Policy:
    """A ``tls.fips`` policy in ``mode`` (installed as the org policy file)."""
    return Policy(mode=mode, tls=TLSPolicy(fips=True))  # type: ignore[arg-type]


def fips_records(caplog: pytest.LogCaptureFixture) -> list[object]:
    """What the audit log recorded about the FIPS region (the errors themselves)."""
    return [
        record.args[0]
        for record in caplog.records
        if record.name == "securebedrock.audit"
        and isinstance(record.args, tuple)
        and record.args
        and "FIPS" in str(record.args[0])
    ]


@pytest.fixture
def eu_bedrock() -> Any:
    with EmbeddedBedrock(region=FIPS_REGION_LESS) as server:
        yield server


def test_fips_region_without_fips_endpoint_enforce_is_a_policy_config_error_sync(
    eu_bedrock: EmbeddedBedrock,
) -> None:
    with pytest.raises(PolicyConfigError) as caught, eu_bedrock.org_policy(fips("enforce")):
        securebedrock.client(**eu_bedrock.client_kwargs())
    assert type(caught.value) is PolicyConfigError and caught.value.path == "tls.fips"
    assert FIPS_REGION_LESS in str(caught.value)
    assert eu_bedrock.requests == []


@pytest.mark.parametrize("mode", ["log_only", "apply"])
def test_fips_region_without_fips_endpoint_log_only_records_a_policy_config_error_sync(
    eu_bedrock: EmbeddedBedrock,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="securebedrock.audit"),
        eu_bedrock.org_policy(fips(mode)),
    ):
        client = securebedrock.client(**eu_bedrock.client_kwargs())
        converse(client)
    assert len(eu_bedrock.requests) == 1
    recorded = fips_records(caplog)
    assert recorded, "the FIPS region problem was not recorded"
    assert all(type(error) is PolicyConfigError for error in recorded), recorded
    assert all(error.path == "tls.fips" for error in recorded)  # type: ignore[attr-defined]


def test_fips_region_without_fips_endpoint_is_one_error_type_in_every_mode_async(
    eu_bedrock: EmbeddedBedrock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pytest.importorskip("aiobotocore")
    import securebedrock.aio

    async def call() -> None:
        async with securebedrock.aio.client(**eu_bedrock.client_kwargs()) as client:
            await client.converse(modelId=MODEL_ID, messages=MESSAGES)

    with pytest.raises(PolicyConfigError) as caught, eu_bedrock.org_policy(fips("enforce")):
        run(call())
    assert type(caught.value) is PolicyConfigError and caught.value.path == "tls.fips"
    assert eu_bedrock.requests == []

    with (
        caplog.at_level(logging.WARNING, logger="securebedrock.audit"),
        eu_bedrock.org_policy(fips("log_only")),
    ):
        run(call())
    assert len(eu_bedrock.requests) == 1
    recorded = fips_records(caplog)
    assert recorded and all(type(error) is PolicyConfigError for error in recorded), recorded
