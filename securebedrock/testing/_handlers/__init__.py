"""What the embedded endpoint answers: routing, the operations, guardrails.

Pure request-in, response-out logic with no sockets, so that the HTTP layer
(``_server``) stays small. One module per operation family:

- :mod:`.converse`: Converse, ConverseStream;
- :mod:`.invoke` and :mod:`.model_bodies`: InvokeModel and
  InvokeModelWithResponseStream in each model family's body shape;
- :mod:`.checks`: CountTokens, ApplyGuardrail, InvokeGuardrailChecks;
- :mod:`.async_invoke`: StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes;
- :mod:`.control_plane`: GetInferenceProfile, GetGuardrail;

and :mod:`.backend` for the account they share (what a test configured) and the
table of which handler answers which operation. The OpenAI- and
Anthropic-compatible APIs are ``_handlers_compat``.

Every model answer is deterministic and canned: the server never echoes a prompt
back, so a test can assert that a prompt did not leak anywhere without the server's
own output muddying the check.
"""

from __future__ import annotations

from . import responses, text
from .backend import HANDLERS, Backend, route
from .responses import ApiError, JsonResponse, Response, StreamResponse
from .specs import DEFAULT_ANSWER, DEFAULT_BLOCKED_MESSAGE, GuardrailSpec, InferenceProfileSpec
from .text import base_model_id

__all__ = [
    "DEFAULT_ANSWER",
    "DEFAULT_BLOCKED_MESSAGE",
    "HANDLERS",
    "ApiError",
    "Backend",
    "GuardrailSpec",
    "InferenceProfileSpec",
    "JsonResponse",
    "Response",
    "StreamResponse",
    "base_model_id",
    "route",
]

# The helpers' names from when this package was a single module.
_count_tokens = text.count_tokens
_text_of_any = text.text_of_any
_text_of_converse_blocks = text.text_of_converse_blocks
_parse_json_object = responses.parse_json_object
_json = responses.json_response
_iso = responses.iso
