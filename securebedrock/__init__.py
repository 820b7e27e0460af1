"""securebedrock: a drop-in, policy-enforcing replacement for the boto3 bedrock-runtime client.

    import securebedrock
    client = securebedrock.client(region_name="us-east-1")
    client.converse(modelId=..., messages=[...])   # same methods, responses, exceptions

The org policy file (``SECUREBEDROCK_POLICY_FILE``) is the floor; a ``policy=``
given in code is an overlay that may only tighten it. Build one from TOML
(``Policy.from_toml``) or from the section classes (``Policy(models=ModelsPolicy(
allow=("anthropic.*",)))``): only the keys it sets take part.
"""

from __future__ import annotations

import logging as _logging

from ._client import Session, client, secure
from ._errors import (
    NON_RETRYABLE_ERRORS,
    PolicyConfigError,
    PolicyViolation,
    SecureBedrockError,
    StreamInterruptedError,
    TransportSecurityError,
)
from ._install import UnsecuredClientWarning, install, uninstall
from ._policy import (
    AuditPolicy,
    AuthPolicy,
    GuardrailPolicy,
    InferenceProfilePolicy,
    KnownProfile,
    ModelsPolicy,
    NetworkPolicy,
    OperationsPolicy,
    Policy,
    RegionsPolicy,
    ServiceTierPolicy,
    TLSPolicy,
)
from ._retry import RetryConfig
from ._version import __version__

# A library never configures logging: without this, the "would refuse" warnings of a
# log-only policy would reach stderr through logging's last-resort handler in
# applications that set up no logging. Handlers an application adds still get them.
_logging.getLogger("securebedrock").addHandler(_logging.NullHandler())

__all__ = [
    "AuditPolicy",
    "AuthPolicy",
    "GuardrailPolicy",
    "InferenceProfilePolicy",
    "KnownProfile",
    "ModelsPolicy",
    "NON_RETRYABLE_ERRORS",
    "NetworkPolicy",
    "OperationsPolicy",
    "Policy",
    "PolicyConfigError",
    "PolicyViolation",
    "RegionsPolicy",
    "RetryConfig",
    "SecureBedrockError",
    "ServiceTierPolicy",
    "Session",
    "StreamInterruptedError",
    "TLSPolicy",
    "TransportSecurityError",
    "UnsecuredClientWarning",
    "__version__",
    "client",
    "install",
    "secure",
    "uninstall",
]
