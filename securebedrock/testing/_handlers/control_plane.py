"""The control plane (service ``bedrock``): GetInferenceProfile and GetGuardrail."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from .responses import ApiError, Response, iso, json_response

if TYPE_CHECKING:
    from .backend import Backend

__all__ = ["get_guardrail", "get_inference_profile"]

_CREATED = iso(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))


def get_inference_profile(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``GetInferenceProfile``: a configured profile and the models it routes to."""
    spec = backend.profile(labels["inferenceProfileIdentifier"])
    if spec is None:
        raise ApiError("ResourceNotFoundException", "The inference profile does not exist.", 404)
    return json_response(
        {
            "inferenceProfileName": spec.name,
            "inferenceProfileArn": spec.arn,
            "inferenceProfileId": spec.identifier,
            "models": [{"modelArn": arn} for arn in spec.models],
            "status": "ACTIVE",
            "type": spec.type,
            "createdAt": _CREATED,
            "updatedAt": _CREATED,
        }
    )


def get_guardrail(
    backend: Backend, labels: Mapping[str, str], query: str, headers: Mapping[str, str], body: bytes
) -> Response:
    """``GetGuardrail``: a configured guardrail at its version (or ``DRAFT``)."""
    spec = backend.guardrail_by_id(labels["guardrailIdentifier"])
    version = dict(parse_qsl(query)).get("guardrailVersion")
    if spec is None or (version is not None and version not in (spec.version, "DRAFT")):
        raise ApiError("ResourceNotFoundException", "The guardrail does not exist.", 404)
    return json_response(
        {
            "name": spec.name or f"guardrail-{spec.identifier}",
            "guardrailId": spec.identifier,
            "guardrailArn": spec.arn(backend.region, backend.account_id),
            "version": version or spec.version,
            "status": "READY",
            "wordPolicy": {"words": [{"text": w} for w in spec.blocked_words]},
            "createdAt": _CREATED,
            "updatedAt": _CREATED,
            "blockedInputMessaging": spec.blocked_input_message,
            "blockedOutputsMessaging": spec.blocked_output_message,
        }
    )
