"""Pure network checks: address classes, CIDR membership, endpoint host shapes.

Nothing here opens a socket except :func:`resolve`, which the construction-time
DNS pre-check and ``doctor`` use; the per-connection path only calls
:func:`ip_allowed` and :func:`address_class` on the address of a socket that is
already connected.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Literal

from . import _urls
from ._errors import PolicyConfigError

AddressClass = Literal["loopback", "private", "public", "link_local"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress:
    """An address from a socket or a resolver answer, scope id stripped, v4-mapped unwrapped."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:10.1.2.3 is 10.1.2.3 on the wire; judge it as such.
        return address.ipv4_mapped
    return address


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``network.allowed_cidrs`` as network objects (parsed once per client)."""
    networks: list[IPNetwork] = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise PolicyConfigError(
                "not a CIDR range",
                path="network.allowed_cidrs",
                found=repr(cidr),
                expected='CIDR ranges such as "10.0.0.0/8" or "fc00::/7"',
                fix="correct or remove the entry in the policy file",
            ) from exc
    return tuple(networks)


def ip_allowed(ip: str, networks: tuple[IPNetwork, ...]) -> bool:
    """Whether ``ip`` lies inside one of ``networks`` (an empty tuple allows nothing)."""
    try:
        raw = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    # A v4-mapped peer (::ffff:10.1.2.3) matches a v4 range, and a range written in
    # mapped form matches it too.
    candidates = {raw, parse_ip(ip)}
    return any(
        address.version == net.version and address in net
        for address in candidates
        for net in networks
    )


def address_class(ip: str) -> AddressClass:
    """``loopback``, ``link_local``, ``private`` or ``public`` (anything unparsable is public)."""
    try:
        address = parse_ip(ip)
    except ValueError:
        return "public"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_private:
        return "private"
    return "public"


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IP address rather than a name."""
    try:
        parse_ip(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (TCP), in resolver order, without duplicates.

    Calls ``socket.getaddrinfo`` through the module so tests can substitute
    answers; only ever called at construction or by ``doctor``.
    """
    answers = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in answers:
        ip = str(sockaddr[0])
        if ip not in seen:
            seen.append(ip)
    return seen


# --- endpoint hosts -------------------------------------------------------------------------

_REGION = r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)"


@functools.lru_cache(maxsize=1)
def _dns_suffixes() -> tuple[str, ...]:
    """Every DNS suffix botocore's endpoint data knows (``amazonaws.com``, ``api.aws``, ...)."""
    from botocore.loaders import create_loader

    data = create_loader().load_data("endpoints")
    suffixes: set[str] = set()
    for partition in data["partitions"]:
        suffixes.add(partition["dnsSuffix"])
        for variant in partition.get("defaults", {}).get("variants", []):
            if "dnsSuffix" in variant:
                suffixes.add(variant["dnsSuffix"])
    return tuple(sorted(suffixes, key=len, reverse=True))


@functools.lru_cache(maxsize=8)
def _host_patterns(service: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    suffixes = "|".join(re.escape(s) for s in _dns_suffixes())
    svc = re.escape(service)
    public = re.compile(rf"^{svc}(?P<fips>-fips)?\.{_REGION}\.(?:{suffixes})$")
    # PrivateLink interface endpoint names: vpce-<id>[-<az>].<service>[-fips].<region>.vpce...
    vpce = re.compile(
        rf"^vpce-[a-z0-9-]+\.{svc}(?P<fips>-fips)?\.{_REGION}\.vpce\.amazonaws\.com(?:\.cn)?$"
    )
    return public, vpce


def classify_service_host(host: str, service: str) -> tuple[str, bool] | None:
    """``(region, is_fips)`` when ``host`` is an AWS endpoint name of ``service``, else None.

    Recognises the regional, FIPS, dual-stack, China and PrivateLink (``vpce-``)
    names of the service (``bedrock-runtime`` or ``bedrock``).
    """
    name = host.lower().rstrip(".")
    for pattern in _host_patterns(service):
        match = pattern.fullmatch(name)
        if match:
            return match.group("region"), bool(match.group("fips"))
    return None


def default_port(scheme: str) -> int:
    """443 for https, 80 for anything else."""
    return 443 if scheme == "https" else 80


def same_endpoint(url: str, pinned: str) -> bool:
    """Whether two endpoint URLs name the same scheme, host and port.

    Both are read by urllib3, the parser that opens the socket
    (:mod:`securebedrock._urls`); a URL it refuses matches nothing.
    """
    return _urls.same_endpoint(url, pinned)
