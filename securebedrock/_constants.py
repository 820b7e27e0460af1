"""Every environment variable and fixed name securebedrock reads, in one place.

``_env`` reads the variables (one rule for empty values); ``docs/environment.md`` says,
per variable, what reads it and which source wins.
"""

from __future__ import annotations

from typing import Final

#: Path of the org policy file.
ENV_POLICY_FILE: Final = "SECUREBEDROCK_POLICY_FILE"
#: PEM Ed25519 public key; when set, the policy file must carry a valid ``<file>.sig``.
ENV_POLICY_PUBLIC_KEY: Final = "SECUREBEDROCK_POLICY_PUBLIC_KEY"
#: ``log_only`` < ``apply`` < ``enforce``: may raise the policy's mode, never lower it.
ENV_MODE: Final = "SECUREBEDROCK_MODE"
#: Key for HMAC-SHA256 content digests when ``audit.content = "digest"``.
ENV_AUDIT_HMAC_KEY: Final = "SECUREBEDROCK_AUDIT_HMAC_KEY"
#: Directory where a host remembers the highest policy release serial it accepted.
ENV_STATE_DIR: Final = "SECUREBEDROCK_STATE_DIR"
#: ``1``: also accept policy signatures made before the signing context string (deprecated).
ENV_ALLOW_LEGACY_SIGNATURES: Final = "SECUREBEDROCK_ALLOW_LEGACY_SIGNATURES"

#: The org policy file used when ``SECUREBEDROCK_POLICY_FILE`` is not set and it exists.
DEFAULT_POLICY_FILE: Final = "/etc/securebedrock/policy.toml"
#: The trust anchor: PEM Ed25519 public keys; when it exists, the org policy must be signed
#: by one of them, whatever the environment says. Root-owned, not group/world-writable.
TRUSTED_KEYS_FILE: Final = "/etc/securebedrock/trusted_keys.pem"
#: Where the highest accepted release serial is kept when ``SECUREBEDROCK_STATE_DIR`` is unset.
DEFAULT_STATE_DIR: Final = "/var/lib/securebedrock"
#: Suffix of the detached Ed25519 signature next to a policy file.
SIGNATURE_SUFFIX: Final = ".sig"

#: The only service a securebedrock client may be.
SERVICE_NAME: Final = "bedrock-runtime"
#: The control-plane service used to resolve inference profiles and guardrails.
CONTROL_PLANE_SERVICE_NAME: Final = "bedrock"

#: Environment variables botocore reads that change where or how a client connects.
ENV_ENDPOINT_URL_BEDROCK_RUNTIME: Final = "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"
ENV_ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
#: botocore's switch that turns the environment/config-file endpoint URLs off.
ENV_IGNORE_CONFIGURED_ENDPOINT_URLS: Final = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
ENV_BEARER_TOKEN_BEDROCK: Final = "AWS_BEARER_TOKEN_BEDROCK"  # noqa: S105 (a variable name)
#: The region variable botocore reads (with the config file's ``region``).
ENV_AWS_DEFAULT_REGION: Final = "AWS_DEFAULT_REGION"
#: The region variable the other AWS SDKs read; used when botocore finds no region.
ENV_AWS_REGION: Final = "AWS_REGION"
#: The CA bundle botocore verifies with; ``doctor`` handshakes with it too.
ENV_CA_BUNDLE: Final = "AWS_CA_BUNDLE"

#: Name of the audit logger (one structured record per decision, no content).
AUDIT_LOGGER_NAME: Final = "securebedrock.audit"
#: Instrumentation scope name for OpenTelemetry tracers and meters.
INSTRUMENTATION_NAME: Final = "securebedrock"

ENVIRONMENT_VARIABLES: Final = (
    ENV_POLICY_FILE,
    ENV_POLICY_PUBLIC_KEY,
    ENV_MODE,
    ENV_AUDIT_HMAC_KEY,
    ENV_STATE_DIR,
    ENV_ALLOW_LEGACY_SIGNATURES,
)
