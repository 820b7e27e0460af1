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
- ``bedrock:CallWithBearerToken`` (the permission-only action behind every
  Bedrock API key call)
- global keys ``aws:RequestedRegion`` and ``aws:SourceVpce``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import PolicyConfigError
from ._modelid import GEOGRAPHIES
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

#: Actions that run a model (Converse/ConverseStream authorize as the first two).
MODEL_INFERENCE_ACTIONS: tuple[str, ...] = (
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
    "bedrock:InvokeModelWithBidirectionalStream",
    "bedrock:StartAsyncInvoke",
    "bedrock:CountTokens",
)

#: The actions whose requests carry ``bedrock:GuardrailIdentifier`` (AWS documents
#: guardrail enforcement for InvokeModel, InvokeModelWithResponseStream, Converse
#: and ConverseStream, which authorize as these two).
GUARDRAIL_ACTIONS: tuple[str, ...] = (
    "bedrock:InvokeModel",
    "bedrock:InvokeModelWithResponseStream",
)

#: Client operation names that cannot carry a guardrail, and their IAM actions.
_GUARDRAIL_LESS_OPERATIONS: Mapping[str, str] = {
    "CountTokens": "bedrock:CountTokens",
    "InvokeModelWithBidirectionalStream": "bedrock:InvokeModelWithBidirectionalStream",
    "StartAsyncInvoke": "bedrock:StartAsyncInvoke",
}

#: Prefixes of system-defined (cross-region) inference profile ids, sorted.
GEOGRAPHY_PREFIXES: tuple[str, ...] = tuple(sorted(GEOGRAPHIES))

_BEARER_ACTIONS: tuple[str, ...] = ("bedrock:CallWithBearerToken",)

# vpce-<id>-<suffix>[-<az>].<service>...: regional and zonal DNS names of an interface endpoint.
_VPCE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)?(vpce-[0-9a-f]{8,17})-[a-z0-9-]+\.", re.IGNORECASE)
_VPCE_ID = re.compile(r"^vpce-[0-9a-f]{8,17}$", re.IGNORECASE)
_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):bedrock:(?P<region>[^:]*):(?P<account>[^:]*):")


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """What the policy file does not say but the exported JSON needs.

    ``partition``: ARN partition (``aws``, ``aws-us-gov``, ``aws-cn``); taken
    from the guardrail ARN when it has one. ``vpce_ids``: the VPC endpoint ids
    calls must come through; derived from ``network.endpoint_url`` when it is a
    ``vpce-...`` DNS name.
    """

    partition: str = ""
    vpce_ids: tuple[str, ...] = ()


def vpce_id_from_url(url: str) -> str | None:
    """The ``vpce-...`` id in an interface endpoint DNS name, or ``None``.

    ``https://vpce-0a1b2c3d4e5f60718-abcdefgh.bedrock-runtime.us-east-1.vpce.amazonaws.com``
    gives ``vpce-0a1b2c3d4e5f60718``.
    """
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    match = _VPCE_HOST.match(host)
    return match.group(1).lower() if match else None


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


def _guardrail_condition_value(policy: Policy, partition: str) -> tuple[str, str]:
    """(operator, value) for ``bedrock:GuardrailIdentifier``."""
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
    version = policy.guardrail.version
    value = f"{base}:{version}" if version and version.upper() != "DRAFT" else base
    return operator, value


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
                principal=principal,
            )
        )
        allowed_without = set(policy.operations.allow_without_guardrail)
        refused = [
            action
            for operation, action in sorted(_GUARDRAIL_LESS_OPERATIONS.items())
            if operation not in allowed_without
        ]
        if refused:
            statements.append(
                _statement(
                    "SecureBedrockDenyOperationsWithoutGuardrail", refused, principal=principal
                )
            )

    if policy.inference_profile.required:
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
        vpces = _vpce_ids(policy, options)
        if vpces:
            statements.append(
                _statement(
                    "SecureBedrockSourceVpce",
                    inference,
                    condition={"StringNotEquals": {"aws:SourceVpce": vpces}},
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
        statements.append(
            _statement("SecureBedrockDenyApiKeys", _BEARER_ACTIONS, principal=principal)
        )
    return statements


def _allowed_profile_arns(policy: Policy, partition: str, regions: list[str]) -> list[str]:
    refused = set(_refused_geographies(policy))
    geographies = [geo for geo in GEOGRAPHY_PREFIXES if geo not in refused]
    arns = [
        f"arn:{partition}:bedrock:{region}:*:inference-profile/{geo}.*"
        for region in regions
        for geo in geographies
    ]
    arns += [
        f"arn:{partition}:bedrock:{region}:*:application-inference-profile/*" for region in regions
    ]
    return _sorted_unique(arns)


def _refused_geographies(policy: Policy) -> list[str]:
    if not policy.regions.cross_region:
        return list(GEOGRAPHY_PREFIXES)
    allowed = set(policy.regions.allowed_geographies)
    if not allowed:
        # cross_region = true with no geography list: any geography except
        # "global", which is only allowed when named (DESIGN.md).
        return ["global"]
    return [geo for geo in GEOGRAPHY_PREFIXES if geo not in allowed]


def _vpce_ids(policy: Policy, options: ExportOptions) -> list[str]:
    ids = list(options.vpce_ids)
    for vpce in ids:
        if not _VPCE_ID.fullmatch(vpce):
            raise PolicyConfigError(
                "not a VPC endpoint id",
                path="network.endpoint_url",
                found=repr(vpce),
                expected="vpce- followed by 8 to 17 hex digits",
                fix="pass the endpoint's id as shown by `aws ec2 describe-vpc-endpoints`",
            )
    if not ids and policy.network.endpoint_url:
        derived = vpce_id_from_url(policy.network.endpoint_url)
        if derived:
            ids.append(derived)
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
    statements = _statements(policy, fmt, options or ExportOptions())
    if fmt == "vpce":
        # An endpoint policy replaces the default "allow everything": keep that
        # grant explicitly so only the Deny statements narrow it.
        statements.insert(
            0,
            {
                "Sid": "SecureBedrockAllowThroughEndpoint",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
            },
        )
    if not statements:
        raise PolicyConfigError(
            "the policy has nothing a server-side policy can enforce",
            found="no guardrail, profile, model, tier, region, endpoint or API-key constraint",
            expected="at least one constraint with a server-side equivalent",
            fix="see docs/export.md for which client rules have an IAM/SCP twin",
        )
    return {"Version": POLICY_LANGUAGE_VERSION, "Statement": statements}


@dataclass(frozen=True, kw_only=True)
class ClientOnlyRule:
    """A constraint of the client policy that no exported statement enforces."""

    rule: str
    reason: str


def client_only_rules(policy: Policy, fmt: str) -> tuple[ClientOnlyRule, ...]:
    """The constraints ``policy`` sets that the exported ``fmt`` policy cannot enforce.

    ``securebedrock policy export`` prints these so that nobody mistakes the
    exported JSON for the whole policy.
    """
    notes: list[ClientOnlyRule] = []
    if policy.mode == "log_only":
        notes.append(
            ClientOnlyRule(
                rule="mode",
                reason="the client policy is log_only, but IAM/SCP/endpoint policies have no "
                "dry-run: the exported Deny statements enforce",
            )
        )
    if policy.tls.minimum_version == "1.3":
        notes.append(
            ClientOnlyRule(
                rule="tls.version",
                reason="no Bedrock condition key carries the negotiated TLS version; Bedrock "
                "endpoints accept TLS 1.2 and 1.3 (the client enforces the 1.3 floor)",
            )
        )
    if policy.tls.fips:
        notes.append(
            ClientOnlyRule(
                rule="tls.fips",
                reason="no condition key tells a FIPS endpoint from a standard one",
            )
        )
    if policy.network.require_private_endpoint:
        notes.append(
            ClientOnlyRule(
                rule="network.private_endpoint",
                reason="allowed_cidrs (the connected peer address) is checked by the client; "
                + (
                    "the endpoint policy applies only to traffic through that endpoint"
                    if fmt == "vpce"
                    else "server-side, aws:SourceVpce is the equivalent"
                ),
            )
        )
    if not policy.network.allow_proxy:
        notes.append(ClientOnlyRule(rule="network.proxy", reason="proxy use is invisible to AWS"))
    if (
        policy.network.endpoint_url
        and fmt != "vpce"
        and not vpce_id_from_url(policy.network.endpoint_url)
    ):
        notes.append(
            ClientOnlyRule(
                rule="network.endpoint_override",
                reason="endpoint_url is not a vpce-... DNS name; pass --vpce-id to pin the "
                "VPC endpoint server-side",
            )
        )
    if policy.inference_profile.map:
        notes.append(
            ClientOnlyRule(
                rule="inference_profile.map",
                reason="rewriting a model id to a profile is a client action; server-side, "
                "inference_profile.required denies direct foundation-model calls",
            )
        )
    if policy.audit.content != "none":
        notes.append(ClientOnlyRule(rule="audit.content", reason="telemetry is client-side"))
    return tuple(notes)
