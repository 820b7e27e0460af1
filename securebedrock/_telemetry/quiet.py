"""The call record for when nothing would keep what a full record records.

:meth:`~.client.Telemetry.start` hands one out when the tracer records no span,
the metric instruments record nothing and the audit logger drops INFO records
(only ``opentelemetry-api`` installed, or explicit no-op providers, and the
default logging set-up). Its common path does no record work: no span
attributes, no bounded identifiers, no audit fields, no metric attributes, and
the span is not made current (a no-op tracer's span is the caller's own span
context already).

Every violation is still audited exactly as a full record audits it (the
WARNING audit-log record with the call's model, guardrail and stage): a
decision with violations, and any refusal found later (wire check,
``before-send`` check, transport), go through :class:`~.spans.CallRecord`'s own
code, after replaying a pending clean decision so the record carries its fields.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from .._operations import operation as operation_row
from .failopen import error_type, log
from .spans import CallRecord

if TYPE_CHECKING:
    from .client import Telemetry

__all__ = ["QuietRecord"]

_NOT_CURRENT: AbstractContextManager[None] = contextlib.nullcontext()


class QuietRecord(CallRecord):
    """A :class:`CallRecord` that records only what can be kept: violations, in the audit log."""

    def __init__(self, telemetry: Telemetry, operation: str, params: Mapping[str, Any]) -> None:
        super().__init__(telemetry, operation, params, span=trace.INVALID_SPAN)
        #: A clean decision not yet turned into audit fields (done if a refusal follows).
        self._pending: tuple[Any, str, Mapping[str, Any]] | None = None

    def decided(self, decision: Any, outcome: str, params_sent: Mapping[str, Any]) -> None:
        """A clean decision is kept as it is; one with violations is audited at once."""
        if getattr(decision, "violations", None) or self.rules:
            super().decided(decision, outcome, params_sent)
            return
        self.outcome = outcome
        self._pending = (decision, outcome, params_sent)

    def late(self, violations: Sequence[Any], outcome: str, stage: str) -> None:
        """A refusal after the decision: audited like a full record's, with its fields."""
        pending, self._pending = self._pending, None
        if pending is not None:
            # What the full record would have done at decision time (its INFO record is
            # dropped: that is why this record is quiet), so the refusal's record names
            # the model and guardrail the decision fixed.
            super().decided(*pending)
        super().late(violations, outcome, stage)

    def active(self) -> AbstractContextManager[None]:
        """Nothing to make current: the no-op tracer's span is the caller's span context."""
        return _NOT_CURRENT

    def attempt(self, number: int, error: BaseException | None, retry_delay: float | None) -> None:
        """Only the rules a log_only policy let the connection break (audited)."""
        connection = self._t.connection
        if connection is None:
            return
        try:
            info = connection.last()
            if info is not None and getattr(info, "violations", None):
                self._transport_violations(info)
        except Exception as exc:
            log.debug("securebedrock telemetry error in attempt: %s", type(exc).__name__)

    def response(self, response: Any, stream_wrapper: Any = None) -> Any:
        """A stream is still wrapped (it must end truthfully); anything else just ends."""
        if operation_row(self.operation).stream_key is not None:
            return super().response(response, stream_wrapper)
        self.end()
        return response

    def end(self, error: BaseException | None = None) -> None:
        """Only the first call counts; nothing is recorded."""
        try:
            self._end_token.pop()
        except IndexError:
            return
        if error is not None:
            try:
                self.error_type = error_type(error)
            except Exception as exc:
                log.debug("securebedrock telemetry error in end: %s", type(exc).__name__)
