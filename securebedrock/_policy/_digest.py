"""The policy digest: SHA-256 of the canonical JSON form of the rules a policy enforces."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def policy_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``document`` (a :meth:`Policy.to_dict`) without its ``[release]``.

    Sorted keys, no whitespace, ASCII only: stable across key order, whitespace and
    comments of the file. The release is left out: the digest names the rules
    enforced, so two releases with the same rules share it.
    """
    canonical_form = {k: v for k, v in document.items() if k != "release"}
    canonical = json.dumps(canonical_form, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
