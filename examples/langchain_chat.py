"""LangChain: give ``ChatBedrockConverse`` a secured client.

``langchain-aws`` accepts a ready-made ``bedrock-runtime`` client; hand it the
one securebedrock returns and every call LangChain makes is checked.

Run it: ``python examples/langchain_chat.py`` (needs ``pip install langchain-aws``).
"""

from __future__ import annotations

from typing import Any

from langchain_aws import ChatBedrockConverse

import securebedrock
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec


# --8<-- [start:chat]
def make_chat_model(client: Any) -> Any:
    """A LangChain chat model that sends through ``client`` (a secured client)."""
    return ChatBedrockConverse(
        client=client,
        model="anthropic.claude-3-haiku-20240307-v1:0",
        region_name=client.meta.region_name,
        max_tokens=256,
    )


# --8<-- [end:chat]


def main() -> None:
    """Invoke a LangChain chat model; the mandated guardrail reaches the server."""
    guardrail = GuardrailSpec(identifier="gr0langch001", version="1")
    with EmbeddedBedrock(guardrails=[guardrail]) as server:
        org = securebedrock.Policy.from_toml(
            'version = 1\n[guardrail]\nidentifier = "gr0langch001"\nversion = "1"\n'
        )
        with server.org_policy(org):  # a temporary org policy file, pinned to the server
            client = securebedrock.client(**server.client_kwargs())
        chat = make_chat_model(client)
        reply = chat.invoke("What does a guardrail do?")
        print("LangChain reply:", reply.content)
        print("guardrail on the wire:", server.requests[-1].json["guardrailConfig"])


if __name__ == "__main__":
    main()
