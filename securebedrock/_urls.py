"""Endpoint URLs, read by the parser that opens the socket.

botocore hands the request URL to urllib3, whose ``parse_url`` decides which
host and port the socket connects to; ``urllib.parse.urlsplit`` (which
botocore's own endpoint validation and older checks used) reads some URLs
differently. ``https://127.0.0.1:8443\\@bedrock-runtime.us-east-1.amazonaws.com``
is a Bedrock host to ``urlsplit`` (everything before the ``@`` is user info)
and ``127.0.0.1:8443`` to urllib3 (a backslash ends the authority). Every
host, port and scheme check in securebedrock therefore reads the URL with
:func:`parse_endpoint` (or :func:`check_policy_url` for the policy file's
keys), which takes the answer from urllib3 and refuses any URL that is not
plainly ``https://<host>[:<port>][/<path>]``:

- not a non-empty string, or longer than 2,048 characters;
- a control character, whitespace, a backslash or a non-ASCII character anywhere;
- user info (any ``@``: credentials in an endpoint URL are a mistake, and
  ``user@host`` is the usual disguise of a parser differential), a query or a
  fragment (``https://host?@evil``, ``https://host#@evil``: different parsers
  end the authority at different characters);
- a port that is not a number from 1 to 65535;
- a host that is not a plain DNS name (letters, digits, hyphens; the last
  label not numeric), a canonical IPv4 address or a bracketed IPv6 address
  without a zone; percent-escapes, ``0x7f.1`` or ``2130706433`` (which the
  resolver would read as an IPv4 address) are refused;
- any URL on which urllib3 and ``urlsplit`` disagree about scheme, host or port.

Upper-case letters and a single trailing dot in the host are accepted (both
parsers read them the same way); hosts are compared lower-case and without the
trailing dot. Nothing here resolves a name or opens a socket; it runs at
construction, never per call.

URLs quoted in errors and log records go through :func:`mask` (user info
replaced by ``***``) or :func:`origin` (scheme, host and port only).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from urllib3.util import parse_url

from ._errors import PolicyConfigError, TransportSecurityError

__all__ = [
    "EndpointURL",
    "check_policy_url",
    "mask",
    "origin",
    "parse_endpoint",
    "read_endpoint",
    "read_proxy",
    "same_endpoint",
]

#: Longer than any real endpoint, short enough to quote in an error.
MAX_URL_LENGTH = 2048
#: What the endpoint shape is, for error messages.
EXPECTED_SHAPE = (
    "https://<host>[:<port>][/<path>] with a DNS name, an IPv4 address or a [bracketed] IPv6 "
    "address, a port from 1 to 65535, and no user info, query, fragment, backslash, "
    "whitespace, control or non-ASCII character"
)

_DEFAULT_PORTS = {"https": 443, "http": 80}
# The label rule botocore's is_valid_endpoint_url applies (so botocore accepts
# every name accepted here), lower-case after urllib3's normalisation.
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?")
_LAST_LABEL_NAME = re.compile(r"[a-z][a-z0-9-]*")
_SCHEME_AND_SLASHES = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?P<slashes>[/\\]*)")
# Characters that never belong in an endpoint URL, whatever their position.
_FORBIDDEN = frozenset("\\@?#%")


@dataclass(frozen=True, kw_only=True, slots=True)
class EndpointURL:
    """An endpoint URL as urllib3 (the parser that opens the socket) reads it.

    ``scheme`` is lower-case (``"https"`` for any URL a client may use);
    ``host`` is lower-case, without IPv6 brackets or a trailing dot; ``port``
    is the explicit port or the scheme's default; ``url`` the URL as given
    (it carries no credentials: user info is refused).
    """

    url: str
    scheme: str
    host: str
    port: int

    def same_origin(self, other: EndpointURL) -> bool:
        """Whether both name the same scheme, host and port."""
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port)


def mask(url: object) -> str:
    """``url`` for an error or a log line: any user info replaced by ``***``.

    Reads the authority the widest way any parser could: after ``scheme:``
    and any run of slashes or backslashes (from the very start when there are
    none), up to the first ``/``, ``?`` or ``#`` (a backslash does not end it),
    and masks up to its last ``@``, so neither ``user:pw@`` nor
    ``host:port\\@`` is echoed. Anything not a string is shown by its type only.
    """
    if not isinstance(url, str):
        return f"<{type(url).__name__}>"
    text = url
    prefix = _SCHEME_AND_SLASHES.match(text)
    start = prefix.end() if prefix is not None and prefix.group("slashes") else 0
    end = len(text)
    for delimiter in "/?#":
        found = text.find(delimiter, start)
        if 0 <= found < end:
            end = found
    at = text.rfind("@", start, end)
    if at >= 0:
        text = f"{text[:start]}***{text[at:]}"
    # Cut after masking, so a cut never leaves user info without its "@".
    return text if len(text) <= MAX_URL_LENGTH else f"{text[:MAX_URL_LENGTH]}..."


def _proxy_text(proxy_url: str) -> str:
    # As botocore's ProxyConfiguration._fix_proxy_url: a bare host[:port] is http://.
    if proxy_url.startswith(("http:", "https:")):
        return proxy_url
    if proxy_url.startswith("//"):
        return f"http:{proxy_url}"
    return f"http://{proxy_url}"


def read_proxy(proxy_url: str) -> EndpointURL | None:
    """A proxy URL's scheme, host and port as urllib3 reads them, or ``None``.

    Proxy URLs may carry credentials (proxy authentication): they are dropped,
    ``url`` is :func:`origin`. ``None`` when urllib3 cannot read a host from it
    (botocore then fails on it too).
    """
    try:
        parts = parse_url(_proxy_text(proxy_url))
    except ValueError:
        return None
    scheme = (parts.scheme or "http").lower()
    if not parts.host or scheme not in _DEFAULT_PORTS:
        return None
    port = parts.port if parts.port is not None else _DEFAULT_PORTS[scheme]
    host = parts.host.strip("[]").rstrip(".")
    netloc = f"[{host}]" if ":" in host else host
    return EndpointURL(url=f"{scheme}://{netloc}:{port}", scheme=scheme, host=host, port=port)


def origin(proxy_url: str) -> str:
    """``scheme://host[:port]`` of a proxy URL as urllib3 reads it; never its user info."""
    try:
        parts = parse_url(_proxy_text(proxy_url))
    except ValueError:
        return mask(proxy_url)
    if not parts.host:
        return mask(proxy_url)
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme or 'http'}://{parts.host}{port}"


def _problem_with_characters(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    for char in url:
        if not char.isascii():
            return f"a non-ASCII character ({ascii(char)})"
        if not char.isprintable() or char.isspace():
            return f"a control or whitespace character ({ascii(char)})"
        if char in _FORBIDDEN:
            return {
                "\\": "a backslash (urllib3 ends the host at it, urllib.parse does not)",
                "@": "user info ('@'): credentials do not belong in an endpoint URL",
                "?": "a query ('?')",
                "#": "a fragment ('#')",
                "%": "a percent-escape ('%'): an endpoint host is written out plainly",
            }[char]
    return None


def _problem_with_host(host: str) -> str | None:
    if host.startswith("["):
        inner = host[1:-1] if host.endswith("]") else ""
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            return "an IPv6 address that is not plain (zone ids and IPvFuture are refused)"
        return None
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not _DNS_NAME.fullmatch(host):
        return "a host that is not a plain DNS name or IP address"
    if _LAST_LABEL_NAME.fullmatch(name.rsplit(".", 1)[-1]):
        return None
    try:
        address = ipaddress.IPv4Address(name)
    except ValueError:
        address = None
    if address is None or str(address) != name or name != host:
        # 2130706433, 0x7f.1, 127.1: a resolver reads these as an IPv4 address;
        # 127.0.0.1. is a name to the resolver and an address to the checks.
        return (
            "a host whose last label starts with a digit but that is not a canonical "
            "IPv4 address (a.b.c.d)"
        )
    return None


def read_endpoint(url: object) -> EndpointURL | str:
    """The parsed endpoint, or why it is refused (a short phrase, without the URL)."""
    if not isinstance(url, str):
        return f"not a string but {type(url).__name__}"
    # An exact str copy of the text: a str subclass could override the methods the
    # parsers call, or hash and compare unlike its text. ``EndpointURL.url`` is that copy.
    return _read_text(str.__str__(url))


@functools.lru_cache(maxsize=64)
def _read_text(url: str) -> EndpointURL | str:
    # Cached: one client's construction reads the same few URLs (argument, final
    # endpoint, pin) several times. Results are immutable.
    if not url:
        return "an empty string"
    problem = _problem_with_characters(url)
    if problem is not None:
        return problem
    try:
        split_view = urlsplit(url)
        split_port = split_view.port
    except ValueError as exc:
        # "Port out of range 0-65535", "Port could not be cast to integer value as '+1'", ...
        return f"not a valid URL ({exc})"
    try:
        socket_view = parse_url(url)
    except ValueError:
        # urllib3's LocationParseError: a bad port or IPv6 literal urllib.parse let through.
        return "not a URL urllib3 can connect to (check the host and the port)"
    scheme = (socket_view.scheme or "").lower()
    raw_host = socket_view.host or ""
    if not scheme or not raw_host:
        return "no scheme or no host (write https://<host>)"
    if scheme not in _DEFAULT_PORTS:
        return f"the scheme {scheme}:// (write https://<host>)"
    problem = _problem_with_host(raw_host)
    if problem is not None:
        return problem
    host = raw_host.strip("[]").rstrip(".")
    split_host = (split_view.hostname or "").rstrip(".")
    if (
        split_view.scheme.lower() != scheme
        or split_host != host
        or split_port != socket_view.port
        or socket_view.auth is not None
    ):
        return (
            "read differently by urllib3, which opens the connection "
            f"({scheme}://{host}, port {socket_view.port}), and by urllib.parse "
            f"({split_view.scheme}://{split_host}, port {split_port})"
        )
    port = socket_view.port
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    if not 1 <= port <= 65535:
        return f"port {port} (a port is a number from 1 to 65535)"
    return EndpointURL(url=url, scheme=scheme, host=host, port=port)


def parse_endpoint(url: object, *, source: str) -> EndpointURL:
    """Read a client endpoint URL, or raise ``TransportSecurityError`` (endpoint rule).

    ``source`` says where the URL came from (``"endpoint_url argument"``,
    ``"environment variable AWS_ENDPOINT_URL"``, ...). Refused in every mode,
    ``log_only`` included: the host such a URL reaches cannot be recorded
    truthfully. The scheme is not checked here (callers refuse ``http://``
    with the ``tls.plaintext`` rule).
    """
    parsed = read_endpoint(url)
    if isinstance(parsed, EndpointURL):
        return parsed
    raise TransportSecurityError(
        rule="network.endpoint_override",
        host=None,
        summary="[network.endpoint_override] endpoint URL refused",
        found=f"endpoint {mask(url)!r} from {source}: {parsed}",
        expected=EXPECTED_SHAPE,
        fix=f"write the endpoint plainly in the {source}, e.g. "
        "https://bedrock-runtime.<region>.amazonaws.com or your vpce-... DNS name",
    )


def check_policy_url(value: object, path: str) -> EndpointURL:
    """Read a policy file's endpoint key (https only), or raise ``PolicyConfigError``."""
    parsed = read_endpoint(value)
    if isinstance(parsed, str):
        problem = parsed
    elif parsed.scheme != "https":
        problem = "not https (plain http is never allowed)"
    else:
        return parsed
    shown = f"{mask(value)!r}" if isinstance(value, str) else mask(value)
    raise PolicyConfigError(
        f"is not a usable endpoint URL: {problem}",
        path=path,
        found=shown,
        expected=f'{EXPECTED_SHAPE}, or "" for none',
        fix="write https://<host>[:port]",
    )


def same_endpoint(url: object, other: object) -> bool:
    """Whether two URLs name the same scheme, host and port (False if either is refused)."""
    a, b = read_endpoint(url), read_endpoint(other)
    return isinstance(a, EndpointURL) and isinstance(b, EndpointURL) and a.same_origin(b)
