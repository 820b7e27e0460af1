"""``Policy.merge``: an overlay whose set keys are tightened into the floor's values."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from .._errors import PolicyConfigError
from ._combine import init_value, sections, tighten
from ._schema import SCHEMA_VERSION
from ._setkeys import _with_set_keys

if TYPE_CHECKING:
    from ._model import Policy


def merge(base: Policy, other: Policy, policy_type: type[Policy]) -> Policy:
    """``base`` with each key ``other`` sets combined by its rule (see :meth:`Policy.merge`).

    Every key of both is combined first, so two requirements that cannot both
    hold are refused whichever of them the overlay sets.
    """
    if not isinstance(other, policy_type):
        raise PolicyConfigError(
            "can only merge a Policy",
            found=type(other).__name__,
            expected="Policy",
            fix="pass a securebedrock.Policy",
        )
    overlay = other.set_keys
    tightened = tighten(policy_type, base, other)
    return _overlay(base, tightened, overlay, base.set_keys | overlay, policy_type)


def _overlay(
    base: Policy,
    tightened: Policy,
    overlay: frozenset[str],
    result_keys: frozenset[str],
    policy_type: type[Policy],
) -> Policy:
    """``base`` with the keys in ``overlay`` taken from ``tightened`` (the all-keys merge)."""
    rebuilt: dict[str, Any] = {}
    for name, cls in sections(policy_type).items():
        values = {
            f.name: init_value(
                getattr(tightened if f"{name}.{f.name}" in overlay else base, name), f
            )
            for f in fields(cls)
            if f.init
        }
        prefix = f"{name}."
        keys = (key[len(prefix) :] for key in result_keys if key.startswith(prefix))
        rebuilt[name] = _with_set_keys(cls(**values), keys)
    merged = policy_type(
        version=SCHEMA_VERSION,
        mode=tightened.mode if "mode" in overlay else base.mode,
        # The release names the org file: the floor's is reported.
        release=base.release,
        **rebuilt,
    )
    return _with_set_keys(merged, {"mode"} & result_keys)
