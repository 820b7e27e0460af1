"""Rendering an exported policy, and the size quotas AWS sets for each kind.

Quotas (docs/export.md cites the pages): a service control policy holds at most 5,120
characters, counted as saved (the API and CLI keep white space); an IAM managed policy
6,144 characters, white space not counted; a VPC endpoint policy 20,480 characters.
"""

from __future__ import annotations

import json
from typing import Any, Final

from ._errors import PolicyConfigError

__all__ = ["QUOTAS", "check_size", "render"]

#: Format -> (maximum characters, whether white space counts).
QUOTAS: Final[dict[str, tuple[int, bool]]] = {
    "scp": (5120, True),
    "iam": (6144, False),
    "vpce": (20480, True),
}
_KINDS: Final = {
    "scp": "a service control policy",
    "iam": "an IAM managed policy",
    "vpce": "a VPC endpoint policy",
}


def render(document: Any, *, minify: bool) -> str:
    """The policy JSON: indented for review, or minified (no white space) to attach."""
    if minify:
        return json.dumps(document, separators=(",", ":"))
    return json.dumps(document, indent=2)


def check_size(text: str, fmt: str) -> None:
    """Raise when ``text`` (as it will be saved) is over the quota of ``fmt``."""
    limit, whitespace_counts = QUOTAS[fmt]
    counted = text if whitespace_counts else render(json.loads(text), minify=True)
    if len(counted) <= limit:
        return
    minified = len(render(json.loads(text), minify=True))
    hint = (
        "pass --minify (the minified policy fits)"
        if minified <= limit
        else "narrow the policy (fewer model patterns, regions or exempt principals), or "
        "split the statements across two policies"
    )
    raise PolicyConfigError(
        f"the exported policy is too large for {_KINDS[fmt]}",
        found=f"{len(counted)} characters"
        + ("" if whitespace_counts else " (not counting white space)")
        + f"; minified: {minified}",
        expected=f"at most {limit} characters ({_KINDS[fmt]}'s quota)",
        fix=hint,
    )
