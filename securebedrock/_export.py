"""The server-side twin of a client policy: IAM, SCP and VPC endpoint policy JSON.

The client layer (this library) stops mistakes before a byte is sent; the hard
boundary is what AWS evaluates server-side. ``export_policy()`` turns the same
:class:`~securebedrock.Policy` into Deny statements AWS enforces, so the two
layers are generated from one file and cannot drift apart.

Pure: no botocore, no I/O. Output is deterministic (same policy, same JSON).

Names used here come from AWS's Service Authorization Reference for Amazon
Bedrock (see docs/export.md for the URLs):

- ``bedrock:InvokeModel`` authorizes InvokeModel and Converse;
  ``bedrock:InvokeModelWithResponseStream`` authorizes the streaming twins.
- ``bedrock:GuardrailIdentifier`` (ARN, value ``<guardrail-arn>:<version>``)
- ``bedrock:InferenceProfileArn`` (ARN; absent when a foundation model is
  called directly)
- ``bedrock:ServiceTier`` (string: ``reserved``/``priority``/``default``/``flex``)
- ``bedrock:CallWithBearerToken`` and ``bedrock-mantle:CallWithBearerToken`` (the
  permission-only actions behind every Bedrock API key call), and
  ``iam:CreateServiceSpecificCredential`` with ``iam:ServiceSpecificCredentialServiceName``
  (creating a long-term Bedrock API key)
- global keys ``aws:RequestedRegion``, ``aws:SourceVpce``, ``aws:SourceVpc``,
  ``aws:VpceAccount``, ``aws:VpceOrgID``, ``aws:PrincipalArn`` and ``aws:PrincipalOrgID``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from ._errors import PolicyConfigError
from ._export_notes import ClientOnlyRule, client_only_rules
from ._export_options import ExportOptions, vpce_id_from_url
from ._modelid import GEOGRAPHIES
from ._operations import (
    GUARDRAIL_CAPABLE_OPERATIONS,
    GUARDRAIL_INCAPABLE_OPERATIONS,
    OPERATIONS,
    iam_actions,
)
from ._policy import Policy

__all__ = [
    "EXPORT_FORMATS",
    "ClientOnlyRule",
    "ExportOptions",
    "GEOGRAPHY_PREFIXES",
    "MODEL_INFERENCE_ACTIONS",
    "client_only_rules",
    "export_policy",
    "vpce_id_from_url",
]

ExportFormat = Literal["iam", "scp", "vpce"]

#: The formats ``securebedrock policy export --format`` accepts.
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("iam", "scp", "vpce")

POLICY_LANGUAGE_VERSION = "2012-10-17"

#: Actions that run a model or send content to one (Converse/ConverseStream authorize
#: as the first two).
MODEL_INFERENCE_ACTIONS: tuple[str, ...] = iam_actions(
    name for name, op in OPERATIONS.items() if op.model_param is not None
)

#: The actions whose requests carry ``bedrock:GuardrailIdentifier`` (AWS documents
#: guardrail enforcement for InvokeModel, InvokeModelWithResponseStream, Converse
#: and ConverseStream, which authorize as these two).
GUARDRAIL_ACTIONS: tuple[str, ...] = iam_actions(
    name for name in OPERATIONS if name in GUARDRAIL_CAPABLE_OPERATIONS
)

#: Prefixes of system-defined (cross-region) inference profile ids, sorted.
GEOGRAPHY_PREFIXES: tuple[str, ...] = tuple(sorted(GEOGRAPHIES))

#: Bedrock API keys are refused on both endpoints that accept them (bedrock-runtime and
#: bedrock-mantle); an endpoint policy of bedrock-runtime only sees the first.
_BEARER_ACTIONS: tuple[str, ...] = (
    "bedrock:CallWithBearerToken",
    "bedrock-mantle:CallWithBearerToken",
)
_ENDPOINT_BEARER_ACTIONS: tuple[str, ...] = ("bedrock:CallWithBearerToken",)
#: The service name a long-term Bedrock API key (a service-specific credential) is made for.
_BEDROCK_CREDENTIAL_SERVICE = "bedrock.amazonaws.com"

_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):bedrock:(?P<region>[^:]*):(?P<account>[^:]*):")


def _partition(policy: Policy, options: ExportOptions) -> str:
    if options.partition:
        return options.partition
    match = _ARN.match(policy.guardrail.identifier)
    return match.group("partition") if match else "aws"


def _sorted_unique(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _statement(
    sid: str,
    actions: Iterable[str],
    *,
    resource: Iterable[str] | None = None,
    not_resource: Iterable[str] | None = None,
    condition: Mapping[str, Mapping[str, Any]] | None = None,
    principal: bool,
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Deny"}
    if principal:
        statement["Principal"] = "*"
    statement["Action"] = _one_or_list(_sorted_unique(actions))
    if not_resource is not None:
        statement["NotResource"] = _one_or_list(_sorted_unique(not_resource))
    else:
        statement["Resource"] = _one_or_list(_sorted_unique(resource or ("*",)))
    if condition:
        statement["Condition"] = {
            operator: {key: value for key, value in sorted(block.items())}
            for operator, block in sorted(condition.items())
        }
    return statement


def _exempt(statements: list[dict[str, Any]], principals: tuple[str, ...]) -> None:
    """Leave ``principals`` out of every ``Deny`` (conditions in one statement are ANDed)."""
    if not principals:
        return
    for statement in statements:
        if statement["Effect"] != "Deny":
            continue
        condition = dict(statement.get("Condition", {}))
        block = dict(condition.get("ArnNotLike", {}))
        block["aws:PrincipalArn"] = _one_or_list(_sorted_unique(principals))
        condition["ArnNotLike"] = dict(sorted(block.items()))
        statement["Condition"] = dict(sorted(condition.items()))


def _guardrail_condition_value(policy: Policy, partition: str) -> tuple[str, str | list[str]]:
    """(operator, value or values) for ``bedrock:GuardrailIdentifier``: one value per
    accepted version (several during a version change)."""
    identifier = policy.guardrail.identifier
    if identifier.startswith("arn:"):
        if not _ARN.match(identifier) or ":guardrail/" not in identifier:
            raise PolicyConfigError(
                "guardrail identifier is not a Bedrock guardrail ARN",
                path="guardrail.identifier",
                found=repr(identifier),
                expected="arn:<partition>:bedrock:<region>:<account>:guardrail/<id>",
                fix="use the guardrail's ARN (GetGuardrail returns it) or its bare id",
            )
        base, operator = identifier, "StringNotEquals"
    else:
        # A bare id: the ARN's region and account are unknown, so match any.
        base, operator = f"arn:{partition}:bedrock:*:*:guardrail/{identifier}", "StringNotLike"
    # AWS's example enforces "<guardrail-arn>:<version>"; the working draft is the bare ARN.
    values = [
        f"{base}:{version}" if version.upper() != "DRAFT" else base
        for version in policy.guardrail.accepted_versions
    ]
    return operator, _one_or_list(_sorted_unique(values)) if values else base


def _model_arns(partition: str, patterns: Iterable[str]) -> list[str]:
    arns: list[str] = []
    for pattern in patterns:
        # Globs over base model ids map 1:1 onto foundation-model ARN globs (IAM
        # supports * and ?); cross-region profile ids are "<geo>.<model id>".
        arns.append(f"arn:{partition}:bedrock:*::foundation-model/{pattern}")
        arns.append(f"arn:{partition}:bedrock:*:*:inference-profile/*.{pattern}")
    return arns


def _statements(policy: Policy, fmt: ExportFormat, options: ExportOptions) -> list[dict[str, Any]]:
    partition = _partition(policy, options)
    principal = fmt == "vpce"
    inference = MODEL_INFERENCE_ACTIONS
    statements: list[dict[str, Any]] = []

    if policy.guardrail.mandated:
        operator, value = _guardrail_condition_value(policy, partition)
        statements.append(
            _statement(
                "SecureBedrockRequireGuardrail",
                GUARDRAIL_ACTIONS,
                # A negated operator also matches when the key is absent: a call
                # with no guardrail at all is denied too.
                condition={operator: {"bedrock:GuardrailIdentifier": value}},
                # Calls to exempt models (embeddings) need no guardrail.
                not_resource=_model_arns(partition, policy.guardrail.exempt_models)
                if policy.guardrail.exempt_models
                else None,
                principal=principal,
            )
        )
        allowed_without = set(policy.operations.allow_without_guardrail)
        refused = list(
            iam_actions(
                name
                for name in sorted(GUARDRAIL_INCAPABLE_OPERATIONS)
                if name not in allowed_without
            )
        )
        if refused:
            statements.append(
                _statement(
                    "SecureBedrockDenyOperationsWithoutGuardrail", refused, principal=principal
                )
            )

    if policy.inference_profile.required:
        org_profiles = _org_profile_arns(policy)
        if org_profiles:
            # Only the org's own profiles: a negated operator also matches an absent key,
            # so a direct foundation-model call (no profile) is denied too.
            permitted = org_profiles + _system_profile_arns(policy, partition)
            statements.append(
                _statement(
                    "SecureBedrockRequireOrgInferenceProfiles",
                    GUARDRAIL_ACTIONS,
                    condition={
                        "ArnNotLike": {
                            "bedrock:InferenceProfileArn": _one_or_list(_sorted_unique(permitted))
                        }
                    },
                    principal=principal,
                )
            )
        else:
            statements.append(
                _statement(
                    "SecureBedrockRequireInferenceProfile",
                    GUARDRAIL_ACTIONS,
                    resource=[f"arn:{partition}:bedrock:*::foundation-model/*"],
                    condition={"Null": {"bedrock:InferenceProfileArn": "true"}},
                    principal=principal,
                )
            )

    if policy.models.allow is not None:
        allowed = list(_model_arns(partition, policy.models.allow))
        if policy.models.allow:
            # Application inference profiles resolve to foundation models, which
            # Bedrock authorizes too: the foundation-model ARNs above still apply.
            allowed.append(f"arn:{partition}:bedrock:*:*:application-inference-profile/*")
            statements.append(
                _statement(
                    "SecureBedrockModelAllowList",
                    inference,
                    not_resource=allowed,
                    principal=principal,
                )
            )
        else:
            statements.append(
                _statement("SecureBedrockNoModelAllowed", inference, principal=principal)
            )
    if policy.models.deny:
        statements.append(
            _statement(
                "SecureBedrockModelDenyList",
                inference,
                resource=_model_arns(partition, policy.models.deny),
                principal=principal,
            )
        )

    if policy.service_tier.allowed is not None:
        tiers = _sorted_unique(policy.service_tier.allowed)
        condition: dict[str, dict[str, Any]] = {"StringNotEquals": {"bedrock:ServiceTier": tiers}}
        if "default" in tiers:
            # A call that names no tier gets the default tier: only deny a tier
            # that is present and not allowed.
            condition["Null"] = {"bedrock:ServiceTier": "false"}
        statements.append(
            _statement(
                "SecureBedrockServiceTiers",
                GUARDRAIL_ACTIONS,
                condition=condition,
                principal=principal,
            )
        )

    if policy.regions.allowed is not None:
        regions = _sorted_unique(policy.regions.allowed)
        region_condition: dict[str, dict[str, Any]] = {
            "StringNotEquals": {"aws:RequestedRegion": regions}
        }
        if policy.regions.cross_region:
            # A cross-region profile's hop to a destination region is authorized with
            # that region as aws:RequestedRegion ("unspecified" for global profiles);
            # exempt calls made through an allowed profile *of an allowed source region*
            # (the source region is part of the profile's ARN).
            region_condition["ArnNotLike"] = {
                "bedrock:InferenceProfileArn": _allowed_profile_arns(policy, partition, regions)
            }
        statements.append(
            _statement(
                "SecureBedrockRegions", inference, condition=region_condition, principal=principal
            )
        )

    refused_geos = _refused_geographies(policy)
    if refused_geos:
        statements.append(
            _statement(
                "SecureBedrockCrossRegion",
                inference,
                resource=[
                    f"arn:{partition}:bedrock:*:*:inference-profile/{geo}.*" for geo in refused_geos
                ],
                principal=principal,
            )
        )

    if fmt != "vpce":
        perimeter = _perimeter(policy, fmt, options)
        if perimeter:
            # One statement, its keys ANDed: denied unless the call matches one of them.
            statements.append(
                _statement(
                    "SecureBedrockNetworkPerimeter",
                    inference,
                    condition={"StringNotEquals": perimeter},
                    principal=principal,
                )
            )
        elif policy.network.require_private_endpoint:
            statements.append(
                _statement(
                    "SecureBedrockRequireVpcEndpoint",
                    inference,
                    condition={"Null": {"aws:SourceVpce": "true"}},
                    principal=principal,
                )
            )

    if not policy.auth.allow_api_keys:
        bearer = _ENDPOINT_BEARER_ACTIONS if fmt == "vpce" else _BEARER_ACTIONS
        statements.append(_statement("SecureBedrockDenyApiKeys", bearer, principal=principal))
        if fmt != "vpce":
            statements.append(
                _statement(
                    "SecureBedrockDenyApiKeyCreation",
                    ("iam:CreateServiceSpecificCredential",),
                    condition={
                        "StringEquals": {
                            "iam:ServiceSpecificCredentialServiceName": _BEDROCK_CREDENTIAL_SERVICE
                        }
                    },
                    principal=principal,
                )
            )
    _exempt(statements, options.exempt_principal_arns)
    return statements


def _org_profile_arns(policy: Policy) -> list[str]:
    """The application inference profiles the policy names (mapped to, or known)."""
    profiles = policy.inference_profile
    regional = (target for table in profiles.regional_map.values() for target in table.values())
    names = [*profiles.map.values(), *regional, *profiles.known]
    return _sorted_unique(name for name in names if ":application-inference-profile/" in name)


def _system_profile_arns(policy: Policy, partition: str) -> list[str]:
    """System (geography) profiles a call may use: those of allowed geographies, from
    allowed source regions; none when cross-region inference is refused."""
    if not policy.regions.cross_region:
        return []
    refused = set(_refused_geographies(policy))
    regions = list(policy.regions.allowed) if policy.regions.allowed is not None else ["*"]
    return _sorted_unique(
        f"arn:{partition}:bedrock:{region}:*:inference-profile/{geo}.*"
        for region in regions
        for geo in GEOGRAPHY_PREFIXES
        if geo not in refused
    )


def _perimeter(policy: Policy, fmt: ExportFormat, options: ExportOptions) -> dict[str, list[str]]:
    """The network-perimeter condition keys and the values that satisfy each."""
    keys: dict[str, list[str]] = {}
    vpces = _vpce_ids(policy, fmt, options)
    if vpces:
        keys["aws:SourceVpce"] = vpces
    if options.source_vpcs:
        keys["aws:SourceVpc"] = _sorted_unique(vpc.lower() for vpc in options.source_vpcs)
    if options.vpce_accounts:
        keys["aws:VpceAccount"] = _sorted_unique(options.vpce_accounts)
    if options.vpce_org_id:
        keys["aws:VpceOrgID"] = [options.vpce_org_id]
    return keys


def _allowed_profile_arns(policy: Policy, partition: str, regions: list[str]) -> list[str]:
    """Profiles whose destination-region hops the region deny must not refuse.

    System profiles of allowed geographies, from allowed source regions; and only the
    application profiles the policy itself names (their routes are the org's own, and
    the client checks them). Any other application profile gets no exemption: one made
    from a geography profile would otherwise route outside the allowed regions.
    """
    refused = set(_refused_geographies(policy))
    geographies = [geo for geo in GEOGRAPHY_PREFIXES if geo not in refused]
    arns = [
        f"arn:{partition}:bedrock:{region}:*:inference-profile/{geo}.*"
        for region in regions
        for geo in geographies
    ]
    arns += [arn for arn in _org_profile_arns(policy) if _arn_region(arn) in regions]
    return _sorted_unique(arns)


def _arn_region(arn: str) -> str:
    match = _ARN.match(arn)
    return match.group("region") if match else ""


def _refused_geographies(policy: Policy) -> list[str]:
    if not policy.regions.cross_region:
        return list(GEOGRAPHY_PREFIXES)
    allowed = set(policy.regions.allowed_geographies)
    if not allowed:
        # cross_region = true with no geography list: any geography except
        # "global", which is only allowed when named (DESIGN.md).
        return ["global"]
    return [geo for geo in GEOGRAPHY_PREFIXES if geo not in allowed]


def _pinned_endpoint_urls(policy: Policy) -> list[str]:
    """Every runtime endpoint the policy pins (the single key and the per-region ones)."""
    urls = [policy.network.endpoint_url] if policy.network.endpoint_url else []
    return urls + [url for _, url in sorted(policy.network.endpoint_urls.items())]


def _vpce_ids(policy: Policy, fmt: ExportFormat, options: ExportOptions) -> list[str]:
    ids = list(options.vpce_ids)
    perimeter_given = options.source_vpcs or options.vpce_accounts or options.vpce_org_id
    if not ids and not perimeter_given and fmt == "iam":
        # An identity policy belongs to one workload: its pinned endpoints are its own.
        ids = [vpce for vpce in map(vpce_id_from_url, _pinned_endpoint_urls(policy)) if vpce]
    return _sorted_unique(vpce.lower() for vpce in ids)


def export_policy(policy: Policy, fmt: str, options: ExportOptions | None = None) -> dict[str, Any]:
    """The IAM (``iam``), SCP (``scp``) or VPC endpoint (``vpce``) policy for ``policy``.

    Every statement is a ``Deny``: attach the result next to the grants a
    principal already has (IAM), to an OU (SCP), or as the bedrock-runtime
    interface endpoint's policy (``vpce``, which also carries the ``Allow``
    an endpoint policy needs, with ``Principal: "*"``).
    """
    if fmt not in EXPORT_FORMATS:
        raise PolicyConfigError(
            "unknown export format",
            found=repr(fmt),
            expected=" or ".join(EXPORT_FORMATS),
            fix="pass --format iam, --format scp or --format vpce",
        )
    options = options or ExportOptions()
    statements = _statements(policy, fmt, options)
    if fmt == "vpce":
        # An endpoint policy replaces the default "allow everything": keep that
        # grant explicitly so only the Deny statements narrow it.
        allow: dict[str, Any] = {
            "Sid": "SecureBedrockAllowThroughEndpoint",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": "*",
        }
        if options.org_id:
            allow["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": options.org_id}}
        statements.insert(0, allow)
    if not statements:
        raise PolicyConfigError(
            "the policy has nothing a server-side policy can enforce",
            found="no guardrail, profile, model, tier, region, endpoint or API-key constraint",
            expected="at least one constraint with a server-side equivalent",
            fix="see docs/export.md for which client rules have an IAM/SCP twin",
        )
    return {"Version": POLICY_LANGUAGE_VERSION, "Statement": statements}
