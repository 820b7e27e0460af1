"""``securebedrock doctor``: a preflight of this host against the effective policy.

Each check is a small function that returns a :class:`CheckResult` (PASS,
WARN or FAIL, a one-line detail, and a fix for anything that is not a pass);
``run_checks`` runs them in order, sharing what earlier checks learnt (the
policy, the region, the endpoint) through a :class:`_Context`. The CLI
(``securebedrock._cli.doctor``) only renders.

Network use is deliberately narrow: DNS for, and one TLS handshake with, the
endpoint a client would use (and the control-plane endpoint, when a rule needs
inference-profile routes), plus the control-plane ``GetGuardrail`` /
``GetInferenceProfile`` calls when a guardrail or profile is mandated. Nothing
here prints or returns a secret: credentials are described by their source only.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import boto3.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import _discovery, _env, _netcheck, _rules, _transport, _trust, _urls
from ._constants import (
    CONTROL_PLANE_SERVICE_NAME,
    ENV_BEARER_TOKEN_BEDROCK,
    ENV_CA_BUNDLE,
    ENV_POLICY_PUBLIC_KEY,
    SERVICE_NAME,
)
from ._errors import SecureBedrockError
from ._policy import Policy

__all__ = ["CheckResult", "DoctorOptions", "Status", "run_checks"]

Status = Literal["PASS", "WARN", "FAIL"]

#: Certificates expiring sooner than this are a WARN.
_EXPIRY_WARNING = datetime.timedelta(days=14)
#: Control-plane errors that mean "not allowed to look", not "missing".
_ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ValidationException"})


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """The outcome of one check: ``fix`` says what to do when ``status`` is not PASS."""

    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass(frozen=True, kw_only=True)
class DoctorOptions:
    """What to check. Every ``None`` means "what a client on this host would use"."""

    region: str | None = None
    policy_file: str | None = None
    endpoint_url: str | None = None
    control_plane_endpoint_url: str | None = None
    ca_bundle: str | None = None
    timeout: float = 5.0
    environ: Mapping[str, str] = field(default_factory=_env.source)


class _Context:
    """What earlier checks learnt, for the later ones."""

    def __init__(self, options: DoctorOptions) -> None:
        self.options = options
        self.policy: Policy = Policy.default()
        self.policy_ok = False
        self.session = boto3.session.Session(region_name=options.region)
        self.region: str | None = _transport.client_region(
            options.region, self.session, options.environ
        )
        self.endpoint_url: str | None = None
        self.client_kwargs: dict[str, Any] = {}

    @property
    def verify(self) -> str | bool:
        if self.options.ca_bundle:
            return self.options.ca_bundle
        env = _env.aws_setting(ENV_CA_BUNDLE, self.options.environ)
        if env:
            return env
        configured = self.session._session.get_config_variable("ca_bundle")
        return str(configured) if configured else True

    @property
    def host(self) -> str:
        parsed = _urls.read_endpoint(self.endpoint_url)
        return parsed.host if isinstance(parsed, _urls.EndpointURL) else ""

    @property
    def port(self) -> int:
        parsed = _urls.read_endpoint(self.endpoint_url)
        return parsed.port if isinstance(parsed, _urls.EndpointURL) else 443


def _pass(name: str, detail: str) -> CheckResult:
    return CheckResult(name=name, status="PASS", detail=detail)


def _warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, status="WARN", detail=detail, fix=fix)


def _fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name=name, status="FAIL", detail=detail, fix=fix)


def _one_line(error: BaseException) -> str:
    text = error.diagnostics() if isinstance(error, SecureBedrockError) else str(error)
    return " ".join(part.strip() for part in text.splitlines())


# --- the checks ------------------------------------------------------------------------------


def check_policy(ctx: _Context) -> Iterable[CheckResult]:
    """The effective policy loads, and its signature verifies when one is required."""
    try:
        explanation = _discovery.explain(file=ctx.options.policy_file, environ=ctx.options.environ)
    except SecureBedrockError as exc:
        yield _fail(
            "policy",
            _one_line(exc),
            exc.fix or "fix the policy file; clients on this host refuse to start until then",
        )
        return
    ctx.policy, ctx.policy_ok = explanation.policy, True
    org = next((layer for layer in explanation.layers if layer.source.startswith("org")), None)
    digest = explanation.policy.digest[:12]
    verification = org.verification if org is not None else None
    if verification is not None and verification.signature is not None:
        release = ctx.policy.release
        what = release.describe() if release is not None else "no [release]"
        yield _pass(
            "policy",
            f"{org.source if org else ''}: signature verified by "
            f"{verification.signature.describe()}; {what} (digest {digest})",
        )
        yield from _release_state(verification)
    elif org is None:
        yield _warn(
            "policy",
            f"no org policy file: the built-in defaults apply (digest {digest})",
            "install the org policy at /etc/securebedrock/policy.toml or set "
            "SECUREBEDROCK_POLICY_FILE",
        )
    else:
        yield _warn(
            "policy",
            f"{org.source} loaded, but no signature is required (digest {digest})",
            f"sign it (securebedrock policy sign) and install the trust anchor "
            f"{_trust.TRUSTED_KEYS_FILE} (or set {ENV_POLICY_PUBLIC_KEY}) so that a tampered "
            "file is refused",
        )
        if verification is not None:
            yield from _release_state(verification)
    if ctx.policy.mode == "log_only":
        yield _warn(
            "policy.mode",
            "log_only: violations are recorded, and the calls are sent anyway",
            'read the spans/audit log, then set mode = "apply" or "enforce" (or '
            "SECUREBEDROCK_MODE=apply/enforce)",
        )
    elif ctx.policy.mode == "apply":
        yield _warn(
            "policy.mode",
            "apply: the mandated guardrail and profile mapping are applied; violations are "
            "recorded, and the calls are sent anyway",
            'read the spans/audit log, then set mode = "enforce" (or SECUREBEDROCK_MODE=enforce)',
        )


def _release_state(verification: _discovery.OrgVerification) -> Iterable[CheckResult]:
    serial = verification.serial
    if serial is None:
        return
    if serial.recorded or serial.preview:
        yield _pass(
            "policy.release",
            f"highest serial accepted on this host: {serial.highest} ({serial.state_file})"
            + (f"; {serial.note}" if serial.preview else ""),
        )
    else:
        yield _warn(
            "policy.release",
            f"rollback protection is not active: {serial.note}",
            "sign the policy, and give the processes that load it a writable state directory "
            "(SECUREBEDROCK_STATE_DIR, default /var/lib/securebedrock)",
        )


def check_policy_files(ctx: _Context) -> Iterable[CheckResult]:
    """The trust anchor and the org policy file are writable by their owner only."""
    anchor = _trust.anchor_path()
    try:
        policy_file = ctx.options.policy_file or _discovery.org_policy_path(ctx.options.environ)
    except SecureBedrockError:
        policy_file = None  # reported by the policy check
    problems: list[str] = []
    for path in (anchor, policy_file):
        if path is None:
            continue
        problem = _trust.writable_by_others(Path(path))
        if problem is not None:
            problems.append(problem)
    if problems:
        yield _fail(
            "policy.files",
            "; ".join(problems),
            "make the trust anchor and the policy file root-owned and writable by their "
            "owner only (chmod 0644, directory 0755): whoever can write them chooses the policy",
        )
        return
    if anchor is None:
        yield _pass(
            "policy.files",
            f"no trust anchor ({_trust.TRUSTED_KEYS_FILE}); the policy file is not writable "
            "by group or others"
            if policy_file
            else f"no trust anchor ({_trust.TRUSTED_KEYS_FILE}) and no policy file",
        )
        return
    detail = f"trust anchor {anchor} and the policy file are writable by their owner only"
    if _trust.is_root_owned(anchor) is False:
        yield _warn(
            "policy.files",
            f"{detail}, but the anchor is not owned by root",
            f"chown root:root {anchor}: its owner can choose which keys are trusted",
        )
        return
    yield _pass("policy.files", detail)


def check_region(ctx: _Context) -> Iterable[CheckResult]:
    """A region is configured, and the policy allows it."""
    if not ctx.region:
        yield _fail(
            "region",
            "no region: not given, not in AWS_REGION/AWS_DEFAULT_REGION or the config file",
            "pass --region, or set AWS_REGION",
        )
        return
    allowed = ctx.policy.regions.allowed
    if allowed is not None and ctx.region not in allowed:
        yield _fail(
            "region",
            f"{ctx.region} is not in regions.allowed {list(allowed)}",
            "use an allowed region (AWS_REGION), or ask the policy owner",
        )
        return
    yield _pass("region", ctx.region)


def check_endpoint(ctx: _Context) -> Iterable[CheckResult]:
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


def check_dns(ctx: _Context) -> Iterable[CheckResult]:
    """What the endpoint's name resolves to, and whether each address is private."""
    if not ctx.endpoint_url:
        return
    yield _dns(ctx, "dns", ctx.host, ctx.port, SERVICE_NAME)


def _dns(ctx: _Context, name: str, host: str, port: int, service: str) -> CheckResult:
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


def check_tls(ctx: _Context) -> Iterable[CheckResult]:
    """A live handshake with the endpoint, at the policy's TLS floor."""
    if not ctx.endpoint_url:
        return
    yield _handshake(ctx, "tls", ctx.host, ctx.port)


def _handshake(ctx: _Context, name: str, host: str, port: int) -> CheckResult:
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


def check_fips(ctx: _Context) -> Iterable[CheckResult]:
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


def check_proxy(ctx: _Context) -> Iterable[CheckResult]:
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


def check_credentials(ctx: _Context) -> Iterable[CheckResult]:
    """Where SigV4 credentials come from (never the secret), and bearer-token auth."""
    token = _env.aws_setting(ENV_BEARER_TOKEN_BEDROCK, ctx.options.environ) is not None
    try:
        credentials = ctx.session.get_credentials()
    except (BotoCoreError, ValueError) as exc:
        yield _fail(
            "credentials",
            f"cannot load credentials ({exc})",
            "fix the profile/config named by AWS_PROFILE",
        )
        credentials = None
    else:
        if credentials is None:
            yield _warn(
                "credentials",
                "no SigV4 credentials found",
                "configure a role, profile or environment credentials",
            )
        else:
            yield _pass("credentials", f"SigV4 credentials from {credentials.method}")
    if not token:
        yield _pass("auth.api_key", f"{ENV_BEARER_TOKEN_BEDROCK} not set: SigV4 only")
    elif not ctx.policy.auth.allow_api_keys:
        yield _fail(
            "auth.api_key",
            f"{ENV_BEARER_TOKEN_BEDROCK} is set, and the policy refuses API-key auth",
            f"unset {ENV_BEARER_TOKEN_BEDROCK} and use IAM credentials (SigV4)",
        )
    else:
        yield _warn(
            "auth.api_key",
            f"{ENV_BEARER_TOKEN_BEDROCK} is set: calls use an API key",
            "prefer short-term credentials (a role); set auth.allow_api_keys = false "
            "to refuse API keys",
        )


def _control_plane_kwargs(ctx: _Context) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "region_name": ctx.region,
        "verify": ctx.verify,
        "config": Config(
            retries={"max_attempts": 1},
            connect_timeout=ctx.options.timeout,
            read_timeout=ctx.options.timeout,
            # Like a client's control-plane client: SigV4 only, never an API key.
            signature_version="v4",
        ),
    }
    return kwargs


def check_control_plane(ctx: _Context) -> Iterable[CheckResult]:
    """The control-plane endpoint profile resolution would use: accepted, DNS, TLS.

    Checked when a rule needs inference-profile routes (a call naming an undeclared
    application profile is then resolved with ``GetInferenceProfile``). A FAIL when
    ``inference_profile.map`` sends calls to profiles that must be resolved; otherwise
    problems are a WARN, since only calls naming such a profile depend on it.
    """
    if not ctx.region:
        return
    if not _rules.routes_matter(ctx.policy):
        yield _pass("control_plane", "not needed: no rule needs an inference profile's routes")
        return
    mapped = _rules.mapped_profiles_to_resolve(ctx.policy)
    if mapped:
        why = f"needed: inference_profile.map sends calls to {len(mapped)} undeclared profile(s)"
    else:
        why = "needed by calls naming an application inference profile not declared in "
        why += "inference_profile.known"
    fix_declare = "declare the profiles in [inference_profile.known] (no control-plane call), or "
    url, source = _transport.endpoint_source(
        ctx.options.control_plane_endpoint_url,
        service_name=CONTROL_PLANE_SERVICE_NAME,
        boto_session=ctx.session,
    )
    kwargs = _control_plane_kwargs(ctx)
    if url:
        kwargs["endpoint_url"] = url
    try:
        prepared = _transport.prepare_client_kwargs(
            ctx.policy, kwargs, ctx.session, service_name=CONTROL_PLANE_SERVICE_NAME
        )
        client = ctx.session.client(CONTROL_PLANE_SERVICE_NAME, **prepared)  # offline
    except (SecureBedrockError, BotoCoreError, ValueError) as exc:
        fix = getattr(exc, "fix", None) or "fix the control-plane endpoint configuration"
        yield _severe(
            bool(mapped),
            "control_plane",
            f"{_urls.mask(url) if url is not None else 'default'} ({source}): {_one_line(exc)}",
            fix_declare + fix,
        )
        return
    endpoint = str(client.meta.endpoint_url)
    if prepared.get("endpoint_url") and not url:
        source = "policy network.control_plane_endpoint_url"
    yield _pass("control_plane", f"{endpoint} (from {source}); {why}")
    parsed = _urls.read_endpoint(endpoint)  # accepted above, so it parses
    host, port = (parsed.host, parsed.port) if not isinstance(parsed, str) else ("", 443)
    for result in (
        _dns(ctx, "control_plane.dns", host, port, CONTROL_PLANE_SERVICE_NAME),
        _handshake(ctx, "control_plane.tls", host, port),
    ):
        if result.status == "FAIL":
            result = _severe(bool(mapped), result.name, result.detail, fix_declare + result.fix)
        yield result


def _severe(required: bool, name: str, detail: str, fix: str) -> CheckResult:
    return _fail(name, detail, fix) if required else _warn(name, detail, fix)


def _control_plane(ctx: _Context) -> Any:
    kwargs = _control_plane_kwargs(ctx)
    if ctx.options.control_plane_endpoint_url:
        kwargs["endpoint_url"] = ctx.options.control_plane_endpoint_url
    prepared = _transport.prepare_client_kwargs(
        ctx.policy, kwargs, ctx.session, service_name=CONTROL_PLANE_SERVICE_NAME
    )
    client = ctx.session.client(CONTROL_PLANE_SERVICE_NAME, **prepared)
    _transport.harden_client(client, ctx.policy)
    return client


def _lookup(ctx: _Context, name: str, what: str, call: Callable[[Any], object]) -> CheckResult:
    try:
        call(_control_plane(ctx))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _ACCESS_DENIED:
            return _warn(
                name,
                f"{what}: not permitted to check ({code})",
                "allow bedrock:GetGuardrail / bedrock:GetInferenceProfile to run this "
                "check; calls are unaffected",
            )
        if code in _NOT_FOUND:
            return _fail(
                name,
                f"{what}: does not exist ({code})",
                "create it, or fix the identifier/version in the policy",
            )
        return _warn(name, f"{what}: could not check ({code})", "retry later")
    except (SecureBedrockError, BotoCoreError) as exc:
        return _warn(
            name,
            f"{what}: could not check ({_one_line(exc)})",
            "check control-plane connectivity (bedrock endpoint)",
        )
    return _pass(name, f"{what}: exists")


def check_guardrail(ctx: _Context) -> Iterable[CheckResult]:
    """The mandated guardrail exists (GetGuardrail), when permitted."""
    guardrail = ctx.policy.guardrail
    if not guardrail.mandated:
        yield _pass("guardrail", "none mandated")
        return
    what = f"guardrail {guardrail.identifier} version {guardrail.version}"
    yield _lookup(
        ctx,
        "guardrail",
        what,
        lambda client: client.get_guardrail(
            guardrailIdentifier=guardrail.identifier, guardrailVersion=guardrail.version
        ),
    )


def check_inference_profiles(ctx: _Context) -> Iterable[CheckResult]:
    """Every inference profile the policy maps models to exists (GetInferenceProfile)."""
    profiles = sorted(set(ctx.policy.inference_profile.map.values()))
    if not profiles:
        detail = "required; none mapped" if ctx.policy.inference_profile.required else "none mapped"
        yield _pass("inference_profile", detail)
        return
    for profile in profiles:
        yield _lookup(ctx, "inference_profile", f"profile {profile}", _get_profile(profile))


def _get_profile(profile: str) -> Callable[[Any], object]:
    def call(client: Any) -> object:
        return client.get_inference_profile(inferenceProfileIdentifier=profile)

    return call


def check_client(ctx: _Context) -> Iterable[CheckResult]:
    """A secured client can be built here (everything a client checks at construction)."""
    if not (ctx.policy_ok and ctx.endpoint_url):
        return
    from ._client import _create_secured

    try:
        # Construction only (endpoint, proxy, DNS checks); no request is sent. The
        # policy is the one checked above, including a --policy file.
        _create_secured(ctx.session, ctx.policy, dict(ctx.client_kwargs))
    except SecureBedrockError as exc:
        yield _fail("client", _one_line(exc), exc.fix or "see the detail")
        return
    yield _pass("client", "securebedrock.client() constructs with the effective policy")


CHECKS: tuple[Callable[[_Context], Iterable[CheckResult]], ...] = (
    check_policy,
    check_policy_files,
    check_region,
    check_endpoint,
    check_dns,
    check_tls,
    check_fips,
    check_proxy,
    check_credentials,
    check_control_plane,
    check_guardrail,
    check_inference_profiles,
    check_client,
)


def run_checks(options: DoctorOptions | None = None) -> list[CheckResult]:
    """Run every check in order; a check that crashes is reported as a FAIL, never raised."""
    ctx = _Context(options or DoctorOptions())
    results: list[CheckResult] = []
    for check in CHECKS:
        try:
            results.extend(check(ctx))
        except Exception as exc:  # a doctor reports, it does not crash
            name = check.__name__.removeprefix("check_")
            results.append(
                _fail(
                    name,
                    f"check crashed: {type(exc).__name__}: {exc}",
                    "report this as a securebedrock bug",
                )
            )
    return results
