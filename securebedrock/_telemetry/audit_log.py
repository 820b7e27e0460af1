"""The audit log: one structured, content-free record per decision.

Records go to the ``securebedrock.audit`` logger (docs/telemetry.md#audit-log):
INFO for an allowed call, WARNING for a violation (enforced or only logged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _bounded
from .._constants import AUDIT_LOGGER_NAME

if TYPE_CHECKING:
    from .spans import CallRecord

__all__ = ["audit_fields", "audit_logger", "log_decision_record"]

audit_logger = logging.getLogger(AUDIT_LOGGER_NAME)


def audit_fields(
    decision: Any,
    requested: str | None,
    model_sent: str | None,
    guardrail_id: str | None,
    guardrail_version: str | None,
    profile: str | None,
) -> dict[str, Any]:
    """The parts of a call's audit-log record fixed by its decision."""
    return {
        "changes": [str(c.path) for c in getattr(decision, "changes", ()) or ()],
        "model_requested": requested,
        "model_sent": model_sent,
        "inference_profile": profile,
        "guardrail_id": guardrail_id,
        "guardrail_version": guardrail_version,
    }


def log_decision_record(record: CallRecord, rules: Sequence[str], stage: str) -> None:
    """One structured, JSON-serializable, content-free record per decision.

    The same fields for every stage that decides (``engine``, ``wire``,
    ``before-send``, ``transport``, ``control-plane``); a refusal after the
    engine's decision gets a record of its own, with the call's model and guardrail.
    """
    # A violation is worth a WARNING (enforced or only logged); an allowed call is INFO.
    level = logging.WARNING if rules else logging.INFO
    if not audit_logger.isEnabledFor(level):
        return
    span_context = record.span.get_span_context()
    decided = record._audit_fields
    t = record._t
    fields: dict[str, Any] = {
        "operation": record.operation,
        "decision": record.outcome,
        "mode": t.mode,
        "stage": stage,
        "rules": list(rules),
        "changes": decided.get("changes", []),
        "model_requested": decided.get("model_requested", _bounded.model(record.model)),
        "model_sent": decided.get("model_sent"),
        "inference_profile": decided.get("inference_profile"),
        "guardrail_id": decided.get("guardrail_id"),
        "guardrail_version": decided.get("guardrail_version"),
        "region": t.region,
        "policy_digest": t.policy_digest,
        "policy_release": t.policy_release,
        "policy_serial": t.policy_serial,
    }
    if span_context.is_valid:
        fields["trace_id"] = format(span_context.trace_id, "032x")
        fields["span_id"] = format(span_context.span_id, "016x")
    audit_logger.log(
        level,
        "securebedrock decision: %s %s rules=%s",
        record.outcome,
        record.operation,
        ",".join(rules) or "-",
        extra={"securebedrock": fields},
    )
