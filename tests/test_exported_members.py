"""The public surface is exactly what DESIGN.md promises; everything else is private."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import sys

import pytest

import securebedrock


def test_all_is_sorted_and_matches_public_names() -> None:
    assert list(securebedrock.__all__) == sorted(securebedrock.__all__)
    public = {name for name in dir(securebedrock) if not name.startswith("_")}
    # Submodules imported as a side effect of loading the package are not exports.
    submodules = {m.name for m in pkgutil.iter_modules(securebedrock.__path__)}
    # ``annotations`` is the __future__ feature object, not an export.
    assert public - submodules - {"annotations"} == set(securebedrock.__all__) - {"__version__"}


def test_contract_names_exist() -> None:
    for name in (
        "client",
        "Session",
        "secure",
        "Policy",
        "SecureBedrockError",
        "PolicyViolation",
        "PolicyConfigError",
        "TransportSecurityError",
        "RetryConfig",
        "install",
        "uninstall",
        "UnsecuredClientWarning",
        # Policy's sections, so a policy can be built in Python without TOML.
        "TLSPolicy",
        "NetworkPolicy",
        "GuardrailPolicy",
        "InferenceProfilePolicy",
        "KnownProfile",
        "RegionsPolicy",
        "ModelsPolicy",
        "ServiceTierPolicy",
        "AuthPolicy",
        "OperationsPolicy",
        "AuditPolicy",
    ):
        assert name in securebedrock.__all__


def test_error_hierarchy() -> None:
    for name in ("PolicyViolation", "PolicyConfigError", "TransportSecurityError"):
        assert issubclass(getattr(securebedrock, name), securebedrock.SecureBedrockError)


def test_private_modules_start_with_underscore() -> None:
    public_subpackages = {"aio", "testing", "tools"}
    for module in pkgutil.iter_modules(securebedrock.__path__):
        assert module.name.startswith("_") or module.name in public_subpackages, module.name


def test_public_subpackages_have_sorted_all() -> None:
    for name in ("securebedrock.aio", "securebedrock.testing", "securebedrock.tools"):
        if name == "securebedrock.aio" and importlib.util.find_spec("aiobotocore") is None:
            continue  # the aio extra is not installed here
        module = importlib.import_module(name)
        exported = list(module.__all__)
        assert exported == sorted(exported), name
        for item in exported:
            assert hasattr(module, item), f"{name}.{item}"


def test_aio_without_its_extra_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if aiobotocore were not installed (None in sys.modules makes its import fail).
    monkeypatch.setitem(sys.modules, "aiobotocore", None)
    for name in [
        n for n in sys.modules if n == "securebedrock.aio" or n.startswith("securebedrock.aio.")
    ]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=re.escape("pip install 'securebedrock[aio]'")):
        importlib.import_module("securebedrock.aio")
