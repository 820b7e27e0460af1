"""Positions in Cedar text, for error messages that point at the line.

cedarpy reports *what* is wrong with a policy ("unexpected token `}`") but not
*where*. We recover the position ourselves, only on the error path:

1. a small lexer splits the text into statements at top-level ``;`` (outside
   strings and ``//`` comments); Cedar numbers static policies ``policy0``,
   ``policy1``, ... in that same order, so statement *n* is ``policy<n>``;
2. each statement is parsed alone to find the first one that fails;
3. within it, a binary search over token prefixes finds the first token after
   which the parser stops reporting "unexpected end of input" (a prefix of a
   valid policy is always merely *incomplete*; the first prefix that is wrong
   ends at the offending token).

Errors that Cedar only detects after a full parse (``action == Foo``) land on
the statement's last token; for those we look for the text Cedar quotes in
backticks inside the statement, and fall back to the statement's start.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_EOF_MESSAGE = "unexpected end of input"
_TWO_CHAR_OPERATORS = frozenset({"==", "!=", "<=", ">=", "&&", "||", "::"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INTEGER = re.compile(r"[0-9]+")
_QUOTED = re.compile(r"`([^`]+)`|'([^']+)'")


@dataclass(frozen=True, kw_only=True)
class Token:
    """One lexical token: its text and its [start, end) offsets in the source."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, kw_only=True)
class Statement:
    """One policy statement (annotations through ``;``) and where it starts."""

    index: int
    start: int
    end: int
    tokens: tuple[Token, ...]


def tokenize(text: str) -> list[Token]:
    """Split Cedar policy or schema text into tokens, skipping whitespace and comments.

    Unterminated strings become one token running to the end of the text, so
    a caller never loops forever and the position still points at the quote.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if text.startswith("//", i):
            newline = text.find("\n", i)
            i = n if newline < 0 else newline + 1
            continue
        start = i
        if char == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i = min(i + 1, n)
        elif match := _IDENTIFIER.match(text, i):
            i = match.end()
        elif match := _INTEGER.match(text, i):
            i = match.end()
        elif text[i : i + 2] in _TWO_CHAR_OPERATORS:
            i += 2
        else:
            i += 1
        tokens.append(Token(text=text[start:i], start=start, end=i))
    return tokens


def statements(text: str) -> list[Statement]:
    """The statements of a policy text, in order (a trailing one may lack its ``;``)."""
    result: list[Statement] = []
    current: list[Token] = []
    for token in tokenize(text):
        current.append(token)
        if token.text == ";":
            result.append(_statement(len(result), current))
            current = []
    if current:
        result.append(_statement(len(result), current))
    return result


def _statement(index: int, tokens: list[Token]) -> Statement:
    return Statement(index=index, start=tokens[0].start, end=tokens[-1].end, tokens=tuple(tokens))


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of ``offset`` in ``text``."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def line_text(text: str, line: int) -> str:
    """The text of 1-based ``line`` (without its newline), or ``""``."""
    lines = text.splitlines()
    return lines[line - 1] if 1 <= line <= len(lines) else ""


def locate_in_statement(
    text: str, statement: Statement, parse: Callable[[str], object], message: str
) -> int:
    """Best offset in ``text`` of the error ``message`` that ``statement`` produces."""
    tokens = statement.tokens

    def fails_beyond_eof(count: int) -> bool:
        try:
            parse(text[statement.start : tokens[count - 1].end])
        except ValueError as exc:
            return _EOF_MESSAGE not in str(exc)
        return True  # a prefix that parses is complete: the problem is not before it

    # Smallest token count whose prefix fails with something other than EOF.
    low, high = 1, len(tokens)
    if not fails_beyond_eof(high):
        # Even the whole statement only ends early: point at its end.
        return tokens[-1].end
    while low < high:
        middle = (low + high) // 2
        if fails_beyond_eof(middle):
            high = middle
        else:
            low = middle + 1
    if low < len(tokens):
        return tokens[low - 1].start
    quoted = find_quoted(text, statement.start, statement.end, message)
    return statement.start if quoted is None else quoted


def find_quoted(text: str, start: int, end: int, message: str) -> int | None:
    """Offset in ``text[start:end]`` of a fragment that ``message`` quotes (`x` or 'x').

    A token equal to the fragment wins over a mere substring, so ``'='`` finds
    the lone ``=`` rather than the first ``==``.
    """
    fragments = sorted({a or b for a, b in _QUOTED.findall(message)}, key=len, reverse=True)
    tokens = tokenize(text[start:end])
    for fragment in fragments:
        for token in tokens:
            if token.text == fragment:
                return start + token.start
    for fragment in fragments:
        found = text.find(fragment, start, end)
        if found >= 0:
            return found
    return None


def unterminated_string(statement: Statement) -> Token | None:
    """The statement's last token when it is a string literal missing its closing quote."""
    last = statement.tokens[-1]
    if not last.text.startswith('"'):
        return None
    body = last.text[1:]
    escaped = False
    for char in body:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
    return last


def locate(text: str, parse: Callable[[str], object], message: str) -> int:
    """Best offset of a syntax error in a whole document that is not split into statements."""
    tokens = tokenize(text)
    if not tokens:
        return 0
    whole = Statement(index=0, start=tokens[0].start, end=tokens[-1].end, tokens=tuple(tokens))
    return locate_in_statement(text, whole, parse, message)
