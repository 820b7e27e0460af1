"""``[tls]`` and ``[network]``: how and where connections may go."""

from __future__ import annotations

import ipaddress
import types
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._combine import (
    ALL_TRUE,
    ANY_TRUE,
    INTERSECT_CIDRS,
    key_rule,
    ladder,
    pin,
    pin_per_region,
)
from ._schema import DEFAULT_PRIVATE_CIDRS, TLS_VERSIONS, TLSVersion
from ._setkeys import _tracks_set_keys
from ._validate import _bool, _check_cidr, _check_https_url, _err, _region_table, _set, _string_list

_ENDPOINT_FIX = "pin the endpoint in one policy only, or the same endpoint in both"
_CONTROL_PLANE_FIX = "pin the control-plane endpoint in one policy only, or the same one in both"


def _no_pins() -> Mapping[str, str]:
    return types.MappingProxyType({})


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class TLSPolicy:
    """``[tls]``: the minimum TLS version and FIPS endpoints."""

    minimum_version: TLSVersion = field(default="1.2", metadata=key_rule(ladder(TLS_VERSIONS)))
    fips: bool = field(default=False, metadata=key_rule(ANY_TRUE))

    def __post_init__(self) -> None:
        if self.minimum_version not in TLS_VERSIONS:
            value: object = self.minimum_version
            fix = 'set tls.minimum_version = "1.2" or "1.3"'
            if isinstance(value, float):
                fix += " (quoted: a string, not a number)"
            raise _err(
                "tls.minimum_version",
                "unsupported TLS version",
                value,
                '"1.2" or "1.3" (older versions are never allowed)',
                fix,
            )
        _bool(self.fips, "tls.fips")


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class NetworkPolicy:
    """``[network]``: where connections may go.

    ``endpoint_urls`` pins an endpoint per region (region -> URL); a client in a
    region it names uses that URL, any other client ``endpoint_url`` (if set).
    """

    require_private_endpoint: bool = field(default=False, metadata=key_rule(ANY_TRUE))
    allowed_cidrs: tuple[str, ...] = field(
        default=DEFAULT_PRIVATE_CIDRS, metadata=key_rule(INTERSECT_CIDRS)
    )
    endpoint_url: str = field(default="", metadata=key_rule(pin(_ENDPOINT_FIX)))
    endpoint_urls: Mapping[str, str] = field(
        default_factory=_no_pins,
        metadata=key_rule(pin_per_region("endpoint_for", _ENDPOINT_FIX), omit_when_empty=True),
    )
    #: The ``bedrock`` control-plane endpoint (GetInferenceProfile); ``""``: the
    #: region's default ``bedrock`` endpoint. Never the runtime pin above.
    control_plane_endpoint_url: str = field(default="", metadata=key_rule(pin(_CONTROL_PLANE_FIX)))
    #: Per-region control-plane pins (region -> URL), like ``endpoint_urls``.
    control_plane_endpoint_urls: Mapping[str, str] = field(
        default_factory=_no_pins,
        metadata=key_rule(
            pin_per_region("control_plane_endpoint_for", _CONTROL_PLANE_FIX),
            omit_when_empty=True,
        ),
    )
    allow_proxy: bool = field(default=False, metadata=key_rule(ALL_TRUE))

    def __post_init__(self) -> None:
        _bool(self.require_private_endpoint, "network.require_private_endpoint")
        _set(
            self,
            "allowed_cidrs",
            _string_list(self.allowed_cidrs, "network.allowed_cidrs", _check_cidr),
        )
        _check_https_url(self.endpoint_url, "network.endpoint_url")
        _set(self, "endpoint_urls", _region_table(self.endpoint_urls, "network.endpoint_urls"))
        _check_https_url(self.control_plane_endpoint_url, "network.control_plane_endpoint_url")
        _set(
            self,
            "control_plane_endpoint_urls",
            _region_table(self.control_plane_endpoint_urls, "network.control_plane_endpoint_urls"),
        )
        _bool(self.allow_proxy, "network.allow_proxy")

    def __hash__(self) -> int:
        # MappingProxyType is unhashable; hash what equality compares.
        return hash(
            (
                self.require_private_endpoint,
                self.allowed_cidrs,
                self.endpoint_url,
                frozenset(self.endpoint_urls.items()),
                self.control_plane_endpoint_url,
                frozenset(self.control_plane_endpoint_urls.items()),
                self.allow_proxy,
            )
        )

    def endpoint_for(self, region: str | None) -> str:
        """The endpoint pinned for a client in ``region`` (``""``: none).

        Its ``endpoint_urls`` entry when there is one, else ``endpoint_url``.
        """
        if region:
            url = self.endpoint_urls.get(region)
            if url:
                return url
        return self.endpoint_url

    def control_plane_endpoint_for(self, region: str | None) -> str:
        """The control-plane endpoint pinned for a client in ``region`` (``""``: none).

        Its ``control_plane_endpoint_urls`` entry, else ``control_plane_endpoint_url``.
        """
        if region:
            url = self.control_plane_endpoint_urls.get(region)
            if url:
                return url
        return self.control_plane_endpoint_url

    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``allowed_cidrs`` as :mod:`ipaddress` network objects."""
        return tuple(ipaddress.ip_network(c) for c in self.allowed_cidrs)
