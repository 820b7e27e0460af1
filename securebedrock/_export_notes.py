"""The constraints of a client policy that an exported server-side policy cannot enforce."""

from __future__ import annotations

from dataclasses import dataclass

from ._export_options import ExportOptions, vpce_id_from_url
from ._policy import Policy

__all__ = ["ClientOnlyRule", "client_only_rules"]


@dataclass(frozen=True, kw_only=True)
class ClientOnlyRule:
    """A constraint of the client policy that no exported statement enforces."""

    rule: str
    reason: str


def client_only_rules(
    policy: Policy, fmt: str, options: ExportOptions | None = None
) -> tuple[ClientOnlyRule, ...]:
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
    options = options or ExportOptions()
    perimeter = (
        options.vpce_ids or options.source_vpcs or options.vpce_accounts or options.vpce_org_id
    )
    if (
        fmt == "scp"
        and not perimeter
        and (policy.network.endpoint_url or policy.network.require_private_endpoint)
    ):
        notes.append(
            ClientOnlyRule(
                rule="network.endpoint_override",
                reason="an SCP spans accounts, each with its own VPC endpoint, so none is "
                "taken from one host's endpoint_url; pass --vpce-org-id, --vpce-account, "
                "--source-vpc or --vpce-id to pin the perimeter server-side",
            )
        )
    elif (
        policy.network.endpoint_url
        and fmt == "iam"
        and not perimeter
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
                "inference_profile.required denies calls through any other profile (the "
                "application profiles the policy names) or none",
            )
        )
    if policy.audit.content != "none":
        notes.append(ClientOnlyRule(rule="audit.content", reason="telemetry is client-side"))
    return tuple(notes)
