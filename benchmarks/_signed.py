"""The signed org policy file every secured client of the benchmark enforces.

The file carries the full benchmark policy (pinned to the embedded server),
written by ``Policy.to_toml()`` and signed with a fresh Ed25519 key through
``securebedrock._signing``; ``SECUREBEDROCK_POLICY_FILE`` and
``SECUREBEDROCK_POLICY_PUBLIC_KEY`` point at it inside the benchmark process
only, while the benchmark runs.
"""

from __future__ import annotations

import os

from securebedrock import _policy
from securebedrock._constants import ENV_POLICY_FILE, ENV_POLICY_PUBLIC_KEY, SIGNATURE_SUFFIX


def signed_policy_env(policy: _policy.Policy, directory: str) -> dict[str, str]:
    """Write, sign and return the environment that makes every new client verify the file."""
    from securebedrock import _signing

    path = os.path.join(directory, "policy.toml")
    key_path = os.path.join(directory, "policy-public.pem")
    text = policy.to_toml()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    private_pem, public_pem = _signing.generate_keypair()
    signature = _signing.sign(text.encode("utf-8"), _signing.load_private_key(private_pem))
    with open(path + SIGNATURE_SUFFIX, "wb") as handle:
        handle.write(signature)
    with open(key_path, "wb") as handle:
        handle.write(public_pem)
    return {ENV_POLICY_FILE: path, ENV_POLICY_PUBLIC_KEY: key_path}
