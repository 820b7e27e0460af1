"""Which keys a policy sets: the keys that take part when it is merged over another."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any, TypeVar

_C = TypeVar("_C")
_SET_KEYS = "_securebedrock_set_keys"


def _tracks_set_keys(cls: type[_C]) -> type[_C]:
    """Record, on each instance, the keyword arguments it was built with: the keys it sets.

    A policy is an overlay: in a merge only the keys it sets take part (see
    :meth:`Policy.merge`). ``from_toml`` passes exactly the keys a file writes;
    code passes the keys it names. ``dataclasses.replace`` passes every field,
    so a replaced copy sets every key (tighter in a merge, never looser).
    Not a dataclass field: equality, hashing and the digest ignore it.
    """
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: Any, **kwargs: Any) -> None:
        init(self, **kwargs)
        object.__setattr__(self, _SET_KEYS, frozenset(kwargs))

    setattr(cls, "__init__", __init__)  # noqa: B010 (mypy: a method cannot be assigned)
    return cls


def _set_keys_of(obj: object) -> frozenset[str]:
    keys: object = getattr(obj, _SET_KEYS, None)
    return keys if isinstance(keys, frozenset) else frozenset()


def _with_set_keys(obj: _C, keys: Iterable[str]) -> _C:
    object.__setattr__(obj, _SET_KEYS, frozenset(keys))
    return obj
