"""JSON values (tool input, principal attributes) to Cedar JSON values, checked.

Cedar's JSON value format gives two keys a special meaning: a record with a
``__entity`` key is an entity reference and one with ``__extn`` an extension
value (``decimal``, ``ip``...). Tool input is chosen by the *model*, so a model
could otherwise dress up a string as ``AgentCore::OAuthUser::"admin"``. We
refuse such keys instead of passing them through: the call is denied with an
error, never evaluated with a forged entity.

Cedar has no floating point and no null. A float with no fractional part
(``500.0``) is the integer it equals; any other float, a null, or an integer
outside Cedar's signed 64-bit range is refused (fail closed). Tool input
schemas that carry money should use integer minor units (cents).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

_RESERVED_KEYS = frozenset({"__entity", "__extn", "__expr"})
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_MAX_DEPTH = 64


class ValueProblem(ValueError):
    """A value that has no faithful Cedar representation.

    The message names the path (``input.amount``) and the kind of value,
    never the value itself: it may end up in logs.
    """


def to_cedar(
    value: Any, path: str, *, known_keys: frozenset[str] | None = None, depth: int = 0
) -> Any:
    """A Cedar JSON value equal to ``value``, or :class:`ValueProblem`.

    With ``known_keys`` (the identifiers of the policy text), a record key that
    is not among them is shown as ``…`` in the path: keys of *model* input can
    carry data too, and only names the policy author wrote are known harmless.
    """
    if depth > _MAX_DEPTH:
        raise ValueProblem(f"{path}: nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise ValueProblem(f"{path}: integer outside Cedar's 64-bit range")
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and _LONG_MIN <= value <= _LONG_MAX:
            return int(value)
        raise ValueProblem(
            f"{path}: a number with a fractional part (Cedar has no floating point; "
            "use integer units such as cents)"
        )
    if value is None:
        raise ValueProblem(f"{path}: null (Cedar has no null; omit the attribute instead)")
    if isinstance(value, Mapping):
        record: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueProblem(f"{path}: a record key that is not a string")
            if key in _RESERVED_KEYS:
                raise ValueProblem(
                    f"{path}: the key {key!r} is reserved by Cedar's JSON format "
                    "(it would turn the value into an entity or extension reference)"
                )
            label = key if known_keys is None or key in known_keys else "…"
            record[key] = to_cedar(item, f"{path}.{label}", known_keys=known_keys, depth=depth + 1)
        return record
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [
            to_cedar(item, f"{path}[{index}]", known_keys=known_keys, depth=depth + 1)
            for index, item in enumerate(value)
        ]
    raise ValueProblem(f"{path}: a {type(value).__name__}, which is not a JSON value")
