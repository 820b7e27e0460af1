"""The small sections of a policy: regions, models, tiers, auth, operations, audit."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._combine import (
    ALL_TRUE,
    INTERSECT,
    INTERSECT_MODELS,
    UNITE,
    key_rule,
    ladder,
)
from ._lattice import _antichain
from ._schema import AUDIT_CONTENTS, AuditContent
from ._setkeys import _tracks_set_keys
from ._validate import (
    _bool,
    _check_geography,
    _check_glob,
    _check_operation,
    _check_region,
    _check_tier,
    _choice,
    _optional_list,
    _set,
    _string_list,
)


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class RegionsPolicy:
    """``[regions]``: allowed regions and cross-region inference.

    ``allowed_geographies`` only matters with ``cross_region = true``: it names
    the geographic profile prefixes (``us``, ``eu``, ...) calls may use; an empty
    tuple allows none, and ``global`` is allowed only when named.
    """

    allowed: tuple[str, ...] | None = field(default=None, metadata=key_rule(INTERSECT))
    cross_region: bool = field(default=False, metadata=key_rule(ALL_TRUE))
    allowed_geographies: tuple[str, ...] = field(default=(), metadata=key_rule(INTERSECT))

    def __post_init__(self) -> None:
        _set(self, "allowed", _optional_list(self.allowed, "regions.allowed", _check_region))
        _bool(self.cross_region, "regions.cross_region")
        _set(
            self,
            "allowed_geographies",
            _string_list(self.allowed_geographies, "regions.allowed_geographies", _check_geography),
        )


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class ModelsPolicy:
    """``[models]``: glob patterns (:func:`fnmatch.fnmatchcase`) over the base model id; deny wins.

    ``allow`` is stored without redundant patterns: one that another pattern of
    the list covers is dropped (the set of allowed ids does not change).
    """

    allow: tuple[str, ...] | None = field(default=None, metadata=key_rule(INTERSECT_MODELS))
    deny: tuple[str, ...] = field(default=(), metadata=key_rule(UNITE))

    def __post_init__(self) -> None:
        allow = _optional_list(self.allow, "models.allow", _check_glob)
        _set(self, "allow", None if allow is None else _antichain(allow))
        _set(self, "deny", _string_list(self.deny, "models.deny", _check_glob))


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class ServiceTierPolicy:
    """``[service_tier]``: allowed service tiers (absent on a call means ``default``)."""

    allowed: tuple[str, ...] | None = field(default=None, metadata=key_rule(INTERSECT))

    def __post_init__(self) -> None:
        _set(self, "allowed", _optional_list(self.allowed, "service_tier.allowed", _check_tier))


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class AuthPolicy:
    """``[auth]``: whether bearer-token (Bedrock API key) auth is allowed."""

    allow_api_keys: bool = field(default=True, metadata=key_rule(ALL_TRUE))

    def __post_init__(self) -> None:
        _bool(self.allow_api_keys, "auth.allow_api_keys")


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class OperationsPolicy:
    """``[operations]``: operations allowed to run without the mandated guardrail."""

    allow_without_guardrail: tuple[str, ...] = field(default=(), metadata=key_rule(INTERSECT))

    def __post_init__(self) -> None:
        _set(
            self,
            "allow_without_guardrail",
            _string_list(
                self.allow_without_guardrail, "operations.allow_without_guardrail", _check_operation
            ),
        )


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class AuditPolicy:
    """``[audit]``: whether content digests are recorded in telemetry."""

    # "digest" wins either way: see AUDIT_CONTENTS.
    content: AuditContent = field(default="none", metadata=key_rule(ladder(AUDIT_CONTENTS)))

    def __post_init__(self) -> None:
        _choice(self.content, "audit.content", AUDIT_CONTENTS)
