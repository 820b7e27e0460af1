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

import contextvars
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from botocore.awsrequest import (
    AWSHTTPConnection,
    AWSHTTPConnectionPool,
    AWSHTTPSConnection,
    AWSHTTPSConnectionPool,
)
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session, create_urllib3_context, get_cert_path

from . import _netcheck, _urls
from ._constants import AUDIT_LOGGER_NAME
from ._errors import TransportSecurityError
from ._policy import TLS_VERSIONS, Policy
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

_log = logging.getLogger(AUDIT_LOGGER_NAME)

#: TLS versions as OpenSSL names them (``SSLSocket.version()``), by number.
_NEGOTIATED_ORDER = {
    "SSLv3": (0, 3),
    "TLSv1": (1, 0),
    "TLSv1.1": (1, 1),
    "TLSv1.2": (1, 2),
    "TLSv1.3": (1, 3),
}


def tls_version(minimum_version: str) -> ssl.TLSVersion:
    """The ``ssl`` version of a ``tls.minimum_version`` value (``"1.3"`` -> ``TLSv1_3``)."""
    return ssl.TLSVersion["TLSv" + minimum_version.replace(".", "_")]


def harden_tls_context(context: ssl.SSLContext, minimum: ssl.TLSVersion) -> ssl.SSLContext:
    """``context`` with the floor ``minimum``, certificate and host-name checks."""
    context.minimum_version = minimum
    # Order matters: check_hostname=True requires CERT_REQUIRED first.
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    return context


def tls_context(minimum_version: str, verify: str | bool = True) -> ssl.SSLContext:
    """A new context as a securebedrock connection has it (botocore's settings, the
    ``tls.minimum_version`` floor, certificate and host-name checks), trusting the CA
    bundle ``verify`` names (``True``: botocore's default bundle)."""
    context = harden_tls_context(create_urllib3_context(), tls_version(minimum_version))
    context.load_verify_locations(cafile=get_cert_path(verify))  # type: ignore[arg-type]
    return context


# OpenSSL reasons that mean "no TLS version acceptable to both sides" (as opposed
# to a bad certificate or a peer that does not speak TLS at all).
_VERSION_MISMATCH_REASONS = frozenset(
    {
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        "VERSION_TOO_LOW",
        "WRONG_SSL_VERSION",
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionInfo:
    """What the live socket of a connection says, read once right after it was made.

    ``host`` is the origin host name (the Bedrock endpoint, even through a
    proxy); ``peer_ip``/``peer_port`` the address the socket is connected to
    (the proxy's, when ``via_proxy``); ``tls_version`` as OpenSSL names it
    (``"TLSv1.3"``); ``address_class`` one of ``loopback``, ``private``,
    ``public``, ``link_local``; ``violations`` the rule ids that a ``log_only``
    policy recorded for this connection instead of refusing it.
    """

    host: str
    peer_ip: str
    peer_port: int
    tls_version: str
    cipher: str
    address_class: _netcheck.AddressClass
    via_proxy: bool = False
    violations: tuple[str, ...] = ()


class _LastConnection:
    """The connection of the request sent last in this thread or asyncio task.

    A context variable, so concurrent tasks on one event loop (``securebedrock.aio``)
    each see their own; in plain threads it behaves like a thread-local.
    """

    __slots__ = ()
    _var: ClassVar[contextvars.ContextVar[ConnectionInfo | None]] = contextvars.ContextVar(
        "securebedrock_last_connection", default=None
    )

    @property
    def info(self) -> ConnectionInfo | None:
        return self._var.get()

    @info.setter
    def info(self, value: ConnectionInfo | None) -> None:
        self._var.set(value)


_last = _LastConnection()


def last_connection() -> ConnectionInfo | None:
    """The connection that carried the most recent request sent on this thread.

    ``None`` when the most recent call on this thread sent nothing (refused
    before sending, or the connection itself was refused). Set each time a
    request is written on a connection, new or reused from the pool: an
    attribute store, no look-up.
    """
    return _last.info


def reset_last_connection() -> None:
    """Forget this thread's last connection (call before a call that may send nothing)."""
    _last.info = None


def refuse(error: TransportSecurityError, *, enforce: bool) -> None:
    """Raise ``error`` in enforce mode; in log_only and apply mode record it and carry on."""
    if enforce:
        raise error
    _log.warning("log_only: would refuse: %s", error)


def forwards_https(proxies_settings: Any) -> bool:
    """Whether botocore's ``proxies_config`` makes urllib3 forward HTTPS through a proxy.

    ``proxy_use_forwarding_for_https`` (``Config(proxies_config=...)``) is
    passed to urllib3 as is, and urllib3 tests its truth, so this does too:
    ``"false"`` (a string) forwards.
    """
    getter = getattr(proxies_settings, "get", None)
    return bool(getter("proxy_use_forwarding_for_https")) if getter is not None else False


def forwarding_refused(host: str | None, proxy: str) -> TransportSecurityError:
    """The error for a forwarding-mode HTTPS proxy, refused in every mode."""
    return TransportSecurityError(
        rule="network.proxy",
        host=host,
        found=f"a forwarding-mode HTTPS proxy {proxy} (proxies_config "
        "proxy_use_forwarding_for_https = true): TLS would end at the proxy, which would "
        "read every prompt, completion and signed header",
        expected="a direct connection, or a CONNECT-tunnel proxy (TLS end to end with Bedrock)",
        fix="remove proxy_use_forwarding_for_https from Config(proxies_config=...) so the "
        "proxy tunnels with CONNECT (under network.require_private_endpoint a tunnel also "
        "needs network.allow_proxy = true), or exclude the endpoint with NO_PROXY",
    )


class Guard:
    """The transport rules of one client, precomputed at construction.

    Immutable after ``__init__``; shared by every connection of the client's
    pools (and thread-safe because of it).
    """

    __slots__ = (
        "allow_proxy",
        "cidrs_text",
        "context_floor",
        "enforce",
        "floor",
        "floor_name",
        "floor_tuple",
        "networks",
        "policy",
        "require_private",
    )

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        # Only enforce refuses; log_only and apply record what enforce would refuse.
        self.enforce = policy.mode == "enforce"
        self.floor = policy.tls.minimum_version
        self.floor_name = f"TLSv{self.floor}"
        self.floor_tuple = _NEGOTIATED_ORDER[self.floor_name]
        # log_only and apply keep the handshake at 1.2 (our absolute floor) and report a
        # lower-than-policy version after it, instead of failing the handshake.
        self.context_floor = tls_version(self.floor if self.enforce else TLS_VERSIONS[0])
        self.require_private = policy.network.require_private_endpoint
        self.allow_proxy = policy.network.allow_proxy
        self.networks = _netcheck.parse_networks(policy.network.allowed_cidrs)
        self.cidrs_text = ", ".join(policy.network.allowed_cidrs) or "(none)"

    def check_peer(self, sock: socket.socket, host: str, via_proxy: bool) -> list[str]:
        """Right after the TCP connect, before any byte of TLS: proxy and peer address."""
        violations: list[str] = []
        if not self.require_private:
            return violations
        peer_ip = str(sock.getpeername()[0])
        if via_proxy and not self.allow_proxy:
            violations.append("network.proxy")
            refuse(
                TransportSecurityError(
                    rule="network.proxy",
                    host=host,
                    found=f"connection through a proxy at {peer_ip}",
                    expected="a direct connection (network.require_private_endpoint = true, "
                    "network.allow_proxy = false)",
                    fix="exclude the endpoint from the proxy (NO_PROXY, Config(proxies=...)), "
                    "or set network.allow_proxy = true to accept a proxy inside allowed_cidrs",
                ),
                enforce=self.enforce,
            )
        if not _netcheck.ip_allowed(peer_ip, self.networks):
            violations.append("network.private_endpoint")
            what = "proxy address" if via_proxy else "address"
            refuse(
                TransportSecurityError(
                    rule="network.private_endpoint",
                    host=host,
                    found=f"connected {what} {peer_ip} ({_netcheck.address_class(peer_ip)})",
                    expected=f"an address inside network.allowed_cidrs [{self.cidrs_text}]",
                    fix="reach Bedrock through a VPC (PrivateLink) endpoint whose addresses "
                    "are in allowed_cidrs, or correct network.allowed_cidrs",
                ),
                enforce=self.enforce,
            )
        return violations

    def handshake_error(self, exc: ssl.SSLError, host: str) -> TransportSecurityError | None:
        """Our error for a handshake that failed because no version met the floor."""
        reason = str(getattr(exc, "reason", "") or "")
        if reason not in _VERSION_MISMATCH_REASONS:
            return None
        return TransportSecurityError(
            rule="tls.version",
            host=host,
            found=f"the server offered no TLS version at or above {self.floor_name} "
            f"(handshake failed: {reason})",
            expected=f"TLS {self.floor} or newer (tls.minimum_version = {self.floor!r})",
            fix=f"use an endpoint that supports TLS {self.floor}; lowering "
            "tls.minimum_version needs the org policy to allow it",
        )

    def check_established(
        self, sock: Any, host: str, peer: tuple[str, int], via_proxy: bool, violations: list[str]
    ) -> ConnectionInfo:
        """After the handshake, before the request: the negotiated version and the context."""
        version = sock.version() if hasattr(sock, "version") else None
        negotiated = _NEGOTIATED_ORDER.get(str(version), (0, 0))
        if negotiated < self.floor_tuple:
            violations.append("tls.version")
            refuse(
                TransportSecurityError(
                    rule="tls.version",
                    host=host,
                    found=f"negotiated {version or 'no TLS'}",
                    expected=f"{self.floor_name} or newer",
                    fix=f"use an endpoint that supports TLS {self.floor}",
                ),
                enforce=self.enforce,
            )
        context = getattr(sock, "context", None) or getattr(
            getattr(sock, "sslobj", None), "context", None
        )
        if context is not None and (
            context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname
        ):
            # Cannot happen through our own session; something reconfigured it.
            raise TransportSecurityError(
                rule="tls.version",
                host=host,
                found=f"verify_mode={context.verify_mode!r}, "
                f"check_hostname={context.check_hostname}",
                expected="CERT_REQUIRED with host name checking",
                fix="do not modify the SSL context of a securebedrock client",
            )
        cipher = sock.cipher() if hasattr(sock, "cipher") else None
        return ConnectionInfo(
            host=host,
            peer_ip=peer[0],
            peer_port=peer[1],
            tls_version=str(version),
            cipher=str(cipher[0]) if cipher else "",
            address_class=_netcheck.address_class(peer[0]),
            via_proxy=via_proxy,
            violations=tuple(violations),
        )


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
            raise TransportSecurityError(
                rule="network.private_endpoint",
                host=host,
                found="a connection whose peer address was not checked",
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
            raise TransportSecurityError(
                rule="tls.version",
                host=host,
                found="a connection that was not checked after connect()",
                expected="every connection checked before a request is written",
                fix="report this: urllib3's connection internals changed",
            )
        _last.info = info
        return super().request(*args, **kwargs)


class RefusingHTTPConnection(AWSHTTPConnection):
    """Plain-HTTP connections are never made by a securebedrock client."""

    _sb_guard: ClassVar[Guard]

    def connect(self) -> None:
        raise TransportSecurityError(
            rule="tls.version",
            host=str(self.host),
            found="a plain http:// connection (no TLS)",
            expected=f"https with TLS {self._sb_guard.floor} or newer",
            fix="use an https:// endpoint",
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
