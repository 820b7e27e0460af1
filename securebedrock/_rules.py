"""The pure policy engine: ``evaluate(policy, call) -> Decision``.

No botocore import, no I/O. The adapter builds a :class:`Call` (operation, region,
parameters, auth kind, and the inference profiles it resolved beforehand), the engine
returns a :class:`Decision`: the parameters to send, the :class:`Change` list (attach the
mandated guardrail, map a model to its inference profile) and the :class:`Violation` list.
The engine does not look at the mode: the adapter applies changes and refuses violations
in ``enforce`` mode, and records both (sending the caller's own parameters) in
``log_only`` mode.

What applies to which operation, and every rule id, is documented in ``docs/rules.md``.
Policies are compiled once (globs, sets, known profiles) and cached per policy object, so
a typical call evaluates in a few microseconds.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from . import _bounded
from ._modelid import ModelRef, parse_model_id, region_geographies
from ._operations import (
    GUARDRAIL_CAPABLE_OPERATIONS,
    GUARDRAIL_INCAPABLE_OPERATIONS,
    Operation,
    operation,
)
from ._policy import Policy

__all__ = [
    "GUARDRAIL_CAPABLE_OPERATIONS",
    "GUARDRAIL_INCAPABLE_OPERATIONS",
    "RULE_IDS",
    "AuthKind",
    "Call",
    "Change",
    "Decision",
    "ResolvedProfile",
    "Violation",
    "evaluate",
    "evaluate_before_resolution",
    "mapped_profiles_to_resolve",
    "outcome",
    "profiles_to_resolve",
    "routes_matter",
]

AuthKind = Literal["sigv4", "bearer", "none"]

#: The rule ids this engine (and the checks on the prepared request) can report.
RULE_IDS: Final[tuple[str, ...]] = (
    "guardrail.missing",
    "guardrail.conflict",
    "guardrail.unsupported_operation",
    "inference_profile.required",
    "region.not_allowed",
    "region.cross_region",
    "model.not_allowed",
    "service_tier.not_allowed",
    "auth.api_key",
    # Reported by the last check on the prepared request (securebedrock/_wire.py).
    "wire.mismatch",
)


@dataclass(frozen=True, kw_only=True)
class ResolvedProfile:
    """What an inference profile routes to: the regions and base model ids behind it."""

    arn: str
    regions: tuple[str, ...]
    model_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Call:
    """An immutable description of one API call, built by the adapter.

    ``resolved_profiles`` holds the answers the adapter got for
    :func:`profiles_to_resolve`; ``unresolved_profiles`` maps an ARN it could not
    resolve to a short, content-free reason (the engine then fails closed).
    """

    operation: str
    region: str
    partition: str = "aws"
    endpoint_host: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    auth: AuthKind = "sigv4"
    resolved_profiles: Mapping[str, ResolvedProfile] = field(default_factory=dict)
    unresolved_profiles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One rule a call breaks (no prompt content: ids, regions and keys only)."""

    rule: str
    found: str
    expected: str
    fix: str


@dataclass(frozen=True, kw_only=True)
class Change:
    """One parameter change the policy makes (attach guardrail, map a model to a profile).

    ``rule`` names why: ``guardrail.missing`` (the mandated guardrail was attached) or
    ``inference_profile.map`` (the model id was rewritten to its profile).
    """

    path: str
    old: Any
    new: Any
    reason: str
    rule: str = ""


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What to do with a call: the parameters to send, the changes made, the violations.

    ``guardrail_id``/``guardrail_version`` are those the decided parameters carry;
    ``inference_profile`` is the profile the decided model id names (``None`` if none).
    ``pending_profiles`` is non-empty only on a provisional decision from
    :func:`evaluate_before_resolution`: the rules that need those profiles' routes were
    not evaluated, so such a decision may refuse a call but never allows one.
    """

    operation: str
    params: Mapping[str, Any]
    changes: tuple[Change, ...] = ()
    violations: tuple[Violation, ...] = ()
    model_requested: str | None = None
    model_sent: str | None = None
    inference_profile: str | None = None
    guardrail_id: str | None = None
    guardrail_version: str | None = None
    pending_profiles: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """Whether no rule is violated (never true of a provisional decision)."""
        return not self.violations and not self.pending_profiles

    @property
    def rules(self) -> tuple[str, ...]:
        """The violated rule ids, in order, without repeats."""
        return tuple(dict.fromkeys(v.rule for v in self.violations))


def outcome(decision: Decision, *, enforce: bool) -> Literal["allow", "deny", "log_only"]:
    """The audit outcome: ``deny`` (refused), ``log_only`` (sent unchanged although the
    policy would have changed or refused it), or ``allow``.

    A provisional decision (``pending_profiles``) has an outcome only when it already
    refuses the call: asking for the outcome of one that does not is a ``ValueError``.
    """
    if decision.violations:
        return "deny" if enforce else "log_only"
    if decision.pending_profiles:
        raise ValueError("a provisional decision (profiles not yet resolved) cannot allow a call")
    if decision.changes and not enforce:
        return "log_only"
    return "allow"


_ARN_REGION: Final = re.compile(r"arn:(aws(?:-[a-z0-9]+)*):[a-z0-9-]+:([a-z0-9-]*):")

# ---------------------------------------------------------------------------------------
# Policy compilation (once per policy object).


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


# ---------------------------------------------------------------------------------------
# Helpers shared by evaluate() and profiles_to_resolve().


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


class _Evaluation:
    """The mutable scratch state of one evaluate() call."""

    __slots__ = ("c", "call", "changes", "params", "pending", "violations")

    def __init__(self, c: _Compiled, call: Call, pending: frozenset[str] = frozenset()) -> None:
        self.c = c
        self.call = call
        self.pending = pending
        self.params: Mapping[str, Any] = call.params
        self.changes: list[Change] = []
        self.violations: list[Violation] = []

    def violate(self, rule: str, found: str, expected: str, fix: str) -> None:
        self.violations.append(Violation(rule=rule, found=found, expected=expected, fix=fix))

    def set_params(self, updates: Mapping[str, Any]) -> None:
        merged = dict(self.params)
        merged.update(updates)
        self.params = merged

    # -- regions -------------------------------------------------------------------------

    def foreign_region(self, region: str, what: str) -> None:
        """``region`` (not the client's) is where ``what`` sends or keeps the call's data."""
        c = self.c
        shown = _bounded.quote_region(region)  # read from a caller's ARN: may be anything
        if c.regions_allowed is not None and region not in c.regions_allowed:
            self.violate(
                "region.not_allowed",
                f"{what} names region {shown}",
                f"a region in regions.allowed {sorted(c.regions_allowed)}",
                f"use a resource in an allowed region, or add {shown} to regions.allowed",
            )
            return
        if not c.cross_region:
            self.violate(
                "region.cross_region",
                f"{what} is in region {shown}, the client is in {self.call.region!r}",
                "a model in the client's own region (regions.cross_region = false)",
                f"use a model or profile in {self.call.region!r}, or set "
                "regions.cross_region = true with the geographies you accept in "
                "regions.allowed_geographies",
            )
            return
        if "global" in c.geographies or region_geographies(region) & c.geographies:
            return
        self.violate(
            "region.cross_region",
            f"{what} is in region {shown}, outside regions.allowed_geographies",
            f"a region in the geographies {sorted(c.geographies)}",
            "add that region's geography (us, eu, apac, jp, au, ca, us-gov, or global) "
            "to regions.allowed_geographies, or use a model in an allowed region",
        )

    def arn_location(self, arn_region: str | None, partition: str | None, what: str) -> bool:
        """Check the region and partition an ARN names; False if it was refused."""
        call = self.call
        if partition is not None and partition != call.partition:
            self.violate(
                "region.cross_region",
                f"{what} is in partition {_bounded.quote_partition(partition)}, the client is "
                f"in {call.partition!r}",
                f"an ARN in the {call.partition!r} partition",
                f"use a resource in the {call.partition!r} partition",
            )
            return False
        if arn_region is not None and arn_region != call.region:
            before = len(self.violations)
            self.foreign_region(arn_region, what)
            return len(self.violations) == before
        return True

    def model_location(self, ref: ModelRef) -> ResolvedProfile | str | None:
        """Region rules for the model; returns its routes when it had to look them up."""
        c = self.c
        what = f"model {ref.raw!r}"
        if ref.kind == "unknown":
            self.violate(
                "region.cross_region",
                f"model identifier {_bounded.describe(ref.raw)} is not a form securebedrock "
                "recognises, so where it routes cannot be established",
                "a foundation model id or ARN, an inference profile id or ARN, or a "
                "provisioned/custom/imported model, prompt, router or SageMaker endpoint ARN",
                "use a documented Bedrock model identifier",
            )
            return None
        if ref.is_arn and not self.arn_location(ref.region, ref.partition, what):
            return None
        if ref.geography is not None:
            if not c.cross_region or (ref.geography not in c.geographies):
                self.violate(
                    "region.cross_region",
                    f"{what} is a {ref.geography!r} cross-region inference profile",
                    "an in-region model"
                    if not c.cross_region
                    else f"a profile of the geographies {sorted(c.geographies)}",
                    _geo_fix(c, ref.geography),
                )
            return None
        if not (
            _needs_resolution(ref)
            or ref.kind in ("prompt", "prompt-router", "default-prompt-router")
        ):
            return None
        if not c.needs_routes:
            return None
        if ref.raw in self.pending:
            # Resolved only if every other rule allows the call (evaluate_before_resolution).
            return _PENDING
        routes = _routes(c, self.call, ref)
        if isinstance(routes, str):
            self.violate(
                "region.cross_region",
                f"where {ref.kind} {ref.raw!r} routes could not be determined: {routes}",
                "a profile whose destination regions are known (resolved with "
                "bedrock:GetInferenceProfile, or declared in inference_profile.known)",
                _known_fix(ref.raw) if _needs_resolution(ref) else _router_fix(ref),
            )
            return routes
        for region in routes.regions:
            if region != self.call.region:
                before = len(self.violations)
                self.foreign_region(region, f"{ref.kind} {ref.raw!r}")
                if len(self.violations) != before:
                    break
        return routes

    # -- models --------------------------------------------------------------------------

    def model_ids(self, ref: ModelRef, routes: ResolvedProfile | str | None) -> None:
        c = self.c
        if not c.needs_model_ids or routes is _PENDING:
            return
        if ref.base_model_id is not None:
            ids: tuple[str, ...] = (ref.base_model_id,)
        elif isinstance(routes, ResolvedProfile):
            ids = routes.model_ids
        else:
            if c.model_allow is None:
                # Deny-list only: an undeterminable model cannot be shown to be denied.
                return
            self.violate(
                "model.not_allowed",
                f"the base model of {ref.kind} {_bounded.quote_model(ref.raw)} cannot be "
                "determined",
                "a model whose base model id matches models.allow",
                "call a foundation model or inference profile whose model is allowed"
                + (f", or {_known_fix(ref.raw)}" if _needs_resolution(ref) else ""),
            )
            return
        for model_id in ids:
            if c.model_deny is not None and c.model_deny.match(model_id):
                self.violate(
                    "model.not_allowed",
                    f"model {model_id!r} (via {ref.raw!r}) matches models.deny",
                    "a model matching no models.deny pattern",
                    "use another model, or remove the pattern from models.deny",
                )
                return
            if c.model_allow is not None and not c.model_allow.match(model_id):
                self.violate(
                    "model.not_allowed",
                    f"model {model_id!r} (via {ref.raw!r}) matches no models.allow pattern",
                    "a model matching models.allow",
                    f"use an allowed model, or add a pattern matching {model_id!r} to models.allow",
                )
                return

    # -- guardrail -----------------------------------------------------------------------

    def same_guardrail(self, identifier: str) -> bool:
        c = self.c
        if identifier == c.guardrail_id:
            return True
        if identifier.startswith("arn:") and c.guardrail_id.startswith("arn:"):
            return False  # two different ARNs: region, account or id differ
        return _guardrail_key(identifier) == c.guardrail_key

    def guardrail_settled(self, identifier: object, version: object) -> bool:
        """Check the guardrail the caller named; True when nothing is left to attach.

        That is: the caller named another guardrail or version (a conflict), named
        exactly the mandated one, or the policy cannot supply a version.
        """
        c = self.c
        if identifier:
            if not isinstance(identifier, str) or not self.same_guardrail(identifier):
                self.conflict(str(identifier), version)
                return True
            if version:
                if c.guardrail_version and version not in c.guardrail_versions:
                    self.conflict(identifier, version)
                return True
        if not c.guardrail_version:
            self.cannot_attach("the policy mandates a guardrail without a version")
            return True
        return False

    def conflict(self, found_id: str, found_version: object) -> None:
        c = self.c
        self.violate(
            "guardrail.conflict",
            f"guardrail {_bounded.quote_guardrail_id(found_id)} version "
            f"{_bounded.quote_guardrail_version(found_version)}",
            f"the mandated guardrail {c.guardrail_id!r} version {c.guardrail_version!r}",
            "remove the call's own guardrail (securebedrock attaches the mandated one), "
            "or use the mandated guardrail and version",
        )

    def cannot_attach(self, why: str) -> None:
        c = self.c
        self.violate(
            "guardrail.missing",
            why,
            f"the mandated guardrail {c.guardrail_id!r} version {c.guardrail_version!r} "
            "attached to the call",
            "set guardrail.version in the policy"
            if not c.guardrail_version
            else "pass guardrailConfig as a structure, or leave it out",
        )

    def guardrail(self, op: Operation) -> None:
        c = self.c
        if not c.guardrail_id:
            return
        if op.guardrail == "incapable":
            # An operation that generates nothing (CountTokens) needs no guardrail.
            if op.generates_content and self.call.operation not in c.allow_without_guardrail:
                self.violate(
                    "guardrail.unsupported_operation",
                    f"{self.call.operation} cannot carry a guardrail and guardrail "
                    f"{c.guardrail_id!r} is mandated",
                    "an operation that carries the guardrail (Converse, ConverseStream, "
                    "InvokeModel, InvokeModelWithResponseStream)",
                    "use one of those operations, or list "
                    f'"{self.call.operation}" in operations.allow_without_guardrail',
                )
        elif op.guardrail == "converse":
            self.guardrail_converse()
        elif op.guardrail == "invoke":
            self.guardrail_invoke()

    def guardrail_converse(self) -> None:
        c = self.c
        config = self.params.get("guardrailConfig")
        if config is not None and not isinstance(config, Mapping):
            self.cannot_attach(f"guardrailConfig is a {type(config).__name__}, not a structure")
            return
        config = config or {}
        identifier = config.get("guardrailIdentifier")
        if self.guardrail_settled(identifier, config.get("guardrailVersion")):
            return
        new = dict(config)
        if not identifier:
            new["guardrailIdentifier"] = c.guardrail_id
        new["guardrailVersion"] = c.guardrail_version
        # The caller's trace (and ConverseStream's streamProcessingMode) are kept: they
        # shape what comes back to the caller, not what the guardrail enforces.
        new.setdefault("trace", c.trace_converse)
        self.changes.append(
            Change(
                path="guardrailConfig",
                old=dict(config) if config else None,
                new=new,
                reason="attach the mandated guardrail",
                rule="guardrail.missing",
            )
        )
        self.set_params({"guardrailConfig": new})

    def guardrail_invoke(self) -> None:
        c = self.c
        params = self.params
        identifier = params.get("guardrailIdentifier")
        if self.guardrail_settled(identifier, params.get("guardrailVersion")):
            return
        updates: dict[str, Any] = {"guardrailVersion": c.guardrail_version}
        if not identifier:
            updates["guardrailIdentifier"] = c.guardrail_id
        if not params.get("trace"):
            updates["trace"] = c.trace_invoke
        for key, value in updates.items():
            self.changes.append(
                Change(
                    path=key,
                    old=params.get(key),
                    new=value,
                    reason="attach the mandated guardrail",
                    rule="guardrail.missing",
                )
            )
        self.set_params(updates)

    # -- service tier ---------------------------------------------------------------------

    def service_tier(self, op: Operation) -> None:
        c = self.c
        if c.tiers is None or op.tier == "none":
            return
        value = self.params.get("serviceTier")
        tier: object
        if value is None:
            tier = "default"
        elif op.tier == "structure":
            tier = value.get("type") if isinstance(value, Mapping) else None
        else:
            tier = value
        if isinstance(tier, str) and tier in c.tiers:
            return
        self.violate(
            "service_tier.not_allowed",
            f"service tier {_bounded.quote_tier(tier)}"
            + (" (no serviceTier: default)" if value is None else ""),
            f"one of service_tier.allowed {sorted(c.tiers)}",
            "pass serviceTier with an allowed tier, or add the tier to service_tier.allowed",
        )


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
