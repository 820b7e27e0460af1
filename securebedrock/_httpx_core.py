"""The shared core of securebedrock's httpx transports: decide, build, check, observe.

:class:`Core` holds what both transports share (the effective policy, the TLS context,
credentials, telemetry) and does the per-request work: check the destination and the
API (:mod:`securebedrock._httpx_api`), decide with the engine, apply the decision,
sign, compare the request about to be written with the decision (``wire.mismatch``),
and hand back the response with an observed body (:mod:`securebedrock._httpx_stream`).
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from . import _netcheck, _rules
from ._discovery import effective_policy
from ._errors import PolicyViolation, SecureBedrockError, TransportSecurityError
from ._httpx_api import (
    GUARDRAIL_HEADERS,
    RULE_WIRE_MISMATCH,
    Endpoint,
    Route,
    check_endpoint,
    match_route,
    snapshot,
)
from ._httpx_conn import ConnectionChecks, connection_cache, ssl_context
from ._httpx_stream import BodyObserver, wrapped_stream_classes
from ._policy import Policy
from ._telemetry import (
    ATTR_PEER_ADDRESS_CLASS,
    ATTR_TLS_VERSION,
    CallRecord,
    QuietRecord,
    Telemetry,
)
from ._transport_session import Guard

__all__ = ["Core", "fail", "handshake_refusal", "module_of"]

_log = logging.getLogger("securebedrock.telemetry")

# Headers that carry credentials: dropped when the transport signs the request itself.
_AUTH_HEADERS: Final = frozenset(
    {"authorization", "x-api-key", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}
)
# Headers a request must carry at most once (parsers disagree on which duplicate wins).
_SINGLE_HEADERS: Final = (*GUARDRAIL_HEADERS, "authorization")
# The caller's headers the transport replaces: the guardrail's and the body length (and
# the framing), and when it signs, every header that carries credentials.
_DROP_UNSIGNED: Final = frozenset({*GUARDRAIL_HEADERS, "content-length", "transfer-encoding"})
_DROP_SIGNED: Final = _DROP_UNSIGNED | _AUTH_HEADERS
_HEADER_NAMES: Final = {
    "guardrailIdentifier": "X-Amzn-Bedrock-GuardrailIdentifier",
    "guardrailVersion": "X-Amzn-Bedrock-GuardrailVersion",
    "trace": "X-Amzn-Bedrock-Trace",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Plan:
    route: Route
    endpoint: Endpoint
    record: CallRecord
    decision: _rules.Decision
    headers: list[tuple[str, str]]
    body: bytes
    raw_path: bytes
    auth: str
    stream: bool


def _auth_of(headers: list[tuple[str, str]]) -> str:
    for name, value in headers:
        lowered = name.lower()
        if lowered == "x-api-key" and value.strip():
            return "bearer"
        if lowered == "authorization":
            scheme = value.strip().split(None, 1)[0].lower() if value.strip() else ""
            return "bearer" if scheme == "bearer" else "sigv4" if scheme else "none"
    return "none"


class Core:
    """What both transports share: the policy, credentials, TLS context, telemetry."""

    def __init__(
        self,
        *,
        region_name: str,
        policy: Policy | None,
        verify: str | bool,
        aws_access_key_id: str | None,
        aws_secret_access_key: str | None,
        aws_session_token: str | None,
        botocore_session: Any,
        tracer_provider: Any,
        meter_provider: Any,
    ) -> None:
        if not isinstance(region_name, str) or not region_name:
            raise SecureBedrockError(
                "a securebedrock HTTP transport needs its region",
                found=f"region_name={region_name!r}",
                expected="the region the client calls, e.g. region_name='us-east-1'",
                fix="pass region_name=",
            )
        self.policy = effective_policy(policy)
        self.region = region_name
        self.enforce = self.policy.mode == "enforce"
        self.guard = Guard(self.policy)
        # The transport never resolves inference profiles: a cached decision equals
        # evaluate(), proven per call shape in tests/test_rules_fastpath.py.
        self.decisions = _rules.DecisionCache(self.policy, before_resolution=False)
        self.ssl_context = ssl_context(self.guard, verify)
        self.connections = connection_cache()
        self.credentials = _credentials(
            aws_access_key_id, aws_secret_access_key, aws_session_token, botocore_session
        )
        # Loads botocore's endpoint data (the DNS suffixes) now, not on the first call.
        _netcheck.classify_service_host("", "bedrock-runtime")
        _netcheck.classify_service_host("", "bedrock-mantle")
        self._observability = (tracer_provider, meter_provider)
        self._telemetry: dict[tuple[str, int], Telemetry] = {}
        self._lock = threading.Lock()

    def telemetry(self, host: str, port: int) -> Telemetry:
        key = (host, port)
        found = self._telemetry.get(key)
        if found is None:
            found = Telemetry(
                mode=self.policy.mode,
                policy_digest=getattr(self.policy, "digest", None),
                region=self.region,
                server_address=host,
                server_port=port,
                tracer_provider=self._observability[0],
                meter_provider=self._observability[1],
                policy_release=getattr(self.policy.release, "id", None),
                policy_serial=getattr(self.policy.release, "serial", None),
            )
            with self._lock:
                # Refused destinations have spans too: keep the cache bounded.
                if len(self._telemetry) < 32:
                    found = self._telemetry.setdefault(key, found)
        return found

    # -- the decision ---------------------------------------------------------------------

    def plan(self, request: Any) -> _Plan:
        """Check and decide one request; raises before anything is sent when refused."""
        url = request.url
        operation = "Unknown"
        try:
            endpoint = check_endpoint(
                self.policy, self.region, url.scheme, url.host, url.port, url.userinfo
            )
            raw_path, _, query = url.raw_path.decode("ascii").partition("?")
            route, path_model = match_route(request.method, raw_path, query, endpoint)
            operation = route.operation
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
            # Lowered once, for every reader of the names below.
            lowered = [(k.lower(), v) for k, v in headers]
            body = request.read()
            snap = snapshot(route, path_model, lowered, body)
        except SecureBedrockError as error:
            # Audited like every refusal: a span with the rule, nothing sent.
            host = str(url.host or "").rstrip(".").lower()
            fail(self.telemetry(host, url.port or 443).start(operation, {}), error)
            raise
        record = self.telemetry(endpoint.host, endpoint.port).start(route.operation, snap.params)
        try:
            return self._decide(request, endpoint, route, snap, headers, lowered, body, record)
        except BaseException as exc:
            fail(record, exc)
            raise

    def _decide(
        self,
        request: Any,
        endpoint: Endpoint,
        route: Route,
        snap: Any,
        headers: list[tuple[str, str]],
        lowered: list[tuple[str, str]],
        body: bytes,
        record: CallRecord,
    ) -> _Plan:
        presented = _auth_of(lowered)
        # A bearer key the policy bans is replaced with SigV4, never sent.
        sign = presented != "bearer" or not self.policy.auth.allow_api_keys
        auth = "sigv4" if sign else "bearer"
        call = _rules.Call(
            operation=route.operation,
            region=self.region,
            endpoint_host=endpoint.host,
            params=snap.params,
            auth="bearer" if auth == "bearer" else "sigv4",
        )
        decision = self.decisions.decide(call)
        outcome = _rules.outcome(decision, enforce=self.enforce)
        params: Mapping[str, Any] = decision.params if self.enforce else snap.params
        record.decided(decision, outcome, params)
        if outcome == "deny":
            raise PolicyViolation.refusing(route.operation, decision.violations)
        if sign and self.credentials is None:
            raise PolicyViolation(
                rule="auth.api_key",
                operation=route.operation,
                found=f"{presented} authentication and no AWS credentials to sign with",
                expected="SigV4 with credentials from the AWS credential chain"
                + (" (auth.allow_api_keys = false)" if not self.policy.auth.allow_api_keys else ""),
                fix="make AWS credentials available (environment, profile, instance role), "
                "or pass aws_access_key_id/aws_secret_access_key to the transport",
            )
        # The caller's headers less those the decision sets (guardrail, length and, when
        # signing, credentials), in their order; then the decided guardrail headers.
        drop = _DROP_SIGNED if sign else _DROP_UNSIGNED
        new_headers = [
            header for header, (name, _) in zip(headers, lowered, strict=True) if name not in drop
        ]
        for name, header in _HEADER_NAMES.items():
            value = params.get(name)
            if isinstance(value, str) and value:
                new_headers.append((header, value))
        new_body, new_path = body, url_path(request)
        model = params.get("modelId")
        if isinstance(model, str) and model != snap.params.get("modelId"):
            if route.model_from == "body":
                document = dict(snap.body or {})
                document["model"] = model
                new_body = json.dumps(document, separators=(",", ":")).encode()
            else:
                new_path = _replace_model_segment(new_path, model)
        new_headers.append(("Content-Length", str(len(new_body))))
        return _Plan(
            route=route,
            endpoint=endpoint,
            record=record,
            decision=decision,
            headers=new_headers,
            body=new_body,
            raw_path=new_path,
            auth=auth,
            stream=snap.stream,
        )

    def build(self, request: Any, plan: _Plan) -> Any:
        """The request to send: the plan's headers and body, signed when it says so."""
        url = request.url
        if url.raw_path != plan.raw_path:
            url = url.copy_with(raw_path=plan.raw_path)
        headers = plan.headers
        if plan.auth == "sigv4":
            headers = self._signed(request.method, str(url), headers, plan)
        outgoing = type(request)(
            request.method,
            url,
            headers=headers,
            content=plan.body,
            extensions=dict(request.extensions),
        )
        self._wire_check(outgoing, plan)
        return outgoing

    def _signed(
        self, method: str, url: str, headers: list[tuple[str, str]], plan: _Plan
    ) -> list[tuple[str, str]]:
        credentials = self.credentials.get_frozen_credentials()
        signable = {k: v for k, v in headers if k.lower() != "connection"}
        aws_request = AWSRequest(method=method, url=url, headers=signable, data=plan.body)
        SigV4Auth(credentials, plan.route.signing_name, self.region).add_auth(aws_request)
        added = {
            k: v
            for k, v in aws_request.headers.items()
            if k.lower() in ("authorization", "x-amz-date", "x-amz-security-token")
        }
        return headers + list(added.items())

    def _wire_check(self, outgoing: Any, plan: _Plan) -> None:
        """The request about to be written must say what was decided."""
        problems: list[str] = []
        url = outgoing.url
        if (url.host.rstrip(".").lower(), url.port or 443) != (
            plan.endpoint.host,
            plan.endpoint.port,
        ) or url.scheme != "https":
            problems.append("destination")
        # One pass over the headers as they will be written.
        sent: dict[str, str] = {}
        counts: dict[str, int] = {}
        hosts: list[str] = []
        for raw_name, raw_value in outgoing.headers.raw:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            sent[name] = value
            counts[name] = counts.get(name, 0) + 1
            if name == "host":
                hosts.append(value)
        # The Host header is what the service routes and SigV4 signs: it must name the
        # host the socket is opened for.
        if hosts != [url.netloc.decode("ascii")]:
            problems.append("Host header")
        if url.raw_path != plan.raw_path:
            problems.append("path")
        if outgoing.content != plan.body:
            problems.append("body")
        if any(counts.get(h, 0) > 1 for h in _SINGLE_HEADERS):
            problems.append("duplicate guardrail or authorization headers")
        if self.enforce:
            for header, name in GUARDRAIL_HEADERS.items():
                if sent.get(header) != _str_or_none(plan.decision.params.get(name)):
                    problems.append(f"header {header}")
        scheme = _auth_of(list(sent.items()))
        if scheme != plan.auth or (plan.auth == "sigv4" and "x-api-key" in sent):
            problems.append(f"auth {scheme}, decided {plan.auth}")
        if problems:
            raise PolicyViolation(
                rule=RULE_WIRE_MISMATCH,
                operation=plan.route.operation,
                found="the request to be written differs from the decision: " + ", ".join(problems),
                expected="the destination, path, body, guardrail headers and auth scheme decided",
                fix="do not change requests below securebedrock's transport",
            )

    # -- the response ---------------------------------------------------------------------

    def observe(self, response: Any, plan: _Plan, checks: ConnectionChecks, is_async: bool) -> Any:
        """Record the connection and status; hand back the response with an observed body."""
        record = plan.record
        info = checks.record(response.extensions.get("network_stream"))
        if info is not None:
            record._transport_violations(info)
            if record.recording:
                record.span.set_attributes(
                    {
                        ATTR_TLS_VERSION: info.tls_version,
                        ATTR_PEER_ADDRESS_CLASS: info.address_class,
                    }
                )
        lowered = {k.lower(): v for k, v in response.headers.items()}
        record._header_guardrail(lowered)
        if response.status_code >= 400:
            _http_error(record, response.status_code)
            return response
        content_type = lowered.get("content-type", "")
        if "text/event-stream" in content_type:
            style = {"MantleMessages": "anthropic", "MantleResponses": "responses"}.get(
                plan.route.operation, "openai"
            )
        elif plan.stream:
            style = "eventstream"
        else:
            style = "json"
            if type(record) is QuietRecord:
                # Nothing would keep the body's usage and finish reasons, and a whole
                # body cannot end short: the call ends here, the body passes untouched.
                # (A stream is still observed: its caller must learn of a cut.)
                record.end()
                return response
        observer = BodyObserver(record, operation=plan.route.operation, style=style)
        module = module_of(response)
        sync_cls, async_cls = wrapped_stream_classes(module)
        stream = (async_cls if is_async else sync_cls)(response.stream, observer)
        return type(response)(
            status_code=response.status_code,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
            request=response.request if _has_request(response) else None,
        )


def fail(record: CallRecord, error: BaseException) -> None:
    """End a call's span with its error; a refusal is recorded as a deny with its rule
    and the stage that refused it (``engine``, ``wire`` or ``transport``)."""
    rule = getattr(error, "rule", None)
    if isinstance(error, SecureBedrockError) and isinstance(rule, str) and record.outcome != "deny":
        if rule == RULE_WIRE_MISMATCH:
            stage = "wire"
        elif isinstance(error, TransportSecurityError):
            stage = "transport"
        else:
            stage = "engine"
        violation = _rules.Violation(
            rule=rule,
            found=str(error.found or "")[:512],
            expected=str(error.expected or "")[:512],
            fix=str(error.fix or ""),
        )
        record.late((violation,), "deny", stage)
    record.failed(error)


def handshake_refusal(guard: Guard, host: str, exc: BaseException) -> Exception | None:
    """Our ``tls.version`` error for a handshake the floor failed (httpx wraps the
    ``ssl.SSLError`` in its ``ConnectError``), else ``None``."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return guard.handshake_error(seen, host)
        seen = seen.__cause__ or seen.__context__
    return None


def _has_request(response: Any) -> bool:
    try:
        return response.request is not None
    except RuntimeError:
        return False


def module_of(obj: Any) -> Any:
    """The HTTP library (``httpx`` or ``httpx2``) ``obj`` belongs to."""
    kind = type(obj)
    module = _MODULES.get(kind)
    if module is None:
        module = sys.modules[kind.__module__.split(".", 1)[0]]
        if len(_MODULES) < 64:  # bounded: a few request and response classes
            _MODULES[kind] = module
    return module


_MODULES: dict[type, Any] = {}


def _http_error(record: CallRecord, status: int) -> None:
    record.error_type = str(status)
    if record.recording:
        from opentelemetry.trace import Status, StatusCode

        record.span.set_attribute("error.type", str(status))
        record.span.set_status(Status(StatusCode.ERROR, str(status)))
    record.end()


def url_path(request: Any) -> bytes:
    """The raw path and query httpx will write."""
    return bytes(request.url.raw_path)


def _replace_model_segment(raw_path: bytes, model: str) -> bytes:
    from urllib.parse import quote

    path, sep, query = raw_path.partition(b"?")
    parts = path.split(b"/")
    parts[2] = quote(model, safe="").encode("ascii")
    return b"/".join(parts) + sep + query


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _credentials(
    access_key: str | None, secret_key: str | None, token: str | None, botocore_session: Any
) -> Any:
    """Credentials from the arguments, or the AWS credential chain (``None`` if none)."""
    from botocore.credentials import Credentials

    if access_key and secret_key:
        return Credentials(access_key, secret_key, token)
    if botocore_session is None:
        import botocore.session

        botocore_session = botocore.session.get_session()
    getter = getattr(botocore_session, "get_credentials", None)
    return getter() if getter is not None else None
