"""Retry bounds (:class:`RetryConfig`) and switching botocore's own retries off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from botocore.client import BaseClient
from botocore.config import Config


@dataclass(frozen=True, kw_only=True)
class RetryConfig:
    """How a secured client retries a failed call (pass as ``retry=`` to ``client()``/``secure()``).

    ``max_attempts`` counts the first attempt (1 disables retries). No new
    attempt starts once ``total_timeout`` seconds have passed since the first
    began, and no backoff sleep runs past it. Backoff before attempt *n+1* is a
    uniformly random delay in ``[0, min(max_backoff, initial_backoff * 2**(n-1))]``
    (exponential backoff with full jitter).
    """

    max_attempts: int = 4
    total_timeout: float = 20.0
    initial_backoff: float = 0.5
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        checks = (
            ("max_attempts", self.max_attempts, self.max_attempts >= 1, "an integer >= 1"),
            ("total_timeout", self.total_timeout, self.total_timeout > 0, "seconds > 0"),
            ("initial_backoff", self.initial_backoff, self.initial_backoff >= 0, "seconds >= 0"),
            ("max_backoff", self.max_backoff, self.max_backoff >= 0, "seconds >= 0"),
        )
        for name, value, ok, expected in checks:
            if not ok:
                # A programming mistake, not a refusal: ValueError, like any library.
                raise ValueError(
                    f"invalid RetryConfig.{name}: found {value!r}, expected {expected}; "
                    f"pass RetryConfig({name}=...) with {expected}; "
                    "RetryConfig.disabled() turns retries off"
                )

    @classmethod
    def disabled(cls) -> RetryConfig:
        """A single attempt: no retries at all."""
        return cls(max_attempts=1)


def _never_retry(**_: Any) -> None:
    """Replaces botocore's ``needs-retry`` handler: ``None`` means "do not retry"."""
    return None


def disable_botocore_retries(client: BaseClient) -> None:
    """Make botocore send each request once on ``client`` (idempotent)."""
    service_event = client.meta.service_model.service_id.hyphenize()
    event = f"needs-retry.{service_event}"
    unique_id = f"retry-config-{service_event}"
    events = client.meta.events
    events.unregister(event, unique_id=unique_id)
    events.register(event, _never_retry, unique_id=unique_id)
    # Make introspection tell the truth. A new dict, never an in-place edit: botocore
    # shares the ``retries`` dict with the caller's own Config object.
    config = client.meta.config
    retries = {k: v for k, v in (getattr(config, "retries", None) or {}).items() if k == "mode"}
    retries["total_max_attempts"] = 1
    config.retries = retries  # type: ignore[attr-defined]  # untyped in botocore-stubs


def retry_config_of(config: Config | None) -> RetryConfig:
    """Our retry bounds for a botocore ``Config``: its ``total_max_attempts``, or
    ``max_attempts`` + 1 as botocore counts it; the defaults when it sets neither."""
    retries: dict[str, Any] = dict(getattr(config, "retries", None) or {})
    attempts: int | None = None
    if retries.get("total_max_attempts") is not None:
        attempts = int(retries["total_max_attempts"])
    elif retries.get("max_attempts") is not None:
        attempts = int(retries["max_attempts"]) + 1
    return RetryConfig(max_attempts=max(1, attempts)) if attempts is not None else RetryConfig()


def merge_boto_config(
    user_config: Config | None, retry: RetryConfig | None
) -> tuple[Config, RetryConfig]:
    """The botocore ``Config`` for a client we construct, and the retry bounds to use.

    An explicit ``retry=`` wins; otherwise the caller's ``retries`` setting
    (``total_max_attempts``, or ``max_attempts`` + 1 as botocore counts it) becomes
    our ``max_attempts``; otherwise the defaults.
    """
    user_retries: dict[str, Any] = dict(getattr(user_config, "retries", None) or {})
    if retry is None:
        retry = retry_config_of(user_config)
    ours: dict[str, Any] = {"total_max_attempts": 1}
    if user_retries.get("mode"):
        # Keep the mode: "adaptive" also rate-limits on the client side, which stays useful.
        ours["mode"] = user_retries["mode"]
    override = Config(retries=cast(Any, ours))
    merged = user_config.merge(override) if user_config is not None else override
    return merged, retry
