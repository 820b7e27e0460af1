"""The bedrock-runtime operations: one row per operation, read by every module.

What an operation carries (which parameter names the model, how a guardrail rides
along, where the service tier goes), what it does (runs a model, generates content)
and how it is named elsewhere (IAM action, response stream member, GenAI operation
name) is stated here once. The engine, the policy schema, telemetry, content digests,
``policy export`` and the embedded endpoint all read this table, and
:func:`match_request` tells which operation a prepared request's method and path are
for. ``tests/test_operations.py`` checks the table against botocore's service model.

Pure data: no botocore import, no I/O.

Two columns that look alike answer different questions, on purpose:

- ``inference``: the model named in the call runs on the caller's behalf, so the
  inference-profile rules (``inference_profile.map`` / ``required``) apply. True for
  ``StartAsyncInvoke`` (the job runs the model later); false for ``CountTokens``
  (it takes a foundation model id and only runs its tokenizer).
- ``gen_ai_operation``: the OpenTelemetry GenAI operation name of a span that covers
  the model's work. Only operations whose call *is* the model invocation have one, so
  only their spans are named ``"{gen_ai.operation.name} {model}"``. ``StartAsyncInvoke``
  returns a job ARN before the model runs and ``CountTokens`` generates nothing: their
  spans are named ``bedrock-runtime.<operation>`` like every other non-inference call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal
from urllib.parse import unquote

from . import _telemetry_semconv as sc

__all__ = [
    "GUARDRAIL_CAPABLE_OPERATIONS",
    "GUARDRAIL_INCAPABLE_OPERATIONS",
    "OPERATIONS",
    "OPERATION_NAMES",
    "UNKNOWN_OPERATION",
    "GuardrailCarrier",
    "Operation",
    "PromptSource",
    "TierCarrier",
    "iam_actions",
    "match_request",
    "operation",
]

#: How a mandated guardrail is carried: ``converse``, the ``guardrailConfig`` body
#: structure; ``invoke``, the ``X-Amzn-Bedrock-Guardrail*`` headers; ``incapable``, the
#: operation sends content to a model but has no way to carry one; ``none``, no model.
GuardrailCarrier = Literal["converse", "invoke", "incapable", "none"]
#: Where the service tier goes: ``structure``, ``serviceTier.type``; ``string``,
#: ``serviceTier`` (the ``X-Amzn-Bedrock-Service-Tier`` header); ``none``, nowhere.
TierCarrier = Literal["structure", "string", "none"]
#: What the prompt digest reads: ``messages``, the Converse ``messages`` and ``system``;
#: ``body``, the model-native request body; ``none``, nothing.
PromptSource = Literal["messages", "body", "none"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Operation:
    """What one bedrock-runtime operation carries and does."""

    #: The botocore operation name (``"Converse"``).
    name: str
    #: The HTTP method and request URI template (``/model/{modelId}/converse``).
    http_method: str
    request_uri: str
    #: The parameter that names the model, or ``None`` when the operation names none.
    model_param: str | None
    #: How a mandated guardrail is carried (see :data:`GuardrailCarrier`).
    guardrail: GuardrailCarrier
    #: Whether the named model runs on the caller's behalf (profile rules apply).
    inference: bool
    #: Whether the operation makes a model generate content. One that generates nothing
    #: (``CountTokens``) needs no guardrail even where one is mandated.
    generates_content: bool
    #: Where the service tier goes (see :data:`TierCarrier`).
    tier: TierCarrier
    #: Other parameters that may hold an ARN whose region must be allowed.
    arn_params: tuple[str, ...] = ()
    #: The IAM action AWS authorizes the call as.
    iam_action: str
    #: The response member holding the event stream, or ``None`` when not streamed.
    stream_key: str | None = None
    #: The GenAI semantic-convention operation name, or ``None`` when the call is not
    #: itself a model invocation. Where ``prompt == "body"`` telemetry refines it from
    #: the body (``chat`` for a messages API, ``embeddings`` for an embedding model).
    gen_ai_operation: str | None = None
    #: What the prompt digest reads (see :data:`PromptSource`).
    prompt: PromptSource = "none"


_ROWS: Final = (
    Operation(
        name="Converse",
        http_method="POST",
        request_uri="/model/{modelId}/converse",
        model_param="modelId",
        guardrail="converse",
        inference=True,
        generates_content=True,
        tier="structure",
        iam_action="bedrock:InvokeModel",
        gen_ai_operation=sc.OPERATION_CHAT,
        prompt="messages",
    ),
    Operation(
        name="ConverseStream",
        http_method="POST",
        request_uri="/model/{modelId}/converse-stream",
        model_param="modelId",
        guardrail="converse",
        inference=True,
        generates_content=True,
        tier="structure",
        iam_action="bedrock:InvokeModelWithResponseStream",
        stream_key="stream",
        gen_ai_operation=sc.OPERATION_CHAT,
        prompt="messages",
    ),
    Operation(
        name="InvokeModel",
        http_method="POST",
        request_uri="/model/{modelId}/invoke",
        model_param="modelId",
        guardrail="invoke",
        inference=True,
        generates_content=True,
        tier="string",
        iam_action="bedrock:InvokeModel",
        gen_ai_operation=sc.OPERATION_TEXT_COMPLETION,
        prompt="body",
    ),
    Operation(
        name="InvokeModelWithResponseStream",
        http_method="POST",
        request_uri="/model/{modelId}/invoke-with-response-stream",
        model_param="modelId",
        guardrail="invoke",
        inference=True,
        generates_content=True,
        tier="string",
        iam_action="bedrock:InvokeModelWithResponseStream",
        stream_key="body",
        gen_ai_operation=sc.OPERATION_TEXT_COMPLETION,
        prompt="body",
    ),
    Operation(
        name="InvokeModelWithBidirectionalStream",
        http_method="POST",
        request_uri="/model/{modelId}/invoke-with-bidirectional-stream",
        model_param="modelId",
        guardrail="incapable",
        inference=True,
        generates_content=True,
        tier="none",
        iam_action="bedrock:InvokeModelWithBidirectionalStream",
        stream_key="body",
        gen_ai_operation=sc.OPERATION_CHAT,
    ),
    Operation(
        name="StartAsyncInvoke",
        http_method="POST",
        request_uri="/async-invoke",
        model_param="modelId",
        guardrail="incapable",
        inference=True,
        generates_content=True,
        tier="none",
        iam_action="bedrock:StartAsyncInvoke",
    ),
    # Sends the prompt to the model's tokenizer and returns a count: nothing is
    # generated, so a mandated guardrail does not apply (model, region and auth
    # rules still do). It takes a foundation model id: no profile mapping.
    Operation(
        name="CountTokens",
        http_method="POST",
        request_uri="/model/{modelId}/count-tokens",
        model_param="modelId",
        guardrail="incapable",
        inference=False,
        generates_content=False,
        tier="none",
        iam_action="bedrock:CountTokens",
    ),
    Operation(
        name="ApplyGuardrail",
        http_method="POST",
        request_uri="/guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply",
        model_param=None,
        guardrail="none",
        inference=False,
        generates_content=False,
        tier="none",
        arn_params=("guardrailIdentifier",),
        iam_action="bedrock:ApplyGuardrail",
    ),
    Operation(
        name="InvokeGuardrailChecks",
        http_method="POST",
        request_uri="/guardrail-checks/invoke",
        model_param=None,
        guardrail="none",
        inference=False,
        generates_content=False,
        tier="none",
        iam_action="bedrock:InvokeGuardrailChecks",
    ),
    Operation(
        name="GetAsyncInvoke",
        http_method="GET",
        request_uri="/async-invoke/{invocationArn}",
        model_param=None,
        guardrail="none",
        inference=False,
        generates_content=False,
        tier="none",
        arn_params=("invocationArn",),
        iam_action="bedrock:GetAsyncInvoke",
    ),
    Operation(
        name="ListAsyncInvokes",
        http_method="GET",
        request_uri="/async-invoke",
        model_param=None,
        guardrail="none",
        inference=False,
        generates_content=False,
        tier="none",
        iam_action="bedrock:ListAsyncInvokes",
    ),
)
#: Every operation of botocore's bedrock-runtime model, by name.
OPERATIONS: Final[Mapping[str, Operation]] = MappingProxyType({op.name: op for op in _ROWS})

#: An operation a future botocore adds is treated as inference that generates content
#: and cannot carry a guardrail: fail closed until this table learns what it is.
UNKNOWN_OPERATION: Final = Operation(
    name="",
    http_method="",
    request_uri="",
    model_param="modelId",
    guardrail="incapable",
    inference=True,
    generates_content=True,
    tier="none",
    iam_action="bedrock:*",
)

#: The operation names, sorted (the values ``operations.allow_without_guardrail`` takes).
OPERATION_NAMES: Final[tuple[str, ...]] = tuple(sorted(OPERATIONS))

#: Operations the engine attaches a mandated guardrail to.
GUARDRAIL_CAPABLE_OPERATIONS: Final = frozenset(
    name for name, op in OPERATIONS.items() if op.guardrail in ("converse", "invoke")
)
#: Operations refused while a guardrail is mandated, unless listed in
#: ``operations.allow_without_guardrail``: they generate content and cannot carry one.
GUARDRAIL_INCAPABLE_OPERATIONS: Final = frozenset(
    name for name, op in OPERATIONS.items() if op.guardrail == "incapable" and op.generates_content
)


def operation(name: str) -> Operation:
    """The row for ``name``; :data:`UNKNOWN_OPERATION` (fail closed) when there is none."""
    return OPERATIONS.get(name, UNKNOWN_OPERATION)


def match_request(method: str, raw_path: str) -> tuple[Operation, dict[str, str]] | None:
    """The operation whose method and URI template match a request, and the decoded
    values of its URI labels (``{"modelId": ...}``); ``None`` when none matches.

    ``raw_path`` is the path as sent, without the query: labels are split on ``/``
    before percent-decoding, so an ARN sent as one label stays one label.
    """
    segments = raw_path.split("/")
    method = method.upper()
    for op in OPERATIONS.values():
        template = op.request_uri.split("/")
        if op.http_method != method or len(template) != len(segments):
            continue
        labels: dict[str, str] = {}
        for part, segment in zip(template, segments, strict=True):
            if part.startswith("{") and part.endswith("}"):
                if not segment:
                    break
                labels[part[1:-1]] = unquote(segment)
            elif part != segment:
                break
        else:
            return op, labels
    return None


def iam_actions(names: Iterable[str]) -> tuple[str, ...]:
    """The IAM actions of the named operations, in the order given, without repeats."""
    return tuple(dict.fromkeys(OPERATIONS[name].iam_action for name in names))
