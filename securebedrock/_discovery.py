"""Finding the effective policy: org file, code policy, environment (issue 3 completes this).

INTERIM: returns the code policy or the defaults. Issue 3 replaces it with the
org-file discovery, signature verification and tighten-only merge.
"""

from __future__ import annotations

from ._policy import Policy


def effective_policy(code_policy: Policy | None) -> Policy:
    """The policy a new client enforces: org file, merged with ``code_policy``, then env."""
    return code_policy if code_policy is not None else Policy.default()
