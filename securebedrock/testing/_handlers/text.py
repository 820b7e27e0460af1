"""Reading request bodies: the text a prompt carries, token counts, model ids."""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "GEO_PREFIXES",
    "USE_TOOL",
    "base_model_id",
    "count_tokens",
    "text_of_any",
    "text_of_converse_blocks",
]

#: The geography prefixes of cross-region inference profile ids.
GEO_PREFIXES = ("us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")
#: "use tool [name]" in the latest user message makes the model ask for a tool.
USE_TOOL = re.compile(r"use tool(?:\s+([A-Za-z0-9_-]+))?", re.IGNORECASE)


def count_tokens(text: str) -> int:
    """Deterministic and cheap: one token per whitespace-separated word."""
    return len(text.split())


def text_of_converse_blocks(blocks: Any) -> list[str]:
    """The strings in Converse content blocks (text, guard content, tool results)."""
    texts: list[str] = []
    if not isinstance(blocks, list):
        return texts
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        guard = block.get("guardContent")
        if isinstance(guard, dict) and isinstance(guard.get("text"), dict):
            text = guard["text"].get("text")
            if isinstance(text, str):
                texts.append(text)
        result = block.get("toolResult")
        if isinstance(result, dict):
            for item in result.get("content") or []:
                if isinstance(item, dict) and isinstance(item.get("text"), str):
                    texts.append(item["text"])
    return texts


def text_of_any(value: Any) -> list[str]:
    """All strings under the prompt-bearing keys of an arbitrary model body."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in text_of_any(item)]
    if isinstance(value, dict):
        texts: list[str] = []
        for key in ("text", "content", "messages", "system", "prompt", "inputText", "message"):
            if key in value:
                texts.extend(text_of_any(value[key]))
        return texts
    return []


def base_model_id(model_id: str) -> str:
    """The foundation-model id behind a model id, profile id or ARN (best effort)."""
    resource = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    for prefix in GEO_PREFIXES:
        if resource.startswith(prefix):
            return resource[len(prefix) :]
    return resource
