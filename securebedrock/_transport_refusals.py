"""The transport rule ids, and the refusals every transport (sync, async, httpx) raises.

Each distinct refusal has its own stable rule id, so an alert on one of them means
one thing (docs/rules.md lists them):

- ``tls.version``: the negotiated TLS version is below ``tls.minimum_version``;
- ``tls.fips``: a non-FIPS endpoint under ``tls.fips = true``;
- ``tls.plaintext``: an ``http://`` endpoint or connection (no TLS at all);
- ``tls.verify_disabled``: certificate verification turned off (``verify=False``);
- ``tls.ssl_disabled``: ``use_ssl=False``;
- ``tls.context_tampered``: an SSL context that no longer verifies certificates or
  host names, found on a live connection;
- ``network.private_endpoint``, ``network.proxy``, ``network.endpoint_override``:
  the peer address, proxy and endpoint rules;
- ``transport.internals_changed``: the botocore/aiobotocore client internals
  securebedrock hooks into are not the ones it supports;
- ``transport.unchecked_connection``: a connection about to carry a request that the
  transport checks did not see (a library's connection internals changed, or a client
  that opened connections before it was secured).

The plain-text, verification, ``use_ssl``, tampered-context, internals and unchecked
refusals are raised in every mode: with any of them there is nothing left to observe.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any, Final

from ._constants import AUDIT_LOGGER_NAME
from ._errors import SecureBedrockError, TransportSecurityError

__all__ = [
    "CONTEXT_TAMPERED",
    "INTERNALS_CHANGED",
    "PLAINTEXT",
    "SSL_DISABLED",
    "TLS_VERSION",
    "TRANSPORT_RULE_IDS",
    "UNCHECKED_CONNECTION",
    "VERIFY_DISABLED",
    "context_tampered",
    "forwarding_refused",
    "forwards_https",
    "internals_changed",
    "plaintext_refused",
    "refuse",
    "ssl_disabled",
    "unchecked_connection",
    "verify_disabled",
]

_log = logging.getLogger(AUDIT_LOGGER_NAME)

#: The negotiated TLS version is below the floor.
TLS_VERSION: Final = "tls.version"
#: An ``http://`` endpoint, request or connection.
PLAINTEXT: Final = "tls.plaintext"
#: Certificate verification off (``verify=False`` or any false value).
VERIFY_DISABLED: Final = "tls.verify_disabled"
#: ``use_ssl=False``.
SSL_DISABLED: Final = "tls.ssl_disabled"
#: A live connection's SSL context no longer requires a certificate or checks host names.
CONTEXT_TAMPERED: Final = "tls.context_tampered"
#: Client internals that securebedrock relies on are missing or different.
INTERNALS_CHANGED: Final = "transport.internals_changed"
#: A connection that would carry a request without having been checked.
UNCHECKED_CONNECTION: Final = "transport.unchecked_connection"

#: Every rule id a :class:`TransportSecurityError` can carry.
TRANSPORT_RULE_IDS: Final[tuple[str, ...]] = (
    TLS_VERSION,
    "tls.fips",
    PLAINTEXT,
    VERIFY_DISABLED,
    SSL_DISABLED,
    CONTEXT_TAMPERED,
    "network.private_endpoint",
    "network.proxy",
    "network.endpoint_override",
    INTERNALS_CHANGED,
    UNCHECKED_CONNECTION,
)


def refuse(error: SecureBedrockError, *, enforce: bool) -> None:
    """Raise ``error`` in enforce mode; in log_only and apply mode record it and carry on.

    The record is a warning on the audit logger whose only argument is ``error``
    itself: the same type and attributes enforce mode would raise.
    """
    if enforce:
        raise error
    _log.warning("log_only: would refuse: %s", error)


def plaintext_refused(
    host: str | None, found: str, expected: str = "an https:// endpoint"
) -> TransportSecurityError:
    """An ``http://`` endpoint, request or connection: without TLS there is nothing to check."""
    return TransportSecurityError(
        rule=PLAINTEXT,
        host=host,
        found=found,
        expected=expected,
        fix="use https://; securebedrock never sends Bedrock calls in plain text",
    )


def verify_disabled(host: str | None, source: str) -> TransportSecurityError:
    """Certificate verification off: anyone on the path could be the endpoint."""
    return TransportSecurityError(
        rule=VERIFY_DISABLED,
        host=host,
        found=f"certificate verification disabled ({source})",
        expected="verify=True or verify='<path of a CA bundle>'",
        fix="pass verify='/path/to/ca.pem' to trust a private CA instead of turning "
        "verification off",
    )


def ssl_disabled() -> TransportSecurityError:
    """``use_ssl=False``: botocore would send in plain text."""
    return TransportSecurityError(
        rule=SSL_DISABLED,
        host=None,
        found="use_ssl=False",
        expected="use_ssl=True (the default)",
        fix="remove use_ssl=False",
    )


def context_tampered(host: str, context: ssl.SSLContext) -> TransportSecurityError:
    """A live connection whose context stopped checking certificates or host names."""
    return TransportSecurityError(
        rule=CONTEXT_TAMPERED,
        host=host,
        found=f"verify_mode={context.verify_mode!r}, check_hostname={context.check_hostname}",
        expected="CERT_REQUIRED with host name checking",
        fix="do not modify the SSL context of a securebedrock client",
    )


def internals_changed(what: str) -> TransportSecurityError:
    """The client internals securebedrock hooks into are not the supported ones."""
    return TransportSecurityError(
        rule=INTERNALS_CHANGED,
        host=None,
        found=f"botocore internals changed: {what}",
        expected="a botocore version whose client internals securebedrock supports",
        fix="pin botocore to a supported version, or upgrade securebedrock",
    )


def unchecked_connection(
    host: str | None,
    found: str,
    *,
    expected: str = "every connection checked before a request is written on it",
    fix: str = "report this: the HTTP library's connection internals changed",
) -> TransportSecurityError:
    """A connection that would carry a request without the transport checks."""
    return TransportSecurityError(
        rule=UNCHECKED_CONNECTION, host=host, found=found, expected=expected, fix=fix
    )


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
