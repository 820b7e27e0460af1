"""Policy compilation: globs, sets and known profiles, once per policy object."""

from __future__ import annotations

import fnmatch
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .._modelid import parse_model_id
from .._policy import Policy
from ._types import ResolvedProfile


@dataclass(frozen=True, slots=True)
class _Compiled:
    guardrail_id: str
    guardrail_version: str
    # Every version a call may name (the attached one first in the policy).
    guardrail_versions: frozenset[str]
    # Base model ids whose calls need no guardrail (None: no exemption).
    guardrail_exempt: re.Pattern[str] | None
    guardrail_key: str
    trace_converse: str
    trace_invoke: str
    allow_without_guardrail: frozenset[str]
    profile_map: Mapping[str, str]
    # inference_profile.map_for(region) of every region regional_map names.
    regional_maps: Mapping[str, Mapping[str, str]]
    profile_required: bool
    regions_allowed: frozenset[str] | None
    cross_region: bool
    geographies: frozenset[str]
    model_allow: re.Pattern[str] | None
    model_deny: re.Pattern[str] | None
    tiers: frozenset[str] | None
    allow_api_keys: bool
    known: Mapping[str, ResolvedProfile | str]
    needs_routes: bool
    needs_model_ids: bool


_NEVER: Final = re.compile(r"(?!)")


def _glob_union(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """One anchored, case-sensitive regex matching any of the fnmatch ``patterns``."""
    if not patterns:
        return _NEVER
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def _guardrail_key(identifier: str) -> str:
    """The guardrail id part of an id or ARN (``.../guardrail/abc`` -> ``abc``)."""
    return identifier.rsplit("/", 1)[-1] if identifier.startswith("arn:") else identifier


def _compile_known(profile_arn: str, models: tuple[str, ...]) -> ResolvedProfile | str:
    """A ``[inference_profile.known]`` entry as a ResolvedProfile, or why it is unusable."""
    owner = parse_model_id(profile_arn)
    regions: list[str] = []
    model_ids: list[str] = []
    for model in models:
        ref = parse_model_id(model)
        if ref.kind != "foundation-model" or ref.base_model_id is None:
            return (
                f"inference_profile.known[{profile_arn!r}] lists {model!r}, which is not a "
                "foundation model id or ARN"
            )
        region = ref.region or owner.region
        if region is None:
            return (
                f"inference_profile.known[{profile_arn!r}] lists the plain id {model!r} and "
                "the profile is not an ARN: give foundation-model ARNs (they name the region)"
            )
        regions.append(region)
        model_ids.append(ref.base_model_id)
    if not model_ids:
        return f"inference_profile.known[{profile_arn!r}] lists no models"
    return ResolvedProfile(
        arn=profile_arn,
        regions=tuple(dict.fromkeys(regions)),
        model_ids=tuple(dict.fromkeys(model_ids)),
    )


def _compile(policy: Policy) -> _Compiled:
    guardrail = policy.guardrail
    regions = policy.regions
    models = policy.models
    allowed = None if regions.allowed is None else frozenset(regions.allowed)
    geographies = frozenset(regions.allowed_geographies)
    known = {
        arn: _compile_known(arn, entry.models)
        for arn, entry in policy.inference_profile.known.items()
    }
    # Routes (where a profile sends the call, and which models) matter unless every
    # region and every model is acceptable.
    needs_model_ids = models.allow is not None or bool(models.deny)
    any_destination = regions.cross_region and "global" in geographies and allowed is None
    return _Compiled(
        guardrail_id=guardrail.identifier,
        guardrail_version=guardrail.version,
        guardrail_versions=frozenset(guardrail.accepted_versions),
        guardrail_exempt=_glob_union(guardrail.exempt_models) if guardrail.exempt_models else None,
        guardrail_key=_guardrail_key(guardrail.identifier),
        trace_converse=guardrail.trace,
        trace_invoke=guardrail.trace.upper(),
        allow_without_guardrail=frozenset(policy.operations.allow_without_guardrail),
        profile_map=dict(policy.inference_profile.map),
        regional_maps={
            region: dict(policy.inference_profile.map_for(region))
            for region in policy.inference_profile.regional_map
        },
        profile_required=policy.inference_profile.required,
        regions_allowed=allowed,
        cross_region=regions.cross_region,
        geographies=geographies,
        model_allow=None if models.allow is None else _glob_union(models.allow),
        model_deny=_glob_union(models.deny) if models.deny else None,
        tiers=None
        if policy.service_tier.allowed is None
        else frozenset(policy.service_tier.allowed),
        allow_api_keys=policy.auth.allow_api_keys,
        known=known,
        needs_routes=needs_model_ids or not any_destination,
        needs_model_ids=needs_model_ids,
    )


# Keyed by id(policy): Policy holds MappingProxyType fields, so it is not hashable. The
# weakref callback drops the entry when the policy dies, so a reused id never maps to a
# stale compilation.
_cache: dict[int, tuple[weakref.ref[Policy], _Compiled]] = {}
_cache_lock = threading.Lock()


def _compiled(policy: Policy) -> _Compiled:
    key = id(policy)
    entry = _cache.get(key)
    if entry is not None and entry[0]() is policy:
        return entry[1]
    compiled = _compile(policy)

    def _drop(_ref: weakref.ref[Policy], key: int = key) -> None:
        with _cache_lock:
            current = _cache.get(key)
            if current is not None and current[0] is _ref:
                del _cache[key]

    with _cache_lock:
        _cache[key] = (weakref.ref(policy, _drop), compiled)
    return compiled
