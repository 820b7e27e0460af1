"""What the embedded endpoint records: requests as received, failed handshakes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["HandshakeFailure", "RecordedHeaders", "RecordedRequest", "Recorder"]


class RecordedHeaders(Mapping[str, str]):
    """Request headers as received, looked up case-insensitively."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = tuple(items)
        self._lookup: dict[str, str] = {}
        for name, value in self._items:
            key = name.lower()
            self._lookup[key] = f"{self._lookup[key]},{value}" if key in self._lookup else value

    def __getitem__(self, name: str) -> str:
        return self._lookup[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup

    def __iter__(self) -> Iterator[str]:
        return iter(self._lookup)

    def __len__(self) -> int:
        return len(self._lookup)

    def items_as_received(self) -> tuple[tuple[str, str], ...]:
        """The headers in wire order with their original spelling."""
        return self._items

    def __repr__(self) -> str:
        return f"RecordedHeaders({dict(self._lookup)!r})"


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One request the server received, refused ones included.

    ``status`` is what the server answered; ``error_type`` the AWS error code
    it sent (``None`` on success); ``auth`` is ``"sigv4"``, ``"bearer"`` or
    ``"none"`` as *presented* by the client, whether or not it verified.
    """

    operation: str
    method: str
    path: str
    query: str
    headers: RecordedHeaders
    body: bytes
    model_id: str | None
    tls_version: str | None
    client_address: tuple[str, int]
    status: int
    error_type: str | None
    auth: Literal["sigv4", "bearer", "none"]
    access_key: str | None
    received_at: float

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or ``None`` when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None


@dataclass(frozen=True, kw_only=True)
class HandshakeFailure:
    """A connection whose TLS handshake failed (no HTTP request was read)."""

    client_address: tuple[str, int]
    error: str


class Recorder:
    """The requests and failed handshakes one endpoint saw, in arrival order.

    Also numbers the responses (``x-amzn-RequestId``). Thread-safe: every
    connection thread records here.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._handshake_failures: list[HandshakeFailure] = []
        self._request_counter = 0

    def record(self, request: RecordedRequest) -> None:
        """Keep one request."""
        with self._lock:
            self._requests.append(request)

    def handshake_failed(self, client_address: Any, error: BaseException) -> None:
        """Keep one connection whose TLS handshake failed."""
        failure = HandshakeFailure(
            client_address=(str(client_address[0]), int(client_address[1])),
            error=f"{type(error).__name__}: {error}",
        )
        with self._lock:
            self._handshake_failures.append(failure)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests kept so far."""
        with self._lock:
            return list(self._requests)

    @property
    def handshake_failures(self) -> list[HandshakeFailure]:
        """A snapshot of the failed handshakes kept so far."""
        with self._lock:
            return list(self._handshake_failures)

    def clear(self) -> None:
        """Forget requests and handshake failures (request ids keep counting)."""
        with self._lock:
            self._requests.clear()
            self._handshake_failures.clear()

    def request_id(self) -> str:
        """A fresh, increasing request id."""
        with self._lock:
            self._request_counter += 1
            number = self._request_counter
        return f"00000000-0000-4000-8000-{number:012d}"
