"""Policy documents in and out: TOML text and bytes, file-shaped mappings, and TOML rendering."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import PolicyConfigError
from .._release import release_from
from .._toml import toml_key as _key
from .._toml import toml_string as _toml_string
from .._toml import toml_value, tomllib
from ._combine import init_value, is_derived, omitted_when_empty, sections
from ._inference_profile import KnownProfile
from ._schema import MODES, SCHEMA_VERSION
from ._validate import _check_depth, _check_schema_version, _choice, _freeze_map, _reject_unknown

if TYPE_CHECKING:
    from ._model import Policy

_P = TypeVar("_P", bound="Policy")


def parse_toml(text: str) -> dict[str, Any]:
    """A TOML document as a mapping; syntax errors as :class:`PolicyConfigError`."""
    if not isinstance(text, str):
        raise PolicyConfigError(
            "policy text must be a str",
            found=type(text).__name__,
            expected="str",
            fix="decode the file as UTF-8 first",
        )
    try:
        document: dict[str, Any] = tomllib.loads(text)
        return document
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


def policy_from_bytes(cls: type[_P], data: bytes, source: str) -> _P:
    """Parse policy file bytes (UTF-8); errors without a key name ``source``."""
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
        return cls.from_toml(text)  # type: ignore[return-value]
    except PolicyConfigError as exc:
        if exc.path is None and exc.found is not None and source != "<bytes>":
            raise PolicyConfigError(
                exc.summary, found=f"{source}: {exc.found}", expected=exc.expected, fix=exc.fix
            ) from None
        raise


def policy_from_dict(cls: type[_P], document: Mapping[str, Any]) -> _P:
    """Validate a file-shaped mapping and build ``cls`` from exactly the keys it writes."""
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
    # Check first: a future schema's keys would otherwise look "unknown".
    _check_schema_version(
        version, f"write `version = {SCHEMA_VERSION}` (this library reads schema 1)"
    )
    # The top-level keys, in the order the error message lists them.
    _reject_unknown(document, ("version", "mode", "release", *sections(cls)), "")
    if "release" in document:
        kwargs["release"] = release_from(document["release"])
    if "mode" in document:
        kwargs["mode"] = _choice(document["mode"], "mode", MODES)
    for name, section_cls in sections(cls).items():
        if name not in document:
            continue
        table = _freeze_map(document[name], name)
        names = [f.name for f in fields(section_cls) if f.init]
        _reject_unknown(table, names, name)
        if name == "inference_profile":
            for sub in ("map", "regional_map", "known"):
                if sub in table:
                    table[sub] = _freeze_map(table[sub], f"inference_profile.{sub}")
        kwargs[name] = section_cls(**table)
    return cls(**kwargs)


def _plain(value: object) -> Any:
    """A section value as JSON-compatible data (tuples as lists, tables as dicts)."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return {
            k: (
                {"models": list(v.models)}
                if isinstance(v, KnownProfile)
                else dict(v)
                if isinstance(v, Mapping)
                else v
            )
            for k, v in value.items()
        }
    return value


def section_to_dict(section: object) -> dict[str, Any]:
    """A section's keys as a file writes them: unrestricted (``None``) keys and keys
    declared ``omit_when_empty`` that are empty are left out."""
    out: dict[str, Any] = {}
    for f in fields(section):  # type: ignore[arg-type]
        if is_derived(f):
            continue
        value = init_value(section, f)
        if value is None or (omitted_when_empty(f) and not value):
            continue
        out[f.name] = _plain(value)
    return out


def policy_to_dict(policy: Policy) -> dict[str, Any]:
    """The policy as a file-shaped, JSON-compatible dict (see :meth:`Policy.to_dict`)."""
    out: dict[str, Any] = {"version": policy.version, "mode": policy.mode}
    for name in sections(type(policy)):
        out[name] = section_to_dict(getattr(policy, name))
    if policy.release is not None:
        out["release"] = policy.release.to_dict()
    return out


def policy_to_toml(policy: Policy) -> str:
    """The policy as a TOML document that :meth:`Policy.from_toml` reads back."""
    lines = [f"version = {policy.version}", f"mode = {_toml_string(policy.mode)}"]
    for name, table in policy.to_dict().items():
        if not isinstance(table, dict) or not table:
            continue
        if name == "release" and policy.release is not None:
            lines.extend(["", "[release]", *policy.release.to_toml_lines()])
            continue
        lines.append("")
        lines.append(f"[{name}]")
        nested: list[tuple[str, dict[str, Any]]] = []
        for key, value in table.items():
            if key == "known":
                nested.extend((k, v) for k, v in value.items())
                continue
            lines.append(f"{key} = {toml_value(value)}")
        for profile, entry in nested:
            lines.append("")
            lines.append(f"[{_key('inference_profile.known', profile)}]")
            lines.append(f"models = {toml_value(entry['models'])}")
    return "\n".join(lines) + "\n"


def policy_keys(policy: Policy) -> Iterator[tuple[str, str, str | None]]:
    """Every key of ``policy`` in file order, as ``(table, key, TOML value)``.

    ``table`` is ``""`` for the top-level keys (``version``, ``mode``), then each
    section and ``release`` when the policy has one. The value is ``None`` for an
    unrestricted allow-list (a key that is not set and allows anything). Used by
    ``securebedrock policy show`` to annotate each key with its source.
    """
    document = policy.to_dict()
    for key in ("version", "mode"):
        yield "", key, toml_value(document[key])
    for name, table in document.items():
        if not isinstance(table, dict):
            continue
        section = getattr(policy, name)
        for f in fields(section):
            if not f.init:
                continue
            if name == "release" and f.name == "expires" and f.name in table:
                yield name, f.name, str(table[f.name])  # a TOML datetime, unquoted
            elif f.name in table:
                yield name, f.name, toml_value(table[f.name])
            elif isinstance(getattr(section, f.name), Mapping):
                yield name, f.name, "{}"  # an empty per-region table
            else:
                yield name, f.name, None
