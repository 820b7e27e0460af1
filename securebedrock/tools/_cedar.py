"""The one place that imports cedarpy, lazily.

``import securebedrock.tools`` must work without the ``cedar`` extra; only
*using* the gate needs it, and then fails with an error that names the extra.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import CedarNotInstalledError


def cedarpy() -> ModuleType:
    """Return the imported ``cedarpy`` module, or raise :class:`CedarNotInstalledError`."""
    try:
        module = importlib.import_module("cedarpy")
    except ImportError as exc:  # also covers sys.modules["cedarpy"] = None
        raise CedarNotInstalledError(f"cedarpy cannot be imported ({exc})") from None
    # The handles we rely on (parse once, evaluate many times) arrived in cedarpy 4.x.
    missing = [
        name
        for name in ("PolicySet", "Schema", "is_authorized", "validate_policies")
        if not hasattr(module, name)
    ]
    if missing:
        version = getattr(module, "__version__", "unknown")
        raise CedarNotInstalledError(
            f"cedarpy {version} lacks {', '.join(missing)}; cedarpy>=4.1 is required"
        )
    return module
