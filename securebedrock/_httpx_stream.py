"""Response bodies of :class:`securebedrock.HTTPTransport`: passed through, observed.

The bytes reach the caller unchanged. On the way, a bounded observer reads what the
audit span needs and nothing else: token usage, finish reasons, the guardrail action,
and for a server-sent-event stream whether its terminal event came (``data: [DONE]``
for OpenAI Chat Completions, ``message_stop`` for Anthropic Messages,
``response.completed`` for Responses). A stream that ends cleanly without it is a
:class:`StreamInterruptedError` for the caller, and an error on the span.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

from ._errors import StreamInterruptedError
from ._telemetry import CallRecord

__all__ = ["BodyObserver", "wrapped_stream_classes"]

_log = logging.getLogger("securebedrock.telemetry")

_MAX_BODY: Final = 1 << 20
_MAX_LINE: Final = 1 << 20
_TERMINAL: Final = {
    "openai": "data: [DONE]",
    "anthropic": "message_stop",
    "responses": "response.completed",
}
_RESPONSES_TERMINAL: Final = frozenset(
    {"response.completed", "response.failed", "response.incomplete"}
)


class BodyObserver:
    """Reads usage, finish reasons and stream endings from a response body (no content)."""

    def __init__(self, record: CallRecord, *, operation: str, style: str) -> None:
        self.record = record
        self.operation = operation
        # "openai", "anthropic", "responses" (SSE), or "json"/"eventstream" (whole body).
        self.style = style
        self.terminal_seen = False
        self.events = 0
        self.last_event: str | None = None
        self._pending = b""
        self._body = bytearray()
        self._too_big = False

    # -- feeding ------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """One chunk of the body as it passes (never raises)."""
        try:
            if self.style in ("openai", "anthropic", "responses"):
                self._feed_sse(chunk)
            elif self.style == "json" and not self._too_big:
                if len(self._body) + len(chunk) > _MAX_BODY:
                    self._too_big = True
                    self._body.clear()
                else:
                    self._body.extend(chunk)
        except Exception:  # telemetry never breaks a call
            self._pending = b""

    def _feed_sse(self, chunk: bytes) -> None:
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > _MAX_LINE:
            self._pending = b""
        for raw in lines:
            self._line(raw.rstrip(b"\r"))

    def _line(self, line: bytes) -> None:
        if line.startswith(b"event:"):
            self.events += 1
            name = line[6:].strip().decode("ascii", "replace")
            self.last_event = name[:64]
            if (self.style == "anthropic" and name == "message_stop") or (
                self.style == "responses" and name in _RESPONSES_TERMINAL
            ):
                self.terminal_seen = True
            return
        if not line.startswith(b"data:"):
            return
        payload = line[5:].strip()
        if self.style == "openai":
            self.events += 1
            if payload == b"[DONE]":
                self.terminal_seen = True
                return
        try:
            document = json.loads(payload)
        except ValueError:
            return
        if isinstance(document, dict):
            self._facts(document)

    # -- facts (never content) ----------------------------------------------------------

    def _facts(self, document: dict[str, Any]) -> None:
        record = self.record
        kind = document.get("type")
        if kind == "message_stop" and self.style == "anthropic":
            self.terminal_seen = True
        if kind in _RESPONSES_TERMINAL and self.style == "responses":
            self.terminal_seen = True
        message = document.get("message") if kind == "message_start" else None
        response = document.get("response") if isinstance(kind, str) else None
        usage = document.get("usage")
        for holder in (message, response):
            if isinstance(holder, dict) and isinstance(holder.get("usage"), dict):
                usage = holder["usage"]
        if isinstance(usage, dict):
            record._usage(
                usage.get("prompt_tokens", usage.get("input_tokens", record.input_tokens)),
                usage.get("completion_tokens", usage.get("output_tokens")),
            )
        choices = document.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    record._finish_reason(choice["finish_reason"])
        for holder in (document, document.get("delta")):
            if isinstance(holder, dict) and holder.get("stop_reason"):
                record._finish_reason(holder["stop_reason"])

    # -- endings ------------------------------------------------------------------------

    def finished(self) -> StreamInterruptedError | None:
        """The body ended cleanly: record what it said; the error when it was cut short."""
        try:
            if self.style == "json" and self._body and not self._too_big:
                document = json.loads(bytes(self._body))
                if isinstance(document, dict):
                    self._facts(document)
        except Exception as exc:  # telemetry never breaks a call
            _log.debug("securebedrock telemetry error in a body: %s", type(exc).__name__)
        terminal = _TERMINAL.get(self.style)
        if terminal is None or self.terminal_seen:
            self.record.stream_ended("exhausted") if self._is_stream else self.record.end()
            return None
        error = StreamInterruptedError(
            operation=self.operation,
            events=self.events,
            terminal=terminal,
            last_event=self.last_event,
        )
        self.record.stream_ended("interrupted", error)
        return error

    @property
    def _is_stream(self) -> bool:
        return self.style != "json"

    def failed(self, error: BaseException) -> None:
        """The body failed (connection cut, closed early)."""
        if self._is_stream:
            self.record.stream_ended("error", error)
        else:
            self.record.end(error=error)

    def closed(self) -> None:
        """The caller closed the body before its end."""
        if self._is_stream:
            self.record.stream_ended("closed")
        else:
            self.record.end()


class _SyncWrapped:
    """An httpx sync byte stream that passes the bytes through an observer."""

    def __init__(self, inner: Any, observer: BodyObserver) -> None:
        self._inner = inner
        self._observer = observer

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._inner:
                self._observer.feed(chunk)
                yield chunk
        except GeneratorExit:
            self._observer.closed()
            raise
        except BaseException as exc:
            self._observer.failed(exc)
            raise
        error = self._observer.finished()
        if error is not None:
            raise error

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._observer.closed()


class _AsyncWrapped:
    """An httpx async byte stream that passes the bytes through an observer."""

    def __init__(self, inner: Any, observer: BodyObserver) -> None:
        self._inner = inner
        self._observer = observer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._observer.feed(chunk)
                yield chunk
        except GeneratorExit:
            self._observer.closed()
            raise
        except BaseException as exc:
            self._observer.failed(exc)
            raise
        error = self._observer.finished()
        if error is not None:
            raise error

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._observer.closed()


@functools.lru_cache(maxsize=4)
def wrapped_stream_classes(module: Any) -> tuple[type[Any], type[Any]]:
    """The sync and async wrappers as subclasses of ``module``'s byte-stream classes.

    httpx and httpx2 check ``isinstance(response.stream, SyncByteStream)`` before
    iterating, so the wrapper must be one of the module the response belongs to.
    """
    sync_cls = type("SecuredSyncByteStream", (_SyncWrapped, module.SyncByteStream), {})
    async_cls = type("SecuredAsyncByteStream", (_AsyncWrapped, module.AsyncByteStream), {})
    return sync_cls, async_cls
