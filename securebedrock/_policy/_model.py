"""``Policy``: an immutable, validated security policy made of its sections."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .._errors import PolicyConfigError
from .._release import ReleasePolicy
from . import _compare, _digest, _io, _merge
from ._combine import ORG_ONLY, SECTION, MergeRule, judge_change, key_rule, ladder, sections
from ._compare import Direction
from ._guardrail import GuardrailPolicy
from ._inference_profile import InferenceProfilePolicy
from ._network import NetworkPolicy, TLSPolicy
from ._schema import MODE_LADDER, MODES, SCHEMA_VERSION, Mode
from ._sections import (
    AuditPolicy,
    AuthPolicy,
    ModelsPolicy,
    OperationsPolicy,
    RegionsPolicy,
    ServiceTierPolicy,
)
from ._setkeys import _set_keys_of, _tracks_set_keys
from ._validate import _check_schema_version, _choice, _err

#: Both sides hold the one schema version this library reads (so no change to order).
_SCHEMA = MergeRule(
    kind="schema_version",
    combine=lambda _left, _right, _site: SCHEMA_VERSION,
    judge=_compare.unjudged,
)
_SECTION_KEY = key_rule(SECTION)

#: ``Policy.default()`` per class (see there).
_DEFAULTS: dict[type[Policy], Policy] = {}


def _check_release_type(release: object) -> None:
    if release is not None and not isinstance(release, ReleasePolicy):
        raise _err(
            "release",
            "must be a ReleasePolicy or None",
            release,
            "ReleasePolicy(serial=..., id=..., expires=...)",
            "pass release=ReleasePolicy(...) or leave it out",
        )


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class Policy:
    """An immutable, validated security policy.

    Build one with :meth:`default`, :meth:`from_toml`, :meth:`from_file` or the
    keyword constructor; combine two with :meth:`merge` (tighten-only).
    """

    version: int = field(default=1, metadata=key_rule(_SCHEMA))
    mode: Mode = field(default="enforce", metadata=key_rule(ladder(MODE_LADDER)))
    tls: TLSPolicy = field(default_factory=TLSPolicy, metadata=_SECTION_KEY)
    network: NetworkPolicy = field(default_factory=NetworkPolicy, metadata=_SECTION_KEY)
    guardrail: GuardrailPolicy = field(default_factory=GuardrailPolicy, metadata=_SECTION_KEY)
    inference_profile: InferenceProfilePolicy = field(
        default_factory=InferenceProfilePolicy, metadata=_SECTION_KEY
    )
    regions: RegionsPolicy = field(default_factory=RegionsPolicy, metadata=_SECTION_KEY)
    models: ModelsPolicy = field(default_factory=ModelsPolicy, metadata=_SECTION_KEY)
    service_tier: ServiceTierPolicy = field(
        default_factory=ServiceTierPolicy, metadata=_SECTION_KEY
    )
    auth: AuthPolicy = field(default_factory=AuthPolicy, metadata=_SECTION_KEY)
    operations: OperationsPolicy = field(default_factory=OperationsPolicy, metadata=_SECTION_KEY)
    audit: AuditPolicy = field(default_factory=AuditPolicy, metadata=_SECTION_KEY)
    #: ``[release]`` of the org file (id, serial, expiry); ``None`` when the file has none.
    release: ReleasePolicy | None = field(default=None, metadata=key_rule(ORG_ONLY))

    def __post_init__(self) -> None:
        _check_schema_version(
            self.version, f"write `version = {SCHEMA_VERSION}` at the top of the file"
        )
        mode: object = self.mode
        if mode not in MODES:
            _choice(mode, "mode", MODES)
        for name, cls in sections(type(self)).items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise _err(
                    name,
                    f"must be a {cls.__name__}",
                    value,
                    cls.__name__,
                    f"pass {name}={cls.__name__}(...)",
                )
        _check_release_type(self.release)

    def __hash__(self) -> int:
        # Equal policies have equal canonical forms, so the digest is a sound hash.
        return hash(self.digest)

    @property
    def set_keys(self) -> frozenset[str]:
        """The dotted key paths this policy sets (``{"mode", "models.allow"}``).

        The keys a TOML document writes, or the keyword arguments given to the
        constructors in code; every other key has its default. Only these keys
        take part when this policy is merged over another (:meth:`merge`).
        Equality and :attr:`digest` do not depend on them.
        """
        keys = {"mode"} & _set_keys_of(self)
        for name in sections(type(self)):
            keys.update(f"{name}.{key}" for key in _set_keys_of(getattr(self, name)))
        return frozenset(keys)

    # ----------------------------------------------------------------- constructors

    @classmethod
    def default(cls) -> Policy:
        """The documented secure defaults.

        Enforce mode; TLS 1.2 floor, no FIPS; private endpoint not required but
        private ranges listed; no proxy; no mandated guardrail or profile; any
        region but cross-region refused; any model and tier; API keys allowed;
        no content in telemetry.
        """
        # Immutable, so one validated instance per class is shared: building it
        # would re-run the validation on every client construction otherwise.
        cached = _DEFAULTS.get(cls)
        if cached is None:
            cached = _DEFAULTS.setdefault(cls, cls())
        return cached

    @classmethod
    def from_toml(cls, text: str) -> Policy:
        """Parse and validate a policy document (``version = 1`` is required).

        Raises :class:`PolicyConfigError` naming the key for anything unknown,
        mistyped or malformed, and for TOML syntax errors (with line and column).
        """
        return cls.from_dict(_io.parse_toml(text))

    @classmethod
    def from_file(cls, path: str | Path) -> Policy:
        """Read, parse and validate a policy file (UTF-8 TOML).

        This does not check a signature; the org policy file is verified by
        discovery (see ``SECUREBEDROCK_POLICY_PUBLIC_KEY``).
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PolicyConfigError(
                "cannot read the policy file",
                found=f"{path}: {exc.strerror or exc}",
                expected="a readable policy file",
                fix="check the path and its permissions",
            ) from None
        return cls.from_bytes(data, source=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, *, source: str = "<bytes>") -> Policy:
        """Parse policy file bytes (UTF-8). Used on exactly the bytes that were verified."""
        return _io.policy_from_bytes(cls, data, source)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Policy:
        """Validate a file-shaped mapping (what ``tomllib`` returns, or :meth:`to_dict`)."""
        return _io.policy_from_dict(cls, document)

    # ----------------------------------------------------------------- views

    def to_dict(self) -> dict[str, Any]:
        """The policy as a file-shaped, JSON-compatible dict (every key, defaults included).

        An unrestricted allow-list (``None``) is omitted, as in a file.
        """
        return _io.policy_to_dict(self)

    def to_toml(self) -> str:
        """The policy as a TOML document that :meth:`from_toml` reads back to an equal policy."""
        return _io.policy_to_toml(self)

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical form: stable across key order, whitespace, comments.

        ``[release]`` is left out: the digest names the rules enforced, so two
        releases with the same rules share it (spans carry the release apart).
        Computed once per object (cached; the policy is immutable).
        """
        return _digest.policy_digest(self.to_dict())

    # ----------------------------------------------------------------- merge

    def merge(self, other: Policy) -> Policy:
        """Tighten-only merge: ``other`` is an overlay that may only add constraints.

        ``org.merge(app)``: the org policy is the floor. Only the keys ``other``
        sets (:attr:`set_keys`: written in its TOML, or passed in code) take
        part: each is combined with this policy's value by its key's rule
        (higher TLS floor, intersected allow-lists, united deny-lists, ...);
        every other key keeps this policy's value. The result refuses every
        call this policy refuses, and every call the keys ``other`` sets refuse.
        Two requirements that cannot both hold (two different mandated
        guardrails, endpoint pins, profile mappings) raise
        :class:`PolicyConfigError` naming both values. See docs/policy.md for
        the rule of every key.
        """
        return _merge.merge(self, other, Policy)


def change_direction(key: str, old: Any, new: Any) -> Direction:
    """Which way changing ``key`` from ``old`` to ``new`` goes (``None``: absent).

    ``key`` is a dotted key path (``"models.allow"``, ``"mode"``); an entry of a
    table is judged by its table's key (``"inference_profile.map"``). Judged by
    the comparison the key's merge rule declares; an unknown key is ``loosen``.
    """
    section, _, name = key.partition(".")
    policy_fields = {f.name: f for f in fields(Policy)}
    if section not in policy_fields:
        return "loosen"
    section_types = sections(Policy)
    if section not in section_types or not name:
        return judge_change(policy_fields[section], old, new)
    section_fields = {f.name: f for f in fields(section_types[section])}
    if name not in section_fields:
        return "loosen"
    return judge_change(section_fields[name], old, new)
