"""``doctor`` checks against the control plane: the endpoint profile resolution would
use, and whether the mandated guardrail and the mapped inference profiles exist."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import _rules, _transport, _urls
from ._constants import CONTROL_PLANE_SERVICE_NAME
from ._doctor_base import (
    CheckResult,
    Context,
    _fail,
    _one_line,
    _pass,
    _severe,
    _warn,
)
from ._doctor_network import _dns, _handshake
from ._errors import SecureBedrockError

__all__ = ["check_control_plane", "check_guardrail", "check_inference_profiles"]

#: Control-plane errors that mean "not allowed to look", not "missing".
_ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
_NOT_FOUND = frozenset({"ResourceNotFoundException", "ValidationException"})


def _control_plane_kwargs(ctx: Context) -> dict[str, Any]:
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


def check_control_plane(ctx: Context) -> Iterable[CheckResult]:
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


def _control_plane(ctx: Context) -> Any:
    kwargs = _control_plane_kwargs(ctx)
    if ctx.options.control_plane_endpoint_url:
        kwargs["endpoint_url"] = ctx.options.control_plane_endpoint_url
    prepared = _transport.prepare_client_kwargs(
        ctx.policy, kwargs, ctx.session, service_name=CONTROL_PLANE_SERVICE_NAME
    )
    client = ctx.session.client(CONTROL_PLANE_SERVICE_NAME, **prepared)
    _transport.harden_client(client, ctx.policy)
    return client


def _lookup(ctx: Context, name: str, what: str, call: Callable[[Any], object]) -> CheckResult:
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


def check_guardrail(ctx: Context) -> Iterable[CheckResult]:
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


def check_inference_profiles(ctx: Context) -> Iterable[CheckResult]:
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
