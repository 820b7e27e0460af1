"""Log-only rollout: see what a policy would refuse before it refuses anything.

With ``mode = "log_only"`` every call is sent as the application made it, and
each violation is recorded (audit log record and span) instead of raised.
Once the records are clean, switch to ``enforce`` (or set
``SECUREBEDROCK_MODE=enforce``, which can only tighten).

Run it: ``python examples/log_only_rollout.py``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import securebedrock
from securebedrock.testing import EmbeddedBedrock

# A geography ("us.") inference profile: the call may be served in another region.
CROSS_REGION_MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

# --8<-- [start:policy]
ROLLOUT_POLICY = """
version = 1
mode = "log_only"          # record violations, send anyway

[regions]
allowed = ["us-east-1"]
cross_region = false       # the rule being rolled out
"""
# --8<-- [end:policy]


# --8<-- [start:collect]
class ViolationCollector(logging.Handler):
    """Collects the structured ``securebedrock.audit`` records (no content in them)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.decisions: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        decision = getattr(record, "securebedrock", None)
        if isinstance(decision, dict):
            self.decisions.append(decision)


def watch_audit_log() -> ViolationCollector:
    """Attach a collector to the audit logger (in production: ship it to your log pipeline)."""
    collector = ViolationCollector()
    audit = logging.getLogger("securebedrock.audit")
    audit.setLevel(logging.INFO)
    audit.addHandler(collector)
    return collector


# --8<-- [end:collect]


def converse(client: Any, model_id: str) -> str:
    """One Converse call; returns the stop reason."""
    response = client.converse(
        modelId=model_id, messages=[{"role": "user", "content": [{"text": "Hello"}]}]
    )
    return str(response["stopReason"])


def main() -> None:
    """Ship a log_only org policy, make a cross-region call, then enforce it."""
    collector = watch_audit_log()
    with EmbeddedBedrock() as server, tempfile.TemporaryDirectory() as etc:
        # The platform team ships the policy file; the application code does not change.
        # (The endpoint pin is only needed because this demo server is on loopback.)
        org_file = Path(etc) / "policy.toml"
        org_file.write_text(ROLLOUT_POLICY + f'[network]\nendpoint_url = "{server.endpoint_url}"\n')
        os.environ["SECUREBEDROCK_POLICY_FILE"] = str(org_file)

        client = securebedrock.client(**server.client_kwargs())
        print("log_only: call sent, stop reason", converse(client, CROSS_REGION_MODEL))
        print("log_only: server received", len(server.requests), "request(s)")
        for decision in collector.decisions:
            print(f"  decision={decision['decision']} rules={decision['rules']}")

        # --8<-- [start:enforce]
        # Once the records are clean: enforce (env may only tighten, never loosen).
        os.environ["SECUREBEDROCK_MODE"] = "enforce"
        enforcing = securebedrock.client(**server.client_kwargs())
        # --8<-- [end:enforce]
        try:
            converse(enforcing, CROSS_REGION_MODEL)
        except securebedrock.PolicyViolation as refused:
            print(f"enforce: refused by {refused.rule}; server still has", len(server.requests))


if __name__ == "__main__":
    main()
