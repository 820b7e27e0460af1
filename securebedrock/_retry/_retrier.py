"""The attempts of one call: a direct first attempt, then tenacity only after a failure.

Almost every call succeeds at its first attempt, so :meth:`Retrier.run` sends it with
nothing built around it: no attempt plan, no body rewinder, no tenacity objects, no
closures. Only a failed first attempt builds them (:class:`_AttemptPlan`), and replays
that failure as tenacity's own first attempt, so the bounds, the backoff and the
notifications are the same as if tenacity had driven every attempt.
"""

from __future__ import annotations

import asyncio
import random
import time
import types
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, TypeVar

import tenacity
from botocore.client import BaseClient

from ._classify import is_retryable
from ._config import RetryConfig

T = TypeVar("T")


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


_NO_OBSERVER: AttemptObserver = _NoObserver()

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


#: Bodies that replay as they are: nothing to record before the first attempt.
_REPLAYABLE = (bytes, bytearray, memoryview, str)


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
        members = self._token_members.get(operation)
        if members:
            for member in members:
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
        watcher = _NO_OBSERVER if observer is None else observer
        # A file body's position is read before the first attempt sends it; every
        # other call builds nothing for retries unless its first attempt fails.
        body = params.get("body")
        plan = (
            None
            if body is None or isinstance(body, _REPLAYABLE)
            else _AttemptPlan(self, params, watcher, None)
        )
        started = self._clock()
        # The notifications of _notify_start and _notify, inline: this is every call's path.
        attempt_started = getattr(watcher, "attempt_started", None)
        if attempt_started is not None:
            try:
                attempt_started(1)
            except Exception:  # noqa: S110 - observers are telemetry: they never break a call
                pass
        try:
            result = send(dict(params))
        except BaseException as exc:
            plan = plan or _AttemptPlan(self, params, watcher, started)
            return plan.retry_after(exc, send, self._sleep)
        try:
            watcher.attempt(1, None, None)
        except Exception:  # noqa: S110 - observers are telemetry: they never break a call
            pass
        return result

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
        watcher = _NO_OBSERVER if observer is None else observer
        plan = _plan_for_unreplayable(self, params, watcher)
        started = self._clock()
        _notify_start(watcher, 1)
        try:
            result = await send(dict(params))
        except BaseException as exc:
            plan = plan or _AttemptPlan(self, params, watcher, started)
            return await plan.retry_after_async(exc, send, sleep or asyncio.sleep)
        _notify(watcher, 1, None, None)
        return result


def _plan_for_unreplayable(
    retrier: Retrier, params: dict[str, Any], watcher: AttemptObserver
) -> _AttemptPlan | None:
    """The attempt plan, built before the first attempt only for a body that is not
    bytes or text (where it must record the body's position first); else ``None``."""
    body = params.get("body")
    if body is None or isinstance(body, _REPLAYABLE):
        return None
    return _AttemptPlan(retrier, params, watcher, None)


class _AttemptPlan:
    """The attempts after a failed first one: numbering, body rewinding, the bounds and
    the notifications.

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
        self,
        retrier: Retrier,
        params: dict[str, Any],
        watcher: AttemptObserver,
        started: float | None,
    ) -> None:
        config = retrier.config
        self._config = config
        self._clock = retrier._clock
        self._params = params
        self._watcher = watcher
        self._rewind = _rewinder(params.get("body"))
        self.max_attempts = config.max_attempts if self._rewind is not None else 1
        # The budget counts from the first attempt's start.
        self.deadline = (self._clock() if started is None else started) + config.total_timeout
        self.number = 1  # the first attempt has been (or is being) sent

    def retry_after(
        self,
        failure: BaseException,
        send: Callable[[dict[str, Any]], T],
        sleep: Callable[[float], None],
    ) -> T:
        """Retry after the first attempt failed with ``failure`` (re-raised when not retried)."""
        first_failure: BaseException | None = failure

        def replay_then_attempt() -> T:
            nonlocal first_failure
            if first_failure is not None:
                replayed, first_failure = first_failure, None
                raise replayed
            result = send(self.next_params())
            _notify(self._watcher, self.number, None, None)
            return result

        retrying = tenacity.Retrying(sleep=sleep, **self.tenacity_options())
        try:
            return retrying(replay_then_attempt)
        except BaseException as exc:
            _notify(self._watcher, self.number, exc, None)
            raise

    async def retry_after_async(
        self,
        failure: BaseException,
        send: Callable[[dict[str, Any]], Awaitable[T]],
        sleep: Callable[[float], Awaitable[None]],
    ) -> T:
        """:meth:`retry_after` for a coroutine ``send``, sleeping with ``sleep``."""
        first_failure: BaseException | None = failure

        async def replay_then_attempt() -> T:
            nonlocal first_failure
            if first_failure is not None:
                replayed, first_failure = first_failure, None
                raise replayed
            result = await send(self.next_params())
            _notify(self._watcher, self.number, None, None)
            return result

        retrying = tenacity.AsyncRetrying(sleep=sleep, **self.tenacity_options())
        try:
            return await retrying(replay_then_attempt)
        except BaseException as exc:
            _notify(self._watcher, self.number, exc, None)
            raise

    def next_params(self) -> dict[str, Any]:
        """Start the next attempt: its parameters (a fresh top-level dict per attempt:
        botocore handlers may add keys), after rewinding a replayable body."""
        self.number += 1
        if self._rewind is not None:
            self._rewind()
        _notify_start(self._watcher, self.number)
        return dict(self._params)

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
    if body is None or isinstance(body, _REPLAYABLE):
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
