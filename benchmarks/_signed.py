"""A signed org policy file for the client-construction figure.

The file carries the full benchmark policy (pinned to the embedded server);
it is signed with a fresh Ed25519 key through the policy engineer's signing
helpers, and ``SECUREBEDROCK_POLICY_FILE`` / ``SECUREBEDROCK_POLICY_PUBLIC_KEY``
point at it only inside this process, only for that figure.
"""

from __future__ import annotations

import json
import os

from securebedrock import _policy
from securebedrock._constants import ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY, SIGNATURE_SUFFIX


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string


def _toml_list(values: tuple[str, ...] | None) -> str:
    return "[" + ", ".join(_toml_string(value) for value in values or ()) + "]"


def policy_toml(policy: _policy.Policy) -> str:
    """The benchmark policy as a policy file (only the keys it sets)."""
    profile_map = ", ".join(
        f"{_toml_string(model)} = {_toml_string(profile)}"
        for model, profile in policy.inference_profile.map.items()
    )
    lines = [
        "version = 1",
        f'mode = "{policy.mode}"',
        "",
        "[tls]",
        f'minimum_version = "{policy.tls.minimum_version}"',
        "",
        "[network]",
        f"require_private_endpoint = {str(policy.network.require_private_endpoint).lower()}",
        f"allowed_cidrs = {_toml_list(policy.network.allowed_cidrs)}",
        f"endpoint_url = {_toml_string(policy.network.endpoint_url)}",
        "",
        "[guardrail]",
        f"identifier = {_toml_string(policy.guardrail.identifier)}",
        f"version = {_toml_string(policy.guardrail.version)}",
        f'trace = "{policy.guardrail.trace}"',
        "",
        "[inference_profile]",
        f"map = {{ {profile_map} }}",
    ]
    for arn, known in policy.inference_profile.known.items():
        lines += ["", f"[inference_profile.known.{_toml_string(arn)}]"]
        lines.append(f"models = {_toml_list(known.models)}")
    lines += [
        "",
        "[regions]",
        f"allowed = {_toml_list(policy.regions.allowed)}",
        "",
        "[models]",
        f"allow = {_toml_list(policy.models.allow)}",
        "",
    ]
    return "\n".join(lines)


def signed_policy_env(policy: _policy.Policy, directory: str) -> dict[str, str]:
    """Write, sign and return the environment that makes every new client verify the file."""
    from securebedrock import _signing

    path = os.path.join(directory, "policy.toml")
    key_path = os.path.join(directory, "policy-public.pem")
    text = policy_toml(policy)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    private_pem, public_pem = _signing.generate_keypair()
    signature = _signing.sign(text.encode("utf-8"), _signing.load_private_key(private_pem))
    with open(path + SIGNATURE_SUFFIX, "wb") as handle:
        handle.write(signature)
    with open(key_path, "wb") as handle:
        handle.write(public_pem)
    return {ENV_POLICY_FILE: path, ENV_POLICY_PUBLIC_KEY: key_path}
