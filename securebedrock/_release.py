"""``[release]``: which release of the org policy a file is, and until when it is valid.

```toml
[release]
id = "2026-12-acme-7"            # free text for humans and dashboards (1-128 printable chars)
serial = 7                       # increases with every release; a host refuses a lower one
expires = 2027-03-01T00:00:00Z   # an offset datetime; an expired file is refused
```

The section is pure data and validated like every other section; the clock
check (:func:`check_not_expired`) and the host's high-water mark
(:mod:`securebedrock._rollback`) are applied where a file is accepted
(discovery, ``policy sign``/``verify``/``validate``), never per call.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import PolicyConfigError

__all__ = ["MAX_ID_LENGTH", "MAX_SERIAL", "ReleasePolicy", "check_not_expired", "release_from"]

#: Longest accepted ``release.id`` (it is written on every span).
MAX_ID_LENGTH = 128
#: Largest accepted ``release.serial`` (a signed 64-bit integer, as TOML integers are).
MAX_SERIAL = 2**63 - 1
_KEYS = ("id", "serial", "expires")


def _err(path: str, summary: str, found: str, expected: str, fix: str) -> PolicyConfigError:
    return PolicyConfigError(summary, path=path, found=found, expected=expected, fix=fix)


def _show(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def _parse_expires(value: object) -> datetime.datetime | None:
    if value is None:
        return None
    expected = "a TOML offset datetime such as 2027-03-01T00:00:00Z (unquoted, with an offset)"
    moment: object = value
    if isinstance(value, str):
        # Only to read back ``to_dict()`` output; a file should use the TOML datetime type.
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _err(
                "release.expires",
                "is not a datetime",
                _show(value),
                expected,
                "write expires = 2027-03-01T00:00:00Z",
            ) from None
    if not isinstance(moment, datetime.datetime):
        raise _err(
            "release.expires",
            "must be an offset datetime",
            _show(value),
            expected,
            "write a full date and time with an offset, e.g. 2027-03-01T00:00:00Z",
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _err(
            "release.expires",
            "must carry a UTC offset",
            _show(value),
            expected,
            "add Z (UTC) or an offset such as +01:00: a local time means different "
            "instants on different hosts",
        )
    return moment.astimezone(datetime.timezone.utc)


@dataclass(frozen=True, kw_only=True)
class ReleasePolicy:
    """``[release]``: the release id (free text), its serial, and when it expires (UTC)."""

    serial: int
    id: str = ""
    expires: datetime.datetime | None = None

    def __post_init__(self) -> None:
        serial: object = self.serial
        if type(serial) is not int or not 0 <= serial <= MAX_SERIAL:
            raise _err(
                "release.serial",
                "must be a non-negative integer",
                _show(serial),
                f"an integer from 0 to {MAX_SERIAL}, increased with every release",
                "write serial = 1 for the first release and add one for each next one",
            )
        ident: object = self.id
        if (
            not isinstance(ident, str)
            or len(ident) > MAX_ID_LENGTH
            or ident != ident.strip()
            or not ident.isprintable()
        ):
            raise _err(
                "release.id",
                "is not a usable release id",
                _show(ident),
                f"a string of at most {MAX_ID_LENGTH} printable characters without "
                'surrounding spaces, e.g. "2026-12-acme-7"',
                "shorten the id and remove control characters and surrounding spaces",
            )
        object.__setattr__(self, "expires", _parse_expires(self.expires))

    def expires_text(self) -> str:
        """``expires`` in RFC 3339 (UTC, ``Z``), or ``""`` when the release never expires."""
        if self.expires is None:
            return ""
        return self.expires.isoformat().replace("+00:00", "Z")

    def to_dict(self) -> dict[str, Any]:
        """The section as a JSON-compatible dict (``expires`` as an RFC 3339 string)."""
        out: dict[str, Any] = {"id": self.id, "serial": self.serial}
        if self.expires is not None:
            out["expires"] = self.expires_text()
        return out

    def to_toml_lines(self) -> list[str]:
        """The section's ``key = value`` lines (``expires`` as an unquoted TOML datetime)."""
        lines = [f"id = {json.dumps(self.id, ensure_ascii=False)}", f"serial = {self.serial}"]
        if self.expires is not None:
            lines.append(f"expires = {self.expires_text()}")
        return lines

    def describe(self) -> str:
        """One line for humans: ``release "2026-12-acme-7" serial 7, expires ...``."""
        name = f'release "{self.id}" ' if self.id else "release "
        expiry = f", expires {self.expires_text()}" if self.expires else ", never expires"
        return f"{name}serial {self.serial}{expiry}"


def release_from(table: object) -> ReleasePolicy:
    """Validate the ``[release]`` table of a file (unknown keys rejected with their path)."""
    if not isinstance(table, Mapping):
        raise _err(
            "release",
            "must be a table",
            _show(table),
            "a [release] table with id, serial and expires",
            "write [release] on its own line, then the keys",
        )
    for name in table:
        if name not in _KEYS:
            raise PolicyConfigError(
                "unknown key",
                path=f"release.{name}",
                found=_show(table[name]),
                expected="one of the keys of [release]: " + ", ".join(_KEYS),
                fix="remove the key or fix its spelling (unknown keys are never ignored)",
            )
    if "serial" not in table:
        raise _err(
            "release.serial",
            "is required in [release]",
            "no `serial` key",
            "a non-negative integer that increases with every release",
            "add serial = N under [release]",
        )
    return ReleasePolicy(
        id=table.get("id", ""), serial=table["serial"], expires=table.get("expires")
    )


def check_not_expired(
    release: ReleasePolicy | None, *, source: str, now: datetime.datetime | None = None
) -> None:
    """Raise :class:`PolicyConfigError` when ``release`` has expired (fail closed)."""
    if release is None or release.expires is None:
        return
    current = now or datetime.datetime.now(datetime.timezone.utc)
    if current >= release.expires:
        raise PolicyConfigError(
            "the policy release has expired",
            path="release.expires",
            found=f"{source}: {release.describe()}; now {current:%Y-%m-%dT%H:%M:%SZ}",
            expected="a release whose expires is in the future",
            fix="install the current signed release of the org policy (or, if this host's "
            "clock is wrong, fix the clock); an expired file is never used, signed or not",
        )
