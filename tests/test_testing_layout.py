"""The embedded endpoint's pieces fit together: every operation has a handler, the
router sends each operation's own URL to it, and the names code imported from the
single-module ``_handlers`` / ``_server`` still import."""

from __future__ import annotations

import re

import pytest

from securebedrock._operations import OPERATIONS
from securebedrock.testing import EmbeddedBedrock, _handlers, _server


def test_every_bedrock_runtime_operation_has_a_handler() -> None:
    assert set(OPERATIONS) <= set(_handlers.HANDLERS)
    # The control plane the endpoint also answers.
    assert set(_handlers.HANDLERS) - set(OPERATIONS) == {"GetInferenceProfile", "GetGuardrail"}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_the_router_sends_an_operations_url_to_its_handler(name: str) -> None:
    row = OPERATIONS[name]
    # Fill each {label} (and greedy {label+}) of the URI template with a sample value.
    path = re.sub(r"\{(\w+)\+?\}", lambda m: f"sample-{m.group(1)}", row.request_uri)
    path = path.split("?", 1)[0]
    routed = _handlers.route(row.http_method, path)
    assert routed is not None, path
    assert routed[0] == name
    assert routed[0] in _handlers.HANDLERS


@pytest.mark.parametrize(
    ("path", "operation", "labels"),
    [
        ("/inference-profiles/ip-1", "GetInferenceProfile", {"inferenceProfileIdentifier": "ip-1"}),
        ("/guardrails/gr1", "GetGuardrail", {"guardrailIdentifier": "gr1"}),
    ],
)
def test_the_router_knows_the_control_plane(
    path: str, operation: str, labels: dict[str, str]
) -> None:
    assert _handlers.route("GET", path) == (operation, labels)
    assert _handlers.route("POST", path) is None


def test_names_imported_from_the_single_module_endpoint_still_import(
    bedrock: EmbeddedBedrock,
) -> None:
    from securebedrock.testing._handlers import (  # noqa: F401
        DEFAULT_ANSWER,
        DEFAULT_BLOCKED_MESSAGE,
        ApiError,
        Backend,
        GuardrailSpec,
        InferenceProfileSpec,
        JsonResponse,
        StreamResponse,
        _count_tokens,
        _parse_json_object,
        _text_of_any,
        base_model_id,
        route,
    )
    from securebedrock.testing._server import (  # noqa: F401
        Faults,
        HandshakeFailure,
        RecordedHeaders,
        RecordedRequest,
        _Handler,
        _HTTPSServer,
    )

    # The benchmarks' endpoint process patches the handler class the server really uses.
    assert bedrock._httpd is not None
    assert bedrock._httpd.RequestHandlerClass is _Handler
    assert type(bedrock._httpd) is _HTTPSServer
    assert _server._STREAMING_OPERATIONS == _server.http.STREAMING_OPERATIONS
