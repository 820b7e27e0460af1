"""Transport hardening: TLS floor, FIPS, private endpoints, proxies, endpoint overrides.

Two entry points, called by ``_client.py`` (and by whoever builds a control-plane
``bedrock`` client for the enforcement engine):

- :func:`prepare_client_kwargs` runs *before* botocore creates the client:
  refuses ``verify=False``, ``use_ssl=False`` and ``http://``; checks the
  configured endpoint (argument, environment, config file) and its source;
  turns on FIPS endpoints; routes to the pinned endpoint (``network.endpoint_url``
  for ``bedrock-runtime``, ``network.control_plane_endpoint_url`` for ``bedrock``).
- :func:`harden_client` runs on the created client: checks the *final*
  ``client.meta.endpoint_url`` (whatever set it), refuses a proxy that would
  hide the peer, runs the DNS pre-check, and replaces the client's HTTP
  session with a :class:`~securebedrock._transport_session.HardenedSession`
  whose connections check the negotiated TLS version and the peer address on
  the live socket, right after ``connect()`` and before the request is written.

The checks that matter run on the connection that carries the request; the
construction-time checks only make the common mistakes fail early and clearly.
Everything here runs once per client, never per call.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from botocore.client import BaseClient
from botocore.config import Config
from botocore.httpsession import ProxyConfiguration
from botocore.utils import get_environ_proxies, should_bypass_proxies

from . import _env, _urls
from ._constants import (
    CONTROL_PLANE_SERVICE_NAME,
    ENV_AWS_REGION,
    ENV_ENDPOINT_URL,
    ENV_IGNORE_CONFIGURED_ENDPOINT_URLS,
    SERVICE_NAME,
)
from ._errors import TransportSecurityError
from ._fips import fips_regions, openssl_fips_mode
from ._policy import Policy
from ._transport_checks import (
    PIN_KEYS,
    check_endpoint,
    check_fips_region,
    dns_precheck,
    pinned_endpoint,
    precheck_peer,
)
from ._transport_refusals import (
    forwarding_refused,
    forwards_https,
    internals_changed,
    refuse,
    ssl_disabled,
    verify_disabled,
)
from ._transport_session import (
    ConnectionInfo,
    Guard,
    HardenedSession,
    last_connection,
    reset_last_connection,
    tls_context,
)
from ._wire import WireCheck

__all__ = [
    "ConnectionInfo",
    "client_region",
    "dns_precheck",
    "endpoint_source",
    "fips_regions",
    "harden_client",
    "last_connection",
    "mask_proxy_url",
    "openssl_fips_mode",
    "pinned_endpoint",
    "prepare_client_kwargs",
    "proxy_url_for",
    "reset_last_connection",
    "tls_context",
]

#: The settings a replacement session copies from the one botocore built
#: (``URLLib3Session.__init__`` keyword -> attribute on the old session).
_SESSION_SETTINGS = (
    "_verify",
    "_proxy_config",
    "_timeout",
    "_max_pool_connections",
    "_socket_options",
    "_cert_file",
    "_key_file",
)

# --- where does the endpoint come from? -----------------------------------------------------


def _service_env_var(service_name: str) -> str:
    return "AWS_ENDPOINT_URL_" + service_name.upper().replace("-", "_")


def _configured_endpoints(service_name: str, boto_session: Any) -> list[tuple[str, str]]:
    """Every configured endpoint URL for the service, in botocore's precedence order.

    Environment (service-specific, then global), then the shared config file
    (``services`` section, then the profile's ``endpoint_url``), unless
    ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` / ``ignore_configured_endpoint_urls``
    turns configured endpoints off.
    """
    core = getattr(boto_session, "_session", boto_session)
    if core is not None:
        try:
            if core.get_config_variable("ignore_configured_endpoint_urls"):
                return []
        except Exception:  # noqa: S110 -- a broken config is botocore's to report
            pass
    elif _env.aws_flag(ENV_IGNORE_CONFIGURED_ENDPOINT_URLS):
        return []
    found: list[tuple[str, str]] = []
    service_var = _service_env_var(service_name)
    for var in (service_var, ENV_ENDPOINT_URL):
        value = _env.aws_setting(var)
        if value:
            found.append((value, f"environment variable {var}"))
    if core is None:
        return found
    try:
        scoped: Mapping[str, Any] = core.get_scoped_config()
        full: Mapping[str, Any] = core.full_config
    except Exception:
        # botocore will fail on the same config when it builds the client.
        return found
    profile = getattr(boto_session, "profile_name", None) or "default"
    section_name = scoped.get("services")
    if section_name:
        section = full.get("services", {}).get(section_name, {})
        value = section.get(service_name.replace("-", "_"), {}).get("endpoint_url")
        if value:
            found.append(
                (
                    value,
                    f"config file [services {section_name}] "
                    f"{service_name.replace('-', '_')}.endpoint_url",
                )
            )
    value = scoped.get("endpoint_url")
    if value:
        found.append((value, f"config file profile {profile!r} endpoint_url"))
    return found


def endpoint_source(
    endpoint_url: str | None = None,
    *,
    service_name: str = SERVICE_NAME,
    boto_session: Any = None,
) -> tuple[str | None, str]:
    """The endpoint a new client would use, and where it comes from.

    Returns ``(url, source)``: ``url`` is ``None`` when botocore resolves the
    endpoint from the region (``source`` is then ``"botocore default"``).
    ``endpoint_url`` is an explicit argument (it wins); ``boto_session`` a
    boto3 or botocore session (its profile and config file are read; without
    one, only the environment is).
    """
    if endpoint_url is not None:
        # Any value but None is an override ("" and non-strings are refused by the checks).
        return endpoint_url, "endpoint_url argument"
    configured = _configured_endpoints(service_name, boto_session)
    if configured:
        return configured[0]
    return None, "botocore default"


def _final_source(url: object, service_name: str) -> str:
    for value, source in _configured_endpoints(service_name, None):
        if _urls.same_endpoint(url, value):
            return source
    return "client endpoint (endpoint_url argument, AWS config or botocore default)"


def client_region(
    explicit: str | None, boto_session: Any, environ: Mapping[str, str] | None = None
) -> str | None:
    """The region a new client uses.

    ``region_name`` when given, else botocore's own (``AWS_DEFAULT_REGION``, then the
    profile's ``region`` in the config file), else ``AWS_REGION``. botocore reads only
    ``AWS_DEFAULT_REGION``; the other AWS SDKs read ``AWS_REGION``. Reading it last keeps
    every client where boto3 would put it, and gives the ones boto3 would refuse
    (``NoRegionError``) the region the host's other SDKs use.
    """
    if explicit:
        return explicit
    region = getattr(boto_session, "region_name", None)
    if region:
        return str(region)
    return _env.aws_setting(ENV_AWS_REGION, environ)


def prepare_client_kwargs(
    policy: Policy,
    kwargs: dict[str, Any],
    boto_session: Any,
    *,
    service_name: str = SERVICE_NAME,
) -> dict[str, Any]:
    """Check and adjust ``boto3.client(...)`` arguments before the client is created.

    ``service_name`` is ``bedrock-runtime`` (default) or ``bedrock`` for the
    control-plane client. Returns the kwargs to create the client with.
    Raises :class:`TransportSecurityError` (or :class:`PolicyConfigError` for a
    FIPS policy in a region without FIPS endpoints, in enforce mode).
    """
    prepared = dict(kwargs)
    verify = prepared.get("verify")
    if verify is not None and not verify:
        # False, but also "" or 0: botocore treats any falsy value as "do not verify".
        # Never log_only: verification off means anyone on the path is the endpoint.
        raise verify_disabled(None, f"verify={verify!r}")
    if prepared.get("use_ssl") is False:
        raise ssl_disabled()
    region = client_region(prepared.get("region_name"), boto_session)
    if region and not prepared.get("region_name"):
        prepared["region_name"] = region
    url, source = endpoint_source(
        prepared.get("endpoint_url"), service_name=service_name, boto_session=boto_session
    )
    pinned = pinned_endpoint(policy, service_name, region)
    if url is None and pinned:
        # A pinned (VPC) endpoint is where this client's calls go unless told otherwise.
        prepared["endpoint_url"] = url = pinned
        source = f"policy {PIN_KEYS[service_name]}"
    if url is not None:
        checked = check_endpoint(url, source, policy, service_name, region)
        if prepared.get("endpoint_url") is not None:
            # botocore gets the exact text that was checked (a plain str, never a subclass).
            prepared["endpoint_url"] = checked.url
    if check_fips_region(policy, service_name, region):
        fips = Config(use_fips_endpoint=True)
        config = prepared.get("config")
        prepared["config"] = config.merge(fips) if isinstance(config, Config) else fips
    return prepared


# --- proxies and DNS ------------------------------------------------------------------------


def _environment_all_proxy(url: str) -> str | None:
    """``ALL_PROXY``/``all_proxy`` for ``url`` unless ``NO_PROXY`` excludes it.

    botocore itself only uses the ``https`` entry, but a proxy named for all
    traffic is treated as in use: it is what the operator asked for.
    """
    proxy = urllib.request.getproxies_environment().get("all")
    if not proxy:
        return None
    if should_bypass_proxies(url):
        return None
    return proxy


def proxy_url_for(url: str, proxies: Mapping[str, str] | None = None) -> str | None:
    """The proxy a request to ``url`` goes through, or ``None`` for a direct connection.

    ``proxies``: a client's proxy table (``Config(proxies=...)``); ``None`` means what
    botocore gives a new client, the environment's (``HTTPS_PROXY``, ``NO_PROXY``, ...).
    A proxy named for all traffic (``ALL_PROXY``) counts too.
    """
    if proxies is None:
        proxies = get_environ_proxies(url)
    configured = ProxyConfiguration(proxies=dict(proxies)).proxy_url_for(url)
    return configured or _environment_all_proxy(url)


# --- the created client ---------------------------------------------------------------------


def _spare_ssl_context(session: Any) -> ssl.SSLContext | None:
    """The SSL context of a session that never connected, or ``None``.

    Only a context no connection has used and no certificate was loaded into
    (urllib3 loads the CA bundle at the first connect) is handed on; anything
    unexpected means a new context, as before.
    """
    manager = getattr(session, "_manager", None)
    pool_kwargs = getattr(manager, "connection_pool_kw", None)
    context = pool_kwargs.get("ssl_context") if isinstance(pool_kwargs, dict) else None
    if not isinstance(context, ssl.SSLContext) or len(getattr(manager, "pools", ())):
        return None
    if any(context.cert_store_stats().values()):
        return None
    return context


@dataclass(frozen=True, kw_only=True, slots=True)
class CheckedClient:
    """What :func:`check_created_client` found: the checked endpoint, the client's HTTP
    session settings (read from the session botocore or aiobotocore built) and the guard."""

    endpoint: Any
    old_session: Any
    url: str
    host: str
    kind: Literal["runtime", "control-plane"]
    settings: dict[str, Any]
    proxies: Any
    proxies_settings: Any
    guard: Guard


def check_created_client(client: Any, policy: Policy) -> CheckedClient:
    """The construction-time checks on a created client, for any HTTP session.

    Checks the *final* ``client.meta.endpoint_url`` (whatever set it), the FIPS
    region, ``verify``, and the proxy the client would use (a forwarding-mode HTTPS
    proxy is refused in every mode; under ``require_private_endpoint`` a proxy is
    refused unless allowed, and the DNS pre-check runs). Shared by the sync client
    and ``securebedrock.aio``: botocore's ``URLLib3Session`` and aiobotocore's
    ``AIOHTTPSession`` keep these settings under the same attribute names.
    """
    service_name = str(client.meta.service_model.service_name)
    if service_name not in (SERVICE_NAME, CONTROL_PLANE_SERVICE_NAME):
        raise internals_changed(f"unexpected service {service_name!r}")
    endpoint = getattr(client, "_endpoint", None)
    old = getattr(endpoint, "http_session", None)
    if endpoint is None or old is None:
        raise internals_changed("client._endpoint.http_session is missing")

    final = client.meta.endpoint_url
    region = client.meta.region_name
    source = _final_source(final, service_name)
    checked = check_endpoint(final, source, policy, service_name, region)
    url, host = checked.url, checked.host
    check_fips_region(policy, service_name, region)

    try:
        settings = {name: getattr(old, name) for name in _SESSION_SETTINGS}
        proxy_config = settings["_proxy_config"]
        proxies = proxy_config._proxies
        proxies_settings = proxy_config._proxies_settings
    except AttributeError as exc:
        raise internals_changed(f"HTTP session settings ({exc})") from None
    if not settings["_verify"]:
        raise verify_disabled(host, "client created with verify=False")

    guard = Guard(policy)
    proxy_url = proxy_url_for(url, proxies)
    if proxy_url and forwards_https(proxies_settings):
        raise forwarding_refused(host, mask_proxy_url(proxy_url))
    if policy.network.require_private_endpoint:
        if proxy_url and not policy.network.allow_proxy:
            refuse(
                TransportSecurityError(
                    rule="network.proxy",
                    host=host,
                    found=f"a proxy for {host}: {mask_proxy_url(proxy_url)} (Config(proxies=...) "
                    "or HTTPS_PROXY/ALL_PROXY)",
                    expected="a direct connection (network.require_private_endpoint = true, "
                    "network.allow_proxy = false): a proxy hides the real peer",
                    fix=f"add {host} to NO_PROXY, drop the proxy from Config, or set "
                    "network.allow_proxy = true (the proxy's address is then checked)",
                ),
                enforce=guard.enforce,
            )
        if proxy_url:
            proxy = _urls.read_proxy(proxy_url)
            if proxy is not None:
                precheck_peer(proxy.host, proxy.port, policy, "proxy")
        else:
            precheck_peer(host, checked.port, policy, "endpoint")
    return CheckedClient(
        endpoint=endpoint,
        old_session=old,
        url=url,
        host=host,
        kind="runtime" if service_name == SERVICE_NAME else "control-plane",
        settings=settings,
        proxies=proxies,
        proxies_settings=proxies_settings,
        guard=guard,
    )


def harden_client(client: BaseClient, policy: Policy, *, fresh: bool = False) -> None:
    """Check the created client and route its requests through a hardened session.

    ``fresh``: securebedrock created ``client`` a moment ago and no other code has
    used it, so the unused SSL context of the session being replaced is hardened and
    reused rather than a new one made (a client handed to ``secure()`` always gets a
    new context: its own may have been changed).

    Idempotent: hardening a client again with the same policy changes nothing;
    with a different (merged, tighter) policy, the session is rebuilt with the
    same settings. Works for ``bedrock-runtime`` and control-plane ``bedrock``
    clients.
    """
    old = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if isinstance(old, HardenedSession) and old.sb_guard.policy == policy:
        return
    checked = check_created_client(client, policy)
    settings = checked.settings
    timeout = settings["_timeout"]
    if not isinstance(timeout, int | float):
        # URLLib3Session turned botocore's (connect, read) tuple into a urllib3 Timeout.
        timeout = (timeout.connect_timeout, timeout.read_timeout)
    new = HardenedSession(
        guard=checked.guard,
        wire=WireCheck(policy, checked.url, kind=checked.kind),
        ssl_context=_spare_ssl_context(checked.old_session) if fresh else None,
        verify=settings["_verify"],
        proxies=checked.proxies,
        timeout=timeout,
        max_pool_connections=settings["_max_pool_connections"],
        socket_options=settings["_socket_options"],
        client_cert=client_cert(settings),
        proxies_config=checked.proxies_settings,
    )
    checked.endpoint.http_session = new
    checked.old_session.close()


def mask_proxy_url(proxy_url: str) -> str:
    """``scheme://host[:port]`` of a proxy URL, read by urllib3 (the parser that
    connects to it); never its user info (it may carry a password)."""
    return _urls.origin(proxy_url)


def client_cert(settings: Mapping[str, Any]) -> Any:
    """The client certificate a botocore HTTP session was given: its file, or the
    (certificate, key) pair when a key file was given too."""
    if settings["_key_file"]:
        return (settings["_cert_file"], settings["_key_file"])
    return settings["_cert_file"]
