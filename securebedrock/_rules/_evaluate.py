"""``evaluate(policy, call) -> Decision`` and the provisional decision before profiles
are resolved."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from .. import _bounded
from .._modelid import parse_model_id
from .._operations import Operation
from .._policy import Policy
from ._compiler import _Compiled, _compiled
from ._evaluation import _Evaluation
from ._routes import _mapped_model, _op, profiles_to_resolve
from ._types import Call, Change, Decision

_ARN_REGION: Final = re.compile(r"arn:(aws(?:-[a-z0-9]+)*):[a-z0-9-]+:([a-z0-9-]*):")


def _guardrail_exempt(c: _Compiled, op: Operation, call: Call) -> bool:
    """Whether the call's model is one ``guardrail.exempt_models`` frees from the guardrail.

    Only a model the id itself names (a foundation model id or ARN, or a geography
    profile of one) can be exempt; an application profile hides its model, so it is not.
    """
    if c.guardrail_exempt is None or not op.model_param:
        return False
    raw = call.params.get(op.model_param)
    if not isinstance(raw, str):
        return False
    base = parse_model_id(raw).base_model_id
    return base is not None and c.guardrail_exempt.fullmatch(base) is not None


def evaluate(policy: Policy, call: Call) -> Decision:
    """Decide what happens to ``call`` under ``policy`` (pure, no I/O, never raises on
    odd parameters: what it cannot read it refuses)."""
    return _evaluate(policy, call, frozenset())


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
    pending = tuple(
        arn
        for arn in profiles_to_resolve(policy, call)
        if arn not in call.resolved_profiles and arn not in call.unresolved_profiles
    )
    decision = _evaluate(policy, call, frozenset(pending))
    if pending:
        return replace(decision, pending_profiles=pending)
    return decision


def _evaluate(policy: Policy, call: Call, pending: frozenset[str]) -> Decision:
    c = _compiled(policy)
    op = _op(call)
    ev = _Evaluation(c, call, pending)

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

    if not _guardrail_exempt(c, op, call):
        ev.guardrail(op)

    model_requested: str | None = None
    model_sent: str | None = None
    inference_profile: str | None = None
    raw = call.params.get(op.model_param) if op.model_param else None
    if raw is not None:
        if not isinstance(raw, str):
            raw = repr(raw)[:64]
        model_requested = raw
        ref = parse_model_id(raw)
        target = _mapped_model(c, op, raw, ref, call.region)
        mapped_elsewhere = False
        if target is not None:
            ev.changes.append(
                Change(
                    path=op.model_param or "modelId",
                    old=raw,
                    new=target,
                    reason="map the model to its inference profile",
                    rule="inference_profile.map",
                )
            )
            ev.set_params({op.model_param or "modelId": target})
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
        value = call.params.get(name)
        if isinstance(value, str):
            match = _ARN_REGION.match(value)
            if match is not None:
                shown = (
                    _bounded.quote_guardrail_id(value)
                    if name == "guardrailIdentifier"
                    else _bounded.quote_arn(value)
                )
                ev.arn_location(match[2] or None, match[1], f"{name} {shown}")
    if op.guardrail in ("converse", "invoke"):
        sent_id = _sent_guardrail(op, ev.params)[0]
        conflicted = any(v.rule == "guardrail.conflict" for v in ev.violations)
        if sent_id and sent_id != c.guardrail_id and not conflicted:
            match = _ARN_REGION.match(sent_id)
            if match is not None:
                shown = _bounded.quote_guardrail_id(sent_id)
                ev.arn_location(match[2] or None, match[1], f"guardrail {shown}")

    ev.service_tier(op)

    guardrail_id, guardrail_version = _sent_guardrail(op, ev.params)
    return Decision(
        operation=call.operation,
        params=ev.params,
        changes=tuple(ev.changes),
        violations=tuple(ev.violations),
        model_requested=model_requested,
        model_sent=model_sent,
        inference_profile=inference_profile,
        guardrail_id=guardrail_id,
        guardrail_version=guardrail_version,
    )


def _sent_guardrail(op: Operation, params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if op.guardrail == "converse":
        config = params.get("guardrailConfig")
        if isinstance(config, Mapping):
            return _str_or_none(config.get("guardrailIdentifier")), _str_or_none(
                config.get("guardrailVersion")
            )
        return None, None
    if op.guardrail == "invoke" or op.arn_params == ("guardrailIdentifier",):
        return _str_or_none(params.get("guardrailIdentifier")), _str_or_none(
            params.get("guardrailVersion")
        )
    return None, None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
