"""The policy model: frozen, keyword-only dataclasses mirroring the TOML file.

CONTRACT (other modules depend on these attribute names and types):
- collections are tuples (ordered, hashable); mappings are ``types.MappingProxyType``
- ``None`` on an allow-list means "the key was absent: anything is allowed";
  an empty tuple means "present but empty: nothing is allowed".
- parsing, validation, merge and digest live in this module.

Every value is validated when a dataclass is constructed (from a file or from
code), so a ``Policy`` that exists is a valid one. Errors are
:class:`PolicyConfigError` naming the key path (``guardrail.version``), the
value found, what is expected and how to fix it.

Normalisation on construction (semantics never change, representations become
canonical so that ``a.merge(a) == a`` and digests are stable):

- lists become tuples with duplicates removed (first occurrence kept, order kept);
- CIDRs are written in their canonical form (``fc00:0::/7`` -> ``fc00::/7``);
- ``models.allow`` drops a pattern that another pattern of the same list
  already covers (``anthropic.claude-v2`` next to ``anthropic.*``);
- ``inference_profile.known`` model lists are sorted.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import ipaddress
import json
import re
import reprlib
import sys
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from . import _urls
from ._errors import PolicyConfigError
from ._modelid import GEOGRAPHIES
from ._operations import OPERATION_NAMES
from ._release import ReleasePolicy, release_from
from ._toml import toml_key as _key
from ._toml import toml_string as _toml_string
from ._toml import toml_value as _toml_value

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "DEFAULT_PRIVATE_CIDRS",
    "AuditPolicy",
    "AuthPolicy",
    "GuardrailPolicy",
    "InferenceProfilePolicy",
    "KnownProfile",
    "ModelsPolicy",
    "NetworkPolicy",
    "OperationsPolicy",
    "Policy",
    "RegionsPolicy",
    "ReleasePolicy",
    "ServiceTierPolicy",
    "TLSPolicy",
    "guardrail_id",
    "model_pattern_covers",
]

Mode = Literal["enforce", "apply", "log_only"]
TLSVersion = Literal["1.2", "1.3"]
GuardrailTrace = Literal["enabled", "disabled", "enabled_full"]
AuditContent = Literal["none", "digest"]

DEFAULT_PRIVATE_CIDRS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

SCHEMA_VERSION = 1
MODES: tuple[str, ...] = ("enforce", "apply", "log_only")
#: The rollout ladder, loosest first: a merge or the environment may only climb it.
MODE_LADDER: tuple[str, ...] = ("log_only", "apply", "enforce")
TLS_VERSIONS: tuple[str, ...] = ("1.2", "1.3")
GUARDRAIL_TRACES: tuple[str, ...] = ("disabled", "enabled", "enabled_full")
AUDIT_CONTENTS: tuple[str, ...] = ("none", "digest")
SERVICE_TIERS: tuple[str, ...] = ("default", "priority", "flex", "reserved")

_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
# Every pattern below is used with ``fullmatch`` only: ``re.match`` with a ``$`` anchor
# also accepts a trailing newline ("us-east-1\n").
_REGION_RE = re.compile(_REGION)
_GUARDRAIL_ID_RE = re.compile(r"[a-z0-9]{1,64}")
_GUARDRAIL_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:bedrock:{_REGION}:\d{{12}}:guardrail/(?P<id>[a-z0-9]{{1,64}})"
)
_GUARDRAIL_VERSION_RE = re.compile(r"[1-9][0-9]{0,7}|DRAFT")
_PROFILE_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:bedrock:{_REGION}:\d{{12}}:"
    r"(?:application-inference-profile/[a-z0-9]{1,64}"
    r"|inference-profile/[A-Za-z0-9][A-Za-z0-9._:-]{0,200})"
)
_PROFILE_ID_RE = re.compile(
    r"(?:" + "|".join(re.escape(g) for g in GEOGRAPHIES) + r")\.[a-z0-9-]+\.[A-Za-z0-9._:-]+"
)
_FOUNDATION_MODEL_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:bedrock:{_REGION}::foundation-model/[A-Za-z0-9][A-Za-z0-9._:-]*"
)
_MODEL_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,2047}")
_GLOB_CHARS = frozenset("*?[")
#: The deepest nesting a policy document may have. The schema needs 5 levels (the
#: document, [inference_profile], known, a profile's table, its models array); anything
#: deeper is invalid anyway, and a bound keeps every walk over the input iterative-safe.
MAX_DEPTH = 16

# Renders found values for error messages without unbounded recursion or length.
_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = 120
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 12


# --------------------------------------------------------------------------- helpers


def _show(value: object) -> str:
    """A short, TOML-flavoured rendering of a found value and its type."""
    kind = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        tuple: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value[:200])
    elif isinstance(value, int) and value.bit_length() > 256:
        text = f"<an integer of {value.bit_length()} bits>"  # str() of a huge int may raise
    else:
        text = _REPR.repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{text} ({kind})"


def _err(path: str, summary: str, value: object, expected: str, fix: str) -> PolicyConfigError:
    return PolicyConfigError(summary, path=path, found=_show(value), expected=expected, fix=fix)


def _bool(value: object, path: str) -> bool:
    if type(value) is not bool:
        raise _err(
            path,
            "must be a boolean",
            value,
            "true or false (a TOML boolean, unquoted)",
            f"write `{path.rsplit('.', 1)[-1]} = true` or `= false`, without quotes",
        )
    return value


def _fold(text: str) -> str:
    """Case and separator folding, to suggest ``log_only`` for ``Log-Only``."""
    return "".join(ch for ch in text.lower() if ch not in "-_ ")


def _choice(value: object, path: str, choices: Iterable[str], *, what: str = "one of") -> str:
    allowed = tuple(choices)
    if not isinstance(value, str) or value not in allowed:
        expected = f"{what} " + ", ".join(json.dumps(c) for c in allowed)
        hint = ""
        if isinstance(value, str):
            near = [c for c in allowed if _fold(c) == _fold(value)]
            if near:
                hint = f" (did you mean {json.dumps(near[0])}?)"
        raise _err(path, f"unsupported value{hint}", value, expected, f"set {path} to {expected}")
    return value


def _string_list(
    value: object,
    path: str,
    check: Callable[[str, str], str] | None = None,
) -> tuple[str, ...]:
    """A list (or tuple) of strings, each passed through ``check``, deduplicated."""
    if not isinstance(value, (list, tuple)):
        raise _err(
            path,
            "must be an array of strings",
            value,
            'an array, e.g. ["a", "b"]',
            f'write {path.rsplit(".", 1)[-1]} = ["..."]',
        )
    out: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, str):
            raise _err(
                item_path,
                "must be a string",
                item,
                "a quoted string",
                "quote each element of the array",
            )
        checked = check(item, item_path) if check else item
        if checked not in seen:
            seen.add(checked)
            out.append(checked)
    return tuple(out)


def _optional_list(
    value: object, path: str, check: Callable[[str, str], str] | None = None
) -> tuple[str, ...] | None:
    return None if value is None else _string_list(value, path, check)


def _check_region(item: str, path: str) -> str:
    if not _REGION_RE.fullmatch(item):
        raise _err(
            path,
            "is not an AWS region name",
            item,
            'an AWS region such as "us-east-1" or "eu-central-1"',
            "use the region code, not its display name",
        )
    return item


def _check_geography(item: str, path: str) -> str:
    return _choice(item, path, GEOGRAPHIES)


def _check_tier(item: str, path: str) -> str:
    return _choice(item, path, SERVICE_TIERS)


def _check_operation(item: str, path: str) -> str:
    return _choice(item, path, OPERATION_NAMES, what="a bedrock-runtime operation:")


def _check_glob(item: str, path: str) -> str:
    if not item.strip() or item != item.strip():
        raise _err(
            path,
            "is not a usable model pattern",
            item,
            'a non-empty glob over the base model id, e.g. "anthropic.claude-*"',
            "remove the empty pattern or the surrounding spaces",
        )
    return item


def _check_cidr(item: str, path: str) -> str:
    try:
        network = ipaddress.ip_network(item, strict=True)
    except ValueError as exc:
        raise _err(
            path,
            f"is not a valid CIDR ({exc})",
            item,
            'a network address with prefix length, e.g. "10.0.0.0/8"',
            "use the network address (host bits zero) and a prefix length",
        ) from None
    return str(network)


def _check_https_url(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _err(path, "must be a string", value, 'an https URL or ""', "quote the URL")
    if value == "":
        return value
    # The parser that opens the socket reads it; credentials are masked in the error.
    _urls.check_policy_url(value, path)
    return value


def _check_profile_ref(value: str, path: str) -> str:
    if not (_PROFILE_ARN_RE.fullmatch(value) or _PROFILE_ID_RE.fullmatch(value)):
        raise _err(
            path,
            "is not an inference profile",
            value,
            "an inference-profile or application-inference-profile ARN "
            "(arn:<partition>:bedrock:<region>:<account>:application-inference-profile/<id>) "
            'or a geographic/global profile id such as "us.anthropic.claude-3-5-sonnet-'
            '20240620-v1:0"',
            "copy the profile ARN from `aws bedrock list-inference-profiles`",
        )
    return value


def _check_foundation_model_arn(item: str, path: str) -> str:
    if not _FOUNDATION_MODEL_ARN_RE.fullmatch(item):
        raise _err(
            path,
            "is not a foundation-model ARN",
            item,
            "arn:<partition>:bedrock:<region>::foundation-model/<model-id>",
            "list the foundation-model ARNs the profile routes to",
        )
    return item


def _freeze_map(value: object, path: str) -> dict[str, object]:
    if not isinstance(value, Mapping):
        raise _err(
            path,
            "must be a table",
            value,
            "a TOML table (key = value pairs)",
            f"write [{path}] or {path.rsplit('.', 1)[-1]} = {{ ... }}",
        )
    for key in value:
        if not isinstance(key, str):
            raise _err(path, "keys must be strings", key, "string keys", "quote the keys")
    return dict(value)


def _check_depth(document: Mapping[str, object]) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH`, naming the first deep key.

    Iterative (an explicit stack), so a document of any depth is refused without
    recursion, and a self-referencing structure built in code ends at the bound too.
    """
    stack: list[tuple[object, str, int]] = [(document, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Iterable[tuple[str, object]] = (
                (_key(path, k) if isinstance(k, str) else f"{path}.<key>", v)
                for k, v in value.items()
            )
        elif isinstance(value, (list, tuple)):
            children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
        else:
            continue
        if depth > MAX_DEPTH:
            raise PolicyConfigError(
                "is nested too deeply",
                path=path or None,
                found=f"tables or arrays nested more than {MAX_DEPTH} levels deep",
                expected="the policy schema (at most 5 levels: "
                "inference_profile.known.<profile>.models)",
                fix="remove the nested tables or arrays; see docs/policy.md for the schema",
            )
        stack.extend((child, child_path, depth + 1) for child_path, child in children)


def _set(obj: object, name: str, value: object) -> None:
    # Normalising a frozen dataclass in __post_init__ is the one place we write to it.
    object.__setattr__(obj, name, value)


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


def guardrail_id(identifier: str) -> str:
    """The guardrail id of an identifier that is either an id or a guardrail ARN."""
    match = _GUARDRAIL_ARN_RE.fullmatch(identifier)
    return match.group("id") if match else identifier


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


# --------------------------------------------------------------------------- sections


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class TLSPolicy:
    """``[tls]``: the minimum TLS version and FIPS endpoints."""

    minimum_version: TLSVersion = "1.2"
    fips: bool = False

    def __post_init__(self) -> None:
        if self.minimum_version not in TLS_VERSIONS:
            value: object = self.minimum_version
            fix = 'set tls.minimum_version = "1.2" or "1.3"'
            if isinstance(value, float):
                fix += " (quoted: a string, not a number)"
            raise _err(
                "tls.minimum_version",
                "unsupported TLS version",
                value,
                '"1.2" or "1.3" (older versions are never allowed)',
                fix,
            )
        _bool(self.fips, "tls.fips")


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class NetworkPolicy:
    """``[network]``: where connections may go.

    ``endpoint_urls`` pins an endpoint per region (region -> URL); a client in a
    region it names uses that URL, any other client ``endpoint_url`` (if set).
    """

    require_private_endpoint: bool = False
    allowed_cidrs: tuple[str, ...] = DEFAULT_PRIVATE_CIDRS
    endpoint_url: str = ""
    endpoint_urls: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))
    #: The ``bedrock`` control-plane endpoint (GetInferenceProfile); ``""``: the
    #: region's default ``bedrock`` endpoint. Never the runtime pin above.
    control_plane_endpoint_url: str = ""
    #: Per-region control-plane pins (region -> URL), like ``endpoint_urls``.
    control_plane_endpoint_urls: Mapping[str, str] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    allow_proxy: bool = False

    def __post_init__(self) -> None:
        _bool(self.require_private_endpoint, "network.require_private_endpoint")
        _set(
            self,
            "allowed_cidrs",
            _string_list(self.allowed_cidrs, "network.allowed_cidrs", _check_cidr),
        )
        _check_https_url(self.endpoint_url, "network.endpoint_url")
        _set(self, "endpoint_urls", _region_table(self.endpoint_urls, "network.endpoint_urls"))
        _check_https_url(self.control_plane_endpoint_url, "network.control_plane_endpoint_url")
        _set(
            self,
            "control_plane_endpoint_urls",
            _region_table(self.control_plane_endpoint_urls, "network.control_plane_endpoint_urls"),
        )
        _bool(self.allow_proxy, "network.allow_proxy")

    def __hash__(self) -> int:
        # MappingProxyType is unhashable; hash what equality compares.
        return hash(
            (
                self.require_private_endpoint,
                self.allowed_cidrs,
                self.endpoint_url,
                frozenset(self.endpoint_urls.items()),
                self.control_plane_endpoint_url,
                frozenset(self.control_plane_endpoint_urls.items()),
                self.allow_proxy,
            )
        )

    def endpoint_for(self, region: str | None) -> str:
        """The endpoint pinned for a client in ``region`` (``""``: none).

        Its ``endpoint_urls`` entry when there is one, else ``endpoint_url``.
        """
        if region:
            url = self.endpoint_urls.get(region)
            if url:
                return url
        return self.endpoint_url

    def control_plane_endpoint_for(self, region: str | None) -> str:
        """The control-plane endpoint pinned for a client in ``region`` (``""``: none).

        Its ``control_plane_endpoint_urls`` entry, else ``control_plane_endpoint_url``.
        """
        if region:
            url = self.control_plane_endpoint_urls.get(region)
            if url:
                return url
        return self.control_plane_endpoint_url

    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``allowed_cidrs`` as :mod:`ipaddress` network objects."""
        return tuple(ipaddress.ip_network(c) for c in self.allowed_cidrs)


def _region_table(value: object, path: str) -> Mapping[str, str]:
    """A region -> https URL table (``[network.endpoint_urls]``)."""
    table = _freeze_map(value, path)
    checked: dict[str, str] = {}
    for region, url in table.items():
        key = _key(path, region)
        _check_region(region, key)
        if url == "":
            raise _err(
                key,
                "must not be empty",
                url,
                "the https URL of the region's endpoint",
                f'remove the entry, or write {key} = "https://..."',
            )
        checked[region] = _check_https_url(url, key)
    return types.MappingProxyType(checked)


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class GuardrailPolicy:
    """``[guardrail]``: the guardrail mandated on every inference call (empty: none).

    ``version`` is the version attached to calls. The file may list several
    (``version = ["4", "3"]``) during a version change: the first is attached, and a
    call that names the mandated guardrail with any listed version is accepted;
    ``accepted_versions`` holds them all (the first is ``version``).
    ``exempt_models``: globs over base model ids (``"amazon.titan-embed-*"``) whose calls
    need no guardrail (embedding models, which guardrails do not apply to).
    """

    identifier: str = ""
    version: str = ""
    trace: GuardrailTrace = "enabled"
    exempt_models: tuple[str, ...] = ()
    #: Every accepted version, the attached one first (derived from ``version``).
    accepted_versions: tuple[str, ...] = field(default=(), init=False, metadata={"derived": True})

    def __post_init__(self) -> None:
        ident: object = self.identifier
        version: object = self.version
        if isinstance(version, (list, tuple)):
            listed = list(version)
            if not listed:
                raise _err(
                    "guardrail.version",
                    "must not be an empty list",
                    listed,
                    'a version such as "3", or a list such as ["4", "3"] (first attached)',
                    "name at least one version",
                )
            for item in listed:
                if not isinstance(item, str) or not _GUARDRAIL_VERSION_RE.fullmatch(item):
                    raise _err(
                        "guardrail.version",
                        "lists something that is not a guardrail version",
                        item,
                        'positive integer strings such as "3", or "DRAFT"',
                        "use the version numbers shown by `aws bedrock get-guardrail`",
                    )
            if len(set(listed)) != len(listed):
                raise _err(
                    "guardrail.version",
                    "lists a version twice",
                    listed,
                    "each version once, the attached one first",
                    "remove the duplicate",
                )
            version = listed[0]
            _set(self, "version", version)
            _set(self, "accepted_versions", tuple(listed))
        elif isinstance(version, str) and version:
            _set(self, "accepted_versions", (version,))
        exempt = _string_list(self.exempt_models, "guardrail.exempt_models", _check_glob)
        # Normalised like models.allow (a pattern another one covers says nothing more).
        _set(self, "exempt_models", _antichain(exempt))
        if not isinstance(ident, str):
            raise _err(
                "guardrail.identifier",
                "must be a string",
                ident,
                "a guardrail id or ARN",
                "quote the identifier",
            )
        if ident and not (_GUARDRAIL_ID_RE.fullmatch(ident) or _GUARDRAIL_ARN_RE.fullmatch(ident)):
            raise _err(
                "guardrail.identifier",
                "is not a guardrail id or ARN",
                ident,
                'a guardrail id ("abc123xyz789", lowercase letters and digits) or ARN '
                "(arn:<partition>:bedrock:<region>:<account>:guardrail/<id>)",
                "copy the id or ARN from `aws bedrock list-guardrails`",
            )
        if isinstance(version, int) and not isinstance(version, bool):
            raise _err(
                "guardrail.version",
                "must be a string",
                version,
                'a quoted version such as "3", or "DRAFT"',
                f'write guardrail.version = "{version}" (quoted)',
            )
        if not isinstance(version, str) or (
            version and not _GUARDRAIL_VERSION_RE.fullmatch(version)
        ):
            raise _err(
                "guardrail.version",
                "is not a guardrail version",
                version,
                'a positive integer string such as "3", or "DRAFT"',
                "use the version number shown by `aws bedrock get-guardrail`",
            )
        if ident and not version:
            raise _err(
                "guardrail.version",
                "is required when guardrail.identifier is set",
                None,
                'a version such as "3" or "DRAFT"',
                "pin the guardrail version: add guardrail.version",
            )
        if version and not ident:
            raise _err(
                "guardrail.identifier",
                "is required when guardrail.version is set",
                None,
                "a guardrail id or ARN",
                "add guardrail.identifier, or remove guardrail.version",
            )
        _choice(self.trace, "guardrail.trace", GUARDRAIL_TRACES)

    @property
    def mandated(self) -> bool:
        """Whether a guardrail is mandated on every inference call."""
        return bool(self.identifier)

    @property
    def guardrail_id(self) -> str:
        """The guardrail id (the last part of the ARN when an ARN is given)."""
        return guardrail_id(self.identifier)


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


def _repath(exc: PolicyConfigError, old: str, new: str) -> PolicyConfigError:
    summary = exc.summary.replace(f"[{old}", f"[{new}", 1)
    path = (exc.path or "").replace(old, new, 1)
    return PolicyConfigError(
        summary, path=path, found=exc.found, expected=exc.expected, fix=exc.fix
    )


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class InferenceProfilePolicy:
    """``[inference_profile]``: mapping of model ids to profiles, and whether one is required.

    ``regional_map`` holds per-region mappings (region -> model -> profile): for
    a client in that region its entries are used, and ``map`` for the models
    they do not name.
    """

    required: bool = False
    map: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType({}))
    regional_map: Mapping[str, Mapping[str, str]] = field(
        default_factory=lambda: types.MappingProxyType({})
    )
    known: Mapping[str, KnownProfile] = field(default_factory=lambda: types.MappingProxyType({}))

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


def _profile_table(value: object, path: str) -> Mapping[str, str]:
    """A model id -> inference profile table (``map``, ``regional_map.<region>``)."""
    raw_map = _freeze_map(value, path)
    checked: dict[str, str] = {}
    for model, profile in raw_map.items():
        key = _key(path, model)
        if not _MODEL_KEY_RE.fullmatch(model):
            raise _err(
                key,
                "is not a model id",
                model,
                'a model id such as "anthropic.claude-3-5-sonnet-20240620-v1:0"',
                "use the base model id as the key",
            )
        if not isinstance(profile, str):
            raise _err(
                key,
                "must be a string",
                profile,
                "an inference profile ARN or id",
                "quote the profile",
            )
        checked[model] = _check_profile_ref(profile, key)
    return types.MappingProxyType(checked)


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class RegionsPolicy:
    """``[regions]``: allowed regions and cross-region inference.

    ``allowed_geographies`` only matters with ``cross_region = true``: it names
    the geographic profile prefixes (``us``, ``eu``, ...) calls may use; an empty
    tuple allows none, and ``global`` is allowed only when named.
    """

    allowed: tuple[str, ...] | None = None
    cross_region: bool = False
    allowed_geographies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _set(self, "allowed", _optional_list(self.allowed, "regions.allowed", _check_region))
        _bool(self.cross_region, "regions.cross_region")
        _set(
            self,
            "allowed_geographies",
            _string_list(self.allowed_geographies, "regions.allowed_geographies", _check_geography),
        )


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class ModelsPolicy:
    """``[models]``: glob patterns (:func:`fnmatch.fnmatchcase`) over the base model id; deny wins.

    ``allow`` is stored without redundant patterns: one that another pattern of
    the list covers is dropped (the set of allowed ids does not change).
    """

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        allow = _optional_list(self.allow, "models.allow", _check_glob)
        _set(self, "allow", None if allow is None else _antichain(allow))
        _set(self, "deny", _string_list(self.deny, "models.deny", _check_glob))


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class ServiceTierPolicy:
    """``[service_tier]``: allowed service tiers (absent on a call means ``default``)."""

    allowed: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _set(self, "allowed", _optional_list(self.allowed, "service_tier.allowed", _check_tier))


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class AuthPolicy:
    """``[auth]``: whether bearer-token (Bedrock API key) auth is allowed."""

    allow_api_keys: bool = True

    def __post_init__(self) -> None:
        _bool(self.allow_api_keys, "auth.allow_api_keys")


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class OperationsPolicy:
    """``[operations]``: operations allowed to run without the mandated guardrail."""

    allow_without_guardrail: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _set(
            self,
            "allow_without_guardrail",
            _string_list(
                self.allow_without_guardrail, "operations.allow_without_guardrail", _check_operation
            ),
        )


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class AuditPolicy:
    """``[audit]``: whether content digests are recorded in telemetry."""

    content: AuditContent = "none"

    def __post_init__(self) -> None:
        _choice(self.content, "audit.content", AUDIT_CONTENTS)


_SECTIONS: dict[str, type[Any]] = {
    "tls": TLSPolicy,
    "network": NetworkPolicy,
    "guardrail": GuardrailPolicy,
    "inference_profile": InferenceProfilePolicy,
    "regions": RegionsPolicy,
    "models": ModelsPolicy,
    "service_tier": ServiceTierPolicy,
    "auth": AuthPolicy,
    "operations": OperationsPolicy,
    "audit": AuditPolicy,
}
_TOP_LEVEL = ("version", "mode", "release", *_SECTIONS)


def _check_release_type(release: object) -> None:
    if release is not None and not isinstance(release, ReleasePolicy):
        raise _err(
            "release",
            "must be a ReleasePolicy or None",
            release,
            "ReleasePolicy(serial=..., id=..., expires=...)",
            "pass release=ReleasePolicy(...) or leave it out",
        )


def _reject_unknown(table: Mapping[str, object], known: Iterable[str], parent: str) -> None:
    allowed = tuple(known)
    for name in table:
        if name not in allowed:
            where = f"[{parent}]" if parent else "the top level"
            raise PolicyConfigError(
                "unknown key",
                path=_key(parent, name),
                found=_show(table[name]),
                expected=f"one of the keys of {where}: " + ", ".join(allowed),
                fix="remove the key or fix its spelling (unknown keys are never ignored)",
            )


# --------------------------------------------------------------------------- merge helpers

_T = TypeVar("_T")


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

    def inside(net: Any, others: list[Any]) -> bool:
        return any(net.version == o.version and net.subnet_of(o) for o in others)

    kept = [str(n) for n in left_nets if inside(n, right_nets)]
    kept += [str(n) for n in right_nets if inside(n, left_nets)]
    return tuple(dict.fromkeys(kept))


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


def _conflict(path: str, left: str, right: str, fix: str) -> PolicyConfigError:
    return PolicyConfigError(
        "the two policies disagree and neither is tighter",
        path=path,
        found=f"{left} in one policy, {right} in the other",
        expected="the same value in both, or the key set in only one of them",
        fix=fix,
    )


def _merge_guardrail(a: GuardrailPolicy, b: GuardrailPolicy) -> GuardrailPolicy:
    # The trace is the most evidence either side asks for, whichever mandates the guardrail
    # (an overlay that only sets trace raises it on the floor's guardrail).
    trace = _max_trace(a.trace, b.trace)
    # Fewer exemptions is tighter: an overlay that sets exempt_models narrows the floor's.
    exempt = _intersect_models(a.exempt_models, b.exempt_models) or ()
    if not a.mandated or not b.mandated:
        kept = a if a.mandated else b
        return GuardrailPolicy(
            identifier=kept.identifier,
            version=_versions(kept.accepted_versions),
            trace=trace,
            exempt_models=exempt,
        )
    if a.guardrail_id != b.guardrail_id or (
        _GUARDRAIL_ARN_RE.fullmatch(a.identifier)
        and _GUARDRAIL_ARN_RE.fullmatch(b.identifier)
        and a.identifier != b.identifier
    ):
        raise _conflict(
            "guardrail.identifier",
            json.dumps(a.identifier),
            json.dumps(b.identifier),
            "mandate one guardrail: remove [guardrail] from the application "
            "policy or make it name the organisation's guardrail",
        )
    if a.version != b.version:
        raise _conflict(
            "guardrail.version",
            json.dumps(a.version),
            json.dumps(b.version),
            f"use the same version of guardrail {a.guardrail_id} in both policies",
        )
    # Keep the ARN when one side names the guardrail by ARN: it says more.
    identifier = a.identifier if _GUARDRAIL_ARN_RE.fullmatch(a.identifier) else b.identifier
    # Both attach the same version; a caller may name only versions both accept.
    accepted = tuple(v for v in a.accepted_versions if v in b.accepted_versions)
    return GuardrailPolicy(
        identifier=identifier, version=_versions(accepted), trace=trace, exempt_models=exempt
    )


def _versions(accepted: tuple[str, ...]) -> Any:
    """``version`` as the constructor takes it: one string, or the list during a change."""
    return list(accepted) if len(accepted) > 1 else (accepted[0] if accepted else "")


def _max_trace(a: str, b: str) -> Any:
    # More trace is more evidence for an audit; it never lets more through.
    return max(a, b, key=GUARDRAIL_TRACES.index)


def _merge_map(path: str, a: Mapping[str, _T], b: Mapping[str, _T], fix: str) -> dict[str, _T]:
    merged = dict(a)
    for key, value in b.items():
        if key in merged and merged[key] != value:
            raise _conflict(_key(path, key), _render(merged[key]), _render(value), fix)
        merged[key] = value
    return merged


def _render(value: object) -> str:
    if isinstance(value, KnownProfile):
        return json.dumps(list(value.models))
    return json.dumps(value)


# --------------------------------------------------------------------------- Policy


#: Per-region tables left out of :meth:`Policy.to_dict` (and so of the digest) when
#: empty: a policy that does not use them keeps the digest it had before they existed.
_OMITTED_WHEN_EMPTY = frozenset({"endpoint_urls", "control_plane_endpoint_urls", "regional_map"})


def _section_to_dict(section: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(section):  # type: ignore[arg-type]
        if f.metadata.get("derived"):
            continue
        value = getattr(section, f.name)
        if isinstance(section, GuardrailPolicy) and f.name == "version":
            value = _versions(section.accepted_versions)
        elif isinstance(section, GuardrailPolicy) and f.name == "exempt_models" and not value:
            continue  # left out when empty: policies without it keep their digest
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = {
                k: (
                    {"models": list(v.models)}
                    if isinstance(v, KnownProfile)
                    else dict(v)
                    if isinstance(v, Mapping)
                    else v
                )
                for k, v in value.items()
            }
        out[f.name] = value
    return out


#: ``Policy.default()`` per class (see there).
_DEFAULTS: dict[type[Policy], Policy] = {}


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class Policy:
    """An immutable, validated security policy.

    Build one with :meth:`default`, :meth:`from_toml`, :meth:`from_file` or the
    keyword constructor; combine two with :meth:`merge` (tighten-only).
    """

    version: int = 1
    mode: Mode = "enforce"
    tls: TLSPolicy = field(default_factory=TLSPolicy)
    network: NetworkPolicy = field(default_factory=NetworkPolicy)
    guardrail: GuardrailPolicy = field(default_factory=GuardrailPolicy)
    inference_profile: InferenceProfilePolicy = field(default_factory=InferenceProfilePolicy)
    regions: RegionsPolicy = field(default_factory=RegionsPolicy)
    models: ModelsPolicy = field(default_factory=ModelsPolicy)
    service_tier: ServiceTierPolicy = field(default_factory=ServiceTierPolicy)
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    operations: OperationsPolicy = field(default_factory=OperationsPolicy)
    audit: AuditPolicy = field(default_factory=AuditPolicy)
    #: ``[release]`` of the org file (id, serial, expiry); ``None`` when the file has none.
    release: ReleasePolicy | None = None

    def __post_init__(self) -> None:
        version: object = self.version
        if type(version) is not int or version != SCHEMA_VERSION:
            raise _err(
                "version",
                "unsupported policy schema version",
                version,
                f"the integer {SCHEMA_VERSION}",
                f"write `version = {SCHEMA_VERSION}` at the top of the file",
            )
        mode: object = self.mode
        if mode not in MODES:
            _choice(mode, "mode", MODES)
        for name, cls in _SECTIONS.items():
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
        for name in _SECTIONS:
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
        if not isinstance(text, str):
            raise PolicyConfigError(
                "policy text must be a str",
                found=type(text).__name__,
                expected="str",
                fix="decode the file as UTF-8 first",
            )
        try:
            document = tomllib.loads(text)
        except RecursionError:
            # The parser recurses once per nested array or inline table.
            raise PolicyConfigError(
                "the policy is nested too deeply to parse",
                found="arrays or inline tables nested hundreds of levels deep",
                expected="the policy schema (at most 5 levels: "
                "inference_profile.known.<profile>.models)",
                fix="remove the nested arrays or inline tables",
            ) from None
        except ValueError as exc:
            # TOMLDecodeError, and ValueError for an integer too long to convert.
            raise PolicyConfigError(
                "the policy is not valid TOML",
                found=str(exc)[:300],
                expected="a TOML document (https://toml.io)",
                fix="fix the syntax at the line and column shown",
            ) from None
        return cls.from_dict(document)

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
        try:
            text = data.decode("utf-8-sig")  # a BOM (Windows editors) is not an error
        except UnicodeDecodeError as exc:
            raise PolicyConfigError(
                "the policy file is not UTF-8",
                found=f"{source}: invalid byte at offset {exc.start}",
                expected="a UTF-8 encoded TOML file",
                fix="save the file as UTF-8",
            ) from None
        try:
            return cls.from_toml(text)
        except PolicyConfigError as exc:
            if exc.path is None and exc.found is not None and source != "<bytes>":
                raise PolicyConfigError(
                    exc.summary, found=f"{source}: {exc.found}", expected=exc.expected, fix=exc.fix
                ) from None
            raise

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Policy:
        """Validate a file-shaped mapping (what ``tomllib`` returns, or :meth:`to_dict`)."""
        document = _freeze_map(document, "")
        _check_depth(document)
        if "version" not in document:
            raise PolicyConfigError(
                "the policy has no schema version",
                path="version",
                found="no `version` key",
                expected=f"version = {SCHEMA_VERSION}",
                fix=f"add `version = {SCHEMA_VERSION}` at the top of the file",
            )
        kwargs: dict[str, Any] = {"version": document["version"]}
        version: object = document["version"]
        if type(version) is not int or version != SCHEMA_VERSION:
            # Check first: a future schema's keys would otherwise look "unknown".
            raise _err(
                "version",
                "unsupported policy schema version",
                version,
                f"the integer {SCHEMA_VERSION}",
                f"write `version = {SCHEMA_VERSION}` (this library reads schema 1)",
            )
        _reject_unknown(document, _TOP_LEVEL, "")
        if "release" in document:
            kwargs["release"] = release_from(document["release"])
        if "mode" in document:
            kwargs["mode"] = _choice(document["mode"], "mode", MODES)
        for name, cls_ in _SECTIONS.items():
            if name not in document:
                continue
            table = _freeze_map(document[name], name)
            names = [f.name for f in fields(cls_) if f.init]
            _reject_unknown(table, names, name)
            if name == "inference_profile":
                for sub in ("map", "regional_map", "known"):
                    if sub in table:
                        table[sub] = _freeze_map(table[sub], f"inference_profile.{sub}")
            kwargs[name] = cls_(**table)
        return cls(**kwargs)

    # ----------------------------------------------------------------- views

    def to_dict(self) -> dict[str, Any]:
        """The policy as a file-shaped, JSON-compatible dict (every key, defaults included).

        An unrestricted allow-list (``None``) is omitted, as in a file.
        """
        out: dict[str, Any] = {"version": self.version, "mode": self.mode}
        for name in _SECTIONS:
            section = _section_to_dict(getattr(self, name))
            out[name] = {
                k: v
                for k, v in section.items()
                if v is not None and not (k in _OMITTED_WHEN_EMPTY and not v)
            }
        if self.release is not None:
            out["release"] = self.release.to_dict()
        return out

    def to_toml(self) -> str:
        """The policy as a TOML document that :meth:`from_toml` reads back to an equal policy."""
        lines = [f"version = {self.version}", f"mode = {_toml_string(self.mode)}"]
        for name, table in self.to_dict().items():
            if not isinstance(table, dict):
                continue
            if not table:
                continue
            if name == "release" and self.release is not None:
                lines.extend(["", "[release]", *self.release.to_toml_lines()])
                continue
            lines.append("")
            lines.append(f"[{name}]")
            nested: list[tuple[str, dict[str, Any]]] = []
            for key, value in table.items():
                if key == "known":
                    nested.extend((k, v) for k, v in value.items())
                    continue
                lines.append(f"{key} = {_toml_value(value)}")
            for profile, entry in nested:
                lines.append("")
                lines.append(f"[{_key('inference_profile.known', profile)}]")
                lines.append(f"models = {_toml_value(entry['models'])}")
        return "\n".join(lines) + "\n"

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical form: stable across key order, whitespace, comments.

        ``[release]`` is left out: the digest names the rules enforced, so two
        releases with the same rules share it (spans carry the release apart).
        Computed once per object (cached; the policy is immutable).
        """
        document = self.to_dict()
        document.pop("release", None)
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

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
        if not isinstance(other, Policy):
            raise PolicyConfigError(
                "can only merge a Policy",
                found=type(other).__name__,
                expected="Policy",
                fix="pass a securebedrock.Policy",
            )
        overlay = other.set_keys
        return _overlay(self, _tighten(self, other), overlay, self.set_keys | overlay)


def _overlay(
    base: Policy, tightened: Policy, overlay: frozenset[str], result_keys: frozenset[str]
) -> Policy:
    """``base`` with the keys in ``overlay`` taken from ``tightened`` (the all-keys merge)."""
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        values = {
            f.name: _init_value(
                getattr(tightened if f"{name}.{f.name}" in overlay else base, name), f.name
            )
            for f in fields(cls)
            if f.init
        }
        prefix = f"{name}."
        keys = (key[len(prefix) :] for key in result_keys if key.startswith(prefix))
        sections[name] = _with_set_keys(cls(**values), keys)
    merged = Policy(
        version=SCHEMA_VERSION,
        mode=tightened.mode if "mode" in overlay else base.mode,
        # The release names the org file: the floor's is reported.
        release=base.release,
        **sections,
    )
    return _with_set_keys(merged, {"mode"} & result_keys)


def _init_value(section: object, name: str) -> Any:
    """The value to pass for field ``name`` to rebuild ``section`` as it was."""
    if isinstance(section, GuardrailPolicy) and name == "version":
        return _versions(section.accepted_versions)
    return getattr(section, name)


def _tighten(a: Policy, b: Policy) -> Policy:
    """Every key of ``a`` and ``b`` combined by its tighten-only rule (sets no keys)."""
    for region in sorted({*a.network.endpoint_urls, *b.network.endpoint_urls, ""}):
        left, right = a.network.endpoint_for(region), b.network.endpoint_for(region)
        if left and right and left != right:
            raise _conflict(
                _key("network.endpoint_urls", region) if region else "network.endpoint_url",
                json.dumps(left),
                json.dumps(right),
                "pin the endpoint in one policy only, or the same endpoint in both",
            )
    planes = {*a.network.control_plane_endpoint_urls, *b.network.control_plane_endpoint_urls}
    for region in sorted({*planes, ""}):
        left = a.network.control_plane_endpoint_for(region)
        right = b.network.control_plane_endpoint_for(region)
        if left and right and left != right:
            raise _conflict(
                _key("network.control_plane_endpoint_urls", region)
                if region
                else "network.control_plane_endpoint_url",
                json.dumps(left),
                json.dumps(right),
                "pin the control-plane endpoint in one policy only, or the same one in both",
            )
    profile_map = _merge_map(
        "inference_profile.map",
        a.inference_profile.map,
        b.inference_profile.map,
        "map the model to the same profile in both policies, or in one only",
    )
    regional_map: dict[str, Mapping[str, str]] = {}
    for region in dict.fromkeys(
        [*a.inference_profile.regional_map, *b.inference_profile.regional_map]
    ):
        # What each side maps a model to for a client in this region must agree, whichever
        # table (map or regional_map) says it.
        _merge_map(
            _key("inference_profile.regional_map", region),
            a.inference_profile.map_for(region),
            b.inference_profile.map_for(region),
            "map the model to the same profile in both policies, or in one only",
        )
        regional_map[region] = _merge_map(
            _key("inference_profile.regional_map", region),
            a.inference_profile.regional_map.get(region, {}),
            b.inference_profile.regional_map.get(region, {}),
            "map the model to the same profile in both policies, or in one only",
        )
    known = _merge_map(
        "inference_profile.known",
        a.inference_profile.known,
        b.inference_profile.known,
        "declare the profile with the same models in both, or in one only",
    )
    return Policy(
        version=SCHEMA_VERSION,
        mode=max(a.mode, b.mode, key=MODE_LADDER.index),
        tls=TLSPolicy(
            minimum_version=max(
                a.tls.minimum_version, b.tls.minimum_version, key=TLS_VERSIONS.index
            ),
            fips=a.tls.fips or b.tls.fips,
        ),
        network=NetworkPolicy(
            require_private_endpoint=(
                a.network.require_private_endpoint or b.network.require_private_endpoint
            ),
            allowed_cidrs=_intersect_cidrs(a.network.allowed_cidrs, b.network.allowed_cidrs),
            endpoint_url=a.network.endpoint_url or b.network.endpoint_url,
            endpoint_urls={**a.network.endpoint_urls, **b.network.endpoint_urls},
            control_plane_endpoint_url=(
                a.network.control_plane_endpoint_url or b.network.control_plane_endpoint_url
            ),
            control_plane_endpoint_urls={
                **a.network.control_plane_endpoint_urls,
                **b.network.control_plane_endpoint_urls,
            },
            allow_proxy=a.network.allow_proxy and b.network.allow_proxy,
        ),
        guardrail=_merge_guardrail(a.guardrail, b.guardrail),
        inference_profile=InferenceProfilePolicy(
            required=a.inference_profile.required or b.inference_profile.required,
            map=types.MappingProxyType(profile_map),
            regional_map=types.MappingProxyType(regional_map),
            known=types.MappingProxyType(known),
        ),
        regions=RegionsPolicy(
            allowed=_intersect(a.regions.allowed, b.regions.allowed),
            cross_region=a.regions.cross_region and b.regions.cross_region,
            allowed_geographies=_intersect(
                a.regions.allowed_geographies, b.regions.allowed_geographies
            )
            or (),
        ),
        models=ModelsPolicy(
            allow=_intersect_models(a.models.allow, b.models.allow),
            deny=_unite(a.models.deny, b.models.deny),
        ),
        service_tier=ServiceTierPolicy(
            allowed=_intersect(a.service_tier.allowed, b.service_tier.allowed),
        ),
        auth=AuthPolicy(allow_api_keys=a.auth.allow_api_keys and b.auth.allow_api_keys),
        operations=OperationsPolicy(
            allow_without_guardrail=_intersect(
                a.operations.allow_without_guardrail, b.operations.allow_without_guardrail
            )
            or (),
        ),
        # Digests are keyed HMACs, never content: asking for them adds audit
        # evidence without exposing text, and an org that mandates them must
        # not be overridden by an application. So "digest" wins either way.
        audit=AuditPolicy(
            content="digest" if "digest" in (a.audit.content, b.audit.content) else "none"
        ),
        # The release names the org file: the left (org) layer's is reported.
        release=a.release,
    )
