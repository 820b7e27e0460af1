"""Parse and classify Bedrock model identifiers and ARNs (pure, no I/O).

Every form botocore's ``modelId`` pattern admits is recognised::

    anthropic.claude-3-5-sonnet-20240620-v1:0                     foundation-model
    anthropic.claude-3-sonnet-20240229-v1:0:200k                  foundation-model (context variant)
    us.anthropic.claude-3-5-sonnet-20240620-v1:0                  inference-profile, geography "us"
    arn:aws:bedrock:us-east-1::foundation-model/<id>              foundation-model, region us-east-1
    arn:aws:bedrock:us-east-1:<acct>:inference-profile/<geo>.<id> inference-profile
    arn:aws:bedrock:us-east-1:<acct>:application-inference-profile/<12 chars>
    arn:aws:bedrock:...:provisioned-model/<id>, custom-model/<base>/<id>,
        custom-model-deployment/<id>, imported-model/<id>, prompt/<id>[:<version>],
        prompt-router/<name>, default-prompt-router/<name>
    arn:aws:sagemaker:<region>:<acct>:endpoint/<name>             sagemaker-endpoint

Anything else classifies as kind ``"unknown"``; callers fail closed on it.
:func:`parse_model_id` never raises.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final, Literal, cast

__all__ = [
    "GEOGRAPHIES",
    "ModelKind",
    "ModelRef",
    "parse_model_id",
    "region_geographies",
]

ModelKind = Literal[
    "foundation-model",
    "inference-profile",
    "application-inference-profile",
    "provisioned-model",
    "custom-model",
    "custom-model-deployment",
    "imported-model",
    "prompt",
    "prompt-router",
    "default-prompt-router",
    "sagemaker-endpoint",
    "unknown",
]

#: Geography prefixes of the system-defined (cross-region) inference profile ids (the
#: values ``regions.allowed_geographies`` takes). A prefix is matched with its dot, so
#: ``us-gov.`` is never read as ``us`` and the order here does not matter to parsing.
GEOGRAPHIES: Final[tuple[str, ...]] = ("us", "us-gov", "eu", "apac", "jp", "au", "ca", "global")

# A foundation model id: ``<provider>.<name>`` plus up to two ``:``-suffixes (the version,
# and a context-window variant such as ``:200k``). Provider and name are lowercase in every
# id Bedrock publishes; a third dotted part is not a foundation model (it is a geography
# prefix, or something we do not know).
_FOUNDATION_ID: Final = re.compile(
    r"(?P<provider>[a-z0-9](?:[a-z0-9-]{0,62}))\.(?P<name>[a-z0-9](?:[a-z0-9-]{0,62}))"
    r"(?::[a-z0-9-]{1,63}){0,2}"
)
_ARN: Final = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z0-9]+)*):(?P<service>bedrock|sagemaker):"
    r"(?P<region>[a-z0-9-]{1,32}):(?P<account>[0-9]{12})?:(?P<resource>.+)"
)
_REGION: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
_ACCOUNT_RESOURCE_ID: Final = re.compile(r"[a-z0-9]{12}")
_PROFILE_ID: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9:.-]*")
_PROMPT_ID: Final = re.compile(r"[0-9a-zA-Z]{10}(?::[0-9]{1,5})?")
_ROUTER_ID: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9:.-]*")
_SAGEMAKER_ENDPOINT: Final = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*)")

# Bedrock resource types whose ARNs need an account, and the pattern of their id.
_ACCOUNT_RESOURCES: Final[dict[ModelKind, re.Pattern[str]]] = {
    "provisioned-model": _ACCOUNT_RESOURCE_ID,
    "custom-model-deployment": _ACCOUNT_RESOURCE_ID,
    "imported-model": _ACCOUNT_RESOURCE_ID,
    "application-inference-profile": _PROFILE_ID,
    "inference-profile": _PROFILE_ID,
    "prompt": _PROMPT_ID,
    "prompt-router": _ROUTER_ID,
    "default-prompt-router": _ROUTER_ID,
}
_CUSTOM_MODEL: Final = re.compile(
    r"(?P<base>[a-z0-9-]{1,63}\.[a-z0-9-]{1,63}(?::[a-z0-9-]{1,63}){0,2})/"
    r"(?P<id>[a-z0-9]{12})"
)
_MAX_LENGTH: Final = 2048


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRef:
    """What a model identifier names.

    ``base_model_id`` is the foundation model id (``anthropic.claude-3-5-sonnet-20240620-v1:0``)
    when the identifier itself tells it (foundation model ids and ARNs, system inference
    profiles), else ``None`` (application profiles need resolving; custom, provisioned,
    imported models, prompts, routers and SageMaker endpoints do not say).
    ``geography`` is the system profile prefix (``us``, ``eu``, ``global``, ...);
    ``region``, ``partition`` and ``account`` come from an ARN (``None`` for plain ids);
    ``resource_id`` is the part after the resource type (or the plain id itself).
    """

    kind: ModelKind
    raw: str
    base_model_id: str | None = None
    geography: str | None = None
    region: str | None = None
    partition: str | None = None
    account: str | None = None
    resource_id: str | None = None

    @property
    def is_arn(self) -> bool:
        """Whether the identifier was an ARN."""
        return self.partition is not None

    @property
    def is_inference_profile(self) -> bool:
        """Whether the identifier names an inference profile (system or application)."""
        return self.kind in ("inference-profile", "application-inference-profile")


def _split_geography(profile_id: str) -> tuple[str, str] | None:
    """``us.anthropic.x-v1:0`` -> ``("us", "anthropic.x-v1:0")`` when the rest is a model id."""
    for geography in GEOGRAPHIES:
        prefix = geography + "."
        if profile_id.startswith(prefix):
            rest = profile_id[len(prefix) :]
            if _FOUNDATION_ID.fullmatch(rest):
                return geography, rest
            return None
    return None


def _parse_plain(raw: str) -> ModelRef:
    if _FOUNDATION_ID.fullmatch(raw):
        return ModelRef(kind="foundation-model", raw=raw, base_model_id=raw, resource_id=raw)
    split = _split_geography(raw)
    if split is not None:
        geography, base = split
        return ModelRef(
            kind="inference-profile",
            raw=raw,
            base_model_id=base,
            geography=geography,
            resource_id=raw,
        )
    return ModelRef(kind="unknown", raw=raw)


def _parse_arn(raw: str, match: re.Match[str]) -> ModelRef:
    partition = match["partition"]
    region = match["region"]
    account = match["account"]
    resource = match["resource"]
    unknown = ModelRef(kind="unknown", raw=raw)
    if not _REGION.fullmatch(region):
        return unknown
    resource_type, slash, resource_id = resource.partition("/")
    if not slash or not resource_id:
        return unknown

    def ref(kind: ModelKind, base: str | None = None, geography: str | None = None) -> ModelRef:
        return ModelRef(
            kind=kind,
            raw=raw,
            base_model_id=base,
            geography=geography,
            region=region,
            partition=partition,
            account=account,
            resource_id=resource_id,
        )

    if match["service"] == "sagemaker":
        if resource_type == "endpoint" and account and _SAGEMAKER_ENDPOINT.fullmatch(resource_id):
            return ref("sagemaker-endpoint")
        return unknown
    if resource_type == "foundation-model":
        # Foundation models are AWS-owned: their ARNs carry no account.
        if account is None and _FOUNDATION_ID.fullmatch(resource_id):
            return ref("foundation-model", base=resource_id)
        return unknown
    if account is None:
        return unknown
    if resource_type == "custom-model":
        custom = _CUSTOM_MODEL.fullmatch(resource_id)
        if custom is None:
            return unknown
        return ref("custom-model")
    # Each account resource type is the name of its kind (the map's keys are typed so).
    kind = cast(ModelKind, resource_type)
    pattern = _ACCOUNT_RESOURCES.get(kind)
    if pattern is None or not pattern.fullmatch(resource_id):
        return unknown
    if kind == "inference-profile":
        split = _split_geography(resource_id)
        if split is not None:
            return ref("inference-profile", base=split[1], geography=split[0])
        # A system profile id without a known geography prefix: resolved like an
        # application profile (the control plane says where it routes).
        return ref("inference-profile")
    return ref(kind)


@functools.lru_cache(maxsize=4096)
def parse_model_id(raw: str) -> ModelRef:
    """Classify a model identifier or ARN; never raises (unknown forms: kind ``"unknown"``)."""
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_LENGTH:
        return ModelRef(kind="unknown", raw=str(raw)[:_MAX_LENGTH])
    if raw.startswith("arn:"):
        match = _ARN.fullmatch(raw)
        if match is None:
            return ModelRef(kind="unknown", raw=raw)
        return _parse_arn(raw, match)
    return _parse_plain(raw)


# Which system-profile geographies a region belongs to. Japan and Australia profiles are
# subsets of APAC; regions outside every geography are reachable only through ``global``.
_REGION_GEOGRAPHY_PREFIXES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("us-gov-", ("us-gov",)),
    ("us-", ("us",)),
    ("eu-", ("eu",)),
    ("ca-", ("ca",)),
    ("ap-northeast-1", ("apac", "jp")),
    ("ap-northeast-3", ("apac", "jp")),
    ("ap-southeast-2", ("apac", "au")),
    ("ap-southeast-4", ("apac", "au")),
    ("ap-", ("apac",)),
)


@functools.lru_cache(maxsize=256)
def region_geographies(region: str) -> frozenset[str]:
    """The system-profile geographies ``region`` belongs to (``global`` is implied by all)."""
    for prefix, geographies in _REGION_GEOGRAPHY_PREFIXES:
        if region == prefix or (prefix.endswith("-") and region.startswith(prefix)):
            return frozenset(geographies)
    return frozenset()
