"""An embedded Amazon Bedrock endpoint for offline tests.

A real HTTPS server on loopback with a throwaway CA, speaking the
``bedrock-runtime`` wire protocol faithfully enough that unmodified botocore
parses every response; it verifies SigV4, records every request, and injects
faults on demand::

    from securebedrock.testing import EmbeddedBedrock, GuardrailSpec

    with EmbeddedBedrock(guardrails=[GuardrailSpec(identifier="gr1", version="1")]) as server:
        with server.org_policy():  # a temporary org policy file that pins this server
            client = securebedrock.client(**server.client_kwargs())
        client.converse(modelId="anthropic.claude-3-haiku-20240307-v1:0", messages=[...])
        assert server.requests[-1].operation == "Converse"

Run ``python -m securebedrock.testing`` for a standalone server.
"""

from __future__ import annotations

from ._handlers import DEFAULT_ANSWER, DEFAULT_BLOCKED_MESSAGE, GuardrailSpec, InferenceProfileSpec
from ._server import (
    EmbeddedBedrock,
    Faults,
    HandshakeFailure,
    RecordedHeaders,
    RecordedRequest,
)

__all__ = [
    "DEFAULT_ANSWER",
    "DEFAULT_BLOCKED_MESSAGE",
    "EmbeddedBedrock",
    "Faults",
    "GuardrailSpec",
    "HandshakeFailure",
    "InferenceProfileSpec",
    "RecordedHeaders",
    "RecordedRequest",
]
