"""OpenTelemetry semantic-convention names, vendored.

``opentelemetry-semantic-conventions`` is not a runtime dependency (only
``opentelemetry-api`` is): its incubating modules change between releases and
we need a dozen strings. ``tests/test_telemetry_semconv.py`` asserts every
constant here equals the package's value, so drift is caught in CI, not in an
auditor's dashboard.
"""

from __future__ import annotations

from typing import Final

# gen_ai.* (opentelemetry.semconv._incubating.attributes.gen_ai_attributes)
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"  # noqa: S105

# Well-known values.
PROVIDER_AWS_BEDROCK: Final = "aws.bedrock"  # GenAiProviderNameValues.AWS_BEDROCK
OPERATION_CHAT: Final = "chat"  # GenAiOperationNameValues.CHAT
OPERATION_TEXT_COMPLETION: Final = "text_completion"  # GenAiOperationNameValues.TEXT_COMPLETION
OPERATION_EMBEDDINGS: Final = "embeddings"  # GenAiOperationNameValues.EMBEDDINGS
TOKEN_TYPE_INPUT: Final = "input"  # noqa: S105  # GenAiTokenTypeValues.INPUT
TOKEN_TYPE_OUTPUT: Final = "output"  # noqa: S105  # GenAiTokenTypeValues.OUTPUT

# aws.* (opentelemetry.semconv._incubating.attributes.aws_attributes)
AWS_BEDROCK_GUARDRAIL_ID: Final = "aws.bedrock.guardrail.id"
AWS_REQUEST_ID: Final = "aws.request_id"

# Stable attributes (opentelemetry.semconv.attributes.*)
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"
ERROR_TYPE_OTHER: Final = "_OTHER"  # ErrorTypeValues.OTHER
# opentelemetry.semconv._incubating.attributes.cloud_attributes
CLOUD_REGION: Final = "cloud.region"

# Metrics (opentelemetry.semconv._incubating.metrics.gen_ai_metrics)
GEN_AI_CLIENT_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
GEN_AI_CLIENT_TOKEN_USAGE: Final = "gen_ai.client.token.usage"  # noqa: S105
