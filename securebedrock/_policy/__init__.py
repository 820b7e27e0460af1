"""The policy model: frozen, keyword-only dataclasses mirroring the TOML file.

CONTRACT (other modules depend on these attribute names and types):
- collections are tuples (ordered, hashable); mappings are ``types.MappingProxyType``
- ``None`` on an allow-list means "the key was absent: anything is allowed";
  an empty tuple means "present but empty: nothing is allowed".

Every value is validated when a dataclass is constructed (from a file or from
code), so a ``Policy`` that exists is a valid one. Errors are
:class:`PolicyConfigError` naming the key path (``guardrail.version``), the
value found, what is expected and how to fix it.

Normalisation on construction (semantics never change, representations become
canonical so that ``a.merge(a) == a`` and digests are stable):

- lists become tuples with duplicates removed (first occurrence kept, order kept);
- CIDRs are written in their canonical form (``fc00:0::/7`` -> ``fc00::/7``);
- ``models.allow`` drops a pattern that another pattern of the same list
  already covers (``anthropic.claude-v2`` next to ``anthropic.*``);
- ``inference_profile.known`` model lists are sorted.

The modules, each with one job:

- ``_schema``: the vocabulary (modes, TLS versions, tiers, id patterns);
- ``_validate``: one validator per kind of value;
- ``_lattice``: the orders a merge tightens along (globs, CIDRs, lists);
- ``_combine``: the merge rule each key declares in its field metadata, and
  the one walk that applies them; ``_compare``: which way a change of a key
  goes (``policy diff``), carried by the same rules;
- ``_setkeys``: which keys a policy sets (an overlay merges only those);
- ``_network``, ``_guardrail``, ``_inference_profile``, ``_sections``: the sections;
- ``_model``: :class:`Policy`; ``_merge``: the overlay; ``_io``: TOML and
  mappings in and out; ``_digest``: the digest.

A new key is one field in its section, declared with its rule
(``field(default=..., metadata=key_rule(...))``) and validated in the section's
``__post_init__``; parsing, rendering, the digest, the merge, the overlay and
``policy diff`` follow from the field (and docs/policy.md documents it).

Private names other modules and tests imported when this was one module stay
reachable here (``_SECTIONS``, ``_antichain``, the id patterns).
"""

from __future__ import annotations

from .._modelid import GEOGRAPHIES
from .._release import ReleasePolicy
from .._toml import toml_value
from . import _combine, _lattice, _schema
from ._compare import Direction
from ._guardrail import GuardrailPolicy
from ._inference_profile import InferenceProfilePolicy, KnownProfile
from ._io import policy_keys
from ._lattice import model_pattern_covers
from ._model import Policy, change_direction
from ._network import NetworkPolicy, TLSPolicy
from ._schema import (
    AUDIT_CONTENTS,
    DEFAULT_PRIVATE_CIDRS,
    GUARDRAIL_ARN_RE,
    GUARDRAIL_ID_RE,
    GUARDRAIL_TRACES,
    GUARDRAIL_VERSION_RE,
    MAX_DEPTH,
    MODE_LADDER,
    MODES,
    PARTITION_RE,
    REGION_RE,
    SCHEMA_VERSION,
    SERVICE_TIERS,
    TLS_VERSIONS,
    AuditContent,
    GuardrailTrace,
    Mode,
    TLSVersion,
    guardrail_id,
)
from ._sections import (
    AuditPolicy,
    AuthPolicy,
    ModelsPolicy,
    OperationsPolicy,
    RegionsPolicy,
    ServiceTierPolicy,
)

__all__ = [
    "AUDIT_CONTENTS",
    "DEFAULT_PRIVATE_CIDRS",
    "GEOGRAPHIES",
    "GUARDRAIL_ARN_RE",
    "GUARDRAIL_ID_RE",
    "GUARDRAIL_VERSION_RE",
    "GUARDRAIL_TRACES",
    "MAX_DEPTH",
    "MODES",
    "MODE_LADDER",
    "PARTITION_RE",
    "REGION_RE",
    "SCHEMA_VERSION",
    "SERVICE_TIERS",
    "TLS_VERSIONS",
    "AuditContent",
    "AuditPolicy",
    "AuthPolicy",
    "Direction",
    "GuardrailPolicy",
    "GuardrailTrace",
    "InferenceProfilePolicy",
    "KnownProfile",
    "Mode",
    "ModelsPolicy",
    "NetworkPolicy",
    "OperationsPolicy",
    "Policy",
    "RegionsPolicy",
    "ReleasePolicy",
    "ServiceTierPolicy",
    "TLSPolicy",
    "TLSVersion",
    "change_direction",
    "guardrail_id",
    "model_pattern_covers",
    "policy_keys",
    "toml_value",
]

# Private names other modules and tests imported when this was one module.
_GUARDRAIL_ARN_RE = GUARDRAIL_ARN_RE
_GUARDRAIL_ID_RE = GUARDRAIL_ID_RE
_GUARDRAIL_VERSION_RE = GUARDRAIL_VERSION_RE
_PARTITION = _schema._PARTITION
_REGION_RE = REGION_RE
_SECTIONS = _combine.sections(Policy)
_antichain = _lattice._antichain
_toml_value = toml_value
