"""Hand a ``securebedrock.Session`` to frameworks that build their own clients.

Agent frameworks typically take a ``boto3.Session`` and call
``session.client("bedrock-runtime")`` themselves. A ``securebedrock.Session``
is a ``boto3.Session`` whose bedrock-runtime clients are secured; other
services' clients are untouched.

Run it: ``python examples/session_for_frameworks.py``.
"""

from __future__ import annotations

from typing import Any

import boto3

import securebedrock
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec


# --8<-- [start:framework]
class ThirdPartyAgent:
    """Stands in for a framework: it only knows about boto3 sessions."""

    def __init__(self, session: boto3.Session, **client_kwargs: Any) -> None:
        self._client = session.client("bedrock-runtime", **client_kwargs)

    def run(self, task: str) -> str:
        response = self._client.converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            messages=[{"role": "user", "content": [{"text": task}]}],
        )
        return str(response["output"]["message"]["content"][0]["text"])


# --8<-- [end:framework]


def main() -> None:
    """Give the framework a secured session; the guardrail reaches the server."""
    guardrail = GuardrailSpec(identifier="gr0session01", version="2")
    with EmbeddedBedrock(guardrails=[guardrail]) as server:
        org = securebedrock.Policy.from_toml(
            'version = 1\n[guardrail]\nidentifier = "gr0session01"\nversion = "2"\n'
        )
        with server.org_policy(org):  # a temporary org policy file, pinned to the server
            # --8<-- [start:session]
            session = securebedrock.Session()
            agent = ThirdPartyAgent(session, **server.client_kwargs())
            # --8<-- [end:session]
        print("agent answered:", agent.run("Summarise the quarterly report."))
        print("guardrail on the wire:", server.requests[-1].json["guardrailConfig"])


if __name__ == "__main__":
    main()
