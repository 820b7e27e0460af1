"""``doctor`` checks of this host's own configuration: the policy and its files, the
region, the credentials. No network use."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from botocore.exceptions import BotoCoreError

from . import _discovery, _env, _trust
from ._constants import ENV_BEARER_TOKEN_BEDROCK, ENV_POLICY_PUBLIC_KEY
from ._doctor_base import CheckResult, Context, _fail, _one_line, _pass, _warn
from ._errors import SecureBedrockError

__all__ = [
    "check_credentials",
    "check_policy",
    "check_policy_files",
    "check_region",
]


def check_policy(ctx: Context) -> Iterable[CheckResult]:
    """The effective policy loads, and its signature verifies when one is required."""
    try:
        explanation = _discovery.explain(file=ctx.options.policy_file, environ=ctx.options.environ)
    except SecureBedrockError as exc:
        yield _fail(
            "policy",
            _one_line(exc),
            exc.fix or "fix the policy file; clients on this host refuse to start until then",
        )
        return
    ctx.policy, ctx.policy_ok = explanation.policy, True
    org = next((layer for layer in explanation.layers if layer.source.startswith("org")), None)
    digest = explanation.policy.digest[:12]
    verification = org.verification if org is not None else None
    if verification is not None and verification.signature is not None:
        release = ctx.policy.release
        what = release.describe() if release is not None else "no [release]"
        yield _pass(
            "policy",
            f"{org.source if org else ''}: signature verified by "
            f"{verification.signature.describe()}; {what} (digest {digest})",
        )
        yield from _release_state(verification)
    elif org is None:
        yield _warn(
            "policy",
            f"no org policy file: the built-in defaults apply (digest {digest})",
            "install the org policy at /etc/securebedrock/policy.toml or set "
            "SECUREBEDROCK_POLICY_FILE",
        )
    else:
        yield _warn(
            "policy",
            f"{org.source} loaded, but no signature is required (digest {digest})",
            f"sign it (securebedrock policy sign) and install the trust anchor "
            f"{_trust.TRUSTED_KEYS_FILE} (or set {ENV_POLICY_PUBLIC_KEY}) so that a tampered "
            "file is refused",
        )
        if verification is not None:
            yield from _release_state(verification)
    if ctx.policy.mode == "log_only":
        yield _warn(
            "policy.mode",
            "log_only: violations are recorded, and the calls are sent anyway",
            'read the spans/audit log, then set mode = "apply" or "enforce" (or '
            "SECUREBEDROCK_MODE=apply/enforce)",
        )
    elif ctx.policy.mode == "apply":
        yield _warn(
            "policy.mode",
            "apply: the mandated guardrail and profile mapping are applied; violations are "
            "recorded, and the calls are sent anyway",
            'read the spans/audit log, then set mode = "enforce" (or SECUREBEDROCK_MODE=enforce)',
        )


def _release_state(verification: _discovery.OrgVerification) -> Iterable[CheckResult]:
    serial = verification.serial
    if serial is None:
        return
    if serial.recorded or serial.preview:
        yield _pass(
            "policy.release",
            f"highest serial accepted on this host: {serial.highest} ({serial.state_file})"
            + (f"; {serial.note}" if serial.preview else ""),
        )
    else:
        yield _warn(
            "policy.release",
            f"rollback protection is not active: {serial.note}",
            "sign the policy, and give the processes that load it a writable state directory "
            "(SECUREBEDROCK_STATE_DIR, default /var/lib/securebedrock)",
        )


def check_policy_files(ctx: Context) -> Iterable[CheckResult]:
    """The trust anchor and the org policy file are writable by their owner only."""
    anchor = _trust.anchor_path()
    try:
        policy_file = ctx.options.policy_file or _discovery.org_policy_path(ctx.options.environ)
    except SecureBedrockError:
        policy_file = None  # reported by the policy check
    problems: list[str] = []
    for path in (anchor, policy_file):
        if path is None:
            continue
        problem = _trust.writable_by_others(Path(path))
        if problem is not None:
            problems.append(problem)
    if problems:
        yield _fail(
            "policy.files",
            "; ".join(problems),
            "make the trust anchor and the policy file root-owned and writable by their "
            "owner only (chmod 0644, directory 0755): whoever can write them chooses the policy",
        )
        return
    if anchor is None:
        yield _pass(
            "policy.files",
            f"no trust anchor ({_trust.TRUSTED_KEYS_FILE}); the policy file is not writable "
            "by group or others"
            if policy_file
            else f"no trust anchor ({_trust.TRUSTED_KEYS_FILE}) and no policy file",
        )
        return
    detail = f"trust anchor {anchor} and the policy file are writable by their owner only"
    if _trust.is_root_owned(anchor) is False:
        yield _warn(
            "policy.files",
            f"{detail}, but the anchor is not owned by root",
            f"chown root:root {anchor}: its owner can choose which keys are trusted",
        )
        return
    yield _pass("policy.files", detail)


def check_region(ctx: Context) -> Iterable[CheckResult]:
    """A region is configured, and the policy allows it."""
    if not ctx.region:
        yield _fail(
            "region",
            "no region: not given, not in AWS_REGION/AWS_DEFAULT_REGION or the config file",
            "pass --region, or set AWS_REGION",
        )
        return
    allowed = ctx.policy.regions.allowed
    if allowed is not None and ctx.region not in allowed:
        yield _fail(
            "region",
            f"{ctx.region} is not in regions.allowed {list(allowed)}",
            "use an allowed region (AWS_REGION), or ask the policy owner",
        )
        return
    yield _pass("region", ctx.region)


def check_credentials(ctx: Context) -> Iterable[CheckResult]:
    """Where SigV4 credentials come from (never the secret), and bearer-token auth."""
    token = _env.aws_setting(ENV_BEARER_TOKEN_BEDROCK, ctx.options.environ) is not None
    try:
        credentials = ctx.session.get_credentials()
    except (BotoCoreError, ValueError) as exc:
        yield _fail(
            "credentials",
            f"cannot load credentials ({exc})",
            "fix the profile/config named by AWS_PROFILE",
        )
        credentials = None
    else:
        if credentials is None:
            yield _warn(
                "credentials",
                "no SigV4 credentials found",
                "configure a role, profile or environment credentials",
            )
        else:
            yield _pass("credentials", f"SigV4 credentials from {credentials.method}")
    if not token:
        yield _pass("auth.api_key", f"{ENV_BEARER_TOKEN_BEDROCK} not set: SigV4 only")
    elif not ctx.policy.auth.allow_api_keys:
        yield _fail(
            "auth.api_key",
            f"{ENV_BEARER_TOKEN_BEDROCK} is set, and the policy refuses API-key auth",
            f"unset {ENV_BEARER_TOKEN_BEDROCK} and use IAM credentials (SigV4)",
        )
    else:
        yield _warn(
            "auth.api_key",
            f"{ENV_BEARER_TOKEN_BEDROCK} is set: calls use an API key",
            "prefer short-term credentials (a role); set auth.allow_api_keys = false "
            "to refuse API keys",
        )
