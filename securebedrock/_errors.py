"""Exceptions raised by securebedrock.

Every error we raise derives from one base, and every message says four
things: the rule (or key) involved, what was found, what was expected, and
how to fix it. None of them ever contains prompt or completion content or a
credential.

    SecureBedrockError
     ├── PolicyViolation          a call refused by policy (``.rule``, ``.operation``)
     ├── PolicyConfigError        a policy that cannot be loaded, parsed, verified or merged
     │                            (``.path`` is the key path, e.g. ``guardrail.version``)
     └── TransportSecurityError   TLS floor, FIPS, peer address, proxy, endpoint checks
                                  (``.rule``, ``.host``)
"""

from __future__ import annotations

__all__ = [
    "PolicyConfigError",
    "PolicyViolation",
    "SecureBedrockError",
    "TransportSecurityError",
]


class SecureBedrockError(Exception):
    """Base class of every error securebedrock raises."""

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


class PolicyViolation(SecureBedrockError):
    """A call refused by policy before a single byte was sent.

    ``rule`` is one of the stable rule identifiers (``guardrail.conflict``,
    ``region.cross_region``, ...); ``operation`` is the Bedrock operation name
    (``Converse``).
    """

    def __init__(
        self,
        *,
        rule: str,
        operation: str,
        found: str,
        expected: str,
        fix: str,
        summary: str | None = None,
    ) -> None:
        self.rule = rule
        self.operation = operation
        super().__init__(
            summary or f"[{rule}] {operation} refused by policy",
            found=found,
            expected=expected,
            fix=fix,
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_violation,
            (self.rule, self.operation, self.found, self.expected, self.fix, self.summary),
        )


def _rebuild_violation(
    rule: str, operation: str, found: str, expected: str, fix: str, summary: str
) -> PolicyViolation:
    return PolicyViolation(
        rule=rule, operation=operation, found=found, expected=expected, fix=fix, summary=summary
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
