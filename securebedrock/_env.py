"""Reading environment settings, with one rule for empty values everywhere.

Every reader of an environment variable in securebedrock goes through this module, so
the same value means the same thing to the client, the tool gate, the CLI and
``doctor``:

- **securebedrock's own variables** (``SECUREBEDROCK_*``) are security settings. Unset
  means "not configured"; set but empty (or only white space) is a
  :class:`PolicyConfigError` naming the variable, because an empty value is almost
  always a templating slip (``SECUREBEDROCK_MODE=${MODE}`` with ``MODE`` undefined), and
  reading it as "unset" would silently drop a setting someone meant to make. The fix
  is to give it a value or to unset it.
- **AWS variables** (``AWS_*``) are read as botocore reads them, so that securebedrock
  checks what the client will really do: empty is the same as unset.
- ``NO_COLOR`` follows https://no-color.org: set to a non-empty value.

The variables are read once, when a client, session, gate or command is built; never
per call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, cast

from ._constants import ENV_MODE
from ._errors import PolicyConfigError
from ._policy import MODE_LADDER

Mode = Literal["log_only", "apply", "enforce"]

#: Values of a yes/no setting, compared after ``strip().lower()``.
_TRUE: frozenset[str] = frozenset({"1", "true", "yes"})
_FALSE: frozenset[str] = frozenset({"0", "false", "no"})


def source(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """``environ`` when given (tests, ``DoctorOptions.environ``), else ``os.environ``."""
    return os.environ if environ is None else environ


def setting(name: str, environ: Mapping[str, str] | None = None, *, expected: str) -> str | None:
    """The value of securebedrock's own variable ``name``, or ``None`` when it is unset.

    Raises :class:`PolicyConfigError` when it is set but empty or only white space;
    ``expected`` says what a value looks like, for the message.
    """
    value = source(environ).get(name)
    if value is None:
        return None
    if not value.strip():
        raise PolicyConfigError(
            "set but empty",
            path=name,
            found=f"{name} is set to {value!r}",
            expected=f"{expected}, or {name} unset",
            fix=f"set {name} to {expected}, or unset it (an empty value is never read as "
            "unset, so that a templating slip cannot drop a security setting)",
        )
    return value


def flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """A yes/no variable of securebedrock's own: ``1``/``true``/``yes`` or ``0``/``false``/``no``.

    Unset is ``False``; empty or any other value is a :class:`PolicyConfigError`.
    """
    value = setting(name, environ, expected='"1" (on) or "0" (off)')
    if value is None:
        return False
    normal = value.strip().lower()
    if normal in _TRUE:
        return True
    if normal in _FALSE:
        return False
    raise PolicyConfigError(
        "unsupported value",
        path=name,
        found=f"{name}={value!r}",
        expected='"1", "true" or "yes" (on); "0", "false" or "no" (off); or unset',
        fix=f"set {name}=1 or unset it",
    )


def mode(environ: Mapping[str, str] | None = None) -> Mode | None:
    """``SECUREBEDROCK_MODE``: one of ``log_only``, ``apply``, ``enforce``, or ``None`` when unset.

    The value only says which stage is asked for; whoever reads it decides what it may
    do, and it may only ever tighten (see ``docs/environment.md``). Empty or any other
    value (``ENFORCE``, ``off``) is a :class:`PolicyConfigError`.
    """
    choices = " or ".join(f'"{stage}"' for stage in reversed(MODE_LADDER))
    value = setting(ENV_MODE, environ, expected=choices)
    if value is None:
        return None
    if value not in MODE_LADDER:
        raise PolicyConfigError(
            "unsupported policy mode in the environment",
            path=ENV_MODE,
            found=f"{ENV_MODE}={value!r}",
            expected=choices,
            fix=f"set {ENV_MODE}=enforce, or unset it",
        )
    return cast(Mode, value)


def aws_setting(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """An AWS variable as botocore reads it: ``None`` when unset or empty."""
    return source(environ).get(name) or None


def aws_flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """An AWS yes/no variable as botocore reads it: ``true`` (any case) is on, all else off."""
    return (aws_setting(name, environ) or "").lower() == "true"


def no_color(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``NO_COLOR`` asks for plain output: set to a non-empty value."""
    return bool(source(environ).get("NO_COLOR"))
