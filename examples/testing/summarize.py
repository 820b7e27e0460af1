"""The application code under test: a tiny summarizer on Amazon Bedrock.

It takes any bedrock-runtime client, so production passes
``securebedrock.client(region_name=...)`` and tests pass one pointed at the
embedded endpoint.
"""

from __future__ import annotations

from typing import Any

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"


# --8<-- [start:summarize]
def summarize(client: Any, text: str) -> str:
    """One Converse call; returns the model's text (or the guardrail's message)."""
    response = client.converse(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": f"Summarize: {text}"}]}],
        inferenceConfig={"maxTokens": 200},
    )
    return str(response["output"]["message"]["content"][0]["text"])


# --8<-- [end:summarize]


def summarize_streaming(client: Any, text: str) -> str:
    """The same with ConverseStream, joining the text deltas."""
    response = client.converse_stream(
        modelId=MODEL_ID,
        messages=[{"role": "user", "content": [{"text": f"Summarize: {text}"}]}],
    )
    parts = []
    for event in response["stream"]:
        delta = event.get("contentBlockDelta", {}).get("delta", {})
        if "text" in delta:
            parts.append(delta["text"])
    return "".join(parts)
