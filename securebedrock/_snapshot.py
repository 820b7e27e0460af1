"""A plain copy of a call's parameters: what the engine decides on is what is sent.

The caller's parameters may be objects that answer differently each time they
are read: a ``Mapping`` whose ``.get()`` disagrees with its ``items()``, a
``str`` subclass with its own ``__str__``, a file whose contents change
between the policy check and the send. :func:`snapshot` reads each of them
once, through the base types' own methods, into built-in containers
(``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``,
``bytes``, and ``datetime`` for botocore's timestamp members); the engine
evaluates that copy and botocore serialises that copy.

File-like bodies (InvokeModel's ``body``) are read into ``bytes`` once: the
request that was decided on is the request that is sent, and a retry sends the
same bytes. Anything else (sets, arbitrary objects, nesting deeper than
:data:`MAX_DEPTH`, non-string keys) is refused with a clear error rather than
guessed at.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Final

from ._errors import SecureBedrockError

__all__ = ["MAX_DEPTH", "snapshot"]

#: Deepest nesting accepted (documents such as tool schemas included); also stops cycles.
MAX_DEPTH: Final = 100


class _Refused(Exception):
    """A value that cannot be copied; ``path`` is filled in on the way out (error path only)."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(path, what)
        self.path = path
        self.what = what


# Values copied as they are: these exact built-in types are immutable and answer
# nothing differently (subclasses are not in this set; they are converted below).
_PLAIN: Final[frozenset[type]] = frozenset({str, int, float, bool, bytes, type(None)})


def snapshot(params: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """A plain copy of ``params``; raises :class:`SecureBedrockError` for what cannot be copied."""
    try:
        if not isinstance(params, Mapping):
            raise _Refused("", f"parameters of type {type(params).__name__}")
        return _mapping(params, 0)
    except _Refused as refused:
        where = refused.path.lstrip(".") or "the parameters"
        raise SecureBedrockError(
            f"{operation} refused: parameter {where} cannot be copied safely",
            found=refused.what,
            expected="dicts, lists and tuples of str, int, float, bool, None, bytes "
            "(or a readable file for a body), datetime, nested at most "
            f"{MAX_DEPTH} levels",
            fix="pass plain Python values (json.loads output works), or read the "
            "file into bytes before the call",
        ) from None
    except RecursionError:
        raise SecureBedrockError(
            f"{operation} refused: the parameters are nested too deeply to copy",
            found="nesting deeper than the interpreter's recursion limit",
            expected=f"nesting at most {MAX_DEPTH} levels",
            fix="pass plain, shallower Python values",
        ) from None


def _mapping(value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    if depth > MAX_DEPTH:
        raise _Refused("", f"nesting deeper than {MAX_DEPTH} levels (or a cycle)")
    try:
        # For a plain dict, the C implementation's items (one pass, no handler asked).
        items = list(dict.items(value) if type(value) is dict else value.items())
    except Exception as exc:
        raise _Refused("", f"a mapping whose items() raised {type(exc).__name__}") from None
    copied: dict[str, Any] = {}
    plain = _PLAIN
    for key, item in items:
        if type(key) is not str:
            if not isinstance(key, str):
                raise _Refused("", f"a key of type {type(key).__name__}")
            key = str.__str__(key)
        if key in copied:
            raise _Refused(f".{key}", "the same key twice")
        kind = type(item)
        if kind in plain:
            copied[key] = item
            continue
        try:
            if kind is dict:
                copied[key] = _mapping(item, depth + 1)
            elif kind is list:
                copied[key] = _sequence(item, depth + 1)
            else:
                copied[key] = _value(item, depth + 1, depth == 0 and key == "body")
        except _Refused as refused:
            refused.path = f".{key}{refused.path}"
            raise
    return copied


def _sequence(items: Any, depth: int) -> list[Any]:
    """A copy of the items of a list or tuple (``items``: the base type's iterator, or
    an exact list) at nesting ``depth``."""
    if depth > MAX_DEPTH:
        raise _Refused("", f"nesting deeper than {MAX_DEPTH} levels (or a cycle)")
    copied: list[Any] = []
    append = copied.append
    plain = _PLAIN
    for item in items:
        kind = type(item)
        if kind in plain:
            append(item)
            continue
        try:
            if kind is dict:
                append(_mapping(item, depth + 1))
            elif kind is list:
                append(_sequence(item, depth + 1))
            else:
                append(_value(item, depth + 1, False))
        except _Refused as refused:
            refused.path = f"[{len(copied)}]{refused.path}"
            raise
    return copied


def _value(value: Any, depth: int, body: bool) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict or isinstance(value, Mapping):
        return _mapping(value, depth)
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        # list.__iter__/tuple.__iter__ of the base type: a subclass's __iter__ is not asked.
        return _sequence(
            list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value), depth
        )
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(memoryview(value))
    if isinstance(value, datetime.datetime | datetime.date):
        return value
    read = getattr(value, "read", None)
    if callable(read) and body:
        return _read_body(read)
    raise _Refused("", f"a value of type {kind.__name__}")


def _read_body(read: Any) -> bytes | str:
    try:
        data = read()
    except Exception as exc:
        raise _Refused("", f"a file whose read() raised {type(exc).__name__}") from None
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(memoryview(data))
    if isinstance(data, str):
        return str.__str__(data)
    raise _Refused("", f"a file whose read() returned {type(data).__name__}")
