"""The wire check: the prepared request is the request the policy decided.

The engine decides on a plain snapshot of the caller's parameters; botocore then
runs event handlers (``provide-client-params``, ``before-parameter-build``,
``before-call``, ``before-sign``, ``before-send``, ...) that any code in the
process can register, and any of them can change the request after the
decision. So the hardened HTTP session (``_transport_session.HardenedSession``)
calls :meth:`WireCheck.check` on every prepared request just before its bytes
are written, after the last handler ran, and compares:

- scheme, host and port (read with urllib3's parser, the one that opens the
  socket) and any ``Host`` header, against the endpoint checked at construction;
- the HTTP method and the URL path (the operation's REST template from the
  operations table,
  e.g. ``/model/{modelId}/converse``), label by label, against the decided
  parameters: the operation and the model (or the body's ``modelId`` for an
  operation that carries it there, StartAsyncInvoke);
- the guardrail, where a guardrail is mandated: the body's ``guardrailConfig``
  (Converse, ConverseStream) or the ``X-Amzn-Bedrock-GuardrailIdentifier`` and
  ``-GuardrailVersion`` headers (InvokeModel, InvokeModelWithResponseStream);
- the service tier, where the policy restricts tiers (body or header);
- the ``Authorization`` scheme: only ``AWS4-HMAC-SHA256`` when API keys are
  banned (and always for the control-plane client), read after stripping
  whitespace, case-insensitively.

A mismatch is a ``wire.mismatch`` violation (a bearer token is
``auth.api_key``): refused in enforce mode, recorded in log_only mode. The
decision reaches the session through :data:`current_call`, set by the adapter
for the whole call. A request that reaches a runtime session with no decision
for that session (a direct call of the class's ``_make_api_call``, another
client's handler) is itself a mismatch: it was never evaluated.

Everything that does not depend on the call is computed at construction; per
call, the JSON body is parsed only when a guardrail or tier carried in the body
must be compared.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import quote as url_quote
from urllib.parse import unquote, urlparse

from urllib3.util import parse_url

from . import _bounded, _operations, _rules
from ._constants import AUDIT_LOGGER_NAME
from ._errors import PolicyViolation
from ._policy import Policy
from ._wire_request import (
    BEARER_SCHEME,
    GUARDRAIL_HEADERS,
    SIGV4_SCHEME,
    TIER_HEADER,
    OperationShape,
    auth_scheme,
    header_values,
    json_body,
    one_value,
    quote,
    text,
)

__all__ = [
    "BEARER_HEADER_VIOLATION",
    "BEARER_SCHEME",
    "RULE_WIRE_MISMATCH",
    "CallContext",
    "Expectation",
    "WireCheck",
    "auth_scheme",
    "current_call",
]

#: The rule id of a prepared request that no longer matches its decision.
RULE_WIRE_MISMATCH: Final = "wire.mismatch"

Kind = Literal["runtime", "control-plane"]

_log = logging.getLogger(AUDIT_LOGGER_NAME)


class CallContext:
    """One secured call, as the session's wire check sees it (mutable for the call).

    ``audit`` is the call's ``_telemetry.CallRecord``; ``wire`` the check of the
    session this call must be sent through; ``expected`` is set once the
    decision is made (``None`` before: nothing may be sent yet).
    """

    __slots__ = ("audit", "call", "decision", "enforce", "expected", "wire")

    def __init__(self, *, audit: Any, wire: WireCheck | None, enforce: bool) -> None:
        self.audit = audit
        self.wire = wire
        self.enforce = enforce
        self.call: _rules.Call | None = None
        self.decision: _rules.Decision | None = None
        self.expected: Expectation | None = None


#: The call being made on this thread/task (read by the session's wire check and the
#: ``before-send`` auth check).
current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "securebedrock_current_call", default=None
)


class Expectation:
    """What one call's prepared request must say, computed before it is handed to botocore.

    Built from the parameters actually handed to botocore (the decided ones in
    enforce mode, the caller's own snapshot in log_only mode).
    """

    __slots__ = ("body_model", "guardrail", "labels", "operation", "shape", "tier")

    def __init__(
        self,
        operation: str,
        shape: OperationShape | None,
        labels: tuple[str | None, ...],
        guardrail: tuple[str | None, str | None] | None,
        tier: tuple[str | None] | None,
    ) -> None:
        self.operation = operation
        self.shape = shape
        self.labels = labels
        self.guardrail = guardrail
        self.tier = tier
        #: The model the JSON body must name (operations that carry it there), if any.
        self.body_model: str | None = None


# Every operation's wire form, the same for every client: built once.
_SHAPES: Final[Mapping[str, OperationShape]] = {
    name: OperationShape(op) for name, op in _operations.OPERATIONS.items()
}


class WireCheck:
    """The last check of one hardened session, precomputed at construction.

    ``kind="runtime"`` checks everything in the module docstring against the
    call's decision; ``kind="control-plane"`` checks the endpoint and SigV4.
    Immutable after construction, except ``telemetry`` (set once by the adapter).
    """

    def __init__(self, policy: Policy, endpoint_url: str, *, kind: Kind) -> None:
        self.kind: Kind = kind
        self.enforce = policy.mode == "enforce"
        url = parse_url(endpoint_url)
        self.scheme = (url.scheme or "").lower()
        self.host = (url.host or "").lower().strip("[]")
        self.port = url.port or 443
        self.prefix = (url.path or "").rstrip("/")
        # The Host header urllib3/http.client would send for this endpoint.
        netloc_host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_headers = frozenset({netloc_host, f"{netloc_host}:{self.port}"})
        # Fast path: a URL that starts with one of these (as botocore builds them) has
        # exactly this scheme, host and port for every parser; anything else is parsed.
        netlocs = [f"{netloc_host}:{self.port}"] + ([netloc_host] if self.port == 443 else [])
        self.origins = tuple(f"{self.scheme}://{netloc}{self.prefix}/" for netloc in netlocs)
        self.require_sigv4 = kind == "control-plane" or not policy.auth.allow_api_keys
        self.mandated_guardrail = bool(policy.guardrail.identifier)
        self.tiers_restricted = policy.service_tier.allowed is not None
        self.shapes: Mapping[str, OperationShape] = _SHAPES if kind == "runtime" else {}
        #: Where to audit a request that belongs to no secured call (set by the adapter).
        self.telemetry: Any = None

    # -- per call: what to expect ----------------------------------------------------------

    def expect(self, operation: str, params: Mapping[str, Any]) -> Expectation:
        """The expectation for ``params`` as they are handed to botocore."""
        shape = self.shapes.get(operation)
        if shape is None:
            return Expectation(operation, None, (), None, None)
        labels = tuple(map(text, map(params.get, shape.labels)))
        guardrail: tuple[str | None, str | None] | None = None
        if self.mandated_guardrail and shape.guardrail != "none":
            if shape.guardrail == "header":
                guardrail = (
                    text(params.get("guardrailIdentifier")),
                    text(params.get("guardrailVersion")),
                )
            else:
                config = params.get("guardrailConfig")
                config = config if isinstance(config, Mapping) else {}
                guardrail = (
                    text(config.get("guardrailIdentifier")),
                    text(config.get("guardrailVersion")),
                )
        tier: tuple[str | None] | None = None
        if self.tiers_restricted and shape.tier != "none":
            value = params.get("serviceTier")
            if shape.tier == "body":
                value = value.get("type") if isinstance(value, Mapping) else None
            tier = (text(value),)
        expectation = Expectation(operation, shape, labels, guardrail, tier)
        if shape.body_model is not None:
            expectation.body_model = text(params.get(shape.body_model))
        return expectation

    # -- per request: compare --------------------------------------------------------------

    def check(self, request: Any) -> None:
        """Compare the prepared request with the decision; refuse or record a mismatch."""
        context = current_call.get()
        found = self._mismatches(request, context)
        if not found:
            return
        violations = tuple(found)
        outcome = "deny" if self.enforce else "log_only"
        if self.kind == "control-plane":
            operation, stage = "GetInferenceProfile", "control-plane"
            # Audited on the inference call it was made for, when there is one.
            record = context.audit if context is not None else None
            own_record = None
        else:
            stage = "wire"
            ours = context is not None and context.wire is self
            if ours and context is not None:
                operation = context.expected.operation if context.expected else "unknown"
                own_record = None
                record = context.audit
            else:
                own_record = record = self._orphan_record(request)
                operation = own_record.operation if own_record is not None else "unknown"
        if record is not None:
            record.late(violations, outcome, stage)
        else:
            _log.warning(
                "securebedrock wire check (%s, no call record): %s %s rules=%s",
                stage,
                outcome,
                operation,
                ",".join(v.rule for v in violations),
            )
        error = _error(violations, operation, stage)
        if own_record is not None:
            own_record.end(error if self.enforce else None)
        if self.enforce:
            raise error

    def _orphan_record(self, request: Any) -> Any:
        """A span of its own for a request that belongs to no secured call of this client."""
        telemetry = self.telemetry
        if telemetry is None or self.kind != "runtime":
            return None
        path = urlparse(str(getattr(request, "url", ""))).path
        if self.prefix and path.startswith(self.prefix):
            path = path[len(self.prefix) :]
        operation = "unknown"
        for name, shape in self.shapes.items():
            if shape.path.fullmatch(path) and shape.method == str(request.method).upper():
                operation = name
                break
        return telemetry.start(operation, {})

    def _mismatches(self, request: Any, context: CallContext | None) -> list[_rules.Violation]:
        found: list[_rules.Violation] = []
        url_text = str(getattr(request, "url", ""))
        headers = header_values(getattr(request, "headers", None))
        path = self._check_endpoint(url_text, headers, found)
        self._check_auth(headers, found)
        if self.kind == "control-plane":
            return found
        expected = context.expected if context is not None and context.wire is self else None
        if expected is None:
            found.append(
                _mismatch(
                    "a request with no securebedrock decision for this client (sent by "
                    "calling the client class's _make_api_call directly, or from code "
                    "outside a secured call)",
                    "every request sent by a securebedrock client to come from a call the "
                    "policy evaluated",
                    "call the client's methods (client.converse(...)), not the class's "
                    "_make_api_call",
                )
            )
            return found
        shape = expected.shape
        if shape is None:
            return found
        self._check_path(request, path, shape, expected, found)
        if (
            expected.guardrail is not None
            or expected.tier is not None
            or shape.body_model is not None
        ):
            self._check_carried(request, headers, shape, expected, found)
        return found

    def _check_endpoint(
        self, url_text: str, headers: dict[str, list[str]], found: list[_rules.Violation]
    ) -> str | None:
        """Check where the request goes; return its path after the endpoint's prefix."""
        for value in headers.get("host", ()):
            if value.strip().lower() not in self.host_headers:
                found.append(
                    _mismatch(
                        f"a Host header {quote(value)}",
                        f"the endpoint's host {self.host!r}",
                        "do not set a Host header in event handlers",
                    )
                )
        for origin in self.origins:
            if url_text.startswith(origin):
                rest = url_text[len(origin) - 1 :]
                # As botocore's request target: no fragment; ';' is refused by the matcher.
                return rest.partition("#")[0].partition("?")[0]
        try:
            url = parse_url(url_text)
            host = (url.host or "").lower().strip("[]")
            port = url.port or 443
            scheme = (url.scheme or "").lower()
            # botocore takes the request target from urllib.parse: both must agree.
            other = urlparse(url_text)
            other_host = (other.hostname or "").lower()
            path = other.path if not other.params else None
        except (ValueError, TypeError):
            scheme, host, port, other_host, path = "", "", 0, "?", None
        if (scheme, host, port) != (self.scheme, self.host, self.port) or other_host != host:
            found.append(
                _mismatch(
                    f"the request goes to {quote(f'{scheme}://{host}:{port}')}",
                    f"the endpoint checked when the client was created "
                    f"({self.scheme}://{self.host}:{self.port})",
                    "do not change the request URL in event handlers; set the endpoint "
                    "when creating the client",
                )
            )
        if path is not None and self.prefix:
            path = path[len(self.prefix) :] if path.startswith(self.prefix + "/") else None
        return path

    def _check_auth(self, headers: dict[str, list[str]], found: list[_rules.Violation]) -> None:
        if not self.require_sigv4:
            return
        values = headers.get("authorization", [])
        schemes = [auth_scheme(value) for value in values]
        if BEARER_SCHEME in schemes:
            found.append(BEARER_HEADER_VIOLATION)
            return
        if len(schemes) != 1 or schemes[0] != SIGV4_SCHEME:
            shown = ", ".join(quote(s) for s in schemes) or "none"
            found.append(
                _mismatch(
                    f"Authorization scheme(s): {shown}",
                    "exactly one 'Authorization: AWS4-HMAC-SHA256 ...' header (SigV4)",
                    "sign with IAM credentials (SigV4); do not replace or add an "
                    "Authorization header in event handlers",
                )
            )

    def _check_path(
        self,
        request: Any,
        path: str | None,
        shape: OperationShape,
        expected: Expectation,
        found: list[_rules.Violation],
    ) -> None:
        method = str(getattr(request, "method", "")).upper()
        match = shape.path.fullmatch(path) if path is not None else None
        values: tuple[str | None, ...] | None = None
        if match is not None:
            groups = match.groups()
            labels = expected.labels
            # Most requests carry exactly the encoding of the decided labels; decoding is
            # needed only when they do not (and then decides the comparison).
            values = labels if len(groups) == len(labels) else None
            for group, label, greedy in zip(groups, labels, shape.greedy, strict=False):
                if label is None or group != _encoded(label, greedy):
                    values = None
                    break
            if values is None:
                values = tuple(unquote(v) for v in groups)
        if method == shape.method and values == expected.labels:
            return
        wanted = _labels_text(shape.labels, expected.labels)
        if values is not None:
            sent = f"{method} for {expected.operation} with {_labels_text(shape.labels, values)}"
        else:
            sent = f"{method} to a path that is not {expected.operation}'s"
        found.append(
            _mismatch(
                sent,
                f"{shape.method} for {expected.operation}" + (f" with {wanted}" if wanted else ""),
                "do not rewrite the operation or model in event handlers; pass the model "
                "you want to the call (the policy maps it to a profile when configured)",
            )
        )

    def _check_carried(
        self,
        request: Any,
        headers: dict[str, list[str]],
        shape: OperationShape,
        expected: Expectation,
        found: list[_rules.Violation],
    ) -> None:
        body: Mapping[str, Any] | None = None
        if shape.guardrail == "body" or shape.tier == "body" or shape.body_model is not None:
            body = json_body(getattr(request, "body", None))
        if shape.body_model is not None:
            model = text(body.get(shape.body_model)) if body is not None else "<unreadable body>"
            if model != expected.body_model:
                found.append(
                    _mismatch(
                        f"{shape.body_model} {_bounded.quote_model(model)} in the request body",
                        f"{shape.body_model} {_bounded.quote_model(expected.body_model)}, "
                        "as decided",
                        "do not rewrite the model in event handlers",
                    )
                )
        if expected.guardrail is not None:
            if shape.guardrail == "header":
                sent = tuple(one_value(headers.get(name)) for name in GUARDRAIL_HEADERS)
            else:
                config = body.get("guardrailConfig") if body is not None else None
                config = config if isinstance(config, Mapping) else {}
                sent = (
                    text(config.get("guardrailIdentifier")),
                    text(config.get("guardrailVersion")),
                )
            if body is None and shape.guardrail == "body":
                sent = ("<unreadable body>", None)
            if sent != expected.guardrail:
                found.append(
                    _mismatch(
                        f"guardrail {_bounded.quote_guardrail_id(sent[0])} version "
                        f"{_bounded.quote_guardrail_version(sent[1])} on the request",
                        f"guardrail {_bounded.quote_guardrail_id(expected.guardrail[0])} "
                        f"version {_bounded.quote_guardrail_version(expected.guardrail[1])}, "
                        "as decided",
                        "do not remove or change the guardrail in event handlers",
                    )
                )
        if expected.tier is not None:
            if shape.tier == "header":
                tier = one_value(headers.get(TIER_HEADER))
            else:
                value = body.get("serviceTier") if body is not None else None
                tier = text(value.get("type")) if isinstance(value, Mapping) else None
                if body is None:
                    tier = "<unreadable body>"
            if (tier,) != expected.tier:
                found.append(
                    _mismatch(
                        f"service tier {_bounded.quote_tier(tier)} on the request",
                        f"service tier {_bounded.quote_tier(expected.tier[0])}, as decided",
                        "do not change serviceTier in event handlers",
                    )
                )


#: What the wire check (and the ``before-send`` check) report for a bearer header.
BEARER_HEADER_VIOLATION: Final = _rules.Violation(
    rule="auth.api_key",
    found="an 'Authorization: Bearer' header on the prepared request (a Bedrock API "
    "key set by the signer or by an event handler)",
    expected="SigV4 (IAM credentials), auth.allow_api_keys = false",
    fix="remove the code or framework that sets a bearer token, unset "
    "AWS_BEARER_TOKEN_BEDROCK, or set auth.allow_api_keys = true",
)


@functools.lru_cache(maxsize=1024)
def _encoded(label: str, greedy: bool) -> str | None:
    """``label`` percent-encoded as botocore puts it in a path (``None``: not encodable).

    Decoding the result gives ``label`` back, so a path segment equal to it decodes
    to the decided label.
    """
    try:
        return url_quote(label, safe="/~" if greedy else "")
    except UnicodeError:
        return None


def _labels_text(names: tuple[str, ...], values: tuple[str | None, ...]) -> str:
    """``modelId='...'`` for a message: recognised identifiers quoted, others described."""
    quoting = {
        "modelId": _bounded.quote_model,
        "guardrailIdentifier": _bounded.quote_guardrail_id,
        "guardrailVersion": _bounded.quote_guardrail_version,
    }
    return ", ".join(
        f"{name}={quoting.get(name, _bounded.quote_arn)(value)}"
        for name, value in zip(names, values, strict=True)
    )


def _mismatch(found: str, expected: str, fix: str) -> _rules.Violation:
    return _rules.Violation(rule=RULE_WIRE_MISMATCH, found=found, expected=expected, fix=fix)


def _error(violations: tuple[_rules.Violation, ...], operation: str, stage: str) -> PolicyViolation:
    error = PolicyViolation.refusing(operation, violations)
    error.stage = stage  # type: ignore[attr-defined]
    # Already audited by the check itself (span, counter, audit log).
    error.audited = True  # type: ignore[attr-defined]
    return error
