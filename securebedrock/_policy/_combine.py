"""How each key combines in a tighten-only merge, declared on the key itself.

Every dataclass field of :class:`Policy` and of its sections carries a
:class:`MergeRule` in its metadata (``field(metadata=key_rule(...))``), and one
generic walk (:func:`tighten`) combines two policies key by key with those
rules. A field without a rule is refused by the walk (``TypeError``) and by
``tests/test_policy_fields.py``, instead of being silently left out of merges.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from typing import Any, TypeVar

from .._errors import PolicyConfigError
from .._toml import toml_key as _key
from . import _compare
from ._compare import Direction, Judge
from ._lattice import _intersect, _intersect_cidrs, _intersect_models, _unite

_T = TypeVar("_T")
_S = TypeVar("_S")

#: The field-metadata keys this module reads.
_RULE = "merge_rule"
_OMIT_WHEN_EMPTY = "omit_when_empty"
_INIT_VALUE = "init_value"
_JUDGE = "judge"


@dataclass(frozen=True)
class Site:
    """Where a rule is applied: the dotted key path and both sections it reads from."""

    path: str
    left: Any
    right: Any


@dataclass(frozen=True, kw_only=True)
class MergeRule:
    """How one key of two policies combines into the key of the merged policy.

    ``combine(left_value, right_value, site)`` returns the merged value (as the
    section's constructor takes it) or raises :class:`PolicyConfigError` when
    the two cannot both hold. ``None`` for a derived key, which the
    constructor computes from the others. ``judge(old, new)``: which way a
    change of the key goes along the same order (``policy diff``).
    """

    kind: str
    combine: Callable[[Any, Any, Site], Any] | None
    judge: Judge


def key_rule(
    rule: MergeRule,
    *,
    omit_when_empty: bool = False,
    init_value: Callable[[Any], Any] | None = None,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """Field metadata declaring a key's merge rule.

    ``omit_when_empty``: the key is left out of ``to_dict`` (and so of the digest)
    when empty, so a policy that does not use it keeps the digest it had before
    the key existed. ``init_value(section)``: the key's value as the constructor
    takes it, when that differs from the attribute. ``judge``: how a change of
    this key is judged, when it differs from the rule's.
    """
    meta: dict[str, Any] = {_RULE: rule}
    if judge is not None:
        meta[_JUDGE] = judge
    if omit_when_empty:
        meta[_OMIT_WHEN_EMPTY] = True
    if init_value is not None:
        meta[_INIT_VALUE] = init_value
    return meta


def rule_of(f: Field[Any]) -> MergeRule | None:
    """The merge rule a field declares (``None``: it declares none)."""
    rule = f.metadata.get(_RULE)
    return rule if isinstance(rule, MergeRule) else None


def judge_change(f: Field[Any], old: Any, new: Any) -> Direction:
    """Which way changing field ``f`` from ``old`` to ``new`` goes."""
    judge = f.metadata.get(_JUDGE)
    if judge is None:
        rule = rule_of(f)
        judge = rule.judge if rule is not None else _compare.unjudged
    direction: Direction = judge(old, new)
    return direction


def omitted_when_empty(f: Field[Any]) -> bool:
    """Whether ``to_dict`` leaves the field out when it is empty."""
    return bool(f.metadata.get(_OMIT_WHEN_EMPTY))


def is_derived(f: Field[Any]) -> bool:
    """Whether the field is computed from the others (not a key of the file)."""
    rule = rule_of(f)
    return rule is not None and rule.combine is None


def init_value(section: object, f: Field[Any]) -> Any:
    """The value to pass for field ``f`` to rebuild ``section`` as it was."""
    read = f.metadata.get(_INIT_VALUE)
    return read(section) if read is not None else getattr(section, f.name)


def conflict(path: str, left: str, right: str, fix: str) -> PolicyConfigError:
    """The error for two requirements that cannot both hold."""
    return PolicyConfigError(
        "the two policies disagree and neither is tighter",
        path=path,
        found=f"{left} in one policy, {right} in the other",
        expected="the same value in both, or the key set in only one of them",
        fix=fix,
    )


def _values(kind: str, combine: Callable[[Any, Any], Any], judge: Judge) -> MergeRule:
    return MergeRule(
        kind=kind, combine=lambda left, right, _site: combine(left, right), judge=judge
    )


def ladder(order: tuple[str, ...]) -> MergeRule:
    """The higher of the two values on ``order`` (listed loosest first)."""
    return _values(
        "ladder", lambda left, right: max(left, right, key=order.index), _compare.ladder(order)
    )


#: ``true`` is stricter (a requirement): either side turns it on.
ANY_TRUE = _values("any_true", lambda left, right: left or right, _compare.turned_on_tightens)
#: ``false`` is stricter (a permission): both sides must grant it.
ALL_TRUE = _values("all_true", lambda left, right: left and right, _compare.turned_on_loosens)
#: An allow-list: the elements both allow; absent (``None``) on one side allows anything.
INTERSECT = _values("intersect", _intersect, _compare.allow_list)
#: Address ranges: exactly the addresses both sides cover.
INTERSECT_CIDRS = _values("intersect_cidrs", _intersect_cidrs, _compare.cidrs)
#: Model globs: the patterns matching what both sides match (a sound under-approximation).
INTERSECT_MODELS = _values("intersect_models", _intersect_models, _compare.models_allow)
#: A deny-list: everything either side denies.
UNITE = _values("unite", _unite, _compare.deny_list)
#: The org (left) layer's value: it names the org file, an overlay cannot set it.
ORG_ONLY = _values("org_only", lambda left, _right: left, _compare.neutral)
#: Computed by the constructor from the other keys.
DERIVED = MergeRule(kind="derived", combine=None, judge=_compare.neutral)


def pin(fix: str) -> MergeRule:
    """One value set by either side; two different values are a conflict."""

    def combine(left: str, right: str, site: Site) -> str:
        if left and right and left != right:
            raise conflict(site.path, json.dumps(left), json.dumps(right), fix)
        return left or right

    return MergeRule(kind="pin", combine=combine, judge=_compare.pin)


def _merge_map(path: str, a: Mapping[str, _T], b: Mapping[str, _T], fix: str) -> dict[str, _T]:
    merged = dict(a)
    for key, value in b.items():
        if key in merged and merged[key] != value:
            raise conflict(_key(path, key), _render(merged[key]), _render(value), fix)
        merged[key] = value
    return merged


def _render(value: object) -> str:
    models = getattr(value, "models", None)
    if isinstance(models, tuple):  # a KnownProfile
        return json.dumps(list(models))
    return json.dumps(value)


def pin_table(fix: str) -> MergeRule:
    """A table of pins: the entries of both; one entry with two different values conflicts."""

    def combine(left: Mapping[str, Any], right: Mapping[str, Any], site: Site) -> Any:
        return types.MappingProxyType(_merge_map(site.path, left, right, fix))

    return MergeRule(kind="pin_table", combine=combine, judge=_compare.pin)


def pin_per_region(lookup: str, fix: str) -> MergeRule:
    """Per-region pins over a section-wide one (``endpoint_urls`` over ``endpoint_url``).

    What each side pins for a client in a region -- its table's entry, else its
    section-wide pin, read by the section's method ``lookup`` -- must agree.
    """

    def combine(left: Mapping[str, str], right: Mapping[str, str], site: Site) -> Any:
        for region in sorted({*left, *right}):
            a = getattr(site.left, lookup)(region)
            b = getattr(site.right, lookup)(region)
            if a and b and a != b:
                raise conflict(_key(site.path, region), json.dumps(a), json.dumps(b), fix)
        return {**left, **right}

    return MergeRule(kind="pin_per_region", combine=combine, judge=_compare.pin)


def _merge_section(left: _S, right: _S, site: Site) -> _S:
    return tighten(type(left), left, right, f"{site.path}.")


#: A section: merged key by key with its fields' rules.
SECTION = MergeRule(kind="section", combine=_merge_section, judge=_compare.neutral)


_SECTIONS_OF: dict[type[Any], Mapping[str, type[Any]]] = {}


def sections(policy_type: type[Any]) -> Mapping[str, type[Any]]:
    """The sections of ``policy_type`` (its fields merged as a section), by TOML table
    name, in file order: the class's own field list is the one list of sections."""
    cached = _SECTIONS_OF.get(policy_type)
    if cached is not None:
        return cached
    found: dict[str, type[Any]] = {}
    for f in fields(policy_type):
        if rule_of(f) is SECTION:
            # A section's default is the empty section: its factory is the section class.
            if not isinstance(f.default_factory, type):
                raise TypeError(f"{policy_type.__name__}.{f.name}: a section needs its class")
            found[f.name] = f.default_factory
    return _SECTIONS_OF.setdefault(policy_type, types.MappingProxyType(found))


def tighten(cls: type[_S], left: _S, right: _S, prefix: str = "") -> _S:
    """``cls`` built from every key of ``left`` and ``right`` combined by its rule.

    Keys are combined in field order, so of several conflicts the first key's is
    reported. The result sets no keys of its own (see :func:`_merge.merge`).
    """
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        rule = rule_of(f)
        if rule is None:
            raise TypeError(f"{cls.__name__}.{f.name} declares no merge rule")
        if rule.combine is None:
            continue
        site = Site(f"{prefix}{f.name}", left, right)
        values[f.name] = rule.combine(init_value(left, f), init_value(right, f), site)
    return cls(**values)
