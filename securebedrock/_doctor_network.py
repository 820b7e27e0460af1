"""``doctor`` checks of the endpoint a client would use: where it comes from, DNS, a live
TLS handshake, FIPS, the proxy, and that a secured client constructs.

Every check builds what it checks with the transport's own helpers (endpoint source,
``prepare_client_kwargs``, ``harden_client``, ``tls_context``, the proxy look-up), so
doctor and a real client cannot disagree.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError

from . import _netcheck, _transport, _urls
from ._constants import SERVICE_NAME
from ._doctor_base import (
    CheckResult,
    Context,
    Status,
    _fail,
    _one_line,
    _pass,
    _warn,
)
from ._errors import SecureBedrockError

__all__ = [
    "check_client",
    "check_dns",
    "check_endpoint",
    "check_fips",
    "check_proxy",
    "check_tls",
]

#: Certificates expiring sooner than this are a WARN.
_EXPIRY_WARNING = datetime.timedelta(days=14)


def check_endpoint(ctx: Context) -> Iterable[CheckResult]:
    """The endpoint a client would use, where that came from, and whether it is accepted."""
    url, source = _transport.endpoint_source(ctx.options.endpoint_url, boto_session=ctx.session)
    kwargs: dict[str, Any] = {"region_name": ctx.region, "verify": ctx.verify}
    if url:
        kwargs["endpoint_url"] = url
    try:
        prepared = _transport.prepare_client_kwargs(ctx.policy, kwargs, ctx.session)
        raw = ctx.session.client(SERVICE_NAME, **prepared)  # offline: no request is made
    except (SecureBedrockError, BotoCoreError, ValueError) as exc:
        yield _fail(
            "endpoint",
            f"{_urls.mask(url) if url is not None else 'default'} ({source}): {_one_line(exc)}",
            getattr(exc, "fix", None) or "fix the endpoint configuration",
        )
        return
    endpoint_url = str(raw.meta.endpoint_url)
    if prepared.get("endpoint_url") and not url:
        source = (
            f'policy network.endpoint_urls."{ctx.region}"'
            if ctx.region in ctx.policy.network.endpoint_urls
            else "policy network.endpoint_url"
        )
    parsed = _urls.read_endpoint(endpoint_url)
    host = parsed.host if isinstance(parsed, _urls.EndpointURL) else ""
    classified = _netcheck.classify_service_host(host, SERVICE_NAME)
    if classified is not None and ctx.region and classified[0] != ctx.region:
        # In log_only/apply mode the transport only records this; doctor says it plainly
        # (and the later checks do not resolve or connect to the wrong region's endpoint).
        yield _fail(
            "endpoint",
            f"{endpoint_url} (from {source}) is a host of region {classified[0]}, but the "
            f"client region is {ctx.region}",
            f'pin the region\'s own endpoint: [network.endpoint_urls] "{ctx.region}" = '
            '"https://...", or use the endpoint\'s region',
        )
        return
    ctx.endpoint_url = endpoint_url
    ctx.client_kwargs = prepared
    yield _pass("endpoint", f"{ctx.endpoint_url} (from {source})")


def check_dns(ctx: Context) -> Iterable[CheckResult]:
    """What the endpoint's name resolves to, and whether each address is private."""
    if not ctx.endpoint_url:
        return
    yield _dns(ctx, "dns", ctx.host, ctx.port, SERVICE_NAME)


def _dns(ctx: Context, name: str, host: str, port: int, service: str) -> CheckResult:
    """The DNS check of ``host`` (the ``service`` endpoint), as ``name``."""
    network = ctx.policy.network
    pin_key = (
        "network.endpoint_url" if service == SERVICE_NAME else "network.control_plane_endpoint_url"
    )
    try:
        answers = _transport.dns_precheck(host, ctx.policy, port)
    except OSError as exc:
        return _fail(
            name,
            f"{host} does not resolve ({exc})",
            "check the resolver, the VPC endpoint's private DNS, or the host name",
        )
    listing = ", ".join(
        f"{ip} ({_netcheck.address_class(ip)}, {'allowed' if ok else 'not in allowed_cidrs'})"
        for ip, ok in answers
    )
    outside = [ip for ip, ok in answers if not ok]
    if network.require_private_endpoint and outside:
        return _fail(
            name,
            f"{host} -> {listing}",
            f"enable private DNS on the {service} interface endpoint, or pin its "
            f"vpce-... name in {pin_key}; clients refuse these addresses",
        )
    if not network.require_private_endpoint:
        return _warn(
            name,
            f"{host} -> {listing}; network.require_private_endpoint is false",
            "require a private endpoint (network.require_private_endpoint = true) once "
            "a VPC endpoint is in place",
        )
    return _pass(name, f"{host} -> {listing}")


def _subject(cert: Mapping[str, Any]) -> str:
    parts = [f"{key}={value}" for rdn in cert.get("subject", ()) for key, value in rdn]
    return ", ".join(parts) or "(empty subject)"


def check_tls(ctx: Context) -> Iterable[CheckResult]:
    """A live handshake with the endpoint, at the policy's TLS floor."""
    if not ctx.endpoint_url:
        return
    yield _handshake(ctx, "tls", ctx.host, ctx.port)


def _handshake(ctx: Context, name: str, host: str, port: int) -> CheckResult:
    """A live TLS handshake with ``host:port`` at the policy's floor, as check ``name``."""
    floor = ctx.policy.tls.minimum_version
    try:
        context = _transport.tls_context(floor, ctx.verify)
        with socket.create_connection((host, port), timeout=ctx.options.timeout) as sock:
            peer = sock.getpeername()[0]
            with context.wrap_socket(sock, server_hostname=host) as tls:
                version, cipher, cert = tls.version(), tls.cipher(), tls.getpeercert()
    except ssl.SSLCertVerificationError as exc:
        reason = str(exc.verify_message or exc.reason or exc)
        if "expired" in reason:
            fix = "the endpoint's certificate has expired: renew it (or check this host's clock)"
        elif "mismatch" in reason.lower():
            fix = (
                "connect with a name the certificate is issued for (the endpoint's DNS name), "
                "not an alias or an address"
            )
        else:
            fix = "pass --ca-bundle (or set AWS_CA_BUNDLE) with the CA that issued it"
        return _fail(name, f"certificate of {host} rejected ({reason})", fix)
    except ssl.SSLError as exc:
        return _fail(
            name,
            f"handshake with {host}:{port} failed at floor TLS {floor} ({exc.reason})",
            f"the endpoint does not offer TLS {floor} or later: use an endpoint that does "
            "(Bedrock's own endpoints support TLS 1.3), or remove a TLS-downgrading middlebox",
        )
    except OSError as exc:
        return _fail(
            name,
            f"cannot connect to {host}:{port} ({exc})",
            "check routing/security groups to the endpoint",
        )
    expiry = "unknown expiry"
    status: Status = "PASS"
    fix = ""
    not_after = cert.get("notAfter") if cert else None
    if isinstance(not_after, str):
        expires = datetime.datetime.fromtimestamp(
            ssl.cert_time_to_seconds(not_after), tz=datetime.timezone.utc
        )
        expiry = f"expires {expires:%Y-%m-%d}"
        if expires - datetime.datetime.now(datetime.timezone.utc) < _EXPIRY_WARNING:
            status, fix = "WARN", "the endpoint certificate expires soon: renew it"
    subject = _subject(cert) if cert else "(no certificate)"
    detail = f"{version}, {cipher[0] if cipher else '?'}, peer {peer}, subject {subject}, {expiry}"
    return CheckResult(name=name, status=status, detail=detail, fix=fix)


def check_fips(ctx: Context) -> Iterable[CheckResult]:
    """FIPS endpoint availability in the region, and the local OpenSSL's FIPS mode."""
    available = sorted(_transport.fips_regions(SERVICE_NAME))
    has_fips = ctx.region in available
    mode = _transport.openssl_fips_mode()
    openssl = {True: "on", False: "off", None: "unknown"}[mode]
    where = (
        f"FIPS endpoint in {ctx.region}: {'yes' if has_fips else 'no'}; "
        f"OpenSSL FIPS mode: {openssl}"
    )
    if not ctx.policy.tls.fips:
        yield _pass("fips", f"not required; {where}")
    elif not has_fips:
        yield _fail("fips", where, f"tls.fips needs a region with a FIPS endpoint: {available}")
    elif mode is not True:
        yield _warn(
            "fips",
            where,
            "FIPS endpoints are used, but this host's OpenSSL is not "
            "in FIPS mode: use a FIPS-validated OpenSSL build if client-side crypto "
            "must be validated too",
        )
    else:
        yield _pass("fips", where)


def check_proxy(ctx: Context) -> Iterable[CheckResult]:
    """Whether a proxy would carry the calls, and whether the policy allows one."""
    if not ctx.endpoint_url:
        return
    # The look-up a new client makes (environment, NO_PROXY, ALL_PROXY).
    proxy = _transport.proxy_url_for(ctx.endpoint_url)
    network = ctx.policy.network
    if not proxy:
        yield _pass("proxy", "none (direct connection)")
    elif network.require_private_endpoint and not network.allow_proxy:
        yield _fail(
            "proxy",
            f"{_transport.mask_proxy_url(proxy)} would carry the calls; the policy forbids a proxy",
            f"add {ctx.host} to NO_PROXY, or set network.allow_proxy = true",
        )
    else:
        yield _warn(
            "proxy",
            f"{_transport.mask_proxy_url(proxy)} carries the calls",
            f"add {ctx.host} to NO_PROXY for a direct connection",
        )


def check_client(ctx: Context) -> Iterable[CheckResult]:
    """A secured client can be built here (everything a client checks at construction)."""
    if not (ctx.policy_ok and ctx.endpoint_url):
        return
    try:
        # What securebedrock.client() does to construct one, from the transport layer:
        # check and adjust the arguments, create the botocore client, then check the
        # created client (final endpoint, FIPS, verify, proxy, DNS) and harden its
        # session. No request is sent. The policy is the one checked above, including a
        # --policy file.
        prepared = _transport.prepare_client_kwargs(
            ctx.policy, dict(ctx.client_kwargs), ctx.session
        )
        raw = ctx.session.client(SERVICE_NAME, **prepared)
        try:
            _transport.harden_client(raw, ctx.policy, fresh=True)
        finally:
            raw.close()
    except SecureBedrockError as exc:
        yield _fail("client", _one_line(exc), exc.fix or "see the detail")
        return
    yield _pass("client", "securebedrock.client() constructs with the effective policy")
