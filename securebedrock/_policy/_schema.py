"""The policy vocabulary: schema version, allowed values, and the patterns values must match."""

from __future__ import annotations

import re
from typing import Literal

from .._modelid import GEOGRAPHIES

Mode = Literal["enforce", "apply", "log_only"]
TLSVersion = Literal["1.2", "1.3"]
GuardrailTrace = Literal["enabled", "disabled", "enabled_full"]
AuditContent = Literal["none", "digest"]

DEFAULT_PRIVATE_CIDRS: tuple[str, ...] = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
)

SCHEMA_VERSION = 1
MODES: tuple[str, ...] = ("enforce", "apply", "log_only")
#: The rollout ladder, loosest first: a merge or the environment may only climb it.
MODE_LADDER: tuple[str, ...] = ("log_only", "apply", "enforce")
#: Loosest first: a merge keeps the higher floor.
TLS_VERSIONS: tuple[str, ...] = ("1.2", "1.3")
#: Least evidence first: a merge keeps the most trace either side asks for.
GUARDRAIL_TRACES: tuple[str, ...] = ("disabled", "enabled", "enabled_full")
#: Least evidence first: digests are keyed HMACs, never content, so asking for them adds
#: audit evidence without exposing text, and an application cannot turn off an org's.
AUDIT_CONTENTS: tuple[str, ...] = ("none", "digest")
SERVICE_TIERS: tuple[str, ...] = ("default", "priority", "flex", "reserved")

_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
#: An AWS partition (``aws``, ``aws-us-gov``, ``aws-cn``...).
PARTITION_RE = re.compile(_PARTITION)
# Every pattern below is used with ``fullmatch`` only: ``re.match`` with a ``$`` anchor
# also accepts a trailing newline ("us-east-1\n").
REGION_RE = re.compile(_REGION)
GUARDRAIL_ID_RE = re.compile(r"[a-z0-9]{1,64}")
GUARDRAIL_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:bedrock:{_REGION}:\d{{12}}:guardrail/(?P<id>[a-z0-9]{{1,64}})"
)
GUARDRAIL_VERSION_RE = re.compile(r"[1-9][0-9]{0,7}|DRAFT")
_PROFILE_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:bedrock:{_REGION}:\d{{12}}:"
    r"(?:application-inference-profile/[a-z0-9]{1,64}"
    r"|inference-profile/[A-Za-z0-9][A-Za-z0-9._:-]{0,200})"
)
_PROFILE_ID_RE = re.compile(
    r"(?:" + "|".join(re.escape(g) for g in GEOGRAPHIES) + r")\.[a-z0-9-]+\.[A-Za-z0-9._:-]+"
)
_FOUNDATION_MODEL_ARN_RE = re.compile(
    rf"arn:{_PARTITION}:bedrock:{_REGION}::foundation-model/[A-Za-z0-9][A-Za-z0-9._:-]*"
)
_MODEL_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,2047}")
#: The deepest nesting a policy document may have. The schema needs 5 levels (the
#: document, [inference_profile], known, a profile's table, its models array); anything
#: deeper is invalid anyway, and a bound keeps every walk over the input iterative-safe.
MAX_DEPTH = 16


def guardrail_id(identifier: str) -> str:
    """The guardrail id of an identifier that is either an id or a guardrail ARN."""
    match = GUARDRAIL_ARN_RE.fullmatch(identifier)
    return match.group("id") if match else identifier
