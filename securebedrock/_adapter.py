"""The thin adapter: secures a botocore client in place.

``install()`` replaces the client's ``_make_api_call`` with an *instance*
attribute (every generated method, and botocore's paginators, call
``self._make_api_call``), so the object stays the real botocore client.
A call through the class (``BaseClient._make_api_call(client, ...)``) skips
the engine, but its request reaches the hardened session with no decision and
the wire check (``_wire.py``) refuses it (docs/threat-model.md).

Per call: copy the parameters into plain values once (``_snapshot.py``);
build a ``Call`` from that copy; evaluate it with the pure engine; in enforce
mode refuse a violating call before a byte is sent; otherwise hand the decided
parameters (in ``apply`` mode too: the mandated changes made, nothing refused)
or, in log_only mode, the caller's own copy, to botocore, with the expectation
the wire check compares the prepared request against, and record everything in
the audit span and log. A refusal raised later (wire check, ``before-send``
check, transport) is recorded on the same span.
"""

from __future__ import annotations

import dataclasses
import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import botocore
from botocore.client import BaseClient

from . import _digest, _env, _profiles, _rules, _snapshot, _transport, _urls, _wire
from ._errors import PolicyViolation, SecureBedrockError, TransportSecurityError
from ._policy import Policy
from ._retry import Retrier, RetryConfig, disable_botocore_retries
from ._telemetry import CallRecord, ConnectionFacts, Telemetry

_ATTR = "_securebedrock_state"

#: The call being made on this thread/task (the wire check and ``before-send`` read it).
current_call = _wire.current_call

ApiCall = Callable[[str, Mapping[str, Any]], Any]

#: The connection each attempt used, as the transport records it (TLS version, peer
#: address class, rules a log_only policy let it break), for the audit span.
_CONNECTION_FACTS = ConnectionFacts(
    last=_transport.last_connection, forget=_transport.reset_last_connection
)

_NOT_CHECKED: Any = object()


class SecuredState:
    """What a secured client knows, computed once at construction."""

    def __init__(
        self,
        client: BaseClient,
        policy: Policy,
        original: ApiCall,
        *,
        observability: _Observability | None = None,
    ) -> None:
        self.policy = policy
        self.original = original
        self.enforce = policy.mode == "enforce"
        # apply and enforce make the mandated changes (guardrail, profile mapping);
        # only enforce refuses.
        self.applies = policy.mode in ("apply", "enforce")
        self.region: str = client.meta.region_name or ""
        self.partition: str = client.meta.partition or "aws"
        # Read by the parser that opens the socket (already checked by the transport).
        self.endpoint = _urls.parse_endpoint(client.meta.endpoint_url, source="client endpoint")
        self.endpoint_host: str = self.endpoint.host
        self.endpoint_port: int = self.endpoint.port
        # Weak, like ``original`` (see _WeakOriginal): the state lives in the client.
        self._client_ref = weakref.ref(client)
        # Telemetry and retry are built once here, never per call.
        self.observability = observability or _Observability()
        self.telemetry = Telemetry(
            mode=policy.mode,
            policy_digest=getattr(policy, "digest", None),
            region=self.region,
            server_address=self.endpoint_host,
            server_port=self.endpoint_port,
            tracer_provider=self.observability.tracer_provider,
            meter_provider=self.observability.meter_provider,
            hmac_key=_digest.load_key(policy),  # audit.content = "digest" without a key fails here
            policy_release=getattr(policy.release, "id", None),
            policy_serial=getattr(policy.release, "serial", None),
            connection=_CONNECTION_FACTS,
        )
        self.retrier = Retrier(self.observability.retry or RetryConfig(), client)
        # The engine's decisions for the call shapes this client repeats (exact keys only).
        self.decisions = _rules.DecisionCache(policy)
        # The last signature version found not to be a bearer scheme (see auth_kind).
        self._sigv4_version: object = _NOT_CHECKED
        # Set by _install_enforcement before the state is used.
        self.profiles: _profiles.ProfileResolver | None = None
        self.wire()  # binds the session's wire check to this telemetry now

    def wire(self) -> _wire.WireCheck | None:
        """The last check of the session the client sends through now (read per call:
        hardening the client again replaces its session)."""
        client = self._client_ref()
        http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
        wire = getattr(http_session, "sb_wire", None)
        if not isinstance(wire, _wire.WireCheck):
            return None
        if wire.telemetry is None:
            # Where it audits a request that belongs to no call of this client.
            wire.telemetry = self.telemetry
        return wire

    def client(self) -> BaseClient | None:
        """The secured client, while it exists."""
        return self._client_ref()

    def auth_kind(self) -> _rules.AuthKind:
        client = self._client_ref()
        signer = getattr(client, "_request_signer", None)
        version = getattr(signer, "signature_version", None)
        if version is not self._sigv4_version:
            if _wire.auth_scheme(version) == _wire.BEARER_SCHEME:
                return "bearer"
            if isinstance(version, str):
                # A pure function of the version: remembered for the next call.
                self._sigv4_version = version
        if getattr(signer, "_auth_token", None) is not None and _prefers_env_bearer(client, signer):
            return "bearer"
        return "sigv4"

    def build_call(self, operation_name: str, api_params: Mapping[str, Any]) -> _rules.Call:
        return _rules.new_call(
            operation_name,
            self.region,
            self.partition,
            self.endpoint_host,
            api_params,
            self.auth_kind(),
        )


def _prefers_env_bearer(client: Any, signer: Any) -> bool:
    """Whether botocore will sign with ``AWS_BEARER_TOKEN_BEDROCK`` although the client's
    signer says SigV4.

    botocore chooses the bearer token per call when it is in the environment, the signer
    holds it, and no signature version or auth-scheme preference was set in code
    (``botocore.handlers._set_auth_scheme_preference_signer``). Knowing it here lets the
    engine refuse the call before anything is sent, the control plane included; the
    ``before-send`` check on the prepared request stays the authority.
    """
    if client is None or getattr(signer, "_auth_token", None) is None:
        return False
    signing_name = str(getattr(client.meta.service_model, "signing_name", "") or "")
    variable = "AWS_BEARER_TOKEN_" + signing_name.replace("-", "_").replace(" ", "_").upper()
    if not signing_name or not _env.aws_setting(variable):
        return False
    config = client.meta.config
    for value in (config.signature_version, getattr(config, "auth_scheme_preference", None)):
        # botocore marks values given in code with this str subclass.
        if type(value).__name__ == "ClientConfigString" or value is botocore.UNSIGNED:
            return False
    return True


class _WeakOriginal:
    """The class's ``_make_api_call`` for one client, without keeping the client alive.

    The secured state lives in the client's ``__dict__``; a bound method (a strong
    reference) back to the client made every secured client a reference cycle, so a
    dropped client waited for the cyclic garbage collector (~1,000 objects each,
    docs/performance.md) instead of being freed at once like a raw one.
    """

    __slots__ = ("_client",)

    def __init__(self, client: BaseClient) -> None:
        self._client = weakref.ref(client)

    def __call__(self, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        client = self._client()
        if client is None:
            # Only reachable by keeping client._make_api_call after dropping the client.
            raise SecureBedrockError(
                "the securebedrock client this call belongs to is gone",
                found="a call through a client that no longer exists",
                expected="a call made through a live securebedrock client",
                fix="keep the client while calling it",
            )
        # Looked up per call, not captured once: instrumentation that wraps the class
        # method later (OpenTelemetry's BotocoreInstrumentor) applies, and uninstrumenting
        # takes effect.
        function: Callable[..., Any] = type(client)._make_api_call  # type: ignore[attr-defined]
        return function(client, operation_name, api_params)


class SecuredApiCall:
    """The replacement for ``client._make_api_call``."""

    def __init__(self, state: SecuredState) -> None:
        self._state = state

    def __call__(self, operation_name: str, api_params: Mapping[str, Any]) -> Any:
        state = self._state
        call = CallInProgress(state, operation_name, api_params)
        try:
            # Current for the whole call: profile look-ups and each attempt nest under it.
            with call.audit.active():
                prepared = call.decide(_resolve_profiles(state, call.call))
                response = state.retrier.run(
                    functools.partial(state.original, operation_name), prepared, call.audit
                )
        except BaseException as exc:
            call.failed(exc)
            raise
        finally:
            call.close()
        # Ends the span, or hands it to the wrapped event stream of a streaming call.
        return call.audit.response(response)


class CallInProgress:
    """One secured call, from the snapshot to the parameters handed to botocore.

    Shared by the sync adapter and ``securebedrock.aio``: only how profiles are
    resolved and how attempts are awaited differ between them. Creating it copies
    the parameters into plain values (``_snapshot.py``: a Mapping that lies, a body
    that changes while it is read, cannot show the engine one thing and send another),
    starts the audit span (one per call; its methods never raise) and makes the call
    current for the wire check; :meth:`close` ends that.
    """

    __slots__ = ("_token", "audit", "call", "context", "operation", "params", "state")

    def __init__(
        self, state: SecuredState, operation_name: str, api_params: Mapping[str, Any]
    ) -> None:
        self.state = state
        self.operation = operation_name
        try:
            self.params = _snapshot.snapshot(api_params, operation_name)
        except SecureBedrockError as exc:
            state.telemetry.start(operation_name, {}).failed(exc)
            raise
        # One audit span per call; its methods never raise.
        self.audit: CallRecord = state.telemetry.start(operation_name, self.params)
        self.context = _wire.CallContext(audit=self.audit, wire=state.wire(), enforce=state.enforce)
        try:
            self.call = state.build_call(operation_name, self.params)
        except BaseException as exc:
            self.audit.failed(exc)
            raise
        self._token = current_call.set(self.context)

    def decide(self, resolved: tuple[_rules.Call, _rules.Decision]) -> dict[str, Any]:
        """The parameters to send, given the decision (refused here in enforce mode)."""
        state, audit, context = self.state, self.audit, self.context
        call, decision = resolved
        outcome = _rules.outcome(decision, enforce=state.enforce)
        if outcome == "deny":
            _log_decision(audit, decision, "deny", decision.params)
            raise _violation_error(decision)
        if state.applies and not decision.violations:
            # apply: the changes are made as enforce makes them, so nothing is left undone.
            outcome = "allow"
        # log_only changes nothing and refuses nothing: the caller's own parameters go out.
        # apply refuses nothing but makes the changes: the decided parameters go out.
        sent: Mapping[str, Any] = decision.params if state.applies else self.params
        _log_decision(audit, decision, outcome, sent)
        # Our single retry layer (botocore's is off: see _retry.py).
        prepared = state.retrier.prepare(self.operation, sent)
        context.call = call
        context.decision = decision
        if context.wire is not None:
            # Fixed before botocore sees the parameters: handlers cannot move it.
            context.expected = context.wire.expect(self.operation, prepared)
        return prepared

    def failed(self, exc: BaseException) -> None:
        _audit_refusal(self.audit, exc)
        self.audit.failed(exc)

    def close(self) -> None:
        current_call.reset(self._token)


def _audit_refusal(audit: CallRecord, exc: BaseException) -> None:
    """Record a refusal raised after the engine's decision (transport, before-send check).

    The engine's own refusals and the wire check's are recorded where they happen
    (``audited``); everything else that names a rule is recorded here, once.
    """
    if getattr(exc, "audited", False) or audit.outcome == "deny":
        return
    if not isinstance(exc, PolicyViolation | TransportSecurityError):
        return
    violations = getattr(exc, "violations", None) or (
        _rules.Violation(
            rule=exc.rule, found=str(exc.found), expected=str(exc.expected), fix=str(exc.fix)
        ),
    )
    default = "transport" if isinstance(exc, TransportSecurityError) else "engine"
    audit.late(tuple(violations), "deny", str(getattr(exc, "stage", default)))


def _violation_error(decision: _rules.Decision) -> PolicyViolation:
    return PolicyViolation.refusing(decision.operation, decision.violations)


def _log_decision(
    audit: CallRecord, decision: _rules.Decision, outcome: str, params: Mapping[str, Any]
) -> None:
    """Record a decision: span attributes and events, the violation counter, the audit log."""
    # Never raises (fail-open); see _telemetry.CallRecord.decided.
    audit.decided(decision, outcome, params)


class _Observability:
    """Per-client telemetry providers and retry bounds; ``None``: the defaults."""

    __slots__ = ("meter_provider", "retry", "tracer_provider")

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        retry: RetryConfig | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.retry = retry

    def over(self, previous: _Observability) -> _Observability:
        """These settings, falling back to ``previous`` for what is not given (re-securing)."""
        return _Observability(
            tracer_provider=self.tracer_provider or previous.tracer_provider,
            meter_provider=self.meter_provider or previous.meter_provider,
            retry=self.retry or previous.retry,
        )


def installed_policy(client: BaseClient) -> Policy | None:
    """The policy a client was secured with, or ``None``."""
    state = client.__dict__.get(_ATTR)
    return state.policy if isinstance(state, SecuredState) else None


def install(
    client: BaseClient,
    policy: Policy,
    *,
    boto_session: Any = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    retry: RetryConfig | None = None,
    api_call: Callable[[SecuredState], Any] = SecuredApiCall,
) -> None:
    """Secure ``client`` in place with ``policy`` (re-installing replaces the previous state).

    ``api_call`` makes the ``_make_api_call`` replacement from the client's state
    (``securebedrock.aio`` passes its async one).

    ``tracer_provider``/``meter_provider`` default to the global OpenTelemetry
    providers, ``retry`` to :class:`RetryConfig` defaults; re-installing keeps the
    previous ones unless new ones are given.
    """
    previous = client.__dict__.get(_ATTR)
    observability = _Observability(
        tracer_provider=tracer_provider, meter_provider=meter_provider, retry=retry
    )
    if isinstance(previous, SecuredState):
        original = previous.original
        observability = observability.over(previous.observability)
    else:
        original = _WeakOriginal(client)
    state = SecuredState(client, policy, original, observability=observability)
    _install_enforcement(client, state, boto_session)
    # One retry layer: ours (see _retry.py for what this relies on).
    disable_botocore_retries(client)
    client.__dict__[_ATTR] = state
    client.__dict__["_make_api_call"] = api_call(state)


# --- enforcement ---------------------------------------------------------------------------
# Profile resolution (only for calls the other rules allow), and the last-chance
# bearer-token check on the prepared request; see docs/rules.md.

_AUTH_HANDLER_ID = "securebedrock-enforcement-auth-api-key"

#: What the ``before-send`` check (and the wire check) report for a bearer header.
BEARER_HEADER_VIOLATION = _wire.BEARER_HEADER_VIOLATION


def _install_enforcement(client: BaseClient, state: SecuredState, boto_session: Any) -> None:
    """Give ``state`` its profile resolver; register the ``before-send`` auth check last."""
    factory = _profiles.control_plane_factory(client, state.policy, boto_session)
    state.profiles = _profiles.ProfileResolver(factory)
    client_ref = weakref.ref(client)

    def check_authorization(request: Any, event_name: str = "", **_: Any) -> None:
        # Registered last, so it sees the headers after every other handler (signers,
        # frameworks that inject "Authorization: Bearer ..."). It never returns a
        # response: other handlers' short-circuits keep working. The session's wire
        # check repeats this after every handler; this one still holds on a client
        # whose session was replaced.
        target = client_ref()
        current = target.__dict__.get(_ATTR) if target is not None else None
        if not isinstance(current, SecuredState) or current.policy.auth.allow_api_keys:
            return
        headers: Any = getattr(request, "headers", None) if request is not None else None
        values = headers.get_all("Authorization") if hasattr(headers, "get_all") else None
        if values is None:
            values = [headers.get("Authorization")] if headers is not None else []
        if not any(_wire.auth_scheme(v) == _wire.BEARER_SCHEME for v in values or ()):
            return
        operation = event_name.rsplit(".", 1)[-1] if event_name else "unknown"
        violation = BEARER_HEADER_VIOLATION
        context = current_call.get()
        audit = context.audit if context is not None else None
        outcome = "deny" if current.enforce else "log_only"
        if audit is not None:
            audit.late((violation,), outcome, "before-send")
        if current.enforce:
            error = PolicyViolation.refusing(operation, (violation,))
            error.audited = audit is not None  # type: ignore[attr-defined]
            raise error

    client.meta.events.register_last(
        f"before-send.{client.meta.service_model.service_id.hyphenize()}",
        check_authorization,
        unique_id=_AUTH_HANDLER_ID,
    )


def _resolve_profiles(
    state: SecuredState, call: _rules.Call
) -> tuple[_rules.Call, _rules.Decision]:
    """Decide ``call``, resolving the profiles the engine needs only when it could be sent.

    Every rule that does not need a profile's routes is evaluated first; a call that
    decision refuses is refused as it stands, without a control-plane request (none
    goes out for a call that would not be sent, to a forbidden region or otherwise).
    Otherwise the routes are resolved (cached; one control-plane call per ARN per
    client at most), unresolvable ones are passed on with a reason (fail closed), and
    the call is decided on all its rules.
    """
    decision = state.decisions.decide(call)
    if not decision.pending_profiles or not needs_resolution(state, decision):
        return call, decision
    return decide_with_profiles(state, call, decision)


def decide_before_resolution(state: SecuredState, call: _rules.Call) -> _rules.Decision:
    """Every rule that needs no profile routes (pure: no I/O)."""
    return state.decisions.decide(call)


def needs_resolution(state: SecuredState, decision: _rules.Decision) -> bool:
    """Whether the call could be sent and the engine needs profile routes to decide it."""
    if not decision.pending_profiles:
        return False
    return not (decision.violations and _rules.outcome(decision, enforce=state.enforce) == "deny")


def decide_with_profiles(
    state: SecuredState, call: _rules.Call, decision: _rules.Decision
) -> tuple[_rules.Call, _rules.Decision]:
    """Resolve the pending profiles (control-plane I/O, cached) and decide on every rule."""
    if state.profiles is None:  # pragma: no cover - install() always sets it
        raise RuntimeError("securebedrock: profile resolver missing; the client was not installed")
    resolved, unresolved = state.profiles.resolve_all(decision.pending_profiles)
    call = dataclasses.replace(call, resolved_profiles=resolved, unresolved_profiles=unresolved)
    return call, _rules.evaluate(state.policy, call)
