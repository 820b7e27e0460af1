"""The botocore and urllib3 internals the hardened transport relies on.

These tests fail loudly when an upgrade changes one of them: the transport
would otherwise silently stop checking (or stop working). The list matches
the module docstring of ``securebedrock/_transport_session.py``.
"""

from __future__ import annotations

import inspect
import ssl
from typing import Any

import boto3
import botocore.awsrequest
import botocore.endpoint
import botocore.httpsession
import pytest
import urllib3
import urllib3.connection
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session

import securebedrock
from securebedrock import _transport
from securebedrock._transport_session import GuardedHTTPSConnection, HardenedSession
from securebedrock.testing import EmbeddedBedrock


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_client_exposes_endpoint_and_http_session(bedrock: EmbeddedBedrock) -> None:
    client = boto3.client("bedrock-runtime", **bedrock.client_kwargs())
    assert isinstance(client._endpoint, botocore.endpoint.Endpoint)
    assert type(client._endpoint.http_session) is URLLib3Session
    assert "self.http_session.send(request)" in inspect.getsource(botocore.endpoint.Endpoint._send)


def test_urllib3_session_constructor_and_stored_settings(bedrock: EmbeddedBedrock) -> None:
    assert parameters(URLLib3Session.__init__) == [
        "self",
        "verify",
        "proxies",
        "timeout",
        "max_pool_connections",
        "socket_options",
        "client_cert",
        "proxies_config",
    ]
    session = URLLib3Session(
        verify="/ca.pem",
        proxies={"https": "http://127.0.0.1:9"},
        timeout=(2, 3),
        client_cert=("c.pem", "k.pem"),
    )
    for name in _transport._SESSION_SETTINGS:
        assert hasattr(session, name), name
    assert session._verify == "/ca.pem"
    assert session._proxy_config._proxies == {"https": "http://127.0.0.1:9"}
    assert session._proxy_config._proxies_settings == {}
    assert (session._cert_file, session._key_file) == ("c.pem", "k.pem")
    assert isinstance(session._timeout, urllib3.Timeout)
    assert session._manager.pool_classes_by_scheme is session._pool_classes_by_scheme


def test_urllib3_session_hooks_we_override() -> None:
    assert parameters(URLLib3Session._get_ssl_context) == ["self"]
    assert parameters(URLLib3Session._setup_ssl_cert) == ["self", "conn", "url", "verify"]
    assert parameters(URLLib3Session._get_pool_manager_kwargs) == ["self", "extra_kwargs"]
    assert parameters(URLLib3Session.send) == ["self", "request"]
    # Every pool manager (direct and proxy) gets its SSLContext from _get_ssl_context().
    assert "self._get_ssl_context()" in inspect.getsource(URLLib3Session._get_pool_manager_kwargs)
    proxy_source = inspect.getsource(URLLib3Session._get_proxy_manager)
    assert "self._get_pool_manager_kwargs(" in proxy_source
    assert "pool_classes_by_scheme = self._pool_classes_by_scheme" in proxy_source
    # Forwarding mode is refused in _get_proxy_manager, which send() calls for every
    # proxied request; the setting reaches urllib3 from _proxy_config.settings.
    assert parameters(URLLib3Session._get_proxy_manager) == ["self", "proxy_url"]
    assert "self._get_connection_manager(" in inspect.getsource(URLLib3Session.send)
    assert "self._get_proxy_manager(" in inspect.getsource(URLLib3Session._get_connection_manager)
    assert "'proxy_use_forwarding_for_https'" in inspect.getsource(URLLib3Session._proxies_kwargs)


def test_send_wraps_unknown_errors_in_http_client_error() -> None:
    class Boom(URLLib3Session):
        def _get_connection_manager(self, url: str, proxy_url: str | None = None) -> Any:
            raise LookupError("ours")

    request = botocore.awsrequest.AWSRequest(method="GET", url="https://127.0.0.1:9/").prepare()
    with pytest.raises(HTTPClientError) as caught:
        Boom().send(request)
    assert isinstance(caught.value.kwargs["error"], LookupError)


def test_connection_classes_and_urllib3_hooks() -> None:
    assert int(urllib3.__version__.split(".")[0]) == 2
    assert botocore.awsrequest.AWSHTTPSConnectionPool.ConnectionCls is (
        botocore.awsrequest.AWSHTTPSConnection
    )
    assert issubclass(GuardedHTTPSConnection, urllib3.connection.HTTPSConnection)
    for name in ("_new_conn", "connect", "request"):
        assert callable(getattr(urllib3.connection.HTTPSConnection, name)), name
    connection = urllib3.connection.HTTPSConnection("127.0.0.1", 9)
    assert connection._tunnel_host is None and connection.proxy is None
    assert connection.sock is None


def test_live_socket_reports_the_version_we_required() -> None:
    """End to end: the negotiated version on the live socket is the one the policy asked for."""
    floor = securebedrock.Policy(tls=securebedrock._policy.TLSPolicy(minimum_version="1.3"))
    with EmbeddedBedrock() as server, server.org_policy():
        client = securebedrock.client(**server.client_kwargs(), policy=floor)
        assert isinstance(client._endpoint.http_session, HardenedSession)
        client.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
        )
        pools = client._endpoint.http_session._manager.pools
        (key,) = pools.keys()
        (connection,) = [c for c in pools[key].pool.queue if c is not None]
        assert isinstance(connection, GuardedHTTPSConnection)
        assert isinstance(connection.sock, ssl.SSLSocket)
        assert connection.sock.version() == "TLSv1.3" == server.requests[0].tls_version
        assert connection.sock.context.minimum_version == ssl.TLSVersion.TLSv1_3
