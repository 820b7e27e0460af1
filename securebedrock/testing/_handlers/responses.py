"""What a handler answers: modelled errors, JSON and event-stream responses.

The HTTP layer (``_server``) writes these; the handlers only build them.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ApiError",
    "JsonResponse",
    "Response",
    "StreamResponse",
    "iso",
    "json_response",
    "parse_json_object",
]

_STATUS_FOR_ERROR = {
    "AccessDeniedException": 403,
    "ConflictException": 400,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ModelTimeoutException": 408,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 400,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 429,
    "ValidationException": 400,
}


class ApiError(Exception):
    """A modelled AWS error: ``x-amzn-ErrorType`` header, status, JSON ``message``."""

    def __init__(self, error_type: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else _STATUS_FOR_ERROR.get(error_type, 400)


@dataclass(frozen=True, kw_only=True)
class JsonResponse:
    """A complete (non-streaming) response."""

    body: bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True, kw_only=True)
class StreamResponse:
    """An event-stream response: each item of ``events`` is one framed message."""

    events: Iterator[bytes]
    headers: Mapping[str, str] = field(default_factory=dict)


Response = JsonResponse | StreamResponse


def json_response(
    body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> JsonResponse:
    """A 200 JSON response with ``body`` (compact) and ``headers``."""
    return JsonResponse(
        body=json.dumps(body, separators=(",", ":")).encode("utf-8"), headers=dict(headers or {})
    )


def iso(moment: datetime.datetime) -> str:
    """``moment`` as the service writes timestamps (UTC, microseconds, ``Z``)."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_json_object(body: bytes, what: str) -> dict[str, Any]:
    """``body`` parsed as a JSON object, or the ``ValidationException`` Bedrock gives."""
    try:
        parsed = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            "ValidationException", f"Malformed input request: {what} is not JSON"
        ) from None
    if not isinstance(parsed, dict):
        raise ApiError("ValidationException", f"Malformed input request: {what} must be an object")
    return parsed
