"""Which failed attempts may be retried: throttling, transient errors, some transport
failures; never a securebedrock refusal or a TLS or proxy failure."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)

from .._errors import SecureBedrockError

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "ModelNotReadyException",
        "InternalServerException",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_RETRYABLE_TRANSPORT = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
)
# Security-relevant transport failures: retrying cannot fix them and would only
# repeat a refused connection.
_NEVER_RETRY_TRANSPORT = (SSLError, ProxyConnectionError)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes/contexts, and exceptions botocore wrapped in ``kwargs['error']``."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                todo.append(nxt)
        wrapped = getattr(current, "kwargs", None)
        if isinstance(wrapped, dict) and isinstance(wrapped.get("error"), BaseException):
            todo.append(wrapped["error"])


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed attempt may be retried (see the module docstring)."""
    for linked in _chain(exc):
        if isinstance(linked, (SecureBedrockError, *_NEVER_RETRY_TRANSPORT)):
            return False
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code", ""))
        status = (exc.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
        if code in _THROTTLING_CODES or code in _TRANSIENT_CODES:
            return True
        return isinstance(status, int) and (
            status == 429 or (500 <= status < 600 and status != 501)
        )
    return isinstance(exc, _RETRYABLE_TRANSPORT)
