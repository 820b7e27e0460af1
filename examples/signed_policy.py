"""An org policy file with an Ed25519 signature: how a platform team ships it.

1. make a key pair (once; the private key stays in the release pipeline);
2. sign the policy file (writes ``policy.toml.sig`` next to it);
3. on every host: ``SECUREBEDROCK_POLICY_FILE`` and ``SECUREBEDROCK_POLICY_PUBLIC_KEY``;
4. application code is unchanged: ``securebedrock.client()`` finds, verifies and
   enforces the file, and refuses to start if the file was tampered with.

Run it: ``python examples/signed_policy.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import securebedrock
from securebedrock._cli import main as securebedrock_cli
from securebedrock.testing import EmbeddedBedrock, GuardrailSpec

# --8<-- [start:policy]
ORG_POLICY = """\
version = 1

[tls]
minimum_version = "1.3"

[guardrail]
identifier = "gr0signed001"
version = "1"

[regions]
allowed = ["us-east-1"]
"""
# --8<-- [end:policy]


def converse(client: Any) -> str:
    """One Converse call; returns the stop reason."""
    response = client.converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "Hello"}]}],
    )
    return str(response["stopReason"])


def main() -> None:
    """Sign a policy, enforce it, then show that a tampered copy is refused."""
    guardrail = GuardrailSpec(identifier="gr0signed001", version="1")
    with EmbeddedBedrock(guardrails=[guardrail]) as server, tempfile.TemporaryDirectory() as tmp:
        etc = Path(tmp)
        policy_file = etc / "policy.toml"
        # (The endpoint pin is only needed because this demo server is on loopback.)
        policy_file.write_text(
            ORG_POLICY + f'\n[network]\nendpoint_url = "{server.endpoint_url}"\n'
        )

        # --8<-- [start:sign]
        # In the release pipeline (the same commands as `securebedrock policy ...`):
        private_key, public_key = etc / "signing.pem", etc / "signing.pub.pem"
        keygen = ["--out-private", str(private_key), "--out-public", str(public_key)]
        securebedrock_cli(["policy", "keygen", *keygen])
        securebedrock_cli(
            ["policy", "sign", "--policy-file", str(policy_file), "--private-key", str(private_key)]
        )

        # On every host (e.g. in the container image or the systemd unit):
        os.environ["SECUREBEDROCK_POLICY_FILE"] = str(policy_file)
        os.environ["SECUREBEDROCK_POLICY_PUBLIC_KEY"] = str(public_key)
        # --8<-- [end:sign]

        # --8<-- [start:client]
        client = securebedrock.client(**server.client_kwargs())  # no policy in the code
        # --8<-- [end:client]
        print("signed policy enforced; stop reason:", converse(client))
        print("guardrail on the wire:", server.requests[-1].json["guardrailConfig"])

        # Someone edits the file on the host: clients refuse to start (fail closed).
        policy_file.write_text(policy_file.read_text().replace('"1.3"', '"1.2"'))
        try:
            securebedrock.client(**server.client_kwargs())
        except securebedrock.PolicyConfigError as refused:
            print("tampered policy refused:", refused.summary)


if __name__ == "__main__":
    main()
