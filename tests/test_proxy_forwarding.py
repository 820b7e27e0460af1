"""Forwarding-mode HTTPS proxies end TLS at the proxy: refused in every mode, at construction.

``Config(proxies_config={"proxy_use_forwarding_for_https": True})`` makes
urllib3 send the HTTPS request to the proxy as a plain forwarded request (over
a connection to the proxy), so the proxy reads the prompt and the signed
headers and Bedrock's certificate is never checked. A fake proxy (a loopback
TCP listener that counts connections) shows that nothing reaches it.
CONNECT-tunnel proxies keep their behaviour (``network.allow_proxy``).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.config import Config

import securebedrock
from securebedrock import TransportSecurityError
from securebedrock.testing import EmbeddedBedrock

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "hello"}]}]
FORWARDING = {"proxy_use_forwarding_for_https": True}


class CountingListener:
    """A loopback TCP listener that accepts, counts and closes connections (a fake proxy)."""

    def __init__(self, host: str = "127.0.0.4") -> None:
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.host = host
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, scheme: str = "http", userinfo: str = "") -> str:
        return f"{scheme}://{userinfo}{self.host}:{self.port}"

    def __enter__(self) -> CountingListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.listener.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@pytest.fixture
def fake_proxy() -> Iterator[CountingListener]:
    with CountingListener() as listener:
        yield listener


def org_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    path = tmp_path / "org-policy.toml"
    path.write_text("version = 1\n" + body)
    monkeypatch.setenv("SECUREBEDROCK_POLICY_FILE", str(path))


def converse(client: Any) -> Any:
    return client.converse(modelId=MODEL_ID, messages=MESSAGES)


def assert_forwarding_refused(error: TransportSecurityError, proxy: CountingListener) -> None:
    assert error.rule == "network.proxy"
    assert "forwarding" in str(error) and f"{proxy.host}:{proxy.port}" in str(error)
    assert "proxy_use_forwarding_for_https" in str(error.fix)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_forwarding_proxy_from_config_is_refused_at_construction(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    fake_proxy: CountingListener,
    scheme: str,
) -> None:
    config = Config(proxies={"https": fake_proxy.url(scheme)}, proxies_config=FORWARDING)
    with pytest.raises(TransportSecurityError) as caught:
        # Before: constructed, and the call went to the proxy as a forwarded request.
        converse(secured_client(config=config))
    assert_forwarding_refused(caught.value, fake_proxy)
    assert fake_proxy.accepted == 0 and bedrock.requests == []


def test_forwarding_proxy_from_the_environment_is_refused(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    fake_proxy: CountingListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", fake_proxy.url(userinfo="admin:s3cretPW@"))
    with pytest.raises(TransportSecurityError) as caught:
        converse(secured_client(config=Config(proxies_config=FORWARDING)))
    assert_forwarding_refused(caught.value, fake_proxy)
    assert "s3cretPW" not in str(caught.value) and "admin" not in str(caught.value)
    assert fake_proxy.accepted == 0 and bedrock.requests == []


@pytest.mark.parametrize(
    "org",
    [
        'mode = "log_only"\n',
        "[network]\nrequire_private_endpoint = true\nallow_proxy = true\n"
        'allowed_cidrs = ["127.0.0.0/8"]\n',
        'mode = "log_only"\n[network]\nrequire_private_endpoint = true\nallow_proxy = true\n'
        'allowed_cidrs = ["127.0.0.0/8"]\n',
    ],
    ids=["log_only", "allow_proxy", "log_only+allow_proxy"],
)
def test_forwarding_proxy_is_refused_whatever_the_policy_says(
    bedrock: EmbeddedBedrock,
    fake_proxy: CountingListener,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    org: str,
) -> None:
    pinned = f'\n[network]\nendpoint_url = "{bedrock.endpoint_url}"\n'
    if "[network]" in org:
        pinned = f'endpoint_url = "{bedrock.endpoint_url}"\n'
    org_file(tmp_path, monkeypatch, org + pinned)
    config = Config(proxies={"https": fake_proxy.url()}, proxies_config=FORWARDING)
    with pytest.raises(TransportSecurityError) as caught:
        converse(securebedrock.client(**bedrock.client_kwargs(), config=config))
    assert_forwarding_refused(caught.value, fake_proxy)
    assert fake_proxy.accepted == 0 and bedrock.requests == []


def test_forwarding_proxy_added_after_construction_is_refused_before_connecting(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    fake_proxy: CountingListener,
) -> None:
    """Defence in depth: no proxy at construction, one configured later, still refused."""
    client = secured_client(config=Config(proxies_config=FORWARDING))
    client._endpoint.http_session._proxy_config._proxies = {"https": fake_proxy.url()}
    with pytest.raises(TransportSecurityError) as caught:
        converse(client)
    assert_forwarding_refused(caught.value, fake_proxy)
    assert fake_proxy.accepted == 0 and bedrock.requests == []


def test_forwarding_setting_without_a_proxy_changes_nothing(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    fake_proxy: CountingListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", fake_proxy.url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    converse(secured_client(config=Config(proxies_config=FORWARDING)))
    assert fake_proxy.accepted == 0 and len(bedrock.requests) == 1


def test_connect_tunnel_proxy_keeps_todays_behaviour(
    bedrock: EmbeddedBedrock,
    secured_client: Callable[..., BaseClient],
    fake_proxy: CountingListener,
) -> None:
    # No private-endpoint rule: a CONNECT proxy is allowed and constructs as before
    # (the fake proxy does not speak CONNECT, so no call is made through it here;
    # tests/test_transport.py drives a real CONNECT proxy).
    config = Config(proxies={"https": fake_proxy.url()})
    client = secured_client(config=config)
    assert client.meta.config.proxies == {"https": fake_proxy.url()}
    assert fake_proxy.accepted == 0
