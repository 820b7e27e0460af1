"""The hardened HTTP session: checks on the connection that carries the request.

botocore internals this module relies on (``tests/test_transport_internals.py``
fails loudly when botocore or urllib3 changes any of them):

- ``BaseClient._endpoint`` and ``Endpoint.http_session``: the session a client
  sends through; ``harden_client`` replaces it with :class:`HardenedSession`.
- ``URLLib3Session.__init__`` keyword arguments (``verify``, ``proxies``,
  ``timeout``, ``max_pool_connections``, ``socket_options``, ``client_cert``,
  ``proxies_config``) and the attributes it stores them in (``_verify``,
  ``_proxy_config._proxies``, ``_proxy_config._proxies_settings``, ``_timeout``,
  ``_max_pool_connections``, ``_socket_options``, ``_cert_file``,
  ``_key_file``): the new session is built with exactly the old one's settings.
- ``URLLib3Session._get_ssl_context()``: called for every pool manager (direct
  and proxy); we set ``minimum_version``, ``CERT_REQUIRED`` and
  ``check_hostname`` there.
- ``URLLib3Session._setup_ssl_cert(conn, url, verify)``: called per request;
  we force ``CERT_REQUIRED``.
- ``URLLib3Session._pool_classes_by_scheme`` / ``PoolManager.pool_classes_by_scheme``
  (read by ``_get_proxy_manager`` too): our pool classes carry our connection
  class (``AWSHTTPSConnectionPool.ConnectionCls``).
- ``URLLib3Session.send`` wraps unknown exceptions in ``HTTPClientError(error=...)``,
  which the standard and legacy retry modes retry: :meth:`HardenedSession.send`
  unwraps our :class:`TransportSecurityError` so it propagates and is not retried.
- ``URLLib3Session._get_proxy_manager(proxy_url)`` (called by ``send`` for every
  request that goes through a proxy) and ``_proxy_config.settings`` (the
  ``proxies_config`` dict, whose ``proxy_use_forwarding_for_https`` urllib3
  reads by truthiness): a forwarding-mode proxy is refused there too.
- urllib3 2.x ``HTTPConnection._new_conn()`` (the TCP connect, to the origin or
  the proxy), ``connect()`` (TCP + tunnel + TLS handshake), ``request()``,
  ``sock``, ``host``, ``proxy`` and ``_tunnel_host``.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, ClassVar, cast

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session, get_cert_path

from . import _urls
from ._errors import TransportSecurityError
from ._transport_guard import (
    ConnectionInfo,
    Guard,
    harden_tls_context,
    last_connection,
    reset_last_connection,
    tls_context,
    tls_version,
)

# The context variable the async connector records its connections in.
from ._transport_guard import _last as _last
from ._transport_refusals import (
    forwarding_refused,
    forwards_https,
    plaintext_refused,
    refuse,
    unchecked_connection,
)
from ._wire import WireCheck

__all__ = [
    "ConnectionInfo",
    "Guard",
    "HardenedSession",
    "forwarding_refused",
    "forwards_https",
    "harden_tls_context",
    "last_connection",
    "refuse",
    "reset_last_connection",
    "tls_context",
    "tls_version",
]


class GuardedHTTPSConnection(AWSHTTPSConnection):
    """botocore's HTTPS connection, checked after ``connect()`` and before ``request()``.

    Subclassed per client with ``_sb_guard`` set (see :class:`HardenedSession`).
    """

    _sb_guard: ClassVar[Guard]
    _sb_info: ConnectionInfo | None = None
    _sb_peer: tuple[str, int] | None = None
    _sb_violations: list[str] | None = None

    def _sb_origin(self) -> tuple[str, bool]:
        tunnel_host = getattr(self, "_tunnel_host", None)
        via_proxy = tunnel_host is not None or bool(getattr(self, "proxy", None))
        return str(tunnel_host or self.host), via_proxy

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()
        host, via_proxy = self._sb_origin()
        try:
            peer = sock.getpeername()
            self._sb_peer = (str(peer[0]), int(peer[1]))
            self._sb_violations = self._sb_guard.check_peer(sock, host, via_proxy)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        self._sb_info = None
        self._sb_peer = None
        host, via_proxy = self._sb_origin()
        try:
            super().connect()
        except ssl.SSLError as exc:
            error = self._sb_guard.handshake_error(exc, host)
            if error is not None:
                raise error from None
            raise
        if self._sb_peer is None:
            # _new_conn was bypassed: the peer was never checked. Fail closed.
            raise unchecked_connection(
                host,
                "a connection whose peer address was not checked",
                expected="every connection checked right after connect()",
                fix="report this: urllib3's connection internals changed",
            )
        try:
            self._sb_info = self._sb_guard.check_established(
                self.sock, host, self._sb_peer, via_proxy, self._sb_violations or []
            )
        except BaseException:
            self.close()
            raise

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if self.sock is None:
            self.connect()
        info = self._sb_info
        if info is None:
            host, _ = self._sb_origin()
            raise unchecked_connection(
                host,
                "a connection that was not checked after connect()",
                fix="report this: urllib3's connection internals changed",
            )
        _last.info = info
        return super().request(*args, **kwargs)


class RefusingHTTPConnection(AWSHTTPConnection):
    """Plain-HTTP connections are never made by a securebedrock client."""

    _sb_guard: ClassVar[Guard]

    def connect(self) -> None:
        raise plaintext_refused(
            str(self.host),
            "a plain http:// connection (no TLS)",
            expected=f"https with TLS {self._sb_guard.floor} or newer",
        )


class HardenedSession(URLLib3Session):
    """A ``URLLib3Session`` whose every connection is checked by a :class:`Guard`.

    Built with exactly the settings of the session it replaces.
    """

    def __init__(
        self,
        *,
        guard: Guard,
        wire: WireCheck | None = None,
        ssl_context: ssl.SSLContext | None = None,
        **settings: Any,
    ) -> None:
        # Set before super().__init__: it calls _get_ssl_context() for the pool manager.
        self.sb_guard = guard
        #: The last check of every request against its decision (see _wire.py).
        self.sb_wire = wire
        # An unused context to harden instead of making a new one (OpenSSL 3 contexts
        # are a noticeable part of a client's construction, docs/performance.md): see
        # _transport.harden_client. Only for the direct pool manager; proxies get new ones.
        self._sb_spare_context = ssl_context
        super().__init__(**settings)
        https_conn = type("GuardedHTTPSConnection", (GuardedHTTPSConnection,), {"_sb_guard": guard})
        https_pool = type(
            "GuardedHTTPSConnectionPool", (AWSHTTPSConnectionPool,), {"ConnectionCls": https_conn}
        )
        http_conn = type("RefusingHTTPConnection", (RefusingHTTPConnection,), {"_sb_guard": guard})
        http_pool = type(
            "RefusingHTTPConnectionPool", (AWSHTTPConnectionPool,), {"ConnectionCls": http_conn}
        )
        self._pool_classes_by_scheme = {"http": http_pool, "https": https_pool}
        # (botocore's stubs do not declare _manager; it is set in URLLib3Session.__init__)
        cast(Any, self)._manager.pool_classes_by_scheme = self._pool_classes_by_scheme

    def _get_ssl_context(self) -> ssl.SSLContext:
        context = self._sb_spare_context
        self._sb_spare_context = None
        if context is None:
            context = super()._get_ssl_context()  # type: ignore[misc]
        return harden_tls_context(context, self.sb_guard.context_floor)

    def _get_proxy_manager(self, proxy_url: str) -> Any:
        # Also refused at construction; here for a proxy that appears afterwards.
        # Never log_only: the proxy would read the plaintext request.
        if forwards_https(cast(Any, self)._proxy_config.settings):
            raise forwarding_refused(None, _urls.origin(proxy_url))
        return super()._get_proxy_manager(proxy_url)  # type: ignore[misc]

    def _setup_ssl_cert(self, conn: Any, url: str, verify: Any) -> None:
        # verify=False never reaches here (refused at construction); never CERT_NONE.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = get_cert_path(cast(Any, verify if isinstance(verify, str) else True))

    def send(self, request: Any) -> Any:
        _last.info = None
        wire = self.sb_wire
        if wire is not None:
            # After every event handler, before a byte is written: the request must be
            # the one that was decided (refused here in enforce mode).
            wire.check(request)
        try:
            return super().send(request)
        except HTTPClientError as exc:
            inner = exc.kwargs.get("error")
            if isinstance(inner, TransportSecurityError):
                # Unwrapped: HTTPClientError is retried by botocore; ours must not be.
                raise inner from None
            raise
