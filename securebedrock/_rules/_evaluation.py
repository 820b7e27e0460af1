"""The mutable scratch state of one evaluation: one method per rule family."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _bounded
from .._modelid import ModelRef, region_geographies
from .._operations import Operation
from ._compiler import _Compiled, _guardrail_key
from ._routes import (
    _PENDING,
    _geo_fix,
    _known_fix,
    _needs_resolution,
    _resolvable_here,
    _router_fix,
    _routes,
)
from ._types import Call, Change, ResolvedProfile, Violation, _new_change, _new_violation


class _Evaluation:
    """The mutable scratch state of one evaluate() call."""

    __slots__ = ("_copied", "c", "call", "changes", "params", "pending", "resolving", "violations")

    def __init__(self, c: _Compiled, call: Call, resolving: bool = False) -> None:
        self.c = c
        self.call = call
        # Before resolution: a profile whose routes only the control plane knows is left
        # pending (its region and model rules skipped) instead of refused as unresolved.
        self.resolving = resolving
        self.pending: tuple[str, ...] = ()
        self.params: Mapping[str, Any] = call.params
        self._copied = False
        self.changes: list[Change] = []
        self.violations: list[Violation] = []

    def violate(self, rule: str, found: str, expected: str, fix: str) -> None:
        self.violations.append(_new_violation(rule, found, expected, fix))

    def set_params(self, updates: Mapping[str, Any]) -> None:
        """The parameters to send with ``updates`` made (the caller's dict is never changed)."""
        if self._copied:
            self.params.update(updates)  # type: ignore[attr-defined]  # our own dict
            return
        merged = dict(self.params)
        merged.update(updates)
        self.params = merged
        self._copied = True

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
        call = self.call
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
        if (
            ref.is_arn
            and (
                (ref.partition is not None and ref.partition != call.partition)
                or (ref.region is not None and ref.region != call.region)
            )
            and not self.arn_location(ref.region, ref.partition, f"model {ref.raw!r}")
        ):
            return None
        if ref.geography is not None:
            if not c.cross_region or (ref.geography not in c.geographies):
                self.violate(
                    "region.cross_region",
                    f"model {ref.raw!r} is a {ref.geography!r} cross-region inference profile",
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
        if (
            self.resolving
            and ref.raw not in c.known
            and ref.raw not in call.resolved_profiles
            and ref.raw not in call.unresolved_profiles
            and _needs_resolution(ref)
            and _resolvable_here(call, ref)
        ):
            # Resolved only if every other rule allows the call (evaluate_before_resolution).
            self.pending = (ref.raw,)
            return _PENDING
        routes = _routes(c, call, ref)
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
                # Any version that is not text is a conflict (and cannot be looked up).
                if c.guardrail_version and (
                    not isinstance(version, str) or version not in c.guardrail_versions
                ):
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
        if config is not None and type(config) is not dict and not isinstance(config, Mapping):
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
            _new_change(
                "guardrailConfig",
                dict(config) if config else None,
                new,
                "attach the mandated guardrail",
                "guardrail.missing",
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
                _new_change(
                    key,
                    params.get(key),
                    value,
                    "attach the mandated guardrail",
                    "guardrail.missing",
                )
            )
        self.set_params(updates)

    # -- service tier ---------------------------------------------------------------------

    def service_tier(self, op: Operation, tiers: frozenset[str]) -> None:
        """``service_tier.not_allowed`` for an operation that carries a tier, given the
        policy's allowed ``tiers`` (the caller skips the call when any tier is allowed)."""
        value = self.params.get("serviceTier")
        tier: object
        if value is None:
            tier = "default"
        elif op.tier == "structure":
            tier = value.get("type") if type(value) is dict or isinstance(value, Mapping) else None
        else:
            tier = value
        if isinstance(tier, str) and tier in tiers:
            return
        self.violate(
            "service_tier.not_allowed",
            f"service tier {_bounded.quote_tier(tier)}"
            + (" (no serviceTier: default)" if value is None else ""),
            f"one of service_tier.allowed {sorted(tiers)}",
            "pass serviceTier with an allowed tier, or add the tier to service_tier.allowed",
        )
