"""``securebedrock policy export``: the IAM, SCP or VPC endpoint policy for a policy file.

Registered by the ``policy`` command (``register(policy_subparsers)``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .. import _discovery
from .._export import EXPORT_FORMATS, ExportOptions, client_only_rules, export_policy
from .._export_size import check_size, render
from .._policy import Policy
from ._options import add_policy_file


def register(policy_subparsers: Any) -> None:
    """Add ``export`` to the ``policy`` command's subcommands."""
    parser: argparse.ArgumentParser = policy_subparsers.add_parser(
        "export",
        help="print the IAM, SCP or VPC endpoint policy that enforces the same rules server-side",
        description=(
            "Generate the server-side twin of a securebedrock policy: Deny statements for an "
            "IAM identity policy (iam), a service control policy (scp) or the bedrock-runtime "
            "interface endpoint's policy (vpce). Client rules with no server-side equivalent "
            "are listed on stderr (or under not_exported with --json)."
        ),
    )
    parser.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        required=True,
        help="iam: identity policy; scp: service control policy; vpce: VPC endpoint policy",
    )
    add_policy_file(
        parser,
        help="use FILE as the org policy file (verified as a client would verify it); "
        "default: the effective policy of this host",
        old_options=("--file",),
    )
    parser.add_argument(
        "--partition",
        default="",
        help="ARN partition (default: the guardrail ARN's, else aws)",
    )
    parser.add_argument(
        "--vpce-id",
        action="append",
        default=[],
        metavar="VPCE_ID",
        help="VPC endpoint id calls may come through (aws:SourceVpce; repeatable; iam "
        "default: derived from the policy's vpce-... endpoint URLs)",
    )
    parser.add_argument(
        "--source-vpc",
        action="append",
        default=[],
        metavar="VPC_ID",
        help="VPC calls may come from (aws:SourceVpc; repeatable)",
    )
    parser.add_argument(
        "--vpce-account",
        action="append",
        default=[],
        metavar="ACCOUNT_ID",
        help="account that owns the VPC endpoint calls may come through (aws:VpceAccount; "
        "repeatable)",
    )
    parser.add_argument(
        "--vpce-org-id",
        default="",
        metavar="ORG_ID",
        help="organization that owns the VPC endpoint calls may come through (aws:VpceOrgID)",
    )
    parser.add_argument(
        "--exempt-principal-arn",
        action="append",
        default=[],
        metavar="ARN",
        help="principal every Deny leaves alone (aws:PrincipalArn; * allowed; repeatable): "
        "break-glass roles, and service roles of Bedrock Agents, Knowledge Bases, batch "
        "inference and evaluation jobs",
    )
    parser.add_argument(
        "--org-id",
        default="",
        metavar="ORG_ID",
        help="vpce: allow only principals of this organization through the endpoint "
        "(aws:PrincipalOrgID)",
    )
    parser.add_argument(
        "--minify",
        action="store_true",
        help="print the policy without white space (what counts against the size quotas)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"format", "policy", "not_exported"} instead of the bare policy',
    )
    parser.set_defaults(func=run)


def _load(path: str | None) -> Policy:
    # The same discovery a client runs (signature checked when a public key is
    # set, SECUREBEDROCK_MODE applied), so the export matches what clients enforce.
    return _discovery.explain(file=path).policy if path else _discovery.effective_policy(None)


def run(args: argparse.Namespace) -> int:
    """Print the exported policy; exit 0, or 1 when the policy cannot be exported."""
    policy = _load(args.policy_file)
    options = ExportOptions(
        partition=args.partition,
        vpce_ids=tuple(args.vpce_id),
        source_vpcs=tuple(args.source_vpc),
        vpce_accounts=tuple(args.vpce_account),
        vpce_org_id=args.vpce_org_id,
        exempt_principal_arns=tuple(args.exempt_principal_arn),
        org_id=args.org_id,
    )
    document = export_policy(policy, args.format, options)
    text = render(document, minify=args.minify)
    check_size(text, args.format)
    notes = client_only_rules(policy, args.format, options)
    if args.json:
        payload = {
            "format": args.format,
            "policy": document,
            "not_exported": [{"rule": note.rule, "reason": note.reason} for note in notes],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(text)
    if notes:
        print("# enforced by the client only (no server-side equivalent):", file=sys.stderr)
        for note in notes:
            print(f"#   {note.rule}: {note.reason}", file=sys.stderr)
    return 0
