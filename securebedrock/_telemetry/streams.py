"""The stream wrapper: a botocore ``EventStream`` whose span ends with the stream.

A stream that ends before its terminal event is an error, for the caller
(:class:`~securebedrock.StreamInterruptedError`) and on the span.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from botocore.eventstream import EventStream

from .._errors import StreamInterruptedError
from .bodies import json_object
from .failopen import log

if TYPE_CHECKING:
    from .spans import CallRecord

__all__ = ["TERMINAL_EVENTS", "SecuredEventStream", "is_terminal"]


if TYPE_CHECKING:
    _EventStreamBase = EventStream[Any]
else:
    _EventStreamBase = EventStream


#: What ends every complete stream, per streaming operation (docs/telemetry.md#streams).
#: ConverseStream: the ``metadata`` event (usage and metrics), sent after ``messageStop``.
#: InvokeModelWithResponseStream: the chunk whose JSON carries Bedrock's own
#: ``amazon-bedrock-invocationMetrics``, which Bedrock adds to the last chunk of a stream.
TERMINAL_EVENTS: Final = {
    "ConverseStream": "a 'metadata' event",
    "InvokeModelWithResponseStream": "a chunk carrying 'amazon-bedrock-invocationMetrics'",
}
_INVOCATION_METRICS: Final = "amazon-bedrock-invocationMetrics"
_INVOCATION_METRICS_BYTES: Final = _INVOCATION_METRICS.encode("ascii")


def is_terminal(operation: str, event: Any) -> bool:
    """Whether ``event`` is the one that ends every complete stream of ``operation``."""
    if type(event) is not dict and not isinstance(event, Mapping):
        return False
    if operation == "ConverseStream":
        return "metadata" in event
    chunk = event.get("chunk")
    if not isinstance(chunk, Mapping):
        return False
    data = chunk.get("bytes")
    if not isinstance(data, bytes | bytearray) or _INVOCATION_METRICS_BYTES not in data:
        return False
    # The name can occur in generated text too: it counts only as a top-level key. A
    # chunk too large, not JSON or not parsable at all is given the benefit of the doubt
    # (never a false alarm on a complete stream).
    try:
        parsed = json_object(bytes(data))
    except Exception as exc:  # RecursionError on absurd nesting, ...
        log.debug("securebedrock: unparsable stream chunk: %s", type(exc).__name__)
        return True
    return parsed is None or _INVOCATION_METRICS in parsed


def _event_type(event: Any) -> str | None:
    """The type of a stream event (its one key, e.g. ``contentBlockDelta``), never content."""
    if isinstance(event, Mapping) and len(event) == 1:
        key = next(iter(event))
        if isinstance(key, str) and len(key) <= 64:
            return key
    return None


def _stream_abandoned(record: CallRecord, inner: Any) -> None:
    """``weakref.finalize`` callback: the caller dropped the stream without ending it.

    Closes the HTTP stream too, so the connection is released now rather than
    whenever the socket happens to be collected.
    """
    try:
        inner.close()
    except Exception as exc:
        log.debug("securebedrock: closing an abandoned stream failed: %s", type(exc).__name__)
    record.stream_ended("abandoned")


class SecuredEventStream(_EventStreamBase):
    """A botocore ``EventStream`` that ends the call's span when the stream ends.

    It *is* an ``EventStream`` (``isinstance`` checks keep passing) and delegates
    everything to the wrapped one: iteration, ``close()``,
    ``get_initial_response()`` and any attribute. The span ends on exhaustion,
    on ``close()``, on any error raised while iterating (``EventStreamError``,
    connection errors, anything), and when the caller drops the stream
    unfinished (``weakref.finalize``: no ``__del__``, so no resurrection and no
    cycle keeps it alive).

    A stream whose HTTP response ends without error but before its terminal event
    (:data:`TERMINAL_EVENTS`) was cut short: iteration raises
    :class:`~securebedrock.StreamInterruptedError` and the span ends with an error,
    instead of handing the caller a partial answer that looks complete.
    """

    # Deliberately not calling EventStream.__init__: all state lives in the wrapped stream.
    def __init__(self, inner: Any, record: CallRecord) -> None:
        self._sb_inner = inner
        self._sb_record = record
        self._sb_events = 0
        self._sb_last_event: Any = None
        self._sb_complete = record.operation not in TERMINAL_EVENTS
        self._sb_converse = record.operation == "ConverseStream"
        # The callback holds the record and the inner stream, never ``self``.
        finalizer = weakref.finalize(self, _stream_abandoned, record, inner)
        finalizer.atexit = False
        self._sb_finalizer = finalizer

    def __iter__(self) -> Iterator[Any]:
        record = self._sb_record
        converse = self._sb_converse
        # Set while the caller holds an event: what is thrown into the generator there
        # (close(), throw()) is the caller's, not the stream's.
        yielded = False
        try:
            for event in self._sb_inner:
                if (
                    converse
                    and type(event) is dict
                    and "contentBlockDelta" in event
                    and "metadata" not in event
                    and record._completion is None
                    and record.first_chunk_seen
                ):
                    # A text delta with nothing to record: what _sb_seen does for it,
                    # inline (nearly every event of a ConverseStream; no call per event).
                    self._sb_events += 1
                    if not self._sb_complete:
                        self._sb_last_event = event
                else:
                    self._sb_seen(event)
                yielded = True
                yield event
                yielded = False
        except BaseException as exc:
            if not yielded:
                self._sb_done("error", exc)
            raise
        self._sb_stopped()

    def _sb_seen(self, event: Any) -> None:
        """One event the wrapped stream yielded: completeness, then telemetry.

        Shared by every way of iterating (``securebedrock.aio``'s async streams too).
        """
        record = self._sb_record
        self._sb_events += 1
        if not self._sb_complete:
            # Kept (not inspected) until the stream ends: only its type is reported.
            self._sb_last_event = event
            # A ConverseStream event is a one-key dict: test it inline (hot path).
            if self._sb_converse and type(event) is dict:
                self._sb_complete = "metadata" in event
            else:
                self._sb_complete = is_terminal(record.operation, event)
            if self._sb_complete:
                self._sb_last_event = None
        # Text deltas are nearly every event of a ConverseStream, and once the first
        # chunk is timed there is nothing to record from them unless a completion
        # digest is being computed: skipping the call saves per-event work
        # (docs/performance.md). Every other event goes through stream_event().
        if not (
            self._sb_converse
            and record._completion is None
            and record.first_chunk_seen
            and type(event) is dict
            and "contentBlockDelta" in event
        ):
            record.stream_event(event)

    def _sb_stopped(self) -> None:
        """The wrapped stream ended without error: complete, or cut short (raises
        :class:`~securebedrock.StreamInterruptedError`)."""
        if self._sb_complete:
            self._sb_done("exhausted")
            return
        operation = self._sb_record.operation
        error = StreamInterruptedError(
            operation=operation,
            events=self._sb_events,
            terminal=TERMINAL_EVENTS[operation],
            last_event=_event_type(self._sb_last_event),
        )
        self._sb_done("interrupted", error)
        raise error

    def _sb_done(self, how: str, error: BaseException | None = None) -> None:
        self._sb_finalizer.detach()
        self._sb_record.stream_ended(how, error)

    def close(self) -> None:
        """Close the underlying HTTP stream and end the span."""
        try:
            self._sb_inner.close()
        finally:
            self._sb_done("closed")

    def get_initial_response(self) -> Any:
        """Delegated to the wrapped stream."""
        return self._sb_inner.get_initial_response()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_sb_"):
            raise AttributeError(name)
        return getattr(self._sb_inner, name)

    def __repr__(self) -> str:
        return f"<securebedrock stream wrapping {self._sb_inner!r}>"
