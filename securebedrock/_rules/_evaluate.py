"""``evaluate(policy, call) -> Decision`` and the provisional decision before profiles
are resolved."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .. import _bounded
from .._modelid import parse_model_id
from .._operations import Operation, operation
from .._policy import Policy
from ._compiler import _compiled
from ._evaluation import _Evaluation
from ._routes import _mapped_model
from ._types import Call, Decision, _new_change, _new_decision

_ARN_REGION: Final = re.compile(r"arn:(aws(?:-[a-z0-9]+)*):[a-z0-9-]+:([a-z0-9-]*):")


def _guardrail_exempt(exempt: re.Pattern[str], raw: object) -> bool:
    """Whether the call's model is one ``guardrail.exempt_models`` frees from the guardrail.

    Only a model the id itself names (a foundation model id or ARN, or a geography
    profile of one) can be exempt; an application profile hides its model, so it is not.
    """
    if not isinstance(raw, str):
        return False
    base = parse_model_id(raw).base_model_id
    return base is not None and exempt.fullmatch(base) is not None


def evaluate(policy: Policy, call: Call) -> Decision:
    """Decide what happens to ``call`` under ``policy`` (pure, no I/O, never raises on
    odd parameters: what it cannot read it refuses)."""
    return _evaluate(policy, call, False)


def evaluate_before_resolution(policy: Policy, call: Call) -> Decision:
    """Evaluate every rule that does not need an inference profile's routes (pure).

    When :func:`profiles_to_resolve` names nothing the call does not already carry an
    answer for, this is :func:`evaluate`. Otherwise the decision is provisional: its
    ``pending_profiles`` are those ARNs, the region and
    model rules that need their routes are skipped, and every other rule is evaluated
    exactly as :func:`evaluate` would. The adapter refuses a call this decision already
    refuses without asking the control plane anything; only a call that could still be
    allowed is resolved and then decided by :func:`evaluate`.
    """
    return _evaluate(policy, call, True)


def _evaluate(policy: Policy, call: Call, before_resolution: bool) -> Decision:
    c = _compiled(policy)
    op = operation(call.operation)
    params = call.params
    ev = _Evaluation(c, call)

    # auth.api_key: bearer tokens (Bedrock API keys) are long-lived secrets.
    if call.auth == "bearer" and not c.allow_api_keys:
        ev.violate(
            "auth.api_key",
            "bearer-token (Bedrock API key) authentication",
            "SigV4 (IAM credentials), auth.allow_api_keys = false",
            "unset AWS_BEARER_TOKEN_BEDROCK and use IAM credentials, or set "
            "auth.allow_api_keys = true",
        )

    # region.not_allowed: the client's region is where every byte of the call goes.
    if c.regions_allowed is not None and call.region not in c.regions_allowed:
        ev.violate(
            "region.not_allowed",
            f"client region {call.region!r}",
            f"a region in regions.allowed {sorted(c.regions_allowed)}",
            "create the client with region_name set to an allowed region",
        )

    model_param = op.model_param
    raw = params.get(model_param) if model_param else None
    exempt = c.guardrail_exempt
    if not (exempt is not None and model_param and _guardrail_exempt(exempt, raw)):
        ev.guardrail(op)

    model_requested: str | None = None
    model_sent: str | None = None
    inference_profile: str | None = None
    if raw is not None and model_param:
        # Only a model id given as text names a profile the control plane could resolve.
        ev.resolving = before_resolution and isinstance(raw, str)
        if not isinstance(raw, str):
            raw = repr(raw)[:64]
        model_requested = raw
        ref = parse_model_id(raw)
        target = _mapped_model(c, op, raw, ref, call.region)
        mapped_elsewhere = False
        if target is not None:
            ev.changes.append(
                _new_change(
                    model_param,
                    raw,
                    target,
                    "map the model to its inference profile",
                    "inference_profile.map",
                )
            )
            ev.set_params({model_param: target})
            ref = parse_model_id(target)
            if ref.is_arn and ref.region is not None and ref.region != call.region:
                # The policy's own mapping names another region's profile: say so, instead
                # of the region and model findings that follow from it.
                mapped_elsewhere = True
                ev.violate(
                    "region.cross_region",
                    f"inference_profile.map sends {raw!r} to {target!r}, a profile in region "
                    f"{ref.region!r}; the client is in {call.region!r}",
                    f"a profile of the client's region {call.region!r}",
                    f'map the model for this region: [inference_profile.regional_map."'
                    f'{call.region}"] "{raw}" = "<an inference profile in {call.region}>"',
                )
        model_sent = ref.raw
        if ref.is_inference_profile:
            inference_profile = ref.raw
        elif op.inference and c.profile_required:
            ev.violate(
                "inference_profile.required",
                f"model {_bounded.quote_model(ref.raw)} ({ref.kind})",
                "an inference profile id or ARN (inference_profile.required = true)",
                "call an inference profile, or map "
                f"{_bounded.quote_model(ref.raw)} to one in inference_profile.map",
            )
        if not mapped_elsewhere:
            routes = ev.model_location(ref)
            ev.model_ids(ref, routes)

    for name in op.arn_params:
        value = params.get(name)
        if isinstance(value, str):
            match = _ARN_REGION.match(value)
            if match is not None:
                shown = (
                    _bounded.quote_guardrail_id(value)
                    if name == "guardrailIdentifier"
                    else _bounded.quote_arn(value)
                )
                ev.arn_location(match[2] or None, match[1], f"{name} {shown}")

    # Service-tier checks never change the parameters: what the guardrail rules decided
    # is what is sent.
    guardrail_id, guardrail_version = _sent_guardrail(op, ev.params)
    if (
        guardrail_id
        and guardrail_id != c.guardrail_id
        and op.guardrail in ("converse", "invoke")
        and not any(v.rule == "guardrail.conflict" for v in ev.violations)
    ):
        match = _ARN_REGION.match(guardrail_id)
        if match is not None:
            shown = _bounded.quote_guardrail_id(guardrail_id)
            ev.arn_location(match[2] or None, match[1], f"guardrail {shown}")

    if c.tiers is not None and op.tier != "none":
        ev.service_tier(op, c.tiers)

    return _new_decision(
        call.operation,
        ev.params,
        tuple(ev.changes),
        tuple(ev.violations),
        model_requested,
        model_sent,
        inference_profile,
        guardrail_id,
        guardrail_version,
        ev.pending,
    )


def _sent_guardrail(op: Operation, params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if op.guardrail == "converse":
        config = params.get("guardrailConfig")
        if type(config) is dict or isinstance(config, Mapping):
            identifier = config.get("guardrailIdentifier")
            version = config.get("guardrailVersion")
            return (
                identifier if isinstance(identifier, str) and identifier else None,
                version if isinstance(version, str) and version else None,
            )
        return None, None
    if op.guardrail == "invoke" or op.arn_params == ("guardrailIdentifier",):
        return _str_or_none(params.get("guardrailIdentifier")), _str_or_none(
            params.get("guardrailVersion")
        )
    return None, None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
