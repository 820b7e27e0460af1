"""CountTokens, ApplyGuardrail and InvokeGuardrailChecks: text checked, no model run."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .responses import ApiError, Response, json_response, parse_json_object
from .text import count_tokens as _count_words
from .text import text_of_any, text_of_converse_blocks

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["apply_guardrail", "count_tokens", "invoke_guardrail_checks"]


def count_tokens(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``CountTokens``: the tokens of a Converse or an InvokeModel input."""
    backend.check_model_id(labels["modelId"])
    request = parse_json_object(body, "request body")
    token_input = request.get("input")
    if not isinstance(token_input, dict):
        raise ApiError("ValidationException", "input is required")
    if isinstance(token_input.get("converse"), dict):
        converse = token_input["converse"]
        texts = text_of_converse_blocks(converse.get("system"))
        for message in converse.get("messages") or []:
            if isinstance(message, dict):
                texts.extend(text_of_converse_blocks(message.get("content")))
        count = _count_words("\n".join(texts))
    elif isinstance(token_input.get("invokeModel"), dict):
        raw = token_input["invokeModel"].get("body")
        try:
            decoded = base64.b64decode(str(raw), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("ValidationException", "invokeModel.body is not base64") from None
        model_body = parse_json_object(decoded, "invokeModel.body")
        count = _count_words("\n".join(text_of_any(model_body)))
    else:
        raise ApiError("ValidationException", "input needs converse or invokeModel")
    return json_response({"inputTokens": count})


def apply_guardrail(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``ApplyGuardrail``: the guardrail in the path assesses the given content."""
    request = parse_json_object(body, "request body")
    try:
        spec = backend.find_guardrail(labels["guardrailIdentifier"], labels["guardrailVersion"])
    except ApiError:
        raise ApiError(
            "ResourceNotFoundException", "The guardrail identifier or version does not exist."
        ) from None
    assert spec is not None  # noqa: S101  (identifier is never empty here)
    source = request.get("source")
    if source not in ("INPUT", "OUTPUT"):
        raise ApiError("ValidationException", "source must be INPUT or OUTPUT")
    texts: list[str] = []
    for block in request.get("content") or []:
        if isinstance(block, dict) and isinstance(block.get("text"), dict):
            text = block["text"].get("text")
            if isinstance(text, str):
                texts.append(text)
    joined = "\n".join(texts)
    words = spec.blocked_in(joined)
    message = spec.blocked_input_message if source == "INPUT" else spec.blocked_output_message
    assessment: dict[str, Any] = {}
    if words:
        assessment["wordPolicy"] = {
            "customWords": [{"match": w, "action": "BLOCKED", "detected": True} for w in words],
            "managedWordLists": [],
        }
    response: dict[str, Any] = {
        "usage": {
            "topicPolicyUnits": 0,
            "contentPolicyUnits": 0,
            "wordPolicyUnits": max(1, (len(joined) + 999) // 1000),
            "sensitiveInformationPolicyUnits": 0,
            "sensitiveInformationPolicyFreeUnits": 0,
            "contextualGroundingPolicyUnits": 0,
        },
        "action": "GUARDRAIL_INTERVENED" if words else "NONE",
        "outputs": [{"text": message}] if words else [],
        "assessments": [assessment],
        "guardrailCoverage": {"textCharacters": {"guarded": len(joined), "total": len(joined)}},
    }
    if words:
        response["actionReason"] = "Guardrail blocked."
    return json_response(response)


def invoke_guardrail_checks(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``InvokeGuardrailChecks``: every requested check passes with a zero score."""
    request = parse_json_object(body, "request body")
    messages = request.get("messages")
    checks = request.get("checks")
    if not isinstance(messages, list) or not messages or not isinstance(checks, dict):
        raise ApiError("ValidationException", "messages and checks are required")
    units = 1
    results: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    for name in ("contentFilter", "promptAttack"):
        if isinstance(checks.get(name), dict):
            results[name] = {
                "results": [
                    {"category": c.get("category"), "severityScore": 0.0}
                    for c in checks[name].get("categories") or []
                    if isinstance(c, dict)
                ]
            }
            usage[name] = {"textUnits": units}
    if isinstance(checks.get("sensitiveInformation"), dict):
        results["sensitiveInformation"] = {"results": [], "truncated": False}
        usage["sensitiveInformation"] = {"textUnits": units}
    return json_response({"results": results, "usage": usage})
