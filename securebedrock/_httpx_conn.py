"""The live-connection checks of :class:`securebedrock.HTTPTransport`.

httpx sends through httpcore (httpcore2 for httpx2), which reports each step of opening
a connection through the request's ``trace`` extension. The transport hooks it:

- ``connection.connect_tcp.complete``: the TCP socket is connected, no TLS byte is
  sent yet. The connected peer address (``server_addr``) must be inside
  ``network.allowed_cidrs`` when ``network.require_private_endpoint`` is set.
- ``connection.start_tls.complete``: the handshake is done, the request not yet written.
  The negotiated version (``ssl_object.version()``) must meet ``tls.minimum_version``,
  and the context must still verify certificates and host names.

Raising from the hook aborts the connection before the request is written. The SSL
context carries the floor too, so a server offering less fails the handshake itself.
A connection reused from httpx's pool was checked when it was opened.
"""

from __future__ import annotations

import inspect
import ssl
import weakref
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import TransportSecurityError
from ._transport_refusals import plaintext_refused, unchecked_connection, verify_disabled
from ._transport_session import ConnectionInfo, Guard

__all__ = ["ConnectionChecks", "connection_cache", "ssl_context"]


def ssl_context(guard: Guard, verify: str | bool) -> ssl.SSLContext:
    """The context every connection of a transport is made with: the floor, full checks."""
    if verify is False:
        # Never log_only: verification off means anyone on the path is the endpoint.
        raise verify_disabled(None, "verify=False")
    cafile = verify if isinstance(verify, str) else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = guard.context_floor
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    return context


class _Peer:
    """What :meth:`Guard.check_peer` reads of a socket: its peer address."""

    __slots__ = ("_address",)

    def __init__(self, address: Any) -> None:
        self._address = address

    def getpeername(self) -> Any:
        return self._address


def _address(stream: Any) -> tuple[str, int]:
    address = stream.get_extra_info("server_addr")
    if not isinstance(address, tuple) or len(address) < 2:
        raise unchecked_connection(
            None,
            f"a connection whose peer address cannot be read ({type(address).__name__})",
            expected="a TCP connection with a peer address",
            fix="use httpx's default network backend",
        )
    return str(address[0]), int(address[1])


#: The trace events :meth:`ConnectionChecks._event` checks (the others pass through).
_CHECKED_EVENTS = frozenset({"connection.connect_tcp.complete", "connection.start_tls.complete"})


@dataclass(kw_only=True)
class ConnectionChecks:
    """The checks of one request's connection, and what they found (for the span)."""

    guard: Guard
    host: str
    previous: Callable[..., Any] | None = None
    #: What earlier requests found on each pooled connection (see :meth:`record`).
    known: MutableMapping[Any, ConnectionInfo] | None = None
    info: ConnectionInfo | None = None
    violations: list[str] = field(default_factory=list)

    def _event(self, name: str, data: dict[str, Any]) -> None:
        stream = data.get("return_value")
        if stream is None:
            return
        if name == "connection.connect_tcp.complete":
            self.violations.clear()
            peer = _address(stream)
            try:
                self.violations.extend(
                    self.guard.check_peer(_Peer(peer), self.host, via_proxy=False)  # type: ignore[arg-type]
                )
            except TransportSecurityError:
                stream.close()
                raise
        elif name == "connection.start_tls.complete":
            ssl_object = stream.get_extra_info("ssl_object")
            if ssl_object is None:
                stream.close()
                raise plaintext_refused(
                    self.host,
                    "a connection without TLS",
                    expected=f"TLS {self.guard.floor} or newer",
                )
            try:
                self.info = self.guard.check_established(
                    ssl_object, self.host, _address(stream), False, self.violations
                )
            except TransportSecurityError:
                stream.close()
                raise

    async def _aclose(self, stream: Any) -> None:
        await stream.aclose()

    def sync_hook(self, name: str, data: dict[str, Any]) -> None:
        """The ``trace`` extension for httpx's sync transport."""
        if name in _CHECKED_EVENTS:
            self._event(name, data)
        if self.previous is not None:
            self.previous(name, data)

    async def async_hook(self, name: str, data: dict[str, Any]) -> None:
        """The ``trace`` extension for httpx's async transport."""
        try:
            self._event_async_safe(name, data)
        except TransportSecurityError:
            stream = data.get("return_value")
            if stream is not None and hasattr(stream, "aclose"):
                await self._aclose(stream)
            raise
        if self.previous is not None:
            result = self.previous(name, data)
            if inspect.isawaitable(result):
                await result

    def _event_async_safe(self, name: str, data: dict[str, Any]) -> None:
        # The async streams close with a coroutine: async_hook awaits aclose() instead.
        wrapped = dict(data)
        if wrapped.get("return_value") is not None:
            wrapped["return_value"] = _NoClose(wrapped["return_value"])
        self._event(name, wrapped)

    def record(self, stream: Any) -> ConnectionInfo | None:
        """The connection that carried the response (a pooled one was checked earlier).

        A connection's version, cipher and peer never change, so what was found on it
        without a violation is kept (per connection, weakly) and read back when it is
        reused; a connection with violations is read again each time, as it was.
        """
        if stream is None:
            return self.info
        if self.info is not None:
            self._remember(stream, self.info)
            return self.info
        known = self.known
        if known is not None:
            try:
                found = known.get(stream)
            except TypeError:  # not weakly referenceable: read it each time
                found = None
            if found is not None and found.host == self.host:
                self.info = found
                return found
        try:
            ssl_object = stream.get_extra_info("ssl_object")
            peer = _address(stream)
            if ssl_object is None:
                return None
            self.info = self.guard.check_established(ssl_object, self.host, peer, False, [])
        except Exception:  # a reused connection; it was checked when opened
            return None
        self._remember(stream, self.info)
        return self.info

    def _remember(self, stream: Any, info: ConnectionInfo) -> None:
        if self.known is None or info.violations:
            return
        try:
            self.known[stream] = info
        except TypeError:  # not weakly referenceable
            pass


def connection_cache() -> MutableMapping[Any, ConnectionInfo]:
    """A transport's record of its pooled connections' facts, dropped with each connection."""
    return weakref.WeakKeyDictionary()


class _NoClose:
    """An async stream as _event sees it: extra info readable, close left to the caller."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def get_extra_info(self, name: str) -> Any:
        return self._stream.get_extra_info(name)

    def close(self) -> None:
        return None
