"""Exceptions raised by securebedrock.

Every error we raise derives from one base, and every message says four
things: the rule (or key) involved, what was found, what was expected, and
how to fix it. None of them ever contains prompt or completion content or a
credential.

    SecureBedrockError
     ├── PolicyViolation          a call refused by policy (``.rule``, ``.operation``)
     ├── PolicyConfigError        a policy that cannot be loaded, parsed, verified or merged
     │                            (``.path`` is the key path, e.g. ``guardrail.version``)
     ├── TransportSecurityError   TLS floor, FIPS, peer address, proxy, endpoint checks
     │                            (``.rule``, ``.host``)
     └── StreamInterruptedError   a response stream that ended before its terminal event
                                  (``.operation``, ``.events``, ``.terminal``)

Every error pickles and unpickles to an equal error with the same attributes (process
pools and task queues move exceptions between processes), and every error is
permanent: ``retryable`` is ``False`` on all of them, because retrying a refused call
can only be refused again. :data:`NON_RETRYABLE_ERRORS` is the tuple to hand to retry
layers (``except``, ``tenacity.retry_if_not_exception_type``).

Programming mistakes (a wrong argument type, a client for another service, a bad
``RetryConfig``) raise ``TypeError``/``ValueError`` like any Python library, so that
``except SecureBedrockError`` catches refusals and configuration problems, not bugs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

__all__ = [
    "NON_RETRYABLE_ERRORS",
    "PolicyConfigError",
    "PolicyViolation",
    "SecureBedrockError",
    "StreamInterruptedError",
    "TransportSecurityError",
    "ViolationDetail",
]


def _restore(cls: type[SecureBedrockError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Rebuild a pickled error without calling its ``__init__`` (whose signature varies)."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class SecureBedrockError(Exception):
    """Base class of every error securebedrock raises.

    ``summary``, ``found``, ``expected`` and ``fix`` are the four parts of the message;
    ``retryable`` is always ``False``: a refusal is permanent.
    """

    retryable: ClassVar[bool] = False

    def __init__(
        self,
        summary: str,
        *,
        found: str | None = None,
        expected: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.summary = summary
        self.found = found
        self.expected = expected
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.summary]
        if self.found is not None:
            parts.append(f"found: {self.found}")
        if self.expected is not None:
            parts.append(f"expected: {self.expected}")
        if self.fix is not None:
            parts.append(f"fix: {self.fix}")
        return "; ".join(parts)

    def __reduce__(self) -> tuple[Any, ...]:
        # One rule for every subclass: the instance's attributes, restored as they were.
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    def diagnostics(self) -> str:
        """A multi-line, human-readable explanation with remediation advice."""
        lines = [self.summary]
        if self.found is not None:
            lines.append(f"  found:    {self.found}")
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.fix is not None:
            lines.append(f"  fix:      {self.fix}")
        return "\n".join(lines)


class ViolationDetail(Protocol):
    """One violated rule of a refused call: its id and what was found, expected and the fix."""

    @property
    def rule(self) -> str: ...
    @property
    def found(self) -> str: ...
    @property
    def expected(self) -> str: ...
    @property
    def fix(self) -> str: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class _Detail:
    rule: str
    found: str
    expected: str
    fix: str


class PolicyViolation(SecureBedrockError):
    """A call refused by policy before a single byte was sent.

    ``rule`` is one of the stable rule identifiers (``guardrail.conflict``,
    ``region.cross_region``, ...); ``operation`` is the Bedrock operation name
    (``Converse``); ``violations`` lists every rule the call violated, the first being
    the one ``rule``, ``found``, ``expected`` and ``fix`` describe (never empty).
    """

    violations: tuple[ViolationDetail, ...]

    def __init__(
        self,
        *,
        rule: str,
        operation: str,
        found: str,
        expected: str,
        fix: str,
        summary: str | None = None,
        violations: tuple[ViolationDetail, ...] = (),
    ) -> None:
        self.rule = rule
        self.operation = operation
        self.violations = tuple(violations) or (
            _Detail(rule=rule, found=found, expected=expected, fix=fix),
        )
        super().__init__(
            summary or f"[{rule}] {operation} refused by policy",
            found=found,
            expected=expected,
            fix=fix,
        )

    @classmethod
    def refusing(cls, operation: str, violations: Sequence[ViolationDetail]) -> PolicyViolation:
        """The error for ``operation`` refused for ``violations`` (never empty).

        The first violation heads the message; every one is kept in ``violations``.
        """
        first = violations[0]
        return cls(
            rule=first.rule,
            operation=operation,
            found=first.found,
            expected=first.expected,
            fix=first.fix,
            violations=tuple(violations),
        )


class PolicyConfigError(SecureBedrockError):
    """A policy that cannot be loaded, parsed, verified or merged.

    ``path`` is the dotted key path the problem is about (``guardrail.version``),
    or ``None`` when it concerns the whole document or file (a bad signature).
    """

    def __init__(
        self,
        summary: str,
        *,
        path: str | None = None,
        found: str | None = None,
        expected: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = path
        if path is not None and not summary.startswith(f"[{path}]"):
            summary = f"[{path}] {summary}"
        super().__init__(summary, found=found, expected=expected, fix=fix)


class TransportSecurityError(SecureBedrockError):
    """A connection that does not meet the transport rules.

    ``rule`` is ``tls.version``, ``tls.fips``, ``network.private_endpoint``,
    ``network.proxy`` or ``network.endpoint_override``; ``host`` is the host the
    client tried to reach.
    """

    def __init__(
        self,
        *,
        rule: str,
        host: str | None,
        found: str,
        expected: str,
        fix: str,
        summary: str | None = None,
    ) -> None:
        self.rule = rule
        self.host = host
        target = f" to {host}" if host else ""
        super().__init__(
            summary or f"[{rule}] connection{target} refused",
            found=found,
            expected=expected,
            fix=fix,
        )


class StreamInterruptedError(SecureBedrockError):
    """A response stream that ended before the event that ends every complete stream.

    Raised while iterating a ConverseStream (``response["stream"]``) or an
    InvokeModelWithResponseStream (``response["body"]``) whose HTTP response ended
    cleanly but early (a proxy, load balancer or network cut it): botocore sees an
    ordinary end of stream, so without this check the caller would take a partial
    answer for a complete one. ``operation`` is the Bedrock operation, ``events``
    how many events arrived, ``terminal`` the event that never came, ``last_event``
    the type of the last one that did. The message names event types only, never
    their content.

    Not a refusal, but like every securebedrock error ``retryable`` is ``False``: the
    stream was already handed to the caller, who may have used part of it, so whether
    to run the call again is the caller's decision, never a retry layer's.
    """

    def __init__(
        self,
        *,
        operation: str,
        events: int,
        terminal: str,
        last_event: str | None = None,
    ) -> None:
        self.operation = operation
        self.events = events
        self.terminal = terminal
        self.last_event = last_event
        last = f", the last a {last_event!r} event" if last_event else ""
        super().__init__(
            f"the {operation} response stream ended before its terminal event",
            found=f"{events} event(s){last}; none of them {terminal}",
            expected=f"a complete {operation} response ends with {terminal}",
            fix="the response is incomplete: do not use the partial output as an answer; "
            "retry the call, and check the network path (proxies, load balancers, idle "
            "timeouts) if it happens again",
        )


#: Every error type securebedrock raises is permanent: a retry layer must not retry these.
NON_RETRYABLE_ERRORS: tuple[type[BaseException], ...] = (SecureBedrockError,)
