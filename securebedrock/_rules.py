"""The pure policy engine: ``evaluate(policy, call) -> Decision``.

No botocore import, no I/O. CONTRACT types below are used by the adapter and
telemetry; the engine itself is issue 4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._policy import Policy

AuthKind = Literal["sigv4", "bearer", "none"]


@dataclass(frozen=True, kw_only=True)
class ResolvedProfile:
    """What an inference profile routes to: the regions and base model ids behind it."""

    arn: str
    regions: tuple[str, ...]
    model_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Call:
    """An immutable description of one API call, built by the adapter."""

    operation: str
    region: str
    partition: str = "aws"
    endpoint_host: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    auth: AuthKind = "sigv4"
    resolved_profiles: Mapping[str, ResolvedProfile] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One rule a call breaks."""

    rule: str
    found: str
    expected: str
    fix: str


@dataclass(frozen=True, kw_only=True)
class Change:
    """One parameter change the policy makes (attach guardrail, map a model to a profile)."""

    path: str
    old: Any
    new: Any
    reason: str


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What to do with a call: the parameters to send, the changes made, the violations."""

    operation: str
    params: Mapping[str, Any]
    changes: tuple[Change, ...] = ()
    violations: tuple[Violation, ...] = ()
    model_requested: str | None = None
    model_sent: str | None = None
    inference_profile: str | None = None

    @property
    def allowed(self) -> bool:
        return not self.violations


def evaluate(policy: Policy, call: Call) -> Decision:
    """INTERIM (issue 4 replaces it): allow everything unchanged."""
    return Decision(operation=call.operation, params=call.params)
