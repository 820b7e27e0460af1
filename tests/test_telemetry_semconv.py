"""The vendored semantic-convention names equal the semconv package's (the test env has it)."""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes import (
    aws_attributes,
    cloud_attributes,
    gen_ai_attributes,
)
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from opentelemetry.semconv.attributes import error_attributes, server_attributes

from securebedrock import _telemetry_semconv as ours

_SOURCES = (
    gen_ai_attributes,
    aws_attributes,
    cloud_attributes,
    gen_ai_metrics,
    error_attributes,
    server_attributes,
)

_VALUES = {
    "PROVIDER_AWS_BEDROCK": gen_ai_attributes.GenAiProviderNameValues.AWS_BEDROCK.value,
    "OPERATION_CHAT": gen_ai_attributes.GenAiOperationNameValues.CHAT.value,
    "OPERATION_TEXT_COMPLETION": gen_ai_attributes.GenAiOperationNameValues.TEXT_COMPLETION.value,
    "OPERATION_EMBEDDINGS": gen_ai_attributes.GenAiOperationNameValues.EMBEDDINGS.value,
    "TOKEN_TYPE_INPUT": gen_ai_attributes.GenAiTokenTypeValues.INPUT.value,
    "TOKEN_TYPE_OUTPUT": gen_ai_attributes.GenAiTokenTypeValues.OUTPUT.value,
    "ERROR_TYPE_OTHER": error_attributes.ErrorTypeValues.OTHER.value,
}


def _public_constants() -> dict[str, str]:
    return {
        name: value
        for name, value in vars(ours).items()
        if name.isupper() and isinstance(value, str)
    }


def test_every_vendored_name_equals_the_semconv_package() -> None:
    constants = _public_constants()
    assert len(constants) >= 30
    for name, value in constants.items():
        if name in _VALUES:
            assert value == _VALUES[name], name
            continue
        upstream = [getattr(module, name) for module in _SOURCES if hasattr(module, name)]
        assert upstream, f"{name} is not in opentelemetry-semantic-conventions"
        assert all(u == value for u in upstream), (name, value, upstream)
