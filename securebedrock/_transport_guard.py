"""What every securebedrock transport checks on a live connection, and what it found.

The :class:`Guard` of a client holds its transport rules, precomputed once: the peer
check right after the TCP connect (``network.proxy``, ``network.private_endpoint``) and
the checks right after the TLS handshake (``tls.version``, ``tls.context_tampered``).
The sync session (``_transport_session``), the aiohttp connector (``aio/_transport``)
and the httpx transports (``_httpx_conn``) call it from their own connection hooks and
record the :class:`ConnectionInfo` it returns for the audit span.
"""

from __future__ import annotations

import contextvars
import socket
import ssl
from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.httpsession import create_urllib3_context, get_cert_path

from . import _netcheck
from ._errors import TransportSecurityError
from ._policy import TLS_VERSIONS, Policy
from ._transport_refusals import TLS_VERSION, context_tampered, refuse

__all__ = [
    "ConnectionInfo",
    "Guard",
    "harden_tls_context",
    "last_connection",
    "reset_last_connection",
    "tls_context",
    "tls_version",
]

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
            rule=TLS_VERSION,
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
            violations.append(TLS_VERSION)
            refuse(
                TransportSecurityError(
                    rule=TLS_VERSION,
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
            raise context_tampered(host, context)
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
