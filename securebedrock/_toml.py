"""TOML text: how a value, a string or a key is written, and the parser, in one place.

Used by :meth:`securebedrock.Policy.to_toml` and by ``securebedrock policy show``;
:data:`tomllib` is the standard library's parser (``tomli`` before Python 3.11).
"""

from __future__ import annotations

import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = ["toml_key", "toml_string", "toml_value", "tomllib"]

_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(parent: str, name: str) -> str:
    """A dotted key path, quoting keys that are not bare TOML keys."""
    part = name if _BARE_KEY_RE.fullmatch(name) else toml_string(name)
    return f"{parent}.{part}" if parent else part


def toml_value(value: object) -> str:
    """A boolean, integer, string, array or inline table as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
            if value
            else "{}"
        )
    raise TypeError(f"cannot render {type(value).__name__} as TOML")  # pragma: no cover


def toml_string(text: str) -> str:
    """A TOML basic string: quote, backslash and control characters escaped, the rest as is.

    (``json.dumps`` is close but writes astral characters as surrogate pairs,
    which TOML rejects, and leaves DEL unescaped.)
    """
    out = []
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
