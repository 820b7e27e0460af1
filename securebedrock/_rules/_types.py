"""What the engine reads and returns: :class:`Call` in, :class:`Decision` out.

A :class:`Decision` carries the parameters to send, the :class:`Change` list and the
:class:`Violation` list; :func:`outcome` names what the audit records for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

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


# The engine builds a Decision, its Changes and Violations on every call. A frozen
# dataclass's generated __init__ sets each field through object.__setattr__, which is a
# large part of an evaluation's cost; these build the same frozen instances by filling
# their __dict__ at once. tests/test_rules_fastpath.py checks that each sets every field
# and equals the instance the public constructor builds.


def new_call(
    operation: str,
    region: str,
    partition: str,
    endpoint_host: str,
    params: Mapping[str, Any],
    auth: AuthKind,
) -> Call:
    """``Call(...)`` with no resolved profiles, built the fast way (the adapter's per-call path)."""
    call = object.__new__(Call)
    call.__dict__.update(
        {
            "operation": operation,
            "region": region,
            "partition": partition,
            "endpoint_host": endpoint_host,
            "params": params,
            "auth": auth,
            "resolved_profiles": {},
            "unresolved_profiles": {},
        }
    )
    return call


def _new_violation(rule: str, found: str, expected: str, fix: str) -> Violation:
    violation = object.__new__(Violation)
    violation.__dict__.update({"rule": rule, "found": found, "expected": expected, "fix": fix})
    return violation


def _new_change(path: str, old: Any, new: Any, reason: str, rule: str) -> Change:
    change = object.__new__(Change)
    change.__dict__.update({"path": path, "old": old, "new": new, "reason": reason, "rule": rule})
    return change


def _new_decision(
    operation: str,
    params: Mapping[str, Any],
    changes: tuple[Change, ...],
    violations: tuple[Violation, ...],
    model_requested: str | None,
    model_sent: str | None,
    inference_profile: str | None,
    guardrail_id: str | None,
    guardrail_version: str | None,
    pending_profiles: tuple[str, ...],
) -> Decision:
    decision = object.__new__(Decision)
    decision.__dict__.update(
        {
            "operation": operation,
            "params": params,
            "changes": changes,
            "violations": violations,
            "model_requested": model_requested,
            "model_sent": model_sent,
            "inference_profile": inference_profile,
            "guardrail_id": guardrail_id,
            "guardrail_version": guardrail_version,
            "pending_profiles": pending_profiles,
        }
    )
    return decision
