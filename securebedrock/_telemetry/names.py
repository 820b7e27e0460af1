"""Our own attribute, event and metric names (reference: docs/telemetry.md).

The OpenTelemetry semantic-convention names we share with other instrumentations
live in :mod:`securebedrock._telemetry_semconv` (vendored, checked against the
upstream package by a test); it stays a module of its own, without imports,
because the operations table reads its GenAI operation names too.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTR_ATTEMPTS",
    "ATTR_ATTEMPT_NUMBER",
    "ATTR_CHANGES",
    "ATTR_COMPLETION_DIGEST",
    "ATTR_DECISION",
    "ATTR_EXCEPTION_TYPE",
    "ATTR_EXPECTED",
    "ATTR_FOUND",
    "ATTR_GUARDRAIL_ACTION",
    "ATTR_GUARDRAIL_SOURCE",
    "ATTR_GUARDRAIL_VERSION",
    "ATTR_INFERENCE_PROFILE",
    "ATTR_MODE",
    "ATTR_MODEL_REQUESTED",
    "ATTR_MODEL_SENT",
    "ATTR_OPERATION",
    "ATTR_PEER_ADDRESS_CLASS",
    "ATTR_POLICY_DIGEST",
    "ATTR_POLICY_RELEASE",
    "ATTR_POLICY_SERIAL",
    "ATTR_PROMPT_DIGEST",
    "ATTR_RETRY_DELAY",
    "ATTR_RULE",
    "ATTR_RULES",
    "ATTR_STAGE",
    "ATTR_STREAM_END",
    "ATTR_TLS_VERSION",
    "EVENT_ATTEMPT",
    "EVENT_EXCEPTION",
    "EVENT_GUARDRAIL",
    "EVENT_VIOLATION",
    "METRIC_VIOLATIONS",
]

ATTR_DECISION: Final = "securebedrock.decision"
ATTR_RULES: Final = "securebedrock.rules"
ATTR_POLICY_DIGEST: Final = "securebedrock.policy.digest"
ATTR_POLICY_RELEASE: Final = "securebedrock.policy.release"
ATTR_POLICY_SERIAL: Final = "securebedrock.policy.serial"
ATTR_MODE: Final = "securebedrock.mode"
ATTR_OPERATION: Final = "securebedrock.operation"
ATTR_CHANGES: Final = "securebedrock.changes"
ATTR_MODEL_REQUESTED: Final = "securebedrock.model.requested"
ATTR_MODEL_SENT: Final = "securebedrock.model.sent"
ATTR_INFERENCE_PROFILE: Final = "securebedrock.inference_profile"
ATTR_GUARDRAIL_VERSION: Final = "securebedrock.guardrail.version"
ATTR_GUARDRAIL_ACTION: Final = "securebedrock.guardrail.action"
ATTR_GUARDRAIL_SOURCE: Final = "securebedrock.guardrail.source"
ATTR_TLS_VERSION: Final = "securebedrock.tls.version"
ATTR_PEER_ADDRESS_CLASS: Final = "securebedrock.peer.address_class"
ATTR_ATTEMPTS: Final = "securebedrock.attempts"
ATTR_ATTEMPT_NUMBER: Final = "securebedrock.attempt.number"
ATTR_RETRY_DELAY: Final = "securebedrock.retry.delay"
ATTR_STREAM_END: Final = "securebedrock.stream.end"
ATTR_RULE: Final = "securebedrock.rule"
ATTR_FOUND: Final = "securebedrock.found"
ATTR_EXPECTED: Final = "securebedrock.expected"
#: Where a violation was found: engine, wire, before-send, transport or control-plane.
ATTR_STAGE: Final = "securebedrock.stage"
ATTR_PROMPT_DIGEST: Final = "securebedrock.prompt.digest"
ATTR_COMPLETION_DIGEST: Final = "securebedrock.completion.digest"
ATTR_EXCEPTION_TYPE: Final = "exception.type"

EVENT_VIOLATION: Final = "securebedrock.policy.violation"
EVENT_GUARDRAIL: Final = "securebedrock.guardrail.intervention"
EVENT_ATTEMPT: Final = "securebedrock.attempt"
EVENT_EXCEPTION: Final = "exception"

METRIC_VIOLATIONS: Final = "securebedrock.policy.violations"
