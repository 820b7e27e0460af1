"""Inference-profile helpers: where a model id is mapped, and which profiles need routes.

Shared by the evaluation and by the adapter, which asks :func:`profiles_to_resolve`
before it asks the control plane anything.
"""

from __future__ import annotations

from typing import Final

from .._modelid import ModelRef, parse_model_id
from .._operations import Operation, operation
from .._policy import Policy
from ._compiler import _Compiled, _compiled
from ._types import Call, ResolvedProfile


def _op(call: Call) -> Operation:
    return operation(call.operation)


def _mapped_model(c: _Compiled, op: Operation, raw: str, ref: ModelRef, region: str) -> str | None:
    """The profile ``inference_profile.map`` (or ``regional_map`` of ``region``) sends
    ``raw`` to, or ``None``."""
    profile_map = c.regional_maps.get(region, c.profile_map)
    if not op.inference or not profile_map:
        return None
    target = profile_map.get(raw)
    if target is None and ref.kind == "foundation-model" and ref.base_model_id is not None:
        target = profile_map.get(ref.base_model_id)
    return target if target is not None and target != raw else None


def _needs_resolution(ref: ModelRef) -> bool:
    """Whether only the control plane can say where ``ref`` routes."""
    if ref.kind == "application-inference-profile":
        return True
    return ref.kind == "inference-profile" and ref.geography is None and ref.is_arn


def _resolvable_here(call: Call, ref: ModelRef) -> bool:
    """The resolver's control-plane client lives in the call's region and partition."""
    return ref.region == call.region and ref.partition == call.partition


def profiles_to_resolve(policy: Policy, call: Call) -> tuple[str, ...]:
    """The inference-profile ARNs the adapter must resolve before :func:`evaluate`.

    These are application (or non-geographic system) profile ARNs in the call's own
    region, after ``inference_profile.map``, that the policy does not pre-declare in
    ``inference_profile.known`` -- and only when a region or model rule needs their routes.
    Pure: no I/O.
    """
    op = _op(call)
    if op.model_param is None:
        return ()
    raw = call.params.get(op.model_param)
    if not isinstance(raw, str):
        return ()
    c = _compiled(policy)
    if not c.needs_routes:
        return ()
    ref = parse_model_id(raw)
    target = _mapped_model(c, op, raw, ref, call.region)
    if target is not None:
        ref = parse_model_id(target)
    if not _needs_resolution(ref) or ref.raw in c.known or not _resolvable_here(call, ref):
        return ()
    return (ref.raw,)


def routes_matter(policy: Policy) -> bool:
    """Whether a rule of ``policy`` needs to know where an inference profile routes.

    When it does, a call naming an application profile ARN that ``inference_profile.known``
    does not declare is resolved with the control plane (``GetInferenceProfile``). Pure.
    """
    return _compiled(policy).needs_routes


def mapped_profiles_to_resolve(policy: Policy) -> tuple[str, ...]:
    """The ``inference_profile.map`` targets every mapped call must resolve (sorted).

    Profile ARNs whose routes a rule needs and that ``inference_profile.known`` does
    not declare; ``doctor`` treats the control plane as required when there are any.
    """
    c = _compiled(policy)
    if not c.needs_routes:
        return ()
    return tuple(
        sorted(
            {
                target
                for target in c.profile_map.values()
                if target not in c.known and _needs_resolution(parse_model_id(target))
            }
        )
    )


def _routes(c: _Compiled, call: Call, ref: ModelRef) -> ResolvedProfile | str:
    """Where ``ref`` routes (from the policy's known profiles or the adapter's resolution),
    or a content-free reason why that is unknown."""
    known = c.known.get(ref.raw)
    if known is not None:
        return known
    resolved = call.resolved_profiles.get(ref.raw)
    if resolved is not None:
        return resolved
    reason = call.unresolved_profiles.get(ref.raw)
    if reason is not None:
        return reason
    if ref.kind in ("prompt", "prompt-router", "default-prompt-router"):
        return f"securebedrock cannot see which models a {ref.kind} routes to"
    if not _resolvable_here(call, ref):
        return (
            f"the profile is in {ref.partition}/{ref.region}, not the client's "
            f"{call.partition}/{call.region}, so it is not resolved"
        )
    return "it was not resolved"


#: What model_location returns for a profile whose routes are still to be resolved.
_PENDING: Final = "routes pending resolution"


def _known_fix(arn: str) -> str:
    return (
        f'declare it in the policy: [inference_profile.known] "{arn}" = '
        '{ models = ["arn:aws:bedrock:<region>::foundation-model/<model-id>", ...] }, '
        "or grant bedrock:GetInferenceProfile on it so securebedrock can resolve it"
    )


def _router_fix(ref: ModelRef) -> str:
    return (
        f"call the model or inference profile directly instead of the {ref.kind}; a "
        f"{ref.kind} is accepted only when regions.cross_region = true, "
        'regions.allowed_geographies includes "global", regions.allowed is unset and no '
        "models rule is set"
    )


def _geo_fix(c: _Compiled, geography: str) -> str:
    if not c.cross_region:
        return (
            "use an in-region model id (e.g. without the geography prefix), or set "
            f'regions.cross_region = true and add "{geography}" to regions.allowed_geographies'
        )
    return f'add "{geography}" to regions.allowed_geographies, or use an in-region model id'
