"""One retry layer, ours, around each secured call.

botocore retries inside ``_make_api_call`` (the ``needs-retry`` event), below
the point where securebedrock sees the call. Two layers that both retry
multiply their attempts (4 x 4 = 16 requests for one throttled call) and hide
attempts from the audit span. So a secured client runs botocore with a single
attempt and retries here, once per call, with exponential backoff and full
jitter (``tenacity``), bounded in attempts *and* in total time, and records
every attempt as a span event.

How botocore's retries are switched off (docs/telemetry.md, "Retries"):

- clients securebedrock constructs get ``Config(retries={"total_max_attempts": 1})``
  merged over the caller's ``config`` (the caller's ``max_attempts`` /
  ``total_max_attempts`` becomes *our* bound);
- every secured client, including one handed to ``secure()``, has its
  ``needs-retry.bedrock-runtime`` handler (botocore registers it with
  ``unique_id="retry-config-bedrock-runtime"`` in every retry mode) replaced by
  one that never asks for a retry, registered under the same ``unique_id`` so a
  later botocore registration under that id is a no-op.

What is retried: throttling (HTTP 429 and botocore's throttling codes),
``ModelNotReadyException``, 5xx responses other than 501, and connection
failures botocore would itself retry (connect failure/timeout, connection
closed, read timeout). Never retried: anything that is or wraps a
:class:`~securebedrock.SecureBedrockError` (policy violations, transport
security failures), TLS errors, proxy errors, and any other client error.
Streaming calls are retried only until the response (with its stream) is
returned; an error while the caller iterates is the caller's.
"""

from __future__ import annotations

import asyncio
import random
import time
import types
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import tenacity
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)

from ._errors import SecureBedrockError

__all__ = [
    "RetryConfig",
    "Retrier",
    "disable_botocore_retries",
    "is_retryable",
    "merge_boto_config",
    "retry_config_of",
]

T = TypeVar("T")

_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_TRANSIENT_CODES = frozenset(
    {
        "ModelNotReadyException",
        "InternalServerException",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
_RETRYABLE_TRANSPORT = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
)
# Security-relevant transport failures: retrying cannot fix them and would only
# repeat a refused connection.
_NEVER_RETRY_TRANSPORT = (SSLError, ProxyConnectionError)


@dataclass(frozen=True, kw_only=True)
class RetryConfig:
    """How a secured client retries a failed call (pass as ``retry=`` to ``client()``/``secure()``).

    ``max_attempts`` counts the first attempt (1 disables retries). No new
    attempt starts once ``total_timeout`` seconds have passed since the first
    began, and no backoff sleep runs past it. Backoff before attempt *n+1* is a
    uniformly random delay in ``[0, min(max_backoff, initial_backoff * 2**(n-1))]``
    (exponential backoff with full jitter).
    """

    max_attempts: int = 4
    total_timeout: float = 20.0
    initial_backoff: float = 0.5
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        checks = (
            ("max_attempts", self.max_attempts, self.max_attempts >= 1, "an integer >= 1"),
            ("total_timeout", self.total_timeout, self.total_timeout > 0, "seconds > 0"),
            ("initial_backoff", self.initial_backoff, self.initial_backoff >= 0, "seconds >= 0"),
            ("max_backoff", self.max_backoff, self.max_backoff >= 0, "seconds >= 0"),
        )
        for name, value, ok, expected in checks:
            if not ok:
                # A programming mistake, not a refusal: ValueError, like any library.
                raise ValueError(
                    f"invalid RetryConfig.{name}: found {value!r}, expected {expected}; "
                    f"pass RetryConfig({name}=...) with {expected}; "
                    "RetryConfig.disabled() turns retries off"
                )

    @classmethod
    def disabled(cls) -> RetryConfig:
        """A single attempt: no retries at all."""
        return cls(max_attempts=1)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes/contexts, and exceptions botocore wrapped in ``kwargs['error']``."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                todo.append(nxt)
        wrapped = getattr(current, "kwargs", None)
        if isinstance(wrapped, dict) and isinstance(wrapped.get("error"), BaseException):
            todo.append(wrapped["error"])


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed attempt may be retried (see the module docstring)."""
    for linked in _chain(exc):
        if isinstance(linked, (SecureBedrockError, *_NEVER_RETRY_TRANSPORT)):
            return False
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code", ""))
        status = (exc.response.get("ResponseMetadata", {}) or {}).get("HTTPStatusCode")
        if code in _THROTTLING_CODES or code in _TRANSIENT_CODES:
            return True
        return isinstance(status, int) and (
            status == 429 or (500 <= status < 600 and status != 501)
        )
    return isinstance(exc, _RETRYABLE_TRANSPORT)


class AttemptObserver(Protocol):
    """Told about every attempt (the telemetry records each as a span event).

    An observer may also define ``attempt_started(number)``, called right
    before each attempt is sent.
    """

    def attempt(
        self, number: int, error: BaseException | None, retry_delay: float | None
    ) -> None: ...


class _NoObserver:
    def attempt(self, number: int, error: BaseException | None, retry_delay: float | None) -> None:
        return None


# Scanning every operation's input shape is a large part of a client's construction
# (docs/performance.md). Clients of one boto3 session share the loaded
# service description (the same dict object), so the scan is cached per
# description; the cached entry holds the description itself, so an ``id()`` is
# never reused for another one while its entry lives.
_TOKEN_MEMBERS_CACHE: dict[int, tuple[object, Mapping[str, tuple[str, ...]]]] = {}
_TOKEN_MEMBERS_CACHE_LIMIT = 16


def _idempotency_token_members(client: BaseClient) -> Mapping[str, tuple[str, ...]]:
    model = client.meta.service_model
    description = getattr(model, "_service_description", None)
    if description is not None:
        cached = _TOKEN_MEMBERS_CACHE.get(id(description))
        if cached is not None and cached[0] is description:
            return cached[1]
    found = _scan_token_members(model)
    if description is not None:
        if len(_TOKEN_MEMBERS_CACHE) >= _TOKEN_MEMBERS_CACHE_LIMIT:
            _TOKEN_MEMBERS_CACHE.clear()
        _TOKEN_MEMBERS_CACHE[id(description)] = (description, found)
    return found


def _scan_token_members(model: Any) -> Mapping[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for name in model.operation_names:
        shape = model.operation_model(name).input_shape
        if shape is None:
            continue
        members = tuple(
            member
            for member, member_shape in shape.members.items()
            if member_shape.metadata.get("idempotencyToken")
        )
        if members:
            found[name] = members
    return types.MappingProxyType(found)  # shared between clients: read-only


class Retrier:
    """Runs one call's attempts. Built once per secured client."""

    def __init__(
        self,
        config: RetryConfig,
        client: BaseClient,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._clock = clock
        # From the service model, once: which members botocore would auto-fill
        # with a fresh UUID *per attempt* (StartAsyncInvoke.clientRequestToken).
        self._token_members = _idempotency_token_members(client)

    def prepare(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``params`` with idempotency tokens filled once, before the first attempt.

        botocore fills an absent token with a new UUID on every ``_make_api_call``;
        filling it here makes every retry carry the same token, so the service can
        deduplicate an attempt that did reach it.
        """
        prepared = dict(params)
        for member in self._token_members.get(operation, ()):
            if not prepared.get(member):
                prepared[member] = str(uuid.uuid4())
        return prepared

    def run(
        self,
        send: Callable[[dict[str, Any]], T],
        params: dict[str, Any],
        observer: AttemptObserver | None = None,
    ) -> T:
        """Call ``send(params_copy)`` until it succeeds, fails for good or the budget is spent."""
        plan = _AttemptPlan(self, params, observer)

        def one_attempt() -> T:
            return plan.finished(send(plan.next_params()))

        # Fast path: almost every call succeeds at its first attempt, and building and
        # driving tenacity's machinery costs tens of microseconds per call
        # (docs/performance.md). So the first attempt runs directly; only after a
        # failure does tenacity take over, replaying that failure as its own first
        # attempt, so stop/wait/retry/notification behave exactly as before.
        try:
            return one_attempt()
        except BaseException as exc:
            first_failure: BaseException | None = exc

        def replay_then_attempt() -> T:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return one_attempt()

        retrying = tenacity.Retrying(sleep=self._sleep, **plan.tenacity_options())
        try:
            return retrying(replay_then_attempt)
        except BaseException as exc:
            plan.failed(exc)
            raise

    async def run_async(
        self,
        send: Callable[[dict[str, Any]], Awaitable[T]],
        params: dict[str, Any],
        observer: AttemptObserver | None = None,
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> T:
        """:meth:`run` for a coroutine ``send``: the same attempts, bounds, backoff and
        notifications, sleeping with ``sleep`` (default ``asyncio.sleep``)."""
        plan = _AttemptPlan(self, params, observer)

        async def one_attempt() -> T:
            return plan.finished(await send(plan.next_params()))

        try:
            return await one_attempt()
        except BaseException as exc:
            first_failure: BaseException | None = exc

        async def replay_then_attempt() -> T:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await one_attempt()

        retrying = tenacity.AsyncRetrying(sleep=sleep or asyncio.sleep, **plan.tenacity_options())
        try:
            return await retrying(replay_then_attempt)
        except BaseException as exc:
            plan.failed(exc)
            raise


class _AttemptPlan:
    """One call's attempts: numbering, body rewinding, the bounds and the notifications.

    Shared by :meth:`Retrier.run` and :meth:`Retrier.run_async`: only the way an
    attempt is awaited and the way a backoff sleeps differ between them.
    """

    __slots__ = (
        "_clock",
        "_config",
        "_params",
        "_rewind",
        "_watcher",
        "deadline",
        "max_attempts",
        "number",
    )

    def __init__(
        self, retrier: Retrier, params: dict[str, Any], observer: AttemptObserver | None
    ) -> None:
        config = retrier.config
        self._config = config
        self._clock = retrier._clock
        self._params = params
        self._watcher: AttemptObserver = observer if observer is not None else _NoObserver()
        self._rewind = _rewinder(params.get("body"))
        self.max_attempts = config.max_attempts if self._rewind is not None else 1
        self.deadline = self._clock() + config.total_timeout
        self.number = 0

    def next_params(self) -> dict[str, Any]:
        """Start the next attempt: its parameters (a fresh top-level dict per attempt:
        botocore handlers may add keys), after rewinding a replayable body."""
        self.number += 1
        if self.number > 1 and self._rewind is not None:
            self._rewind()
        _notify_start(self._watcher, self.number)
        return dict(self._params)

    def finished(self, result: T) -> T:
        _notify(self._watcher, self.number, None, None)
        return result

    def failed(self, exc: BaseException) -> None:
        _notify(self._watcher, self.number, exc, None)

    def tenacity_options(self) -> dict[str, Any]:
        config = self._config

        def stop(state: tenacity.RetryCallState) -> bool:
            return state.attempt_number >= self.max_attempts or self._clock() >= self.deadline

        def wait(state: tenacity.RetryCallState) -> float:
            ceiling = min(
                config.max_backoff, config.initial_backoff * 2 ** (state.attempt_number - 1)
            )
            # Full jitter; not a security use of randomness.
            delay = random.uniform(0, ceiling)  # noqa: S311
            return max(0.0, min(delay, self.deadline - self._clock()))

        def before_sleep(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            delay = state.next_action.sleep if state.next_action is not None else 0.0
            _notify(self._watcher, state.attempt_number, error, delay)

        return {
            "stop": stop,
            "wait": wait,
            "retry": tenacity.retry_if_exception(is_retryable),
            "before_sleep": before_sleep,
            "reraise": True,
        }


def _notify(
    observer: AttemptObserver, number: int, error: BaseException | None, delay: float | None
) -> None:
    try:
        observer.attempt(number, error, delay)
    except Exception:  # noqa: S110 - observers are telemetry: they never break a call
        pass


def _notify_start(observer: AttemptObserver, number: int) -> None:
    started = getattr(observer, "attempt_started", None)
    if started is None:
        return
    try:
        started(number)
    except Exception:  # noqa: S110 - observers are telemetry: they never break a call
        pass


def _rewinder(body: Any) -> Callable[[], None] | None:
    """How to replay a request body on retry; ``None`` when it cannot be replayed.

    ``bytes``/``str`` bodies replay as they are. A seekable file is rewound to
    where it was before the first attempt. Anything else (a pipe, a generator)
    is read once, so the call gets a single attempt.
    """
    if body is None or isinstance(body, bytes | bytearray | memoryview | str):
        return _nothing
    seek = getattr(body, "seek", None)
    tell = getattr(body, "tell", None)
    if seek is None or tell is None:
        return None
    try:
        position = tell()
    except Exception:
        return None

    def rewind() -> None:
        seek(position)

    return rewind


def _nothing() -> None:
    return None


def _never_retry(**_: Any) -> None:
    """Replaces botocore's ``needs-retry`` handler: ``None`` means "do not retry"."""
    return None


def disable_botocore_retries(client: BaseClient) -> None:
    """Make botocore send each request once on ``client`` (idempotent)."""
    service_event = client.meta.service_model.service_id.hyphenize()
    event = f"needs-retry.{service_event}"
    unique_id = f"retry-config-{service_event}"
    events = client.meta.events
    events.unregister(event, unique_id=unique_id)
    events.register(event, _never_retry, unique_id=unique_id)
    # Make introspection tell the truth. A new dict, never an in-place edit: botocore
    # shares the ``retries`` dict with the caller's own Config object.
    config = client.meta.config
    retries = {k: v for k, v in (getattr(config, "retries", None) or {}).items() if k == "mode"}
    retries["total_max_attempts"] = 1
    config.retries = retries  # type: ignore[attr-defined]  # untyped in botocore-stubs


def retry_config_of(config: Config | None) -> RetryConfig:
    """Our retry bounds for a botocore ``Config``: its ``total_max_attempts``, or
    ``max_attempts`` + 1 as botocore counts it; the defaults when it sets neither."""
    retries: dict[str, Any] = dict(getattr(config, "retries", None) or {})
    attempts: int | None = None
    if retries.get("total_max_attempts") is not None:
        attempts = int(retries["total_max_attempts"])
    elif retries.get("max_attempts") is not None:
        attempts = int(retries["max_attempts"]) + 1
    return RetryConfig(max_attempts=max(1, attempts)) if attempts is not None else RetryConfig()


def merge_boto_config(
    user_config: Config | None, retry: RetryConfig | None
) -> tuple[Config, RetryConfig]:
    """The botocore ``Config`` for a client we construct, and the retry bounds to use.

    An explicit ``retry=`` wins; otherwise the caller's ``retries`` setting
    (``total_max_attempts``, or ``max_attempts`` + 1 as botocore counts it) becomes
    our ``max_attempts``; otherwise the defaults.
    """
    user_retries: dict[str, Any] = dict(getattr(user_config, "retries", None) or {})
    if retry is None:
        retry = retry_config_of(user_config)
    ours: dict[str, Any] = {"total_max_attempts": 1}
    if user_retries.get("mode"):
        # Keep the mode: "adaptive" also rate-limits on the client side, which stays useful.
        ours["mode"] = user_retries["mode"]
    override = Config(retries=cast(Any, ours))
    merged = user_config.merge(override) if user_config is not None else override
    return merged, retry
