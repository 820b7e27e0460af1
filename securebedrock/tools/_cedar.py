"""The one place that imports cedarpy, lazily.

``import securebedrock.tools`` must work without the ``cedar`` extra; only
*using* the gate needs it, and then fails with an error that names the extra.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType
from typing import Final

from ._errors import CedarNotInstalledError

#: The first cedarpy with both pre-parsed handles (``PolicySet`` from 4.8.5, ``Schema``
#: from 4.8.7): without them every evaluation would re-parse the policies and schema.
MINIMUM_CEDARPY: Final = "4.8.7"
_REQUIRED = (
    "PolicySet",
    "Schema",
    "Decision",
    "is_authorized",
    "validate_policies",
    "policies_to_json_str",
)


def cedarpy() -> ModuleType:
    """Return the imported ``cedarpy`` module, or raise :class:`CedarNotInstalledError`."""
    try:
        module = importlib.import_module("cedarpy")
    except ImportError as exc:  # also covers sys.modules["cedarpy"] = None
        raise CedarNotInstalledError(f"cedarpy cannot be imported ({exc})") from None
    missing = [name for name in _REQUIRED if not hasattr(module, name)]
    if missing:
        try:
            version = importlib.metadata.version("cedarpy")
        except importlib.metadata.PackageNotFoundError:
            version = "of unknown version"
        raise CedarNotInstalledError(
            f"cedarpy {version} lacks {', '.join(missing)}; cedarpy>={MINIMUM_CEDARPY} is required"
        )
    return module
