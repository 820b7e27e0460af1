"""The pure policy engine: ``evaluate(policy, call) -> Decision``.

No botocore import, no I/O. The adapter builds a :class:`Call` (operation, region,
parameters, auth kind, and the inference profiles it resolved beforehand), the engine
returns a :class:`Decision`: the parameters to send, the :class:`Change` list (attach the
mandated guardrail, map a model to its inference profile) and the :class:`Violation` list.
The engine does not look at the mode: the adapter applies changes and refuses violations
in ``enforce`` mode, and records both (sending the caller's own parameters) in
``log_only`` mode.

What applies to which operation, and every rule id, is documented in ``docs/rules.md``.
Policies are compiled once (globs, sets, known profiles) and cached per policy object, so
a typical call evaluates in a few microseconds.

The package's modules: ``_types`` (Call, Decision, Violation, Change, ResolvedProfile,
outcome), ``_compiler`` (a policy compiled once), ``_routes`` (inference-profile mapping
and which profiles need routes), ``_evaluation`` (the rules, one method per family),
``_evaluate`` (``evaluate`` and ``evaluate_before_resolution``) and ``_fastpath`` (a
client's cache of decisions for repeated call shapes).
"""

# Private names the engine's own tests read (the compiled-policy cache and its parts).
from .._operations import GUARDRAIL_CAPABLE_OPERATIONS, GUARDRAIL_INCAPABLE_OPERATIONS
from ._compiler import _cache as _cache
from ._compiler import _compile as _compile
from ._compiler import _compile_known as _compile_known
from ._compiler import _compiled as _compiled
from ._evaluate import evaluate, evaluate_before_resolution
from ._fastpath import DecisionCache
from ._routes import mapped_profiles_to_resolve, profiles_to_resolve, routes_matter
from ._types import (
    RULE_IDS,
    AuthKind,
    Call,
    Change,
    Decision,
    ResolvedProfile,
    Violation,
    new_call,
    outcome,
)

__all__ = [
    "GUARDRAIL_CAPABLE_OPERATIONS",
    "GUARDRAIL_INCAPABLE_OPERATIONS",
    "RULE_IDS",
    "AuthKind",
    "Call",
    "Change",
    "Decision",
    "DecisionCache",
    "ResolvedProfile",
    "Violation",
    "evaluate",
    "evaluate_before_resolution",
    "mapped_profiles_to_resolve",
    "new_call",
    "outcome",
    "profiles_to_resolve",
    "routes_matter",
]
