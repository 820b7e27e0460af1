"""securebedrock: a drop-in, policy-enforcing replacement for the boto3 bedrock-runtime client.

    import securebedrock
    client = securebedrock.client(region_name="us-east-1")
    client.converse(modelId=..., messages=[...])   # same methods, responses, exceptions

The org policy file (``SECUREBEDROCK_POLICY_FILE``) is the floor; a ``policy=``
given in code may only tighten it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._client import Session, client, secure
from ._errors import (
    NON_RETRYABLE_ERRORS,
    PolicyConfigError,
    PolicyViolation,
    SecureBedrockError,
    StreamInterruptedError,
    TransportSecurityError,
)
from ._policy import Policy
from ._retry import RetryConfig
from ._version import __version__

if _TYPE_CHECKING:
    from ._httpx import AsyncHTTPTransport, HTTPTransport

__all__ = [
    "AsyncHTTPTransport",
    "HTTPTransport",
    "NON_RETRYABLE_ERRORS",
    "Policy",
    "PolicyConfigError",
    "PolicyViolation",
    "RetryConfig",
    "SecureBedrockError",
    "Session",
    "StreamInterruptedError",
    "TransportSecurityError",
    "__version__",
    "client",
    "secure",
]


def __getattr__(name: str) -> object:
    # The httpx transports import httpx, an optional dependency (the ``httpx`` extra):
    # loaded on first use, so ``import securebedrock`` works without it.
    if name in ("HTTPTransport", "AsyncHTTPTransport"):
        from . import _httpx

        return getattr(_httpx, name)
    raise AttributeError(f"module 'securebedrock' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "AsyncHTTPTransport", "HTTPTransport"})
