"""Errors of the tool gate, all under :class:`securebedrock.SecureBedrockError`.

SecureBedrockError
 ├── PolicyConfigError
 │    └── ToolPolicyError        a Cedar policy or schema that cannot be loaded or
 │                               validated (``.source``, ``.line``, ``.column``,
 │                               ``.policy_id``, ``.problems``)
 └── ToolGateError               the gate used wrongly (a reserved context key, a bad principal)
      └── CedarNotInstalledError the ``cedar`` extra is not installed
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import PolicyConfigError, SecureBedrockError

INSTALL_HINT = "pip install 'securebedrock[cedar]'"
_EXPECTED = "Cedar policies that parse (and validate against the schema, when one is given)"


@dataclass(frozen=True, kw_only=True)
class PolicyProblem:
    """One problem found in a Cedar policy or schema, and where it is.

    ``line`` and ``column`` are 1-based, or ``None`` when the position is unknown;
    ``policy_id`` is the policy's ``@id`` annotation, else Cedar's positional id
    (``policy0``), or ``None`` for problems outside any policy (schema, file).
    """

    source: str
    message: str
    line: int | None = None
    column: int | None = None
    policy_id: str | None = None
    excerpt: str = ""

    def location(self) -> str:
        """``source:line:column`` (as far as known), the form editors and CI annotate."""
        if self.line is None:
            return self.source
        if self.column is None:
            return f"{self.source}:{self.line}"
        return f"{self.source}:{self.line}:{self.column}"

    def render(self) -> str:
        """The problem on one line, then the offending source line and a caret under it."""
        subject = f" policy `{self.policy_id}`:" if self.policy_id else ""
        text = f"{self.location()}:{subject} {self.message}"
        if self.excerpt:
            text += f"\n    {self.excerpt}"
            if self.column is not None:
                text += "\n    " + " " * (self.column - 1) + "^"
        return text


class ToolPolicyError(PolicyConfigError):
    """A Cedar tool policy (or its schema) that cannot be read, parsed or validated.

    ``problems`` lists every problem found (schema validation reports them all at
    once); ``source``, ``line``, ``column`` and ``policy_id`` describe the first.
    """

    def __init__(self, summary: str, *, problems: tuple[PolicyProblem, ...], fix: str) -> None:
        if not problems:
            raise ValueError("ToolPolicyError needs at least one problem")
        first = problems[0]
        self.problems = problems
        self.source = first.source
        self.line = first.line
        self.column = first.column
        self.policy_id = first.policy_id
        super().__init__(
            f"{first.location()}: {summary}",
            found="\n".join(problem.render() for problem in problems),
            expected=_EXPECTED,
            fix=fix,
        )


class ToolGateError(SecureBedrockError):
    """The tool gate was used in a way it cannot honour safely (a programming error)."""


class CedarNotInstalledError(ToolGateError):
    """The tool gate needs ``cedarpy``, which comes with the ``cedar`` extra."""

    def __init__(self, detail: str = "cedarpy is not installed") -> None:
        super().__init__(
            "[tools] the Cedar tool gate needs the optional 'cedar' extra",
            found=detail,
            expected="the cedarpy package (securebedrock[cedar])",
            fix=INSTALL_HINT,
        )
