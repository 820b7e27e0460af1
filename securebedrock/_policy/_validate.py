"""Validators: each checks one kind of value and raises a :class:`PolicyConfigError`
naming the key path, the value found, what is expected and how to fix it."""

from __future__ import annotations

import ipaddress
import json
import reprlib
import types
from collections.abc import Callable, Iterable, Mapping

from .. import _urls
from .._errors import PolicyConfigError
from .._modelid import GEOGRAPHIES
from .._operations import OPERATION_NAMES
from .._toml import toml_key as _key
from ._schema import (
    _FOUNDATION_MODEL_ARN_RE,
    _MODEL_KEY_RE,
    _PROFILE_ARN_RE,
    _PROFILE_ID_RE,
    MAX_DEPTH,
    REGION_RE,
    SCHEMA_VERSION,
    SERVICE_TIERS,
)

# Renders found values for error messages without unbounded recursion or length.
_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = 120
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 12


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
    if not REGION_RE.fullmatch(item):
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


def _repath(exc: PolicyConfigError, old: str, new: str) -> PolicyConfigError:
    summary = exc.summary.replace(f"[{old}", f"[{new}", 1)
    path = (exc.path or "").replace(old, new, 1)
    return PolicyConfigError(
        summary, path=path, found=exc.found, expected=exc.expected, fix=exc.fix
    )


def _check_schema_version(value: object, fix: str) -> None:
    """Refuse any schema version but the one this library reads."""
    if type(value) is not int or value != SCHEMA_VERSION:
        raise _err(
            "version",
            "unsupported policy schema version",
            value,
            f"the integer {SCHEMA_VERSION}",
            fix,
        )


def _set(obj: object, name: str, value: object) -> None:
    # Normalising a frozen dataclass in __post_init__ is the one place we write to it.
    object.__setattr__(obj, name, value)
