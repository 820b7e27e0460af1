"""What the figures ran on: they mean little without it."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> list[float] | None:
    """``os.getloadavg()`` (1, 5, 15 minutes), rounded; ``None`` where there is none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def describe() -> dict[str, Any]:
    """Processor count and model, OS, and the versions of everything in the measured path."""
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "botocore": _version("botocore"),
        "boto3": _version("boto3"),
        "urllib3": _version("urllib3"),
        "opentelemetry-sdk": _version("opentelemetry-sdk"),
        "securebedrock": _version("securebedrock"),
        # Other processes competing for the CPUs make every wall-clock figure noisier.
        "load_average": load_average(),
        "endpoint": "EmbeddedBedrock in a separate process",
    }
