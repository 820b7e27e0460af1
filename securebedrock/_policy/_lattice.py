"""The orders merges tighten along: model globs, address ranges and allow-lists.

Every operation here is sound for a tighten-only merge: a result never allows
something one of its inputs refuses.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from typing import Any, TypeVar

_T = TypeVar("_T")
_GLOB_CHARS = frozenset("*?[")


def _is_literal(pattern: str) -> bool:
    return not (_GLOB_CHARS & set(pattern))


def _prefix_of(pattern: str) -> str | None:
    """``"abc"`` for the pattern ``"abc*"`` (a literal prefix then one star), else ``None``."""
    if pattern.endswith("*") and _is_literal(pattern[:-1]):
        return pattern[:-1]
    return None


def model_pattern_covers(outer: str, inner: str) -> bool:
    """Whether every model id ``inner`` matches is certainly matched by ``outer``.

    Sound, not complete: ``True`` is always right; ``False`` may be returned for
    two general globs whose inclusion this cheap check cannot decide.
    """
    if outer == inner:
        return True
    prefix = _prefix_of(outer)
    if prefix is not None and inner.startswith(prefix):
        return True  # for a literal ``inner`` this is fnmatch's answer, without compiling
    return _is_literal(inner) and fnmatch.fnmatchcase(inner, outer)


def _pattern_meet(left: str, right: str) -> str | None:
    """One pattern matching exactly what both match, or a sound under-approximation.

    ``None`` means "nothing that can be written as one pattern": for two literal
    or ``prefix*`` patterns that is exact (their meet is empty); for two general
    globs neither of which covers the other it drops ids both would allow, which
    is tighter, never looser.
    """
    if model_pattern_covers(right, left):
        return left
    if model_pattern_covers(left, right):
        return right
    return None


def _literal_head(pattern: str) -> str:
    """The part of ``pattern`` before its first glob character (all of it for a literal)."""
    for index, ch in enumerate(pattern):
        if ch in _GLOB_CHARS:
            return pattern[:index]
    return pattern


class _Node:
    """A node of the trie of the glob patterns' literal heads."""

    __slots__ = ("children", "globs", "matcher", "prefix")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.prefix: str | None = None  # the pattern ``<path>*`` when the list has it
        self.globs: list[str] = []  # other globs whose literal head is this node's path
        self.matcher: re.Pattern[str] | None = None  # any of ``globs``, compiled on first use

    def glob_matches(self, literal: str) -> bool:
        """Whether one of this node's (non-prefix) globs matches ``literal``."""
        if not self.globs:
            return False
        if self.matcher is None:
            self.matcher = re.compile("|".join(fnmatch.translate(g) for g in self.globs))
        return self.matcher.match(literal) is not None


def _antichain(patterns: Iterable[str]) -> tuple[str, ...]:
    """Drop duplicates and patterns another pattern of the list covers (order kept).

    Exactly: ``p`` is dropped when some ``q`` of the list has
    ``model_pattern_covers(q, p) and not model_pattern_covers(p, q)``. Only a glob
    whose literal head (the part before its first ``*?[``) is a prefix of ``p`` can
    cover ``p``, so the candidates are found by walking ``p``'s head through a trie
    of the globs' heads: linear in the total length of the list. A ``prefix*``
    candidate always covers; a literal is also covered when one of the other globs
    on its path matches it (for a literal, covering is exactly fnmatch), tested with
    one compiled regex per trie node.
    """
    unique = list(dict.fromkeys(patterns))
    root = _Node()
    for q in unique:
        if _is_literal(q):
            continue
        node = root
        for ch in _literal_head(q):
            node = node.children.setdefault(ch, _Node())
        if _prefix_of(q) is not None:
            node.prefix = q
        else:
            node.globs.append(q)

    def covered(p: str) -> bool:
        # A literal may be covered by any glob; a glob only by a ``prefix*`` one.
        literal = _is_literal(p)
        head = p if literal else _literal_head(p)
        node = root
        for index in range(len(head) + 1):
            q = node.prefix
            if q is not None and q != p:
                if model_pattern_covers(q, p) and not model_pattern_covers(p, q):
                    return True
            if literal and node.glob_matches(p):
                return True
            child = node.children.get(head[index]) if index < len(head) else None
            if child is None:
                return False
            node = child
        return False  # pragma: no cover - the loop returns on its last step

    return tuple(p for p in unique if not covered(p))


def _intersect(left: tuple[_T, ...] | None, right: tuple[_T, ...] | None) -> tuple[_T, ...] | None:
    """Allow-list intersection; ``None`` (unrestricted) is the identity. Left order kept."""
    if left is None:
        return right
    if right is None:
        return left
    return tuple(x for x in left if x in right)


def _unite(left: tuple[_T, ...], right: tuple[_T, ...]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys((*left, *right)))


def _intersect_cidrs(left: tuple[str, ...], right: tuple[str, ...]) -> tuple[str, ...]:
    """The address ranges in both: networks of one side inside a network of the other.

    Two CIDR blocks are either nested or disjoint, so this is exact: the result
    covers precisely the addresses both sides cover.
    """
    left_nets = [ipaddress.ip_network(c) for c in left]
    right_nets = [ipaddress.ip_network(c) for c in right]
    kept = [str(n) for n in left_nets if _inside(n, right_nets)]
    kept += [str(n) for n in right_nets if _inside(n, left_nets)]
    return tuple(dict.fromkeys(kept))


def _inside(net: Any, others: list[Any]) -> bool:
    """Whether ``net`` lies inside one of ``others`` (of its IP version)."""
    return any(net.version == o.version and net.subnet_of(o) for o in others)


def cidrs_inside(inner: Iterable[str], outer: Iterable[str]) -> bool:
    """Whether every range of ``inner`` lies inside a range of ``outer``."""
    outer_nets = [ipaddress.ip_network(c) for c in outer]
    return all(_inside(ipaddress.ip_network(c), outer_nets) for c in inner)


def _intersect_models(
    left: tuple[str, ...] | None, right: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    """Model allow-list intersection.

    The rule: for every pair (p of one side, q of the other) keep the pattern
    that matches what both match, when one covers the other (a literal id a
    glob matches; ``anthropic.claude-3*`` inside ``anthropic.*``; equal
    patterns). Pairs of unrelated general globs contribute nothing, which is
    tighter than exact, never looser. Exact (and so associative) for literal
    ids and ``prefix*`` patterns.
    """
    if left is None:
        return right
    if right is None:
        return left
    meets = (_pattern_meet(p, q) for p in left for q in right)
    return _antichain(m for m in meets if m is not None)


def models_inside(inner: Iterable[str], outer: Iterable[str]) -> bool:
    """Whether every pattern of ``inner`` is certainly covered by a pattern of ``outer``."""
    outer = tuple(outer)
    return all(any(model_pattern_covers(o, n) for o in outer) for n in inner)
