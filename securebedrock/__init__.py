"""securebedrock: a drop-in, policy-enforcing replacement for the boto3 bedrock-runtime client.

    import securebedrock
    client = securebedrock.client(region_name="us-east-1")
    client.converse(modelId=..., messages=[...])   # same methods, responses, exceptions

The org policy file (``SECUREBEDROCK_POLICY_FILE``) is the floor; a ``policy=``
given in code may only tighten it.
"""

from __future__ import annotations

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

__all__ = [
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
