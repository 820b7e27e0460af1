"""Fail-open helpers: telemetry code never raises into a Bedrock call."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from botocore.exceptions import ClientError

from .._constants import INSTRUMENTATION_NAME

__all__ = ["error_type", "log", "qualified", "safe"]

log = logging.getLogger(f"{INSTRUMENTATION_NAME}.telemetry")

F = TypeVar("F", bound=Callable[..., Any])


def safe(fn: F) -> F:
    """Run telemetry code fail-open: log the exception *type* at DEBUG and return ``None``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            # Type only: a message could quote an attribute value.
            log.debug(
                "securebedrock telemetry error in %s: %s", fn.__qualname__, type(exc).__name__
            )
            return None

    return cast(F, wrapper)


def error_type(exc: BaseException) -> str:
    """Low-cardinality ``error.type``: the AWS error code, else the exception class name."""
    if isinstance(exc, ClientError):
        code = (exc.response.get("Error") or {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__qualname__


def qualified(exc: BaseException) -> str:
    """``module.QualifiedName`` of an exception's class (the ``exception.type`` attribute)."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"
