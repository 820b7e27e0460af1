"""Transport rules against the embedded HTTPS Bedrock endpoint on loopback.

Every refusal is shown together with what the *server* received (nothing),
and every rule with its compliant case going through.

Loopback in ``allowed_cidrs`` must be granted by the org policy file (the
tighten-only merge intersects CIDR lists, so code alone cannot widen the
defaults): the ``org`` fixture writes one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import urllib3.util.connection
from botocore.config import Config

import securebedrock
from securebedrock import _transport
from securebedrock._errors import PolicyConfigError, TransportSecurityError
from securebedrock._policy import NetworkPolicy, Policy, TLSPolicy
from securebedrock._transport_session import HardenedSession
from securebedrock.testing import EmbeddedBedrock

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
LOOPBACK = ("127.0.0.0/8",)


def network(**fields: Any) -> Policy:
    """A code policy with loopback allowed (the org file must allow it too)."""
    fields.setdefault("allowed_cidrs", LOOPBACK)
    return Policy(network=NetworkPolicy(**fields))


@pytest.fixture
def org(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Install an org policy file (TOML body after ``version = 1``)."""

    def install(body: str) -> None:
        path = tmp_path / "org-policy.toml"
        path.write_text("version = 1\n" + body)
        monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))

    return install


PRIVATE_LOOPBACK_ORG = """
[network]
require_private_endpoint = true
allowed_cidrs = ["127.0.0.0/8"]
"""


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every TCP connection urllib3 opens (the count of connection attempts)."""
    seen: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def counting(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        seen.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    return seen


def make(server: EmbeddedBedrock, policy: Policy | None = None, **kwargs: Any) -> Any:
    """A client for ``server``, as the ``secured_client`` fixture makes them: the ``org``
    file (if the test installed one), pinned to the server, is the org layer and
    ``policy`` the code layer; without one, ``policy`` pinned is the org layer."""
    options = {**server.client_kwargs(), **kwargs}
    org_file = os.environ.get("SECUREBEDROCK_POLICY_FILE")
    if org_file is None:
        with server.org_policy(policy):
            return securebedrock.client(**options)
    with server.org_policy(Policy.from_file(org_file)):
        return securebedrock.client(**options, policy=policy)


def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def converse(client: Any) -> Any:
    return client.converse(modelId=MODEL_ID, messages=MESSAGES)


# --- the compliant path, and what telemetry reads -------------------------------------------


def test_compliant_call_reports_the_live_connection(
    bedrock: EmbeddedBedrock, org: Callable[[str], None], connects: list[tuple[str, int]]
) -> None:
    org(PRIVATE_LOOPBACK_ORG)
    client = make(bedrock, network())
    assert isinstance(client._endpoint.http_session, HardenedSession)
    converse(client)
    first = _transport.last_connection()
    assert first is not None
    assert first.tls_version == "TLSv1.3" == bedrock.requests[0].tls_version
    assert (first.host, first.peer_ip, first.peer_port) == ("127.0.0.1", "127.0.0.1", bedrock.port)
    assert first.address_class == "loopback" and first.via_proxy is False
    assert first.cipher and first.violations == ()
    # Pooling stays: three calls, one connection, one check.
    converse(client)
    converse(client)
    assert len(bedrock.requests) == 3
    assert len(connects) == 1
    assert _transport.last_connection() == first


def test_last_connection_is_per_thread(bedrock: EmbeddedBedrock) -> None:
    client = make(bedrock)
    converse(client)
    assert _transport.last_connection() is not None
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(_transport.last_connection()))
    worker.start()
    worker.join()
    assert seen == [None]
    _transport.reset_last_connection()
    assert _transport.last_connection() is None


def test_no_dns_lookup_per_call(bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch) -> None:
    client = make(bedrock)
    lookups: list[object] = []
    real = socket.getaddrinfo

    def counting(*args: Any, **kwargs: Any) -> Any:
        lookups.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    for _ in range(4):
        converse(client)
    # One resolution for the one new connection (urllib3's connect), none per call.
    assert len(lookups) == 1


def test_other_before_send_handlers_keep_working(bedrock: EmbeddedBedrock) -> None:
    client = make(bedrock)
    seen: list[str] = []
    client.meta.events.register(
        "before-send.bedrock-runtime.Converse", lambda request, **_: seen.append(request.url)
    )
    converse(client)
    assert len(seen) == 1 and len(bedrock.requests) == 1


def test_streaming_goes_through_the_hardened_session(bedrock: EmbeddedBedrock) -> None:
    client = make(bedrock)
    response = client.converse_stream(modelId=MODEL_ID, messages=MESSAGES)
    events = list(response["stream"])
    assert events and bedrock.requests[0].operation == "ConverseStream"
    info = _transport.last_connection()
    assert info is not None and info.tls_version == "TLSv1.3"


def test_ssl_context_properties(bedrock: EmbeddedBedrock) -> None:
    client = make(bedrock, Policy(tls=TLSPolicy(minimum_version="1.3")))
    session = client._endpoint.http_session
    context = session._manager.connection_pool_kw["ssl_context"]
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    converse(client)
    # urllib3 sets verify_mode per connection from cert_reqs: still required afterwards.
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True


def test_harden_client_is_idempotent(bedrock: EmbeddedBedrock) -> None:
    client = make(bedrock)
    session = client._endpoint.http_session
    policy = securebedrock._adapter.installed_policy(client)
    assert policy is not None
    _transport.harden_client(client, policy)
    assert client._endpoint.http_session is session
    # A tighter policy rebuilds the session (same settings), and the new floor applies.
    tighter = dataclasses.replace(policy, tls=TLSPolicy(minimum_version="1.3"))
    _transport.harden_client(client, tighter)
    rebuilt = client._endpoint.http_session
    assert rebuilt is not session and rebuilt._verify == session._verify
    assert rebuilt._manager.connection_pool_kw["ssl_context"].minimum_version == (
        ssl.TLSVersion.TLSv1_3
    )
    converse(client)
    assert len(bedrock.requests) == 1


def test_replacement_session_keeps_the_clients_settings(bedrock: EmbeddedBedrock) -> None:
    config = Config(connect_timeout=3, read_timeout=7, max_pool_connections=3, tcp_keepalive=True)
    client = make(bedrock, config=config)
    session = client._endpoint.http_session
    assert session._verify == bedrock.ca_bundle
    assert (session._timeout.connect_timeout, session._timeout.read_timeout) == (3, 7)
    assert session._max_pool_connections == 3
    assert (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1) in session._socket_options
    converse(client)


# --- tls.version -----------------------------------------------------------------------------


def test_tls13_floor_refuses_a_tls12_server_once(connects: list[tuple[str, int]]) -> None:
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        # Standard retries with 5 attempts: the refusal must still be a single attempt.
        config = Config(retries={"mode": "standard", "max_attempts": 5})
        client = make(server, Policy(tls=TLSPolicy(minimum_version="1.3")), config=config)
        with pytest.raises(TransportSecurityError) as caught:
            converse(client)
        error = caught.value
        assert type(error) is TransportSecurityError
        assert error.rule == "tls.version" and error.host == "127.0.0.1"
        assert "1.3" in str(error.expected) and "TLS version" in str(error.found)
        assert server.requests == []
        assert len(connects) == 1
        # The server records the failed handshake on its own thread: give it a moment.
        assert wait_for(lambda: len(server.handshake_failures) == 1)
        assert _transport.last_connection() is None


def test_tls13_floor_refuses_under_legacy_retries(connects: list[tuple[str, int]]) -> None:
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        config = Config(retries={"mode": "legacy", "max_attempts": 4})
        client = make(server, Policy(tls=TLSPolicy(minimum_version="1.3")), config=config)
        with pytest.raises(TransportSecurityError):
            converse(client)
        assert server.requests == [] and len(connects) == 1


def test_tls12_floor_accepts_a_tls12_server() -> None:
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        converse(make(server))
        info = _transport.last_connection()
        assert info is not None and info.tls_version == "TLSv1.2"
        assert server.requests[0].tls_version == "TLSv1.2"


def test_log_only_records_a_low_version_and_sends(
    org: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    org('mode = "log_only"\n[tls]\nminimum_version = "1.3"\n')
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        client = make(server, Policy(mode="log_only"))
        with caplog.at_level(logging.WARNING, logger="securebedrock.audit"):
            converse(client)
        info = _transport.last_connection()
        assert info is not None and info.violations == ("tls.version",)
        assert len(server.requests) == 1
        assert any("tls.version" in record.getMessage() for record in caplog.records)


def test_verify_false_is_refused(bedrock: EmbeddedBedrock) -> None:
    with pytest.raises(TransportSecurityError) as caught:
        make(bedrock, verify=False)
    assert caught.value.rule == "tls.verify_disabled" and "verify=False" in str(caught.value)
    with pytest.raises(TransportSecurityError, match="verification disabled"):
        make(bedrock, verify="")  # botocore treats any falsy verify as "off"
    raw = boto3.client("bedrock-runtime", **{**bedrock.client_kwargs(), "verify": False})
    with pytest.raises(TransportSecurityError, match="verification disabled"), bedrock.org_policy():
        securebedrock.secure(raw)
    assert bedrock.requests == []


def test_custom_ca_bundle_is_allowed(bedrock: EmbeddedBedrock) -> None:
    converse(make(bedrock, verify=bedrock.ca_bundle))
    assert len(bedrock.requests) == 1


def test_wrong_ca_is_still_refused_by_certificate_checks(
    bedrock: EmbeddedBedrock, tmp_path: Path
) -> None:
    import certifi

    client = make(bedrock, verify=certifi.where(), config=Config(retries={"max_attempts": 1}))
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        converse(client)
    assert bedrock.requests == []


def test_plain_http_is_refused(bedrock: EmbeddedBedrock) -> None:
    url = f"http://127.0.0.1:{bedrock.port}"
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.client(**{**bedrock.client_kwargs(), "endpoint_url": url})
    assert caught.value.rule == "tls.plaintext" and "http://" in str(caught.value)
    with pytest.raises(TransportSecurityError, match="use_ssl=False"):
        make(bedrock, use_ssl=False)
    assert bedrock.requests == []


def test_plain_http_connection_is_refused_at_connect(bedrock: EmbeddedBedrock) -> None:
    # Defence in depth: even if an http:// URL reached the session, no connection is made.
    session = make(bedrock)._endpoint.http_session
    pool = session._manager.connection_from_url(f"http://127.0.0.1:{bedrock.port}/")
    with pytest.raises(TransportSecurityError, match="plain http"):
        pool.urlopen("GET", "/", retries=False)
    assert bedrock.requests == []


# --- network.private_endpoint ---------------------------------------------------------------


def test_allowed_cidrs_without_loopback_refuses_at_construction(
    bedrock: EmbeddedBedrock, org: Callable[[str], None]
) -> None:
    org('[network]\nrequire_private_endpoint = true\nallowed_cidrs = ["10.0.0.0/8"]\n')
    with pytest.raises(TransportSecurityError) as caught:
        make(bedrock, Policy())
    error = caught.value
    assert error.rule == "network.private_endpoint" and error.host == "127.0.0.1"
    assert "127.0.0.1" in str(error.found) and "10.0.0.0/8" in str(error.expected)
    assert bedrock.requests == []


def test_private_endpoint_checked_at_connect_even_if_dns_said_yes(
    org: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
    connects: list[tuple[str, int]],
) -> None:
    """DNS rebinding: the pre-check sees 127.0.0.2 (allowed), the connect lands on 127.0.0.1."""
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
        client = securebedrock.client(
            **{**server.client_kwargs(), "endpoint_url": url},
            policy=network(allowed_cidrs=("127.0.0.2/32",)),
        )
        assert answers == ["127.0.0.2"]  # the construction-time pre-check passed
        with pytest.raises(TransportSecurityError) as caught:
            converse(client)
        error = caught.value
        assert error.rule == "network.private_endpoint" and error.host == "localhost"
        assert "127.0.0.1" in str(error.found) and "127.0.0.2/32" in str(error.expected)
        assert server.requests == []
        assert len(connects) == 1


def test_log_only_records_a_public_peer_and_sends(
    bedrock: EmbeddedBedrock, org: Callable[[str], None], caplog: pytest.LogCaptureFixture
) -> None:
    org(
        'mode = "log_only"\n[network]\nrequire_private_endpoint = true\n'
        'allowed_cidrs = ["10.0.0.0/8"]\n'
    )
    with caplog.at_level(logging.WARNING, logger="securebedrock.audit"):
        client = make(bedrock, Policy(mode="log_only"))
        converse(client)
    info = _transport.last_connection()
    assert info is not None and info.violations == ("network.private_endpoint",)
    assert len(bedrock.requests) == 1
    messages = [record.getMessage() for record in caplog.records]
    assert sum("would refuse: [network.private_endpoint]" in m for m in messages) == 2  # DNS, peer
    # ... and the call's audit record says what was sent: the shared decision schema.
    (decision,) = [r for r in caplog.records if hasattr(r, "securebedrock")]
    fields = decision.securebedrock
    assert fields["decision"] == "log_only" and fields["stage"] == "transport"
    assert fields["rules"] == ["network.private_endpoint"]


def test_dns_precheck_for_doctor() -> None:
    policy = Policy(network=NetworkPolicy(allowed_cidrs=("127.0.0.1/32",)))
    assert _transport.dns_precheck("127.0.0.1", policy) == [("127.0.0.1", True)]
    assert _transport.dns_precheck("127.0.0.2", policy) == [("127.0.0.2", False)]
    answers = _transport.dns_precheck("localhost", policy)
    assert ("127.0.0.1", True) in answers


# --- network.proxy ---------------------------------------------------------------------------


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that pipes bytes and logs each CONNECT."""

    def __init__(self, host: str = "127.0.0.3") -> None:
        self.listener = socket.create_server((host, 0))
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.accepted = 0
        self.connects: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            line = head.split(b"\r\n", 1)[0].decode()
            method, target, _ = line.split(" ", 2)
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                return
            self.connects.append(target)
            host, port = target.rsplit(":", 1)
            assert host in ("127.0.0.1", "localhost")  # loopback only
            with socket.create_connection(("127.0.0.1", int(port))) as upstream:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self._pipe(conn, upstream)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        sockets = [a, b]
        while True:
            readable, _, _ = select.select(sockets, [], [], 5)
            if not readable:
                return
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                (b if sock is a else a).sendall(data)


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


def test_proxy_from_environment_refused_without_allow_proxy(
    bedrock: EmbeddedBedrock,
    org: Callable[[str], None],
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org(PRIVATE_LOOPBACK_ORG)
    for var in ("HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, proxy.url)
        with pytest.raises(TransportSecurityError) as caught:
            make(bedrock, network())
        assert caught.value.rule == "network.proxy"
        assert proxy.url in str(caught.value)
        monkeypatch.delenv(var)
    assert proxy.accepted == 0 and bedrock.requests == []


def test_proxy_from_config_refused_without_allow_proxy(
    bedrock: EmbeddedBedrock, org: Callable[[str], None], proxy: ConnectProxy
) -> None:
    org(PRIVATE_LOOPBACK_ORG)
    with pytest.raises(TransportSecurityError) as caught:
        make(bedrock, network(), config=Config(proxies={"https": proxy.url}))
    assert caught.value.rule == "network.proxy"
    assert proxy.accepted == 0 and bedrock.requests == []


def test_no_proxy_bypass_is_a_direct_connection(
    bedrock: EmbeddedBedrock,
    org: Callable[[str], None],
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org(PRIVATE_LOOPBACK_ORG)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    converse(make(bedrock, network()))
    info = _transport.last_connection()
    assert info is not None and info.via_proxy is False and info.peer_ip == "127.0.0.1"
    assert proxy.accepted == 0 and len(bedrock.requests) == 1


def test_proxy_added_after_construction_refused_at_connect(
    bedrock: EmbeddedBedrock, org: Callable[[str], None], proxy: ConnectProxy
) -> None:
    """Defence in depth: the connect-time check sees the proxy even if construction did not."""
    org(PRIVATE_LOOPBACK_ORG)
    client = make(bedrock, network())
    client._endpoint.http_session._proxy_config._proxies = {"https": proxy.url}
    with pytest.raises(TransportSecurityError) as caught:
        converse(client)
    assert caught.value.rule == "network.proxy" and "127.0.0.3" in str(caught.value)
    assert proxy.connects == [] and bedrock.requests == []


def test_allowed_proxy_is_used_and_its_address_checked(
    bedrock: EmbeddedBedrock,
    org: Callable[[str], None],
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org(PRIVATE_LOOPBACK_ORG + "allow_proxy = true\n")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    converse(make(bedrock, network(allow_proxy=True)))
    assert proxy.connects == [f"127.0.0.1:{bedrock.port}"]  # it really went through the proxy
    info = _transport.last_connection()
    assert info is not None and info.via_proxy is True
    assert (info.peer_ip, info.peer_port) == ("127.0.0.3", proxy.port)
    assert info.host == "127.0.0.1" and info.tls_version == "TLSv1.3"
    assert len(bedrock.requests) == 1


def test_allowed_proxy_outside_the_ranges_is_refused(
    bedrock: EmbeddedBedrock,
    org: Callable[[str], None],
    proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org(
        "[network]\nrequire_private_endpoint = true\nallow_proxy = true\n"
        'allowed_cidrs = ["127.0.0.1/32"]\n'
    )
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    policy = network(allow_proxy=True, allowed_cidrs=("127.0.0.1/32",))
    with pytest.raises(TransportSecurityError) as caught:
        make(bedrock, policy)
    assert caught.value.rule == "network.private_endpoint"
    assert "proxy" in str(caught.value.found) and "127.0.0.3" in str(caught.value.found)
    # And at connect time, when the proxy appears after construction:
    monkeypatch.delenv("HTTPS_PROXY")
    client = make(bedrock, policy)
    client._endpoint.http_session._proxy_config._proxies = {"https": proxy.url}
    with pytest.raises(TransportSecurityError, match="127.0.0.3"):
        converse(client)
    assert proxy.connects == [] and bedrock.requests == []


# --- network.endpoint_override --------------------------------------------------------------


def unpinned(server: EmbeddedBedrock, **kwargs: Any) -> Any:
    options = {**server.client_kwargs(), **kwargs}
    return securebedrock.client(**options)


def test_endpoint_argument_refused_unless_pinned(bedrock: EmbeddedBedrock) -> None:
    with pytest.raises(TransportSecurityError) as caught:
        unpinned(bedrock)
    error = caught.value
    assert error.rule == "network.endpoint_override"
    assert "endpoint_url argument" in str(error.found) and bedrock.endpoint_url in str(error)
    assert bedrock.requests == []


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"])
def test_endpoint_from_environment_refused(
    bedrock: EmbeddedBedrock, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, bedrock.endpoint_url)
    kwargs = bedrock.client_kwargs()
    del kwargs["endpoint_url"]
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.client(**kwargs)
    assert caught.value.rule == "network.endpoint_override"
    assert f"environment variable {variable}" in str(caught.value)
    # The same override, pinned by the policy, is accepted and really used.
    with bedrock.org_policy():
        converse(securebedrock.client(**kwargs))
    assert len(bedrock.requests) == 1


@pytest.mark.parametrize(
    ("config_text", "source"),
    [
        ("[default]\nendpoint_url = {url}\n", "config file profile 'default' endpoint_url"),
        (
            "[default]\nservices = local\n[services local]\nbedrock_runtime =\n"
            "  endpoint_url = {url}\n",
            "config file [services local] bedrock_runtime.endpoint_url",
        ),
    ],
)
def test_endpoint_from_config_file_refused(
    bedrock: EmbeddedBedrock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config_text: str,
    source: str,
) -> None:
    config = tmp_path / "config-with-endpoint"
    config.write_text(config_text.format(url=bedrock.endpoint_url))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    kwargs = bedrock.client_kwargs()
    del kwargs["endpoint_url"]
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.client(**kwargs)
    assert caught.value.rule == "network.endpoint_override"
    assert source in str(caught.value)
    assert _transport.endpoint_source(boto_session=boto3.session.Session()) == (
        bedrock.endpoint_url,
        source,
    )
    assert bedrock.requests == []


def test_override_on_an_existing_client_refused_by_secure(bedrock: EmbeddedBedrock) -> None:
    raw = boto3.client("bedrock-runtime", **bedrock.client_kwargs())
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.secure(raw)
    assert caught.value.rule == "network.endpoint_override"
    assert bedrock.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        "https://bedrock-runtime-fips.us-east-1.amazonaws.com",
        "https://bedrock-runtime.us-east-1.api.aws",
        "https://vpce-0a1b2c3d4e5f-abcdefgh.bedrock-runtime.us-east-1.vpce.amazonaws.com",
    ],
)
def test_bedrock_hosts_of_the_clients_region_are_accepted(url: str) -> None:
    # Construction only: nothing is sent, and without a private-endpoint rule nothing resolves.
    client = securebedrock.client(region_name="us-east-1", endpoint_url=url)
    assert client.meta.endpoint_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://bedrock-runtime.eu-west-1.amazonaws.com", "client is in us-east-1"),
        ("https://bedrock.us-east-1.amazonaws.com", "not a Bedrock endpoint"),
        ("https://bedrock-runtime.us-east-1.amazonaws.com.example.net", "not a Bedrock"),
        ("https://proxy.corp.example", "not a Bedrock endpoint"),
    ],
)
def test_other_hosts_are_refused(url: str, problem: str) -> None:
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.client(region_name="us-east-1", endpoint_url=url)
    assert caught.value.rule == "network.endpoint_override" and problem in str(caught.value)


def test_host_of_a_region_outside_regions_allowed_is_refused() -> None:
    from securebedrock._policy import RegionsPolicy

    policy = Policy(regions=RegionsPolicy(allowed=("us-west-2",)))
    with pytest.raises(TransportSecurityError, match="not in regions.allowed"):
        securebedrock.client(
            region_name="us-east-1",
            endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com",
            policy=policy,
        )


# --- tls.fips --------------------------------------------------------------------------------


FIPS = Policy(tls=TLSPolicy(fips=True))


def test_fips_regions_come_from_botocore_endpoint_data() -> None:
    expected = {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "ca-central-1",
        "us-gov-east-1",
        "us-gov-west-1",
    }
    assert _transport.fips_regions("bedrock-runtime") == expected
    assert _transport.fips_regions("bedrock") == expected


def test_fips_in_a_region_without_fips_endpoint_is_a_config_error() -> None:
    with pytest.raises(PolicyConfigError) as caught:
        securebedrock.client(region_name="eu-west-1", policy=FIPS)
    assert caught.value.path == "tls.fips" and "eu-west-1" in str(caught.value)


def test_fips_uses_the_fips_endpoint_and_keeps_the_users_config() -> None:
    # Inspect the endpoint only: nothing is sent to AWS.
    client = securebedrock.client(
        region_name="us-east-1", policy=FIPS, config=Config(read_timeout=11)
    )
    assert client.meta.endpoint_url == "https://bedrock-runtime-fips.us-east-1.amazonaws.com"
    assert client.meta.config.use_fips_endpoint is True
    assert client.meta.config.read_timeout == 11
    explicit_off = securebedrock.client(
        region_name="us-west-2", policy=FIPS, config=Config(use_fips_endpoint=False)
    )
    assert explicit_off.meta.endpoint_url == "https://bedrock-runtime-fips.us-west-2.amazonaws.com"


def test_fips_refuses_a_non_fips_custom_endpoint() -> None:
    with pytest.raises(TransportSecurityError) as caught:
        securebedrock.client(
            region_name="us-east-1",
            policy=FIPS,
            endpoint_url="https://bedrock-runtime.us-east-1.amazonaws.com",
        )
    assert caught.value.rule == "tls.fips"
    fips_host = "https://bedrock-runtime-fips.us-east-1.amazonaws.com"
    client = securebedrock.client(region_name="us-east-1", policy=FIPS, endpoint_url=fips_host)
    assert client.meta.endpoint_url == fips_host


def test_fips_accepts_the_pinned_endpoint(bedrock: EmbeddedBedrock) -> None:
    converse(make(bedrock, FIPS))
    assert len(bedrock.requests) == 1


def test_openssl_fips_mode_is_reported() -> None:
    assert _transport.openssl_fips_mode() in (True, False, None)


# --- the control-plane client -----------------------------------------------------------------


def control_plane(server: EmbeddedBedrock, policy: Policy) -> Any:
    kwargs = _transport.prepare_client_kwargs(
        policy, server.client_kwargs(), boto3.session.Session(), service_name="bedrock"
    )
    client = boto3.client("bedrock", **kwargs)
    _transport.harden_client(client, policy)
    return client


def test_control_plane_client_is_hardened() -> None:
    floor = Policy(tls=TLSPolicy(minimum_version="1.3"))
    with EmbeddedBedrock(tls_max_version="1.2") as server:
        client = control_plane(server, server.pin(floor))
        assert isinstance(client._endpoint.http_session, HardenedSession)
        with pytest.raises(TransportSecurityError) as caught:
            client.get_inference_profile(inferenceProfileIdentifier="x1")
        assert caught.value.rule == "tls.version" and server.requests == []
        compliant = control_plane(server, server.pin())
        with pytest.raises(compliant.exceptions.ClientError):
            compliant.get_inference_profile(inferenceProfileIdentifier="unknown")
        assert server.requests[0].operation == "GetInferenceProfile"
        info = _transport.last_connection()
        assert info is not None and info.tls_version == "TLSv1.2"


def test_control_plane_endpoint_must_be_a_bedrock_host(bedrock: EmbeddedBedrock) -> None:
    with pytest.raises(TransportSecurityError, match="not a Bedrock endpoint"):
        _transport.prepare_client_kwargs(
            Policy(),
            {
                "region_name": "us-east-1",
                "endpoint_url": "https://bedrock-runtime.us-east-1.amazonaws.com",
            },
            boto3.session.Session(),
            service_name="bedrock",
        )
    kwargs = _transport.prepare_client_kwargs(
        Policy(),
        {"region_name": "us-east-1", "endpoint_url": "https://bedrock.us-east-1.amazonaws.com"},
        boto3.session.Session(),
        service_name="bedrock",
    )
    assert kwargs["endpoint_url"] == "https://bedrock.us-east-1.amazonaws.com"


# --- the example the docs include -------------------------------------------------------------


def test_transport_example_runs(tmp_path: Path) -> None:
    from _user_process import run_python

    example = Path(__file__).resolve().parent.parent / "examples" / "transport"
    result = run_python(tmp_path, str(example / "transport_checks.py"), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "sent over TLSv1.3 to 127.0.0.1 (loopback)" in result.stdout
    assert "refused by tls.version" in result.stdout
    assert "requests the TLS 1.2 server received: 0" in result.stdout
