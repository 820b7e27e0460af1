"""What changed between two policies, and in which direction (``policy diff``).

Every changed key -- and every changed entry of a table -- is one :class:`KeyChange`
marked ``tighten`` (the new policy refuses more, or mandates more), ``loosen``
(it may allow something the old one refused) or ``neutral`` (no effect on what is
allowed: evidence settings, release metadata). A change securebedrock cannot order
(a different endpoint, guardrail, version or profile; a pattern list that gains an
id) counts as ``loosen``: a reviewer must look at it. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._policy import MODE_LADDER, TLS_VERSIONS, Policy, model_pattern_covers
from ._toml import toml_key as _key

__all__ = ["Direction", "KeyChange", "diff"]

Direction = Literal["tighten", "loosen", "neutral"]
_MISSING: Any = object()


@dataclass(frozen=True, kw_only=True)
class KeyChange:
    """One changed key: its dotted path, both values (``None``: absent) and the direction."""

    key: str
    old: Any
    new: Any
    direction: Direction


def _ladder(order: tuple[str, ...]) -> Callable[[Any, Any], Direction]:
    def judge(old: Any, new: Any) -> Direction:
        return "tighten" if order.index(new) > order.index(old) else "loosen"

    return judge


def _turned_on_tightens(old: Any, new: Any) -> Direction:
    return "tighten" if new and not old else "loosen"


def _turned_on_loosens(old: Any, new: Any) -> Direction:
    return "loosen" if new and not old else "tighten"


def _allow_list(old: Any, new: Any) -> Direction:
    """An allow-list: absent allows anything; a new element is something more allowed."""
    if new is None:
        return "loosen"
    if old is None:
        return "tighten"
    return "loosen" if set(new) - set(old) else "tighten"


def _deny_list(old: Any, new: Any) -> Direction:
    return "loosen" if set(old or ()) - set(new or ()) else "tighten"


def _models_allow(old: Any, new: Any) -> Direction:
    if new is None:
        return "loosen"
    if old is None:
        return "tighten"
    covered = all(any(model_pattern_covers(o, n) for o in old) for n in new)
    return "tighten" if covered else "loosen"


def _cidrs(old: Any, new: Any) -> Direction:
    def inside(nets: list[Any], others: list[Any]) -> bool:
        return all(any(n.version == o.version and n.subnet_of(o) for o in others) for n in nets)

    old_nets = [ipaddress.ip_network(c) for c in old]
    new_nets = [ipaddress.ip_network(c) for c in new]
    if not inside(new_nets, old_nets):
        return "loosen"
    return "tighten" if not inside(old_nets, new_nets) else "neutral"


def _pin(old: Any, new: Any) -> Direction:
    """A pin, a mandated guardrail or a profile mapping: adding one tightens; removing or
    replacing one cannot be shown to be tighter."""
    return "tighten" if old in (None, "") else "loosen"


def _declaration(old: Any, new: Any) -> Direction:
    """``inference_profile.known``: a declaration replaces a live look-up by a claim."""
    return "tighten" if new is None else "loosen"


def _neutral(old: Any, new: Any) -> Direction:
    return "neutral"


#: How each leaf key (or table entry, by its table's key) is judged.
_RULES: dict[str, Callable[[Any, Any], Direction]] = {
    "mode": _ladder(MODE_LADDER),
    "tls.minimum_version": _ladder(TLS_VERSIONS),
    "tls.fips": _turned_on_tightens,
    "network.require_private_endpoint": _turned_on_tightens,
    "network.allowed_cidrs": _cidrs,
    "network.endpoint_url": _pin,
    "network.endpoint_urls": _pin,
    "network.control_plane_endpoint_url": _pin,
    "network.control_plane_endpoint_urls": _pin,
    "network.allow_proxy": _turned_on_loosens,
    "guardrail.identifier": _pin,
    "guardrail.version": _pin,
    "guardrail.trace": _neutral,
    "inference_profile.required": _turned_on_tightens,
    "inference_profile.map": _pin,
    "inference_profile.regional_map": _pin,
    "inference_profile.known": _declaration,
    "regions.allowed": _allow_list,
    "regions.cross_region": _turned_on_loosens,
    "regions.allowed_geographies": _allow_list,
    "models.allow": _models_allow,
    "models.deny": _deny_list,
    "service_tier.allowed": _allow_list,
    "auth.allow_api_keys": _turned_on_loosens,
    "operations.allow_without_guardrail": _allow_list,
    "audit.content": _ladder(("none", "digest")),
}
#: Sections whose keys say nothing about what is allowed (release metadata).
_NEUTRAL_SECTIONS = ("release",)


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
        if rule.split(".", 1)[0] in _NEUTRAL_SECTIONS:
            direction: Direction = "neutral"
        elif rule in _RULES:
            direction = _RULES[rule](old_value, new_value)
        else:
            direction = "loosen"  # a key this version cannot judge: a reviewer must
        changes.append(KeyChange(key=path, old=old_value, new=new_value, direction=direction))
    return changes
