"""What changed between two policies, and in which direction (``policy diff``).

Every changed key -- and every changed entry of a table -- is one :class:`KeyChange`
marked ``tighten`` (the new policy refuses more, or mandates more), ``loosen``
(it may allow something the old one refused) or ``neutral`` (no effect on what is
allowed: evidence settings, release metadata). A change securebedrock cannot order
(a different endpoint, guardrail, version or profile; a pattern list that gains an
id) counts as ``loosen``: a reviewer must look at it. Each key is judged by the
comparison its merge rule declares (:func:`securebedrock._policy.change_direction`),
so the diff and the merge read one order per key. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._policy import Direction, Policy, change_direction
from ._toml import toml_key as _key

__all__ = ["Direction", "KeyChange", "diff"]

_MISSING: Any = object()


@dataclass(frozen=True, kw_only=True)
class KeyChange:
    """One changed key: its dotted path, both values (``None``: absent) and the direction."""

    key: str
    old: Any
    new: Any
    direction: Direction


def _leaves(document: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """``{dotted path: (rule key, value)}``; tables are split into one leaf per entry."""
    out: dict[str, tuple[str, Any]] = {}
    for name, value in document.items():
        if name == "version":
            continue
        if not isinstance(value, Mapping):
            out[name] = (name, value)
            continue
        for key, item in value.items():
            rule = f"{name}.{key}"
            if isinstance(item, Mapping):
                for entry, entry_value in item.items():
                    if rule == "inference_profile.regional_map" and isinstance(
                        entry_value, Mapping
                    ):
                        for model, target in entry_value.items():
                            out[_key(_key(rule, entry), model)] = (rule, target)
                    else:
                        out[_key(rule, entry)] = (rule, entry_value)
            else:
                out[rule] = (rule, item)
    return out


def diff(old: Policy, new: Policy) -> list[KeyChange]:
    """Every key (and table entry) whose value differs, in a stable order."""
    before, after = _leaves(old.to_dict()), _leaves(new.to_dict())
    changes: list[KeyChange] = []
    for path in sorted(before.keys() | after.keys()):
        rule, old_value = before.get(path, (None, _MISSING))
        rule_new, new_value = after.get(path, (None, _MISSING))
        rule = rule or rule_new or path
        if old_value == new_value:
            continue
        old_value = None if old_value is _MISSING else old_value
        new_value = None if new_value is _MISSING else new_value
        # Judged by the comparison the key's merge rule declares; a key this version
        # cannot judge is "loosen": a reviewer must look at it.
        direction = change_direction(rule, old_value, new_value)
        changes.append(KeyChange(key=path, old=old_value, new=new_value, direction=direction))
    return changes
