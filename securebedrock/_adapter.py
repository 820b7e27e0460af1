"""The thin adapter: secures a botocore client in place.

``install()`` replaces the client's ``_make_api_call`` with an *instance*
attribute (every generated method, and botocore's paginators, call
``self._make_api_call``), so the object stays the real botocore client.
Calling through the class (``BaseClient._make_api_call(client, ...)``) would
bypass it; that is in-process code deliberately unhooking us, which the
threat model (docs/threat-model.md) says a client library cannot prevent.

Per call: build a ``Call``; evaluate it with the pure engine; in enforce mode
refuse a violating call before a byte is sent; otherwise send the decided
parameters (or, in log_only mode, the caller's own parameters) and record
everything in the audit span and log.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from botocore.client import BaseClient

from . import _rules
from ._constants import AUDIT_LOGGER_NAME
from ._errors import PolicyViolation
from ._policy import Policy

_audit_log = logging.getLogger(AUDIT_LOGGER_NAME)

_ATTR = "_securebedrock_state"

#: The call being made on this thread/task (read by ``before-send`` handlers).
current_call: contextvars.ContextVar[_CallContext | None] = contextvars.ContextVar(
    "securebedrock_current_call", default=None
)

ApiCall = Callable[[str, Mapping[str, Any]], Any]


class _CallContext:
    __slots__ = ("call", "decision", "enforce")

    def __init__(self, call: _rules.Call, decision: _rules.Decision, enforce: bool) -> None:
        self.call = call
        self.decision = decision
        self.enforce = enforce


class SecuredState:
    """What a secured client knows, computed once at construction."""

    def __init__(self, client: BaseClient, policy: Policy, original: ApiCall) -> None:
        self.policy = policy
        self.original = original
        self.enforce = policy.mode == "enforce"
        self.region: str = client.meta.region_name or ""
        self.partition: str = client.meta.partition or "aws"
        endpoint = urlsplit(client.meta.endpoint_url)
        self.endpoint_host: str = endpoint.hostname or ""
        self.endpoint_port: int = endpoint.port or (443 if endpoint.scheme == "https" else 80)
        self._client_ref = client

    def auth_kind(self) -> _rules.AuthKind:
        signer = getattr(self._client_ref, "_request_signer", None)
        version = getattr(signer, "signature_version", None)
        if version == "bearer":
            return "bearer"
        return "sigv4"

    def build_call(self, operation_name: str, api_params: Mapping[str, Any]) -> _rules.Call:
        return _rules.Call(
            operation=operation_name,
            region=self.region,
            partition=self.partition,
            endpoint_host=self.endpoint_host,
            params=api_params,
            auth=self.auth_kind(),
        )


class SecuredApiCall:
    """The replacement for ``client._make_api_call``."""

    def __init__(self, state: SecuredState) -> None:
        self._state = state

    def __call__(self, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        state = self._state
        call = state.build_call(operation_name, api_params)
        decision = _rules.evaluate(state.policy, call)
        _log_decision(state, decision)
        if decision.violations:
            if state.enforce:
                raise _violation_error(decision)
            params: Mapping[str, Any] = api_params
        else:
            params = decision.params
        token = current_call.set(_CallContext(call, decision, state.enforce))
        try:
            return state.original(operation_name, params)
        finally:
            current_call.reset(token)


def _violation_error(decision: _rules.Decision) -> PolicyViolation:
    first = decision.violations[0]
    error = PolicyViolation(
        rule=first.rule,
        operation=decision.operation,
        found=first.found,
        expected=first.expected,
        fix=first.fix,
    )
    error.violations = decision.violations  # type: ignore[attr-defined]
    return error


def _log_decision(state: SecuredState, decision: _rules.Decision) -> None:
    if not _audit_log.isEnabledFor(logging.INFO):
        return
    outcome = "allow" if not decision.violations else ("deny" if state.enforce else "log_only")
    _audit_log.info(
        "securebedrock decision",
        extra={
            "securebedrock": {
                "operation": decision.operation,
                "decision": outcome,
                "rules": [v.rule for v in decision.violations],
                "changes": [c.path for c in decision.changes],
                "model_requested": decision.model_requested,
                "model_sent": decision.model_sent,
                "region": state.region,
            }
        },
    )


def installed_policy(client: BaseClient) -> Policy | None:
    """The policy a client was secured with, or ``None``."""
    state = client.__dict__.get(_ATTR)
    return state.policy if isinstance(state, SecuredState) else None


def install(client: BaseClient, policy: Policy, *, boto_session: Any = None) -> None:
    """Secure ``client`` in place with ``policy`` (re-installing replaces the previous state)."""
    previous = client.__dict__.get(_ATTR)
    if isinstance(previous, SecuredState):
        original = previous.original
    else:
        original = type(client)._make_api_call.__get__(client)
    state = SecuredState(client, policy, original)
    client.__dict__[_ATTR] = state
    client.__dict__["_make_api_call"] = SecuredApiCall(state)
