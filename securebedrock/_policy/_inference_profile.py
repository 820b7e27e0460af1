"""``[inference_profile]``: which profile each model goes through, and pre-declared profiles."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._errors import PolicyConfigError
from .._toml import toml_key as _key
from . import _compare
from ._combine import ANY_TRUE, MergeRule, Site, _merge_map, key_rule, pin_table
from ._setkeys import _tracks_set_keys
from ._validate import (
    _bool,
    _check_foundation_model_arn,
    _check_profile_ref,
    _check_region,
    _err,
    _freeze_map,
    _profile_table,
    _reject_unknown,
    _repath,
    _set,
    _string_list,
)

_MAP_FIX = "map the model to the same profile in both policies, or in one only"


@dataclass(frozen=True, kw_only=True)
class KnownProfile:
    """A pre-declared inference profile: the foundation-model ARNs it routes to.

    Declaring a profile in ``[inference_profile.known]`` spares the control-plane
    ``GetInferenceProfile`` call that would otherwise resolve it.
    """

    models: tuple[str, ...]

    def __post_init__(self) -> None:
        path = "inference_profile.known.<profile>.models"
        models = _string_list(self.models, path, _check_foundation_model_arn)
        if not models:
            raise _err(
                path,
                "must not be empty",
                list(models),
                "the foundation-model ARNs the profile routes to",
                "list at least one foundation-model ARN",
            )
        _set(self, "models", tuple(sorted(models)))


def _known_profile(value: object, path: str) -> KnownProfile:
    if isinstance(value, KnownProfile):
        return value
    table = _freeze_map(value, path)
    _reject_unknown(table, ("models",), path)
    if "models" not in table:
        raise _err(
            _key(path, "models"),
            "is required",
            None,
            "the foundation-model ARNs the profile routes to",
            f"add models = [...] under [{path}]",
        )
    try:
        return KnownProfile(models=table["models"])  # type: ignore[arg-type]
    except PolicyConfigError as exc:
        raise _repath(
            exc, "inference_profile.known.<profile>.models", _key(path, "models")
        ) from None


def _merge_regional_map(
    left: Mapping[str, Mapping[str, str]], right: Mapping[str, Mapping[str, str]], site: Site
) -> Any:
    """Per-region tables, entry by entry; what each side maps a model to for a client in a
    region must agree, whichever table (``map`` or ``regional_map``) says it."""
    merged: dict[str, Mapping[str, str]] = {}
    for region in dict.fromkeys([*left, *right]):
        path = _key(site.path, region)
        _merge_map(path, site.left.map_for(region), site.right.map_for(region), _MAP_FIX)
        merged[region] = _merge_map(path, left.get(region, {}), right.get(region, {}), _MAP_FIX)
    return types.MappingProxyType(merged)


def _empty() -> Mapping[str, Any]:
    return types.MappingProxyType({})


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class InferenceProfilePolicy:
    """``[inference_profile]``: mapping of model ids to profiles, and whether one is required.

    ``regional_map`` holds per-region mappings (region -> model -> profile): for
    a client in that region its entries are used, and ``map`` for the models
    they do not name.
    """

    required: bool = field(default=False, metadata=key_rule(ANY_TRUE))
    map: Mapping[str, str] = field(default_factory=_empty, metadata=key_rule(pin_table(_MAP_FIX)))
    regional_map: Mapping[str, Mapping[str, str]] = field(
        default_factory=_empty,
        metadata=key_rule(
            MergeRule(kind="pin_table_per_region", combine=_merge_regional_map, judge=_compare.pin),
            omit_when_empty=True,
        ),
    )
    known: Mapping[str, KnownProfile] = field(
        default_factory=_empty,
        metadata=key_rule(
            pin_table("declare the profile with the same models in both, or in one only"),
            judge=_compare.declaration,
        ),
    )

    def __post_init__(self) -> None:
        _bool(self.required, "inference_profile.required")
        _set(self, "map", _profile_table(self.map, "inference_profile.map"))
        raw_regional = _freeze_map(self.regional_map, "inference_profile.regional_map")
        regional: dict[str, Mapping[str, str]] = {}
        for region, table in raw_regional.items():
            path = _key("inference_profile.regional_map", region)
            _check_region(region, path)
            regional[region] = _profile_table(table, path)
        _set(self, "regional_map", types.MappingProxyType(regional))
        raw_known = _freeze_map(self.known, "inference_profile.known")
        known: dict[str, KnownProfile] = {}
        for profile, entry in raw_known.items():
            path = _key("inference_profile.known", profile)
            _check_profile_ref(profile, path)
            known[profile] = _known_profile(entry, path)
        _set(self, "known", types.MappingProxyType(known))

    def __hash__(self) -> int:
        # MappingProxyType is unhashable; hash what equality compares.
        regional = frozenset((r, frozenset(m.items())) for r, m in self.regional_map.items())
        return hash(
            (self.required, frozenset(self.map.items()), regional, frozenset(self.known.items()))
        )

    def map_for(self, region: str | None) -> Mapping[str, str]:
        """The model -> profile mapping for a client in ``region``.

        ``regional_map[region]`` entries over ``map``; ``map`` alone when the
        region has no table.
        """
        table = self.regional_map.get(region) if region else None
        if not table:
            return self.map
        return types.MappingProxyType({**self.map, **table})
