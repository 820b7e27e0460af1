"""Basic Converse call: one import changes, nothing else does.

Run it: ``python examples/basic_converse.py`` (starts its own embedded endpoint
on loopback; no AWS account, no network).
"""

from __future__ import annotations

from typing import Any

import securebedrock
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


# --8<-- [start:ask]
def ask(client: Any, question: str) -> str:
    """Exactly the code you would write for ``boto3.client("bedrock-runtime")``."""
    response = client.converse(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": question}]}],
        inferenceConfig={"maxTokens": 256},
    )
    return str(response["output"]["message"]["content"][0]["text"])


# --8<-- [end:ask]


def main() -> None:
    """Ask one question through a secured client and show what the server received."""
    guardrail = GuardrailSpec(identifier="gr0basic0001", version="1")
    with EmbeddedBedrock(guardrails=[guardrail]) as server:
        # The org policy mandates a guardrail; securebedrock attaches it to every call.
        # --8<-- [start:policy]
        policy = securebedrock.Policy.from_toml(
            """
            version = 1
            [guardrail]
            identifier = "gr0basic0001"
            version = "1"
            """
        )
        # --8<-- [end:policy]
        # On a host the org policy is /etc/securebedrock/policy.toml; here a temporary
        # org policy file holds it, pinned to this loopback server.
        with server.org_policy(policy):
            # --8<-- [start:client]
            # was: client = boto3.client("bedrock-runtime", region_name="us-east-1")
            client = securebedrock.client(**server.client_kwargs())
            # --8<-- [end:client]
        print("answer:", ask(client, "What is the capital of France?"))
        received = server.requests[-1].json
        print("guardrail the server received:", received.get("guardrailConfig"))


if __name__ == "__main__":
    main()
