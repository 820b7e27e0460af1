"""Options of ``securebedrock policy export``: what a policy file does not say but the
exported JSON needs, each value validated (a typo would silently widen a perimeter)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import _urls
from ._errors import PolicyConfigError

__all__ = ["ExportOptions", "vpce_id_from_url"]

# vpce-<id>-<suffix>[-<az>].<service>...: regional and zonal DNS names of an interface endpoint.
_VPCE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)?(vpce-[0-9a-f]{8,17})-[a-z0-9-]+\.", re.IGNORECASE)
_VPCE_ID = re.compile(r"^vpce-[0-9a-f]{8,17}$", re.IGNORECASE)
_VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$", re.IGNORECASE)
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(?:iam|sts)::(?:[0-9]{12}|\*):[!-~]+$")


@dataclass(frozen=True, kw_only=True)
class ExportOptions:
    """What the policy file does not say but the exported JSON needs.

    ``partition``: ARN partition (``aws``, ``aws-us-gov``, ``aws-cn``); taken from the
    guardrail ARN when it has one.

    The network perimeter (``iam``/``scp``): a call must come through one of
    ``vpce_ids`` (``aws:SourceVpce``), from one of ``source_vpcs`` (``aws:SourceVpc``),
    through an endpoint owned by one of ``vpce_accounts`` (``aws:VpceAccount``) or by
    the organization ``vpce_org_id`` (``aws:VpceOrgID``). For ``iam`` the endpoint id
    is derived from ``network.endpoint_url`` when it is a ``vpce-...`` DNS name and none
    of these is given; an ``scp`` spans accounts, each with its own endpoint, so it
    derives nothing from one host's URL.

    ``exempt_principal_arns``: principals (``aws:PrincipalArn`` patterns) that every
    ``Deny`` leaves alone, for break-glass roles and AWS service roles that invoke
    models without your guardrail or endpoint. ``org_id``: scopes the endpoint
    policy's ``Allow`` to principals of the organization (``aws:PrincipalOrgID``).
    """

    partition: str = ""
    vpce_ids: tuple[str, ...] = ()
    source_vpcs: tuple[str, ...] = ()
    vpce_accounts: tuple[str, ...] = ()
    vpce_org_id: str = ""
    exempt_principal_arns: tuple[str, ...] = ()
    org_id: str = ""

    def __post_init__(self) -> None:
        checks = (
            ("--vpce-id", self.vpce_ids, _VPCE_ID, "vpce- followed by 8 to 17 hex digits"),
            ("--source-vpc", self.source_vpcs, _VPC_ID, "vpc- followed by 8 to 17 hex digits"),
            ("--vpce-account", self.vpce_accounts, _ACCOUNT_ID, "a 12-digit account id"),
            (
                "--vpce-org-id",
                (self.vpce_org_id,) if self.vpce_org_id else (),
                _ORG_ID,
                "an organization id such as o-a1b2c3d4e5",
            ),
            (
                "--org-id",
                (self.org_id,) if self.org_id else (),
                _ORG_ID,
                "an organization id such as o-a1b2c3d4e5",
            ),
            (
                "--exempt-principal-arn",
                self.exempt_principal_arns,
                _PRINCIPAL_ARN,
                "an IAM role or user ARN (arn:aws:iam::123456789012:role/name; * allowed)",
            ),
        )
        for option, values, pattern, expected in checks:
            for value in values:
                if not isinstance(value, str) or not pattern.fullmatch(value):
                    raise PolicyConfigError(
                        f"invalid {option}",
                        found=repr(value),
                        expected=expected,
                        fix=f"pass {option} with {expected}",
                    )


def vpce_id_from_url(url: str) -> str | None:
    """The ``vpce-...`` id in an interface endpoint DNS name, or ``None``.

    ``https://vpce-0a1b2c3d4e5f60718-abcdefgh.bedrock-runtime.us-east-1.vpce.amazonaws.com``
    gives ``vpce-0a1b2c3d4e5f60718``.
    """
    parsed = _urls.read_endpoint(url)
    if isinstance(parsed, str):
        return None
    match = _VPCE_HOST.match(parsed.host)
    return match.group(1).lower() if match else None
