"""``[guardrail]``: the guardrail mandated on every inference call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from . import _compare
from ._combine import DERIVED, INTERSECT_MODELS, MergeRule, Site, conflict, key_rule, ladder
from ._lattice import _antichain
from ._schema import (
    GUARDRAIL_ARN_RE,
    GUARDRAIL_ID_RE,
    GUARDRAIL_TRACES,
    GUARDRAIL_VERSION_RE,
    GuardrailTrace,
    guardrail_id,
)
from ._setkeys import _tracks_set_keys
from ._validate import _check_glob, _choice, _err, _set, _string_list


def _versions(accepted: tuple[str, ...]) -> Any:
    """``version`` as the constructor takes it: one string, or the list during a change."""
    return list(accepted) if len(accepted) > 1 else (accepted[0] if accepted else "")


def _merge_identifier(left: str, right: str, site: Site) -> str:
    """One mandated guardrail: either side's, or the same one named by both."""
    if not left or not right:
        return left or right
    if guardrail_id(left) != guardrail_id(right) or (
        GUARDRAIL_ARN_RE.fullmatch(left) and GUARDRAIL_ARN_RE.fullmatch(right) and left != right
    ):
        raise conflict(
            site.path,
            json.dumps(left),
            json.dumps(right),
            "mandate one guardrail: remove [guardrail] from the application "
            "policy or make it name the organisation's guardrail",
        )
    # Keep the ARN when one side names the guardrail by ARN: it says more.
    return left if GUARDRAIL_ARN_RE.fullmatch(left) else right


def _merge_versions(_left: object, _right: object, site: Site) -> Any:
    """The mandating side's versions; with both mandating, the same attached version and
    only the versions both accept (a caller may name only those)."""
    a: GuardrailPolicy = site.left
    b: GuardrailPolicy = site.right
    if not a.accepted_versions or not b.accepted_versions:
        return _versions(a.accepted_versions or b.accepted_versions)
    if a.version != b.version:
        raise conflict(
            site.path,
            json.dumps(a.version),
            json.dumps(b.version),
            f"use the same version of guardrail {a.guardrail_id} in both policies",
        )
    return _versions(tuple(v for v in a.accepted_versions if v in b.accepted_versions))


@_tracks_set_keys
@dataclass(frozen=True, kw_only=True)
class GuardrailPolicy:
    """``[guardrail]``: the guardrail mandated on every inference call (empty: none).

    ``version`` is the version attached to calls. The file may list several
    (``version = ["4", "3"]``) during a version change: the first is attached, and a
    call that names the mandated guardrail with any listed version is accepted;
    ``accepted_versions`` holds them all (the first is ``version``).
    ``exempt_models``: globs over base model ids (``"amazon.titan-embed-*"``) whose calls
    need no guardrail (embedding models, which guardrails do not apply to).
    """

    identifier: str = field(
        default="",
        metadata=key_rule(
            MergeRule(kind="guardrail", combine=_merge_identifier, judge=_compare.pin)
        ),
    )
    version: str = field(
        default="",
        metadata=key_rule(
            MergeRule(kind="guardrail_versions", combine=_merge_versions, judge=_compare.pin),
            init_value=lambda section: _versions(section.accepted_versions),
        ),
    )
    # More trace is more evidence for an audit; it never lets more through.
    trace: GuardrailTrace = field(
        default="enabled", metadata=key_rule(ladder(GUARDRAIL_TRACES), judge=_compare.neutral)
    )
    # Fewer exemptions is tighter: an overlay that sets exempt_models narrows the floor's.
    # Left out of the digest when empty: policies without it keep their digest.
    # ``policy diff`` does not order its changes (absent means "none", not "any").
    exempt_models: tuple[str, ...] = field(
        default=(),
        metadata=key_rule(INTERSECT_MODELS, omit_when_empty=True, judge=_compare.unjudged),
    )
    #: Every accepted version, the attached one first (derived from ``version``).
    accepted_versions: tuple[str, ...] = field(default=(), init=False, metadata=key_rule(DERIVED))

    def __post_init__(self) -> None:
        ident: object = self.identifier
        version: object = self.version
        if isinstance(version, (list, tuple)):
            listed = list(version)
            if not listed:
                raise _err(
                    "guardrail.version",
                    "must not be an empty list",
                    listed,
                    'a version such as "3", or a list such as ["4", "3"] (first attached)',
                    "name at least one version",
                )
            for item in listed:
                if not isinstance(item, str) or not GUARDRAIL_VERSION_RE.fullmatch(item):
                    raise _err(
                        "guardrail.version",
                        "lists something that is not a guardrail version",
                        item,
                        'positive integer strings such as "3", or "DRAFT"',
                        "use the version numbers shown by `aws bedrock get-guardrail`",
                    )
            if len(set(listed)) != len(listed):
                raise _err(
                    "guardrail.version",
                    "lists a version twice",
                    listed,
                    "each version once, the attached one first",
                    "remove the duplicate",
                )
            version = listed[0]
            _set(self, "version", version)
            _set(self, "accepted_versions", tuple(listed))
        elif isinstance(version, str) and version:
            _set(self, "accepted_versions", (version,))
        exempt = _string_list(self.exempt_models, "guardrail.exempt_models", _check_glob)
        # Normalised like models.allow (a pattern another one covers says nothing more).
        _set(self, "exempt_models", _antichain(exempt))
        if not isinstance(ident, str):
            raise _err(
                "guardrail.identifier",
                "must be a string",
                ident,
                "a guardrail id or ARN",
                "quote the identifier",
            )
        if ident and not (GUARDRAIL_ID_RE.fullmatch(ident) or GUARDRAIL_ARN_RE.fullmatch(ident)):
            raise _err(
                "guardrail.identifier",
                "is not a guardrail id or ARN",
                ident,
                'a guardrail id ("abc123xyz789", lowercase letters and digits) or ARN '
                "(arn:<partition>:bedrock:<region>:<account>:guardrail/<id>)",
                "copy the id or ARN from `aws bedrock list-guardrails`",
            )
        if isinstance(version, int) and not isinstance(version, bool):
            raise _err(
                "guardrail.version",
                "must be a string",
                version,
                'a quoted version such as "3", or "DRAFT"',
                f'write guardrail.version = "{version}" (quoted)',
            )
        if not isinstance(version, str) or (
            version and not GUARDRAIL_VERSION_RE.fullmatch(version)
        ):
            raise _err(
                "guardrail.version",
                "is not a guardrail version",
                version,
                'a positive integer string such as "3", or "DRAFT"',
                "use the version number shown by `aws bedrock get-guardrail`",
            )
        if ident and not version:
            raise _err(
                "guardrail.version",
                "is required when guardrail.identifier is set",
                None,
                'a version such as "3" or "DRAFT"',
                "pin the guardrail version: add guardrail.version",
            )
        if version and not ident:
            raise _err(
                "guardrail.identifier",
                "is required when guardrail.version is set",
                None,
                "a guardrail id or ARN",
                "add guardrail.identifier, or remove guardrail.version",
            )
        _choice(self.trace, "guardrail.trace", GUARDRAIL_TRACES)

    @property
    def mandated(self) -> bool:
        """Whether a guardrail is mandated on every inference call."""
        return bool(self.identifier)

    @property
    def guardrail_id(self) -> str:
        """The guardrail id (the last part of the ARN when an ARN is given)."""
        return guardrail_id(self.identifier)
