"""Fault injection: errors, delays and broken streams armed for the next requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from .._handlers import ApiError

__all__ = ["Fault", "Faults"]


@dataclass(kw_only=True)
class Fault:
    """One armed fault and how many more requests it hits."""

    kind: Literal["error", "close", "delay", "stream_error", "end_early"]
    remaining: int
    operation: str | None
    error: ApiError | None = None
    seconds: float = 0.0
    after_events: int = 2
    partial_event: bool = False
    close_delimited: bool = False


class Faults:
    """Fault injection: each method arms a fault for the next ``n`` matching requests.

    ``operation`` (e.g. ``"Converse"``) limits a fault to one operation; by
    default it applies to any authenticated request. Faults hit only requests
    that passed authentication, as real throttling does. Remember that botocore
    retries throttling and 5xx errors by itself: arm more faults than its
    attempts, or give the client ``Config(retries={"max_attempts": 1})``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def _arm(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("n must be at least 1")
        with self._lock:
            self._faults.append(fault)

    def error(
        self,
        error_type: str,
        n: int = 1,
        *,
        status: int | None = None,
        message: str | None = None,
        operation: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests with a modelled error of ``error_type``."""
        self._arm(
            Fault(
                kind="error",
                remaining=n,
                operation=operation,
                error=ApiError(error_type, message or f"Injected {error_type}", status),
            )
        )

    def throttle(self, n: int = 1, *, operation: str | None = None) -> None:
        """429 ``ThrottlingException`` for the next ``n`` requests."""
        self.error(
            "ThrottlingException",
            n,
            message="Too many requests, please wait before trying again.",
            operation=operation,
        )

    def server_error(self, n: int = 1, status: int = 500, *, operation: str | None = None) -> None:
        """5xx for the next ``n`` requests: 500 ``InternalServerException`` or 503
        ``ServiceUnavailableException``."""
        if status == 503:
            self.error("ServiceUnavailableException", n, status=503, operation=operation)
        elif status == 500:
            self.error("InternalServerException", n, status=500, operation=operation)
        else:
            raise ValueError("status must be 500 or 503")

    def model_not_ready(self, n: int = 1, *, operation: str | None = None) -> None:
        """429 ``ModelNotReadyException`` for the next ``n`` requests."""
        self.error(
            "ModelNotReadyException",
            n,
            message="Model is not ready for inference.",
            operation=operation,
        )

    def access_denied(self, n: int = 1, *, operation: str | None = None) -> None:
        """403 ``AccessDeniedException`` for the next ``n`` requests."""
        self.error(
            "AccessDeniedException",
            n,
            message="You don't have access to the model with the specified model ID.",
            operation=operation,
        )

    def close_mid_stream(
        self, n: int = 1, *, after_events: int = 2, operation: str | None = None
    ) -> None:
        """Drop the connection after ``after_events`` events of the next ``n`` streams."""
        self._arm(Fault(kind="close", remaining=n, operation=operation, after_events=after_events))

    def end_stream_early(
        self,
        n: int = 1,
        *,
        after_events: int = 2,
        partial_event: bool = False,
        close_delimited: bool = False,
        operation: str | None = None,
    ) -> None:
        """End the next ``n`` streams after ``after_events`` events as if they were complete.

        The HTTP response ends normally (the final chunk is written), so the client
        sees an ordinary end of stream: what a proxy, a load balancer or a server that
        gives up can make of a cut stream. ``partial_event=True`` first sends half of
        the next event (botocore drops an incomplete event without a word);
        ``close_delimited=True`` answers without chunked framing and ends the body by
        closing the connection (HTTP/1.1 allows it; the client cannot tell a cut
        from the end).
        """
        self._arm(
            Fault(
                kind="end_early",
                remaining=n,
                operation=operation,
                after_events=after_events,
                partial_event=partial_event,
                close_delimited=close_delimited,
            )
        )

    def stream_error(
        self,
        error_type: str = "modelStreamErrorException",
        n: int = 1,
        *,
        after_events: int = 2,
        message: str = "Injected error in the stream",
        operation: str | None = None,
    ) -> None:
        """End the next ``n`` streams with an exception *event* after ``after_events``.

        ``error_type`` is the stream's member name, e.g. ``"throttlingException"``,
        ``"modelStreamErrorException"``, ``"internalServerException"``; botocore
        raises ``EventStreamError`` with that code while the stream is iterated.
        """
        self._arm(
            Fault(
                kind="stream_error",
                remaining=n,
                operation=operation,
                after_events=after_events,
                error=ApiError(error_type, message, 200),
            )
        )

    def delay(self, seconds: float, n: int = 1, *, operation: str | None = None) -> None:
        """Wait ``seconds`` before answering the next ``n`` requests."""
        self._arm(Fault(kind="delay", remaining=n, operation=operation, seconds=seconds))

    def clear(self) -> None:
        """Disarm every pending fault."""
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> int:
        """How many fault occurrences are still armed."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _take(self, kind: str, operation: str) -> Fault | None:
        # The armed fault of ``kind`` for ``operation``, counted as used (the HTTP layer's).
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.operation in (None, operation):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None
