"""Which way a change of one key goes: does the new value refuse more, or less?

Each merge rule (see ``_combine``) carries the comparison that matches its
order, so ``policy diff`` judges a key by the same fact the merge uses.
A change that cannot be ordered (a different endpoint, guardrail or profile;
a pattern list that gains an id) is ``loosen``: a reviewer must look at it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from ._lattice import cidrs_inside, models_inside

Direction = Literal["tighten", "loosen", "neutral"]
Judge = Callable[[Any, Any], Direction]


def ladder(order: tuple[str, ...]) -> Judge:
    """A value higher on ``order`` (listed loosest first) tightens."""

    def judge(old: Any, new: Any) -> Direction:
        return "tighten" if order.index(new) > order.index(old) else "loosen"

    return judge


def turned_on_tightens(old: Any, new: Any) -> Direction:
    return "tighten" if new and not old else "loosen"


def turned_on_loosens(old: Any, new: Any) -> Direction:
    return "loosen" if new and not old else "tighten"


def allow_list(old: Any, new: Any) -> Direction:
    """An allow-list: absent allows anything; a new element is something more allowed."""
    if new is None:
        return "loosen"
    if old is None:
        return "tighten"
    return "loosen" if set(new) - set(old) else "tighten"


def deny_list(old: Any, new: Any) -> Direction:
    return "loosen" if set(old or ()) - set(new or ()) else "tighten"


def models_allow(old: Any, new: Any) -> Direction:
    """Model globs: tighter when every new pattern is covered by an old one."""
    if new is None:
        return "loosen"
    if old is None:
        return "tighten"
    return "tighten" if models_inside(new, old) else "loosen"


def cidrs(old: Any, new: Any) -> Direction:
    """Address ranges: tighter when every new range lies inside an old one."""
    if not cidrs_inside(new, old):
        return "loosen"
    return "tighten" if not cidrs_inside(old, new) else "neutral"


def pin(old: Any, new: Any) -> Direction:
    """A pin, a mandated guardrail or a profile mapping: adding one tightens; removing or
    replacing one cannot be shown to be tighter."""
    return "tighten" if old in (None, "") else "loosen"


def declaration(old: Any, new: Any) -> Direction:
    """``inference_profile.known``: a declaration replaces a live look-up by a claim."""
    return "tighten" if new is None else "loosen"


def neutral(old: Any, new: Any) -> Direction:
    """No effect on what is allowed (evidence settings, release metadata)."""
    return "neutral"


def unjudged(old: Any, new: Any) -> Direction:
    """A key whose changes are not ordered: every change is for a reviewer to look at."""
    return "loosen"
