"""The construction-time endpoint checks: the endpoint URL, its pin, FIPS, the DNS pre-check.

Called by ``_transport`` for the endpoint a new client would use (before botocore
creates it) and for the final ``client.meta.endpoint_url`` of a created client. The
checks on the live connection (``_transport_guard``) are the ones that hold; these
make the common mistakes fail early and clearly.
"""

from __future__ import annotations

from . import _netcheck, _urls
from ._constants import CONTROL_PLANE_SERVICE_NAME, SERVICE_NAME
from ._errors import PolicyConfigError, TransportSecurityError
from ._fips import fips_regions
from ._policy import Policy
from ._transport_refusals import plaintext_refused, refuse

__all__ = [
    "PIN_KEYS",
    "check_endpoint",
    "check_fips_region",
    "dns_precheck",
    "pinned_endpoint",
    "precheck_peer",
]

#: The policy key that pins each service's endpoint. The runtime and the control plane
#: are different services behind different (VPC) endpoints: one never uses the other's pin.
PIN_KEYS = {
    SERVICE_NAME: "network.endpoint_url",
    CONTROL_PLANE_SERVICE_NAME: "network.control_plane_endpoint_url",
}


def pinned_endpoint(
    policy: Policy, service_name: str = SERVICE_NAME, region: str | None = None
) -> str:
    """The endpoint the policy pins for ``service_name`` in ``region`` (``""``: none).

    ``bedrock-runtime`` uses ``network.endpoint_urls`` of the region, else
    ``network.endpoint_url``; the ``bedrock`` control plane
    ``network.control_plane_endpoint_urls`` of the region, else
    ``network.control_plane_endpoint_url``; any other service has no pin.
    """
    if service_name == SERVICE_NAME:
        return policy.network.endpoint_for(region)
    if service_name == CONTROL_PLANE_SERVICE_NAME:
        return policy.network.control_plane_endpoint_for(region)
    return ""


def check_endpoint(
    url: object, source: str, policy: Policy, service_name: str, region: str | None
) -> _urls.EndpointURL:
    """The endpoint URL must be https and a Bedrock host of an allowed region, or the pin.

    Read by urllib3's parser (the one that opens the socket); a URL it reads
    differently from ``urllib.parse``, or that is not plain, is refused in
    every mode (:func:`securebedrock._urls.parse_endpoint`). Returns the parsed URL.
    """
    enforce = policy.mode == "enforce"
    endpoint = _urls.parse_endpoint(url, source=source)
    url, host = endpoint.url, endpoint.host
    if endpoint.scheme != "https":
        # Never log_only: without TLS there is no floor, no certificate, nothing to observe.
        raise plaintext_refused(host, f"{endpoint.scheme}:// endpoint {url!r} (from {source})")
    pinned = pinned_endpoint(policy, service_name, region)
    pin_key = PIN_KEYS.get(service_name, "network.endpoint_url")
    classified = _netcheck.classify_service_host(host, service_name)
    allowed_regions = policy.regions.allowed
    problem: str | None = None
    pinned_here = _urls.same_endpoint(url, pinned)
    if pinned_here:
        # A pin outside AWS (a gateway, a test server) comes from the org layer, which
        # alone may set one (discovery refuses it in code). A pin that names a Bedrock
        # host must still be one of the client's region: a us-east-1 VPC endpoint
        # cannot serve a us-west-2 client (pin one per region in endpoint_urls).
        if classified is None or not region or classified[0] == region:
            return endpoint
        problem = (
            f"the pinned endpoint is a host of region {classified[0]}, but the client is in "
            f"{region}"
        )
    elif classified is None:
        problem = "not a Bedrock endpoint host"
    else:
        host_region, is_fips = classified
        if region and host_region != region:
            problem = f"a host of region {host_region}, but the client is in {region}"
        elif allowed_regions is not None and host_region not in allowed_regions:
            problem = f"a host of region {host_region}, not in regions.allowed"
        elif policy.tls.fips and not is_fips:
            refuse(
                TransportSecurityError(
                    rule="tls.fips",
                    host=host,
                    found=f"non-FIPS endpoint {url!r} (from {source}); botocore ignores "
                    "use_fips_endpoint when an endpoint is set",
                    expected=f"{service_name}-fips.<region>.amazonaws.com, or the pinned {pin_key}",
                    fix="remove the endpoint override, point it to the FIPS host, or pin "
                    f"your VPC endpoint in {pin_key}",
                ),
                enforce=enforce,
            )
            return endpoint
    if problem is None:
        return endpoint
    refuse(
        TransportSecurityError(
            rule="network.endpoint_override",
            host=host or None,
            found=f"endpoint {url!r} from {source}: {problem}",
            expected=f"{service_name}[-fips].<region>.amazonaws.com (or .api.aws, "
            f".amazonaws.com.cn, vpce-...{service_name}.<region>.vpce.amazonaws.com) "
            f"of the client's region"
            + (f" in {list(allowed_regions)}" if allowed_regions is not None else "")
            + (f", or the pinned {pinned!r}" if pinned else ""),
            fix=(
                f'pin the region\'s own endpoint in [network.endpoint_urls] ("{region}" = '
                '"https://..."), or create the client in the pinned endpoint\'s region'
                if pinned_here and service_name == SERVICE_NAME
                else f"pin the region's own endpoint in {pin_key}, or create the client in "
                "the pinned endpoint's region"
                if pinned_here
                else f"remove the override ({source}), or pin the endpoint in the policy's "
                f"{pin_key}"
                + (
                    " (or network.endpoint_urls for the region)"
                    if service_name == SERVICE_NAME
                    else ""
                )
            ),
        ),
        enforce=enforce,
    )
    return endpoint


def check_fips_region(policy: Policy, service_name: str, region: str | None) -> bool:
    """Whether FIPS endpoints can be used for ``service_name`` in ``region``.

    A ``tls.fips`` policy in a region without a FIPS endpoint is a configuration no
    endpoint can make compliant: a :class:`PolicyConfigError` (``path = "tls.fips"``)
    in every mode. Enforce mode raises it; log_only and apply record the same error
    and carry on without FIPS endpoints.
    """
    if not policy.tls.fips:
        return False
    available = fips_regions(service_name)
    if region in available:
        return True
    refuse(
        PolicyConfigError(
            f"no FIPS {service_name} endpoint in region {region!r}",
            path="tls.fips",
            found=f"region {region!r}",
            expected=f"one of {sorted(available)} (from botocore's endpoint data)",
            fix="use a region with a FIPS endpoint, or a policy without tls.fips",
        ),
        enforce=policy.mode == "enforce",
    )
    return False


def dns_precheck(host: str, policy: Policy, port: int = 443) -> list[tuple[str, bool]]:
    """Resolve ``host`` and say, for each address, whether it is in ``allowed_cidrs``.

    Advisory only (for ``doctor`` and early errors): DNS answers can change
    before the connect, which is why every connection is checked again on the
    live socket. Raises ``OSError`` (``socket.gaierror``) when the name does
    not resolve.
    """
    networks = _netcheck.parse_networks(policy.network.allowed_cidrs)
    if _netcheck.is_ip_literal(host):
        addresses = [host.strip("[]")]
    else:
        addresses = _netcheck.resolve(host, port)
    return [(ip, _netcheck.ip_allowed(ip, networks)) for ip in addresses]


def precheck_peer(host: str, port: int, policy: Policy, what: str) -> None:
    enforce = policy.mode == "enforce"
    try:
        answers = dns_precheck(host, policy, port)
    except OSError as exc:
        refuse(
            TransportSecurityError(
                rule="network.private_endpoint",
                host=host,
                found=f"{what} {host!r} does not resolve ({exc})",
                expected="a name that resolves to addresses inside network.allowed_cidrs",
                fix="check DNS for the VPC endpoint (private DNS, resolver rules)",
            ),
            enforce=enforce,
        )
        return
    outside = [ip for ip, allowed in answers if not allowed]
    if outside:
        refuse(
            TransportSecurityError(
                rule="network.private_endpoint",
                host=host,
                found=f"{what} {host!r} resolves to {', '.join(outside)} "
                f"({_netcheck.address_class(outside[0])}), outside the allowed ranges",
                expected="every address inside network.allowed_cidrs "
                f"[{', '.join(policy.network.allowed_cidrs) or '(none)'}]",
                fix="use the VPC (PrivateLink) endpoint with private DNS, pin it in "
                "network.endpoint_url, or correct network.allowed_cidrs",
            ),
            enforce=enforce,
        )
