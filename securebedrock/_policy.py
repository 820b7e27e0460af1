"""The policy model: frozen, keyword-only dataclasses mirroring the TOML file.

CONTRACT (other modules depend on these attribute names and types):
- collections are tuples (ordered, hashable); mappings are ``types.MappingProxyType``
- ``None`` on an allow-list means "the key was absent: anything is allowed";
  an empty tuple means "present but empty: nothing is allowed".
- parsing/validation/merge/digest live in this module (issue 3).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["enforce", "log_only"]
TLSVersion = Literal["1.2", "1.3"]
GuardrailTrace = Literal["enabled", "disabled", "enabled_full"]
AuditContent = Literal["none", "digest"]

DEFAULT_PRIVATE_CIDRS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)


def _empty_map() -> Mapping[str, str]:
    return types.MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class TLSPolicy:
    """``[tls]``: the minimum TLS version and FIPS endpoints."""

    minimum_version: TLSVersion = "1.2"
    fips: bool = False


@dataclass(frozen=True, kw_only=True)
class NetworkPolicy:
    """``[network]``: where connections may go."""

    require_private_endpoint: bool = False
    allowed_cidrs: tuple[str, ...] = DEFAULT_PRIVATE_CIDRS
    endpoint_url: str = ""
    allow_proxy: bool = False


@dataclass(frozen=True, kw_only=True)
class GuardrailPolicy:
    """``[guardrail]``: the guardrail mandated on every inference call (empty: none)."""

    identifier: str = ""
    version: str = ""
    trace: GuardrailTrace = "enabled"

    @property
    def mandated(self) -> bool:
        return bool(self.identifier)


@dataclass(frozen=True, kw_only=True)
class KnownProfile:
    """A pre-declared inference profile: the foundation-model ARNs it routes to.

    Declaring a profile in ``[inference_profile.known]`` spares the control-plane
    ``GetInferenceProfile`` call that would otherwise resolve it.
    """

    models: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class InferenceProfilePolicy:
    """``[inference_profile]``: mapping of model ids to profiles, and whether one is required."""

    required: bool = False
    map: Mapping[str, str] = field(default_factory=_empty_map)
    known: Mapping[str, KnownProfile] = field(
        default_factory=lambda: types.MappingProxyType({})
    )


@dataclass(frozen=True, kw_only=True)
class RegionsPolicy:
    """``[regions]``: allowed regions and cross-region inference."""

    allowed: tuple[str, ...] | None = None
    cross_region: bool = False
    allowed_geographies: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ModelsPolicy:
    """``[models]``: glob patterns over the base model id; deny wins."""

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ServiceTierPolicy:
    """``[service_tier]``: allowed service tiers (absent on a call means ``default``)."""

    allowed: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class AuthPolicy:
    """``[auth]``: whether bearer-token (Bedrock API key) auth is allowed."""

    allow_api_keys: bool = True


@dataclass(frozen=True, kw_only=True)
class OperationsPolicy:
    """``[operations]``: operations allowed to run without the mandated guardrail."""

    allow_without_guardrail: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AuditPolicy:
    """``[audit]``: whether content digests are recorded in telemetry."""

    content: AuditContent = "none"


@dataclass(frozen=True, kw_only=True)
class Policy:
    """An immutable, validated security policy."""

    version: int = 1
    mode: Mode = "enforce"
    tls: TLSPolicy = field(default_factory=TLSPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    guardrail: GuardrailPolicy = field(default_factory=GuardrailPolicy)
    inference_profile: InferenceProfilePolicy = field(default_factory=InferenceProfilePolicy)
    regions: RegionsPolicy = field(default_factory=RegionsPolicy)
    models: ModelsPolicy = field(default_factory=ModelsPolicy)
    service_tier: ServiceTierPolicy = field(default_factory=ServiceTierPolicy)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    operations: OperationsPolicy = field(default_factory=OperationsPolicy)
    audit: AuditPolicy = field(default_factory=AuditPolicy)

    @classmethod
    def default(cls) -> Policy:
        """The documented secure defaults."""
        return cls()

    def merge(self, other: Policy) -> Policy:
        """INTERIM (issue 3 replaces it): tighten-only merge."""
        return other
