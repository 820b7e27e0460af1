"""A client's cache of decisions for the call shapes it makes again and again.

A policy is frozen and the engine is pure, so the decision for a call is a function of
the call's operation, region, partition, endpoint, auth kind and the few parameters the
rules read (:data:`READ_PARAMETERS` and the operation's model and ARN parameters). Most
clients make the same few shapes of call (one model, no guardrail of their own, one
tier), so :class:`DecisionCache` keeps, per shape, what the engine decided and rebuilds
the :class:`Decision` for a new call from it: the call's own parameters with the
decided changes made.

A wrong cache would be a bypass, so only shapes whose key is cheap *and exact* are
cached: every parameter the rules read must be absent, ``None``, a ``str``, or a
``dict`` of ``str`` to ``str`` (the plain values ``_snapshot.py`` produces; never a
subclass, whose equality could lie), and the call's operation, region, partition,
endpoint and auth kind must be plain ``str``. Anything else -- numbers, lists, nested
structures, resolved profiles -- is evaluated fresh, every time. The changes the engine
made are copied into each call's parameters, so nothing a call's handlers do to its
parameters reaches another call. ``tests/test_rules_fastpath.py`` proves the cached
decision equals a fresh evaluation for every call shape, and that the key covers every
parameter the engine reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Final

from .._operations import operation
from .._policy import Policy
from ._evaluate import evaluate, evaluate_before_resolution
from ._types import Call, Change, Decision, Violation, _new_change, _new_decision

__all__ = ["READ_PARAMETERS", "DecisionCache"]

#: Parameters the rules read on every operation that has them (besides each operation's
#: model parameter and ARN parameters, which come from the operations table).
READ_PARAMETERS: Final[tuple[str, ...]] = (
    "guardrailConfig",
    "guardrailIdentifier",
    "guardrailVersion",
    "trace",
    "serviceTier",
)

#: Shapes kept per client before the cache starts again (a client with more distinct
#: shapes than this gains little from a cache).
DEFAULT_LIMIT: Final = 256

_ABSENT: Final = object()


class _Uncacheable(Exception):
    """A parameter value whose key would not be exact: evaluate the call fresh."""


def _key_value(value: object) -> object:
    """An exact, hashable stand-in for ``value``, or :class:`_Uncacheable`."""
    kind = type(value)
    if kind is str or value is None or value is _ABSENT:
        return value
    if kind is dict:
        items = tuple(value.items())  # type: ignore[attr-defined]  # exactly a dict
        for name, item in items:
            if type(name) is not str or type(item) is not str:
                raise _Uncacheable
        # Tagged, so a structure never equals a scalar; ordered, as it is sent.
        return (dict, items)
    raise _Uncacheable


class _Entry:
    """What the engine decided for one call shape: everything but the call's own
    parameters, and the changes to make to them."""

    __slots__ = (
        "changes",
        "guardrail_id",
        "guardrail_version",
        "inference_profile",
        "model_requested",
        "model_sent",
        "pending_profiles",
        "updates",
        "violations",
    )

    def __init__(self, decision: Decision, updates: dict[str, str | dict[str, str]]) -> None:
        # Copies: the decision just returned for this call shares its guardrailConfig
        # with the call's parameters, which botocore's handlers may edit.
        self.changes: tuple[Change, ...] = tuple(
            _new_change(c.path, _copy(c.old), _copy(c.new), c.reason, c.rule)
            for c in decision.changes
        )
        self.violations: tuple[Violation, ...] = decision.violations
        self.model_requested = decision.model_requested
        self.model_sent = decision.model_sent
        self.inference_profile = decision.inference_profile
        self.guardrail_id = decision.guardrail_id
        self.guardrail_version = decision.guardrail_version
        self.pending_profiles = decision.pending_profiles
        self.updates = updates

    def decision(self, call: Call) -> Decision:
        params: Mapping[str, Any] = call.params
        if self.updates:
            merged = dict(params)
            for name, value in self.updates.items():
                # A fresh copy per call: a handler that edits one call's guardrailConfig
                # cannot edit the next call's.
                merged[name] = dict(value) if type(value) is dict else value
            params = merged
        return _new_decision(
            call.operation,
            params,
            self.changes,
            self.violations,
            self.model_requested,
            self.model_sent,
            self.inference_profile,
            self.guardrail_id,
            self.guardrail_version,
            self.pending_profiles,
        )


def _copy(value: Any) -> Any:
    """A copy of a ``dict`` of text (a shallow copy is a whole one); other values as they are."""
    return dict(value) if type(value) is dict else value


def call_key(call: Call) -> tuple[object, ...] | None:
    """Everything the engine reads from ``call`` as an exact, hashable key; ``None`` when
    the call must be evaluated fresh (a value that is not plain text, resolved profiles)."""
    if call.resolved_profiles or call.unresolved_profiles:
        return None
    params = call.params
    if type(params) is not dict:
        return None
    for text in (call.operation, call.region, call.partition, call.endpoint_host, call.auth):
        if type(text) is not str:  # a subclass's equality and hash could lie
            return None
    names = _READ_BY_OPERATION.get(call.operation)
    if names is None:
        names = _read_parameters(call.operation)
    values = tuple(map(params.get, names, _ABSENTS))
    for value in values:
        if value is not None and value is not _ABSENT and type(value) is not str:
            # A structure (or an odd value): the slower, exact conversion.
            try:
                values = tuple(_key_value(item) for item in values)
            except _Uncacheable:
                return None
            break
    return (call.operation, call.region, call.partition, call.endpoint_host, call.auth, values)


def _read_parameters(operation_name: str) -> tuple[str, ...]:
    """The parameters the rules read on ``operation_name`` (cached per name)."""
    op = operation(operation_name)
    names = tuple(
        dict.fromkeys(
            (*([op.model_param] if op.model_param else []), *READ_PARAMETERS, *op.arn_params)
        )
    )
    if len(_READ_BY_OPERATION) < 1024:  # bounded: names come from callers
        _READ_BY_OPERATION[operation_name] = names
    return names


_READ_BY_OPERATION: dict[str, tuple[str, ...]] = {}
_ABSENTS: Final = itertools.repeat(_ABSENT)


def _updates(
    call: Call, decision: Decision, read: frozenset[str]
) -> dict[str, str | dict[str, str]] | None:
    """The parameters the decision changed, or ``None`` when they cannot be replayed
    exactly (a change outside the key, or a value a shallow copy would not copy)."""
    before = call.params
    after = decision.params
    if after is before:
        return {}
    if any(name not in after for name in before):
        return None
    updates: dict[str, str | dict[str, str]] = {}
    for name, value in after.items():
        if name in before and before[name] is value:
            continue
        if name not in read:
            return None
        if type(value) is str:
            updates[name] = value
        elif type(value) is dict and all(
            type(k) is str and type(v) is str for k, v in value.items()
        ):
            updates[name] = dict(value)
        else:
            return None
    return updates


class DecisionCache:
    """Decisions of :func:`evaluate_before_resolution` for one client, by call shape.

    :meth:`decide` equals ``evaluate_before_resolution(policy, call)`` for every call
    (``evaluate(policy, call)`` with ``before_resolution=False``, for a client that
    never resolves profiles); shapes it cannot key exactly are evaluated fresh. At most
    ``limit`` shapes are kept; when full, the cache starts again. Safe to share between
    threads (a lost insert only costs a fresh evaluation).
    """

    __slots__ = ("_before_resolution", "_entries", "_limit", "policy")

    def __init__(
        self, policy: Policy, *, limit: int = DEFAULT_LIMIT, before_resolution: bool = True
    ) -> None:
        self.policy = policy
        self._limit = limit
        self._before_resolution = before_resolution
        self._entries: dict[tuple[object, ...], _Entry] = {}

    def _fresh(self, call: Call) -> Decision:
        if self._before_resolution:
            return evaluate_before_resolution(self.policy, call)
        return evaluate(self.policy, call)

    def decide(self, call: Call) -> Decision:
        """The decision for ``call`` (see the class docstring)."""
        key = call_key(call)
        if key is None:
            return self._fresh(call)
        entry = self._entries.get(key)
        if entry is not None:
            return entry.decision(call)
        decision = self._fresh(call)
        updates = _updates(call, decision, frozenset(_read_parameters(call.operation)))
        if updates is not None:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[key] = _Entry(decision, updates)
        return decision

    def __len__(self) -> int:
        return len(self._entries)
