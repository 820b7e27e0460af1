"""Finding the effective policy: org file, then code, then environment.

Precedence (each layer can only tighten the one before it):

1. the **org policy file**: ``$SECUREBEDROCK_POLICY_FILE`` when set (it must
   exist and be readable: fail closed), else ``/etc/securebedrock/policy.toml``
   when that file exists, else :meth:`Policy.default`;
   when the trust anchor ``/etc/securebedrock/trusted_keys.pem`` exists, the
   file must carry a valid Ed25519 signature (``<file>.sig``) by one of its
   keys whatever the environment says; without an anchor, the same holds when
   ``$SECUREBEDROCK_POLICY_PUBLIC_KEY`` is set; in both cases a file must exist
   at all. A file with a ``[release]`` is refused when it has expired or when
   its serial is lower than the highest this host accepted (:mod:`._rollback`);
2. the **code policy** (``policy=`` of ``client()``, ``Session()``, ``secure()``)
   is an overlay on the org file: ``org.merge(code)``, where only the keys the
   code policy sets take part (each may only tighten) and every other key is
   the org file's. Without an org file the code policy is used as it is (the
   defaults are not a floor). Only the org layer may pin an endpoint outside
   AWS: a pin in the code policy must be a Bedrock host (the org layer's host
   rule) or the org's own pin;
3. ``$SECUREBEDROCK_MODE`` may only climb the ladder ``log_only`` < ``apply`` <
   ``enforce``: ``enforce`` turns ``log_only``/``apply`` into ``enforce``,
   ``apply`` turns ``log_only`` into ``apply``; a value below the policy's
   mode is a :class:`PolicyConfigError` (it would loosen; a loud refusal beats
   a silent ignore), the same value changes nothing. Any other value is an error.

All of this runs once, when a client or session is constructed: the per-call
path never reads a file or checks a signature. The verified, parsed org policy
is cached by (path, device, inode, mtime, size, signature file, trusted keys),
so constructing many clients reads the file once; an edited file is re-read.
The expiry and the host's release mark are checked at every construction (the
mark is cached by the state file's identity).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _env, _netcheck, _release, _rollback, _signing, _trust, _urls
from ._constants import (
    CONTROL_PLANE_SERVICE_NAME,
    DEFAULT_POLICY_FILE,
    ENV_MODE,
    ENV_POLICY_FILE,
    ENV_POLICY_PUBLIC_KEY,
    SERVICE_NAME,
)
from ._errors import PolicyConfigError
from ._policy import MODE_LADDER, Policy
from ._toml import tomllib

__all__ = [
    "DEFAULT_POLICY_FILE",
    "Explanation",
    "Layer",
    "OrgVerification",
    "clear_cache",
    "effective_policy",
    "explain",
    "org_policy_path",
]

SOURCE_DEFAULT = "default"
SOURCE_CODE = "code"
SOURCE_ENV_MODE = f"environment ({ENV_MODE})"

_cache_lock = threading.Lock()
_cache: dict[tuple[Any, ...], tuple[Policy, bytes, _signing.Verification | None]] = {}
_CACHE_LIMIT = 32
_log = logging.getLogger("securebedrock.policy")


@dataclass(frozen=True, kw_only=True)
class OrgVerification:
    """How the org file was accepted: who signed it, and the host's release mark."""

    signature: _signing.Verification | None
    serial: _rollback.SerialCheck | None


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One step of the precedence chain: where a policy came from, and the policy.

    ``verification`` is set on the org file's layer.
    """

    source: str
    policy: Policy
    verification: OrgVerification | None = None


@dataclass(frozen=True, kw_only=True)
class Explanation:
    """The effective policy, the layers it was built from, and where each value came from.

    ``sources`` maps a dotted key path (``tls.minimum_version``) to the label
    of the layer that set its effective value (``default``, ``org file (...)``,
    ``code``, ``environment (SECUREBEDROCK_MODE)``).
    """

    policy: Policy
    layers: tuple[Layer, ...]
    sources: Mapping[str, str]


def clear_cache() -> None:
    """Forget cached org policies (tests; a long-lived process that rotates keys)."""
    with _cache_lock:
        _cache.clear()
    _rollback.clear_cache()


def org_policy_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The org policy file to use, or ``None`` when there is none.

    ``$SECUREBEDROCK_POLICY_FILE`` must name a file (set but empty is an error:
    a templating slip must not silently drop the org policy); the default path
    is used only when it exists.
    """
    value = _env.setting(ENV_POLICY_FILE, environ, expected="the path of a policy file")
    if value is not None:
        return Path(value)
    # Looked up at call time, so tests can monkeypatch ``_discovery.DEFAULT_POLICY_FILE``.
    default = Path(DEFAULT_POLICY_FILE)
    return default if default.exists() else None


def _public_key_value(env: Mapping[str, str]) -> str | None:
    return _env.setting(
        ENV_POLICY_PUBLIC_KEY, env, expected="a PEM Ed25519 public key, or the path of one"
    )


@dataclass(frozen=True, kw_only=True)
class _Trust:
    """Where the trusted keys come from: the anchor file, or the environment variable."""

    anchor: Path | None
    env_value: str | None
    legacy: bool

    @property
    def required(self) -> bool:
        return self.anchor is not None or self.env_value is not None

    def describe(self) -> str:
        if self.anchor is not None:
            return f"the trust anchor {self.anchor} exists"
        return f"{ENV_POLICY_PUBLIC_KEY} is set"

    def cache_key(self) -> tuple[Any, ...]:
        if self.anchor is not None:
            return ("anchor", _trust.anchor_identity(self.anchor), self.legacy)
        key_stat = None
        if self.env_value is not None and "-----BEGIN" not in self.env_value:
            key_stat = _stat_key(Path(self.env_value))
        return ("env", self.env_value, key_stat, self.legacy)

    def keys(self) -> list[_trust.TrustedKey] | None:
        if self.anchor is not None:
            if self.env_value is not None:
                # Whoever controls the environment must not choose the signer.
                _log.warning(
                    "securebedrock: %s is ignored: the trust anchor %s decides which keys "
                    "may sign the org policy",
                    ENV_POLICY_PUBLIC_KEY,
                    self.anchor,
                )
            return list(_trust.load_anchor(self.anchor))
        if self.env_value is not None:
            return [_trust.trusted(_signing.load_public_key(self.env_value), ENV_POLICY_PUBLIC_KEY)]
        return None


def _trust_config(env: Mapping[str, str]) -> _Trust:
    """The anchor decides when it exists; no environment variable can switch it off."""
    return _Trust(
        anchor=_trust.anchor_path(),
        env_value=_public_key_value(env),
        legacy=_signing.allow_legacy(env),
    )


def _accept_release(
    policy: Policy,
    verification: _signing.Verification | None,
    path: Path,
    env: Mapping[str, str],
    *,
    record: bool,
) -> OrgVerification:
    """Refuse an expired release or one older than this host accepted; record a newer one."""
    _release.check_not_expired(policy.release, source=str(path))
    serial = _rollback.check_serial(
        policy.release,
        signed=verification is not None,
        environ=env,
        source=str(path),
        record=record,
    )
    return OrgVerification(signature=verification, serial=serial)


def _refuse_code_release(code_policy: Policy | None) -> None:
    """A release names an org file: a code policy carrying one is a mistake, not a floor."""
    if code_policy is not None and code_policy.release is not None:
        raise PolicyConfigError(
            "a code policy cannot carry [release]",
            path="release",
            found=f"policy= has {code_policy.release.describe()}",
            expected="[release] only in the org policy file, which is signed and shipped to hosts",
            fix="remove [release] from the policy passed in code (releases, serials and "
            "expiry belong to the org file)",
        )


def _stat_key(path: Path) -> tuple[Any, ...] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _load_org(path: Path, trust: _Trust) -> tuple[Policy, bytes, _signing.Verification | None]:
    """Read, verify and parse the org file (cached by file identity and trusted keys)."""
    cache_key = (
        str(path.resolve()) if path.exists() else str(path),
        _stat_key(path),
        _stat_key(_signing.signature_path(path)),
        trust.cache_key(),
    )
    if cache_key[1] is not None:
        with _cache_lock:
            cached = _cache.get(cache_key)
        if cached is not None:
            return cached
    data, verification = _signing.read_verified_by(path, trust.keys(), legacy=trust.legacy)
    policy = Policy.from_bytes(data, source=str(path))
    if cache_key[1] is not None:
        with _cache_lock:
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[cache_key] = (policy, data, verification)
    return policy, data, verification


def _org_layer(
    env: Mapping[str, str], file_override: str | Path | None
) -> tuple[Layer | None, bytes | None]:
    path = Path(file_override) if file_override is not None else org_policy_path(env)
    trust = _trust_config(env)
    if path is None:
        if trust.required:
            raise PolicyConfigError(
                "a signed org policy is required but there is no policy file",
                found=f"{trust.describe()}; {ENV_POLICY_FILE} is not set and "
                f"{DEFAULT_POLICY_FILE} does not exist",
                expected="a signed policy file",
                fix=f"install the signed policy at {DEFAULT_POLICY_FILE} or set "
                f"{ENV_POLICY_FILE}"
                + ("" if trust.anchor is not None else f"; or unset {ENV_POLICY_PUBLIC_KEY}"),
            )
        return None, None
    policy, data, signature = _load_org(path, trust)
    # A file named explicitly (policy show/doctor --policy-file) is previewed: its
    # serial is checked, never recorded, so previewing a release cannot lock the
    # host out of the one installed.
    verification = _accept_release(policy, signature, path, env, record=file_override is None)
    return Layer(source=f"org file ({path})", policy=policy, verification=verification), data


def _apply_env_mode(policy: Policy, env: Mapping[str, str]) -> Policy:
    value = _env.mode(env)
    if value is None:
        return policy
    if MODE_LADDER.index(value) < MODE_LADDER.index(policy.mode):
        tighter = MODE_LADDER[MODE_LADDER.index(policy.mode) :]
        raise PolicyConfigError(
            "the environment may only tighten the policy mode",
            found=f'{ENV_MODE}={value} over a policy in "{policy.mode}" mode',
            expected=f"{ENV_MODE} unset or one of "
            + ", ".join(f'"{mode}"' for mode in tighter)
            + f' ("{value}" only where the policy itself says so)',
            fix=f'unset {ENV_MODE}, or ship a policy file with mode = "{value}" for a '
            "staged rollout",
        )
    if value == policy.mode:
        return policy
    return dataclasses.replace(policy, mode=value)


def _host(url: str) -> str:
    # The parser that opens the socket (the policy validated the URL already).
    parsed = _urls.read_endpoint(url)
    return parsed.host if isinstance(parsed, _urls.EndpointURL) else ""


def _check_code_pins(org: Policy | None, code: Policy) -> None:
    """Only the org layer may pin an endpoint outside AWS.

    A pin in the code policy must be the org's own pin for that key, or a
    Bedrock runtime host name (regional, FIPS, dual-stack or ``vpce-``) --
    of the table's region for ``endpoint_urls`` entries; the transport checks
    the client's region for ``endpoint_url`` once it is known. Anything else
    (a proxy, a gateway, a test server) would skip the host rule the org layer
    relies on, so it is a :class:`PolicyConfigError` naming the key.
    """
    network = code.network
    org_network = org.network if org is not None else None
    pins: list[tuple[str, str, str | None, str]] = []
    if network.endpoint_url:
        org_pin = org_network.endpoint_url if org_network is not None else ""
        pins.append(("network.endpoint_url", network.endpoint_url, None, org_pin))
    for table_region, table_url in network.endpoint_urls.items():
        org_pin = org_network.endpoint_for(table_region) if org_network is not None else ""
        pins.append((f"network.endpoint_urls.{table_region}", table_url, table_region, org_pin))
    if network.control_plane_endpoint_url:
        org_pin = org_network.control_plane_endpoint_url if org_network is not None else ""
        pins.append(
            (
                "network.control_plane_endpoint_url",
                network.control_plane_endpoint_url,
                None,
                org_pin,
            )
        )
    for table_region, table_url in network.control_plane_endpoint_urls.items():
        org_pin = (
            org_network.control_plane_endpoint_for(table_region) if org_network is not None else ""
        )
        path = f"network.control_plane_endpoint_urls.{table_region}"
        pins.append((path, table_url, table_region, org_pin))
    for path, url, region, org_pin in pins:
        if org_pin and _urls.same_endpoint(url, org_pin):
            continue
        service = CONTROL_PLANE_SERVICE_NAME if "control_plane" in path else SERVICE_NAME
        classified = _netcheck.classify_service_host(_host(url), service)
        if classified is not None and (region is None or classified[0] == region):
            continue
        where = f" of region {region}" if region else ""
        raise PolicyConfigError(
            "only the org policy file may pin an endpoint outside AWS",
            path=path,
            found=f"{url!r} in the code policy (policy=); the org policy pins "
            + (repr(org_pin) if org_pin else "nothing")
            + (f" there; {_host(url)!r} is a host of region {classified[0]}" if classified else ""),
            expected=f"a {service} host name{where} ({service}[-fips].<region>."
            f"amazonaws.com, or vpce-....{service}.<region>.vpce.amazonaws.com), or "
            "the org policy's own pin",
            fix="pin other endpoints (proxies, gateways, test servers) in the org policy "
            "file; in tests, create the client inside EmbeddedBedrock.org_policy()",
        )


def _layers(
    code_policy: Policy | None,
    environ: Mapping[str, str] | None,
    file_override: str | Path | None,
) -> tuple[list[Layer], Policy, bytes | None]:
    env = _env.source(environ)
    if code_policy is not None and not isinstance(code_policy, Policy):
        raise PolicyConfigError(
            "policy= must be a securebedrock.Policy",
            found=type(code_policy).__name__,
            expected="Policy (Policy.from_file(...), Policy.from_toml(...), Policy(...))",
            fix="build the policy with securebedrock.Policy",
        )
    _refuse_code_release(code_policy)
    layers = [Layer(source=SOURCE_DEFAULT, policy=Policy.default())]
    org, data = _org_layer(env, file_override)
    effective = layers[0].policy
    if org is not None:
        layers.append(org)
        effective = org.policy
    if code_policy is not None:
        _check_code_pins(org.policy if org is not None else None, code_policy)
        layers.append(Layer(source=SOURCE_CODE, policy=code_policy))
        # The defaults are not a floor: without an org file the code policy is the
        # policy (so code may opt in to cross-region, a proxy, its own CIDRs).
        effective = effective.merge(code_policy) if org is not None else code_policy
    moded = _apply_env_mode(effective, env)
    if moded is not effective:
        layers.append(Layer(source=SOURCE_ENV_MODE, policy=moded))
    return layers, moded, data


def effective_policy(
    code_policy: Policy | None, *, environ: Mapping[str, str] | None = None
) -> Policy:
    """The policy a new client enforces: org file, merged with ``code_policy``, then env.

    Raises :class:`PolicyConfigError` when the org file is missing (named by the
    environment), unreadable, unsigned or badly signed (with a public key set),
    invalid, in conflict with ``code_policy``, or when ``SECUREBEDROCK_MODE``
    would loosen it.
    """
    return _layers(code_policy, environ, None)[1]


def _leaves(document: Mapping[str, Any], parent: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in document.items():
        path = f"{parent}.{key}" if parent else key
        if isinstance(value, Mapping) and not parent:
            out.update(_leaves(value, path))
        else:
            out[path] = value
    return out


def explain(
    code_policy: Policy | None = None,
    *,
    file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Explanation:
    """The effective policy with, per key, the layer its value came from.

    ``file`` replaces the discovered org file (``securebedrock policy show --file``).
    A key keeps the label of the last layer that changed its value; keys the
    org file writes explicitly are labelled with the file even when they repeat
    the default.
    """
    layers, effective, data = _layers(code_policy, environ, file)
    explicit: set[str] = set()
    if data is not None:
        raw = tomllib.loads(data.decode("utf-8-sig"))
        explicit = set(_leaves(raw))
    sources: dict[str, str] = {}
    previous: dict[str, Any] = {}
    cumulative = layers[0].policy
    has_org = any(layer.source.startswith("org file") for layer in layers)
    for layer in layers:
        # The code layer holds the code policy itself (merged over an org file, if
        # any); the other layers hold the result so far.
        if layer.source == SOURCE_CODE and has_org:
            cumulative = cumulative.merge(layer.policy)
        else:
            cumulative = layer.policy
        current = _leaves(cumulative.to_dict())
        for key, value in current.items():
            changed = key not in previous or previous[key] != value
            is_org = layer.source.startswith("org file")
            if key not in sources or changed or (is_org and key in explicit):
                sources[key] = layer.source
        for key in previous.keys() - current.keys():
            # An allow-list that became unrestricted never happens (merge only
            # narrows), but a key that vanished is attributed to this layer.
            sources[key] = layer.source
        previous = current
    final = _leaves(effective.to_dict())
    return Explanation(
        policy=effective,
        layers=tuple(layers),
        sources={key: sources.get(key, SOURCE_DEFAULT) for key in final},
    )
