"""Cedar tool policies: parsed and validated once, when they are loaded."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import _source
from ._cedar import cedarpy
from ._errors import PolicyProblem, ToolPolicyError

_FIX_SYNTAX = (
    "correct the policy at the position shown (Cedar syntax: "
    "https://docs.cedarpolicy.com/policies/syntax-policy.html), then run "
    "`securebedrock tools validate FILE`"
)
_FIX_SCHEMA = (
    "make the policy match the schema (entity types, actions, context.input attributes), "
    "or correct the schema; then run `securebedrock tools validate FILE --schema SCHEMA`"
)
_POSITIONAL_ID = re.compile(r"policy[0-9]+")


@dataclass(frozen=True, kw_only=True, eq=False)
class ToolPolicy:
    """A set of Cedar policies (and optionally a Cedar schema) for :class:`ToolGate`.

    Build one with :meth:`from_file` or :meth:`from_text`. The text is parsed
    and, when a schema is given, validated against it exactly once, here;
    evaluating a tool call reuses the parsed handles. A ``ToolPolicy`` that
    exists is a valid one: every problem is a :class:`ToolPolicyError` that
    names the source, the line and column, and the policy.

    Policy ids: a policy's ``@id("...")`` annotation when it has one (ids must
    be unique), else Cedar's positional id (``policy0``, ``policy1``, ...).
    These are the ids that decisions report.

    Equality is identity: two loads of the same text are different objects
    (compare :attr:`digest` to compare contents).
    """

    #: Where the policies came from (a file name, or ``<policy>``).
    source: str
    #: The Cedar policy text, exactly as loaded.
    text: str = field(repr=False)
    #: Where the schema came from, or ``None`` when no schema was given.
    schema_source: str | None
    #: The id of every policy, in file order (``@id`` annotation, else ``policyN``).
    policy_ids: tuple[str, ...]
    #: SHA-256 (hex) over the policy text and schema: which policy version decided.
    digest: str = field(repr=False)
    # Parsed once here, reused by every evaluation (private: built only by the constructors).
    _policy_set: Any = field(repr=False, compare=False)
    _schema: Any = field(repr=False, compare=False)
    _display_ids: Mapping[str, str] = field(repr=False, compare=False)
    _lines: Mapping[str, int] = field(repr=False, compare=False)
    _identifiers: frozenset[str] = field(repr=False, compare=False)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path, *, schema_file: str | Path | None = None) -> ToolPolicy:
        """Load Cedar policies from ``path`` (UTF-8), optionally validated against ``schema_file``.

        The schema file is Cedar schema syntax, or Cedar JSON schema when its
        name ends in ``.json`` or its text starts with ``{``.
        """
        text = _read(path, what="policy")
        schema = None if schema_file is None else _read(schema_file, what="schema")
        return cls.from_text(
            text,
            schema=schema,
            source=str(path),
            schema_source=None if schema_file is None else str(schema_file),
        )

    @classmethod
    def from_text(
        cls,
        text: str,
        *,
        schema: str | Mapping[str, Any] | None = None,
        source: str = "<policy>",
        schema_source: str | None = None,
    ) -> ToolPolicy:
        """Parse Cedar policy ``text``, optionally validated against ``schema``.

        ``schema`` is Cedar schema text, Cedar JSON schema text, or a JSON
        schema as a mapping. ``source`` and ``schema_source`` name the text in
        error messages (a file name, usually).
        """
        cedar = cedarpy()
        schema_source = schema_source or "<schema>"
        if not _source.tokenize(text):
            raise ToolPolicyError(
                "no Cedar policies",
                problems=(PolicyProblem(source=source, message="the policy text is empty"),),
                fix="write at least one `permit` policy; an empty set would deny every tool call "
                "(write `forbid (principal, action, resource);` if that is what you mean)",
            )
        policy_set = _parse_policies(cedar, text, source)
        statements = _source.statements(text)
        est = json.loads(cedar.policies_to_json_str(text))
        display_ids, lines = _policy_ids(est, statements, text, source)

        schema_text: str | None = None
        schema_handle: Any = None
        if schema is not None:
            schema_text = schema if isinstance(schema, str) else json.dumps(dict(schema))
            schema_handle = _parse_schema(cedar, schema_text, schema_source)
            _validate(cedar, text, schema_handle, statements, display_ids, source)

        digest = hashlib.sha256()
        digest.update(text.encode())
        digest.update(b"\0")
        digest.update((schema_text or "").encode())
        identifiers = frozenset(
            token.text
            for token in _source.tokenize(text + "\n" + (schema_text or ""))
            if token.text[:1].isalpha() or token.text[:1] == "_"
        )
        return cls(
            source=source,
            text=text,
            schema_source=schema_source if schema is not None else None,
            policy_ids=tuple(display_ids.values()),
            digest=digest.hexdigest(),
            _policy_set=policy_set,
            _schema=schema_handle,
            _display_ids=MappingProxyType(display_ids),
            _lines=MappingProxyType(lines),
            _identifiers=identifiers,
        )

    def line_of(self, policy_id: str) -> int | None:
        """The 1-based line where policy ``policy_id`` starts, or ``None`` if unknown."""
        return self._lines.get(policy_id)

    def _gateway_references(self) -> list[tuple[int, str]]:
        """(line, id) of every ``AgentCore::Gateway::"id"`` literal in the policy text."""
        tokens = _source.tokenize(self.text)
        found: list[tuple[int, str]] = []
        for i in range(len(tokens) - 4):
            if [t.text for t in tokens[i : i + 4]] == ["AgentCore", "::", "Gateway", "::"]:
                literal = tokens[i + 4].text
                if len(literal) >= 2 and literal[0] == literal[-1] == '"':
                    try:
                        value = json.loads(literal)
                    except json.JSONDecodeError:
                        continue  # Cedar escapes that JSON does not share: not worth a warning
                    found.append((_source.line_column(self.text, tokens[i].start)[0], value))
        return found

    def _display_id(self, cedar_id: str) -> str:
        return self._display_ids.get(cedar_id, cedar_id)


def _read(path: str | Path, *, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolPolicyError(
            f"cannot read the Cedar {what} file",
            problems=(PolicyProblem(source=str(path), message=f"{type(exc).__name__}: {exc}"),),
            fix=f"check that {path} exists, is readable and is UTF-8 text",
        ) from None


def _parse_policies(cedar: Any, text: str, source: str) -> Any:
    try:
        return cedar.PolicySet.from_str(text)
    except ValueError as exc:
        message = str(exc)
    raise ToolPolicyError(
        "cannot parse the Cedar policies",
        problems=(_locate_parse_error(cedar, text, source, message),),
        fix=_FIX_SYNTAX,
    ) from None


def _locate_parse_error(cedar: Any, text: str, source: str, message: str) -> PolicyProblem:
    """Find which statement fails and where, by parsing statements one at a time."""
    for statement in _source.statements(text):
        chunk = text[statement.start : statement.end]
        try:
            cedar.PolicySet.from_str(chunk)
        except ValueError as exc:
            own_message = str(exc)
        else:
            continue
        unterminated = _source.unterminated_string(statement)
        if unterminated is not None:
            offset = unterminated.start
            own_message += ' (a string is missing its closing `"`)'
        elif statement.tokens[-1].text != ";":
            offset = statement.end
            own_message += " (a policy must end with `;`)"
        else:
            offset = _source.locate_in_statement(
                text, statement, cedar.PolicySet.from_str, own_message
            )
        line, column = _source.line_column(text, offset)
        return PolicyProblem(
            source=source,
            message=own_message,
            line=line,
            column=column,
            policy_id=f"policy{statement.index}",
            excerpt=_source.line_text(text, line),
        )
    return PolicyProblem(source=source, message=message)


def _policy_ids(
    est: Mapping[str, Any], statements: list[_source.Statement], text: str, source: str
) -> tuple[dict[str, str], dict[str, int]]:
    """Map Cedar's positional ids to display ids (``@id``), and display ids to lines."""
    templates = est.get("templates") or {}
    if templates:
        cedar_id = sorted(templates, key=_positional_order)[0]
        raise ToolPolicyError(
            "Cedar policy templates are not supported",
            problems=(
                _problem_at(
                    text,
                    source,
                    statements,
                    cedar_id,
                    "a template (?principal / ?resource slot) authorizes nothing until it is "
                    "linked, and the tool gate does not link templates",
                ),
            ),
            fix="replace the slot with a concrete entity or an `is` / `in` condition",
        )
    static = est.get("staticPolicies") or {}
    display_ids: dict[str, str] = {}
    lines: dict[str, int] = {}
    seen: dict[str, str] = {}
    for cedar_id in sorted(static, key=_positional_order):
        annotations = static[cedar_id].get("annotations") or {}
        annotated = annotations.get("id")
        display = annotated if isinstance(annotated, str) and annotated else cedar_id
        if display in seen:
            raise ToolPolicyError(
                "duplicate policy id",
                problems=(
                    _problem_at(
                        text,
                        source,
                        statements,
                        cedar_id,
                        f'`@id("{display}")` is already the id of {seen[display]}; decisions '
                        "name policies by id, so ids must be unique",
                    ),
                ),
                fix="give every policy a distinct @id annotation",
            )
        seen[display] = f"the policy at line {_line_of(text, statements, cedar_id) or '?'}"
        display_ids[cedar_id] = display
        line = _line_of(text, statements, cedar_id)
        if line is not None:
            lines[display] = line
    return display_ids, lines


def _positional_order(cedar_id: str) -> tuple[int, str]:
    if _POSITIONAL_ID.fullmatch(cedar_id):
        return int(cedar_id[len("policy") :]), cedar_id
    return 1 << 62, cedar_id


def _statement_for(statements: list[_source.Statement], cedar_id: str) -> _source.Statement | None:
    if not _POSITIONAL_ID.fullmatch(cedar_id):
        return None
    index = int(cedar_id[len("policy") :])
    return statements[index] if index < len(statements) else None


def _line_of(text: str, statements: list[_source.Statement], cedar_id: str) -> int | None:
    statement = _statement_for(statements, cedar_id)
    return None if statement is None else _source.line_column(text, statement.start)[0]


def _problem_at(
    text: str,
    source: str,
    statements: list[_source.Statement],
    cedar_id: str,
    message: str,
    display_id: str | None = None,
) -> PolicyProblem:
    statement = _statement_for(statements, cedar_id)
    if statement is None:
        return PolicyProblem(source=source, message=message, policy_id=display_id or cedar_id)
    offset = _source.find_quoted(text, statement.start, statement.end, message)
    line, column = _source.line_column(text, statement.start if offset is None else offset)
    return PolicyProblem(
        source=source,
        message=message,
        line=line,
        column=column,
        policy_id=display_id or cedar_id,
        excerpt=_source.line_text(text, line),
    )


def _parse_schema(cedar: Any, schema_text: str, schema_source: str) -> Any:
    is_json = schema_source.endswith(".json") or schema_text.lstrip().startswith("{")
    if is_json:
        try:
            json.loads(schema_text)
        except json.JSONDecodeError as exc:
            raise ToolPolicyError(
                "cannot parse the Cedar JSON schema",
                problems=(
                    PolicyProblem(
                        source=schema_source,
                        message=exc.msg,
                        line=exc.lineno,
                        column=exc.colno,
                        excerpt=_source.line_text(schema_text, exc.lineno),
                    ),
                ),
                fix="correct the JSON at the position shown",
            ) from None
    parse = cedar.Schema.from_json_str if is_json else cedar.Schema.from_str
    try:
        return parse(schema_text)
    except ValueError as exc:
        message = str(exc)
    line = column = None
    excerpt = ""
    if not is_json:
        offset = _source.locate(schema_text, parse, message)
        line, column = _source.line_column(schema_text, offset)
        excerpt = _source.line_text(schema_text, line)
    raise ToolPolicyError(
        "cannot parse the Cedar schema",
        problems=(
            PolicyProblem(
                source=schema_source, message=message, line=line, column=column, excerpt=excerpt
            ),
        ),
        fix="correct the schema (https://docs.cedarpolicy.com/schema/human-readable-schema.html)",
    ) from None


def _validate(
    cedar: Any,
    text: str,
    schema_handle: Any,
    statements: list[_source.Statement],
    display_ids: Mapping[str, str],
    source: str,
) -> None:
    result = cedar.validate_policies(text, schema_handle)
    if result.validation_passed:
        return
    problems = tuple(
        _problem_at(
            text,
            source,
            statements,
            error.policy_id,
            error.error,
            display_id=display_ids.get(error.policy_id),
        )
        if error.policy_id
        else PolicyProblem(source=source, message=error.error)
        for error in result.errors
    ) or (PolicyProblem(source=source, message="validation failed without details"),)
    raise ToolPolicyError(
        f"the Cedar policies do not validate against the schema ({len(problems)} problem"
        f"{'s' if len(problems) != 1 else ''})",
        problems=problems,
        fix=_FIX_SCHEMA,
    )
