"""Transport hardening for aiobotocore clients: checks on aiohttp's connections.

The construction-time checks are the sync client's (``_transport.check_created_client``:
final endpoint, FIPS, ``verify``, proxies, DNS pre-check). What differs is where the
live connection is checked. aiohttp opens the TCP connection and makes the TLS
handshake in one step (``loop.create_connection(ssl=...)``), so:

- the TLS floor is set on the ``ssl.SSLContext`` that makes the handshake
  (``minimum_version``, ``CERT_REQUIRED``, host-name checks): a server below the floor
  fails the handshake (``tls.version``);
- the negotiated version and the peer address are read from the new connection's
  transport (``get_extra_info("ssl_object")``, ``get_extra_info("socket")``) in
  :meth:`GuardedConnector._create_connection`, right after the handshake and before
  anything is written on the connection. Unlike the sync client, whose peer check runs
  before the first TLS byte, the handshake with a peer outside ``allowed_cidrs`` has
  already happened when it is refused; no HTTP request is written to it;
- every request, on a new or a pooled connection, passes
  :meth:`GuardedConnector.connect`, which hands aiohttp only a connection that was
  checked (and records it for the audit span) before aiohttp writes the request.

aiobotocore internals this module relies on (``tests/test_aio.py`` fails when they
change): ``AioBaseClient._endpoint.http_session``; ``AIOHTTPSession`` keeping its
settings in ``_verify``, ``_proxy_config``, ``_timeout`` (an ``aiohttp.ClientTimeout``),
``_max_pool_connections``, ``_socket_options``, ``_cert_file``, ``_key_file`` and
``_connector_args``, and ``_sessions`` (``None`` until the session is entered);
``_get_ssl_context()`` (every context, endpoint and proxy, starts there);
``_create_connector(proxy_url)`` returning an ``aiohttp.TCPConnector``; and ``send``
wrapping unknown exceptions in ``HTTPClientError``. From aiohttp:
``TCPConnector._create_connection(req, traces, timeout)`` and
``BaseConnector.connect(req, traces, timeout)``.
"""

from __future__ import annotations

import inspect
import ssl
from typing import Any

import aiohttp
from aiobotocore.httpsession import AIOHTTPSession
from botocore.exceptions import HTTPClientError
from botocore.httpsession import create_urllib3_context

from .. import _transport, _urls
from .._errors import TransportSecurityError
from .._policy import Policy
from .._transport_guard import _last
from .._transport_refusals import unchecked_connection
from .._transport_session import (
    ConnectionInfo,
    Guard,
    forwarding_refused,
    forwards_https,
    harden_tls_context,
)
from .._wire import WireCheck

__all__ = ["GuardedConnector", "HardenedAIOHTTPSession", "harden_client"]

_INFO_ATTR = "_securebedrock_connection"


def _unchecked(host: str, what: str) -> TransportSecurityError:
    return unchecked_connection(
        host, what, fix="report this: aiohttp's connector internals changed"
    )


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """The ``ssl.SSLError`` an aiohttp connection error carries, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # aiohttp's ClientConnectorSSLError is an ssl.SSLError itself, without the
        # reason: the one OpenSSL raised is its os_error.
        inner = getattr(current, "os_error", None)
        if isinstance(inner, ssl.SSLError):
            return inner
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


class GuardedConnector(aiohttp.TCPConnector):
    """Checks each new connection's TLS version and peer address before use.

    Mixed (per session) into the class of the connector aiobotocore builds, so its
    own behaviour (a separate proxy SSL context, ...) is kept.
    """

    _sb_guard: Guard

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        host = str(req.host)
        via_proxy = req.proxy is not None
        try:
            protocol = await super()._create_connection(req, traces, timeout)
        except aiohttp.ClientError as exc:
            error = _ssl_error(exc)
            refused = self._sb_guard.handshake_error(error, host) if error is not None else None
            if refused is not None:
                raise refused from None
            raise
        try:
            info = self._sb_check(protocol, host, via_proxy)
            setattr(protocol, _INFO_ATTR, info)
        except BaseException:
            protocol.close()
            raise
        return protocol

    def _sb_check(self, protocol: Any, host: str, via_proxy: bool) -> ConnectionInfo:
        transport = getattr(protocol, "transport", None)
        if transport is None:
            raise _unchecked(host, "a connection without a transport")
        sock = transport.get_extra_info("socket")
        ssl_object = transport.get_extra_info("ssl_object")
        peername = transport.get_extra_info("peername")
        if sock is None or ssl_object is None or not peername:
            raise _unchecked(host, "a connection whose socket or TLS state cannot be read")
        guard = self._sb_guard
        violations = guard.check_peer(sock, host, via_proxy)
        peer = (str(peername[0]), int(peername[1]))
        return guard.check_established(ssl_object, host, peer, via_proxy, violations)

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        connection = await super().connect(req, traces, timeout)
        info = getattr(connection.protocol, _INFO_ATTR, None)
        if not isinstance(info, ConnectionInfo):
            # A connection that did not come through _create_connection: fail closed.
            connection.close()
            raise _unchecked(str(req.host), "a connection that was not checked after connect")
        # Task-local: the audit span of this call reads it (see _transport.last_connection).
        _last.info = info
        return connection


_GUARDED_CLASSES: dict[type[aiohttp.TCPConnector], type[aiohttp.TCPConnector]] = {}


def _guarded_class(base: type[aiohttp.TCPConnector]) -> type[aiohttp.TCPConnector]:
    """``GuardedConnector`` mixed into aiobotocore's connector class (made once per class)."""
    guarded = _GUARDED_CLASSES.get(base)
    if guarded is None:
        guarded = _GUARDED_CLASSES[base] = type(
            f"Guarded{base.__name__}", (GuardedConnector, base), {}
        )
    return guarded


class HardenedAIOHTTPSession(AIOHTTPSession):  # type: ignore[misc]
    """aiobotocore's aiohttp session with the client's guard and wire check.

    Built with exactly the settings of the session it replaces.
    """

    def __init__(self, *, guard: Guard, wire: WireCheck | None = None, **settings: Any) -> None:
        self.sb_guard = guard
        #: The last check of every request against its decision (see _wire.py).
        self.sb_wire = wire
        super().__init__(**settings)

    def _get_ssl_context(self) -> ssl.SSLContext:
        # Every context (endpoint and proxy) starts here: the floor is on the handshake.
        return harden_tls_context(create_urllib3_context(), self.sb_guard.context_floor)

    def _create_connector(self, proxy_url: str | None) -> Any:
        # aiobotocore 3 makes connectors in a coroutine, aiobotocore 2 in a plain call:
        # this returns what the installed one's caller expects.
        # Also refused at construction; here for a proxy that appears afterwards.
        if proxy_url and forwards_https(self._proxy_config.settings):
            raise forwarding_refused(None, _urls.origin(proxy_url))
        made = super()._create_connector(proxy_url)
        if not inspect.isawaitable(made):
            return self._sb_guarded(made)

        async def guarded() -> Any:
            return self._sb_guarded(await made)

        return guarded()

    def _sb_guarded(self, connector: Any) -> Any:
        if not isinstance(connector, aiohttp.TCPConnector):
            raise _unchecked("(connector)", f"a {type(connector).__name__} connector")
        # Per connector, never on the shared class: each client has its own guard.
        connector._sb_guard = self.sb_guard  # type: ignore[attr-defined]
        connector.__class__ = _guarded_class(type(connector))
        return connector

    async def send(self, request: Any) -> Any:
        _last.info = None
        wire = self.sb_wire
        if wire is not None:
            # After every event handler, before the connection is even chosen.
            wire.check(request)
        try:
            return await super().send(request)
        except HTTPClientError as exc:
            inner = exc.kwargs.get("error")
            if isinstance(inner, TransportSecurityError):
                # Unwrapped: ours is never retried and never disguised.
                raise inner from None
            raise


def _refuse_session(session: object) -> TransportSecurityError:
    return unchecked_connection(
        None,
        f"an aiobotocore client sending through {type(session).__name__}",
        expected="aiobotocore's aiohttp session (AIOHTTPSession), whose connections "
        "securebedrock checks",
        fix="remove http_session_cls from the client's AioConfig",
    )


def harden_client(client: Any, policy: Policy) -> None:
    """Check a created aiobotocore client and route it through a hardened session.

    Idempotent for the same policy. A client that was entered (``async with``) keeps
    working: the new session takes over in the entered state; one that has already
    sent requests is refused (its open connections were never checked).
    """
    old = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if isinstance(old, HardenedAIOHTTPSession) and old.sb_guard.policy == policy:
        return
    if not isinstance(old, AIOHTTPSession):
        raise _refuse_session(old)
    checked = _transport.check_created_client(client, policy)
    # The policy's guard is per client; a different one needs connections made anew.
    entered = old._sessions is not None
    if old._sessions:
        raise unchecked_connection(
            checked.host,
            "an aiobotocore client that already opened connections",
            expected="a client secured before its first call",
            fix="call securebedrock.aio.secure() right after creating the client, or use "
            "securebedrock.aio.client()",
        )
    settings = checked.settings
    timeout = settings["_timeout"]
    new = HardenedAIOHTTPSession(
        guard=checked.guard,
        wire=WireCheck(policy, checked.url, kind=checked.kind),
        verify=settings["_verify"],
        proxies=checked.proxies,
        timeout=(timeout.sock_connect, timeout.sock_read),
        max_pool_connections=settings["_max_pool_connections"],
        socket_options=settings["_socket_options"],
        client_cert=_transport.client_cert(settings),
        proxies_config=checked.proxies_settings,
        connector_args=old._connector_args,
    )
    if entered:
        # As AIOHTTPSession.__aenter__ leaves it (the old one holds no connection).
        new._sessions = {}
    checked.endpoint.http_session = new
