"""Imports run one way: every module of ``securebedrock`` lives in a room, and a room
imports only from itself and from rooms on a lower tier.

The rooms, bottom to top (the same diagram is in ``docs/concepts.md``):

====  ============================  ==============================================
tier  rooms                         what lives there
====  ============================  ==============================================
0     ``core``                      pure data and logic: errors, constants, the
                                    version, environment settings, model ids, the
                                    operations table, TOML, the policy, the rules
                                    engine, snapshots, digests, URL and address
                                    checks
1     ``host``, ``testing``         this host's org policy (discovery, signatures,
                                    trust anchor, rollback state); the embedded
                                    Bedrock endpoint, which only the demo and the
                                    CLI may import
2     ``telemetry``, ``wire``,      spans and the audit log; the last check on the
      ``retry``, ``tools``          prepared request; retries; the Cedar tool gate
3     ``transport``                 hardened HTTP sessions (botocore, httpx,
                                    aiohttp) and the control-plane resolver
4     ``adapter``                   the per-call decide/enforce/record step
5     ``facade``, ``doctor``,       ``client()``/``Session``/``secure()``/``install``;
      ``export``                    the environment check; IAM/SCP/VPCE export
6     ``cli``                       the command line and the demo
====  ============================  ==============================================

Rooms on the same tier are siblings and do not import one another: telemetry does not
reach into the transport (the connection facts are handed to it), and ``doctor`` runs
the transport's own checks rather than the client facade's private constructor.

Modules are matched to rooms by the longest module-name prefix in :data:`LAYER_MAP`,
so a module split into ``_x_part.py`` siblings or an ``_x/`` package stays in its
room. A new module that matches no prefix fails :func:`test_every_module_is_in_a_room`
until it is added to the map.

Every import counts, wherever it stands: module level, inside a function (a late
import is still a dependency), or under ``if TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "securebedrock"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE
CONCEPTS = PACKAGE_DIR.parent / "docs" / "concepts.md"


@dataclass(frozen=True, kw_only=True)
class Room:
    """A set of modules with one job, and who may import it."""

    name: str
    tier: int
    #: When set, only these rooms (and the room itself) may import it.
    only_for: frozenset[str] | None = None


ROOMS: dict[str, Room] = {
    room.name: room
    for room in (
        Room(name="core", tier=0),
        Room(name="host", tier=1),
        Room(name="testing", tier=1, only_for=frozenset({"cli"})),
        Room(name="telemetry", tier=2),
        Room(name="wire", tier=2),
        Room(name="retry", tier=2),
        Room(name="tools", tier=2),
        Room(name="transport", tier=3),
        Room(name="adapter", tier=4),
        Room(name="facade", tier=5),
        Room(name="doctor", tier=5),
        Room(name="export", tier=5),
        Room(name="cli", tier=6),
    )
}

#: Module-name prefix -> room. The longest matching prefix wins; a prefix matches the
#: module itself, ``prefix_part`` siblings and ``prefix.sub`` package members. The
#: package root is matched exactly (it is the facade: it re-exports the public API).
LAYER_MAP: dict[str, str] = {
    # core: pure data and logic; no network, and no file read on the per-call path.
    "securebedrock._errors": "core",
    "securebedrock._constants": "core",
    "securebedrock._version": "core",
    "securebedrock._env": "core",
    "securebedrock._toml": "core",
    "securebedrock._modelid": "core",
    "securebedrock._operations": "core",
    # The semantic-convention names are data the operations table names operations by.
    "securebedrock._telemetry_semconv": "core",
    "securebedrock._telemetry.semconv": "core",
    "securebedrock._telemetry._semconv": "core",
    "securebedrock._urls": "core",
    "securebedrock._netcheck": "core",
    "securebedrock._fips": "core",
    "securebedrock._policy": "core",
    "securebedrock._release": "core",
    "securebedrock._bounded": "core",
    "securebedrock._rules": "core",
    "securebedrock._snapshot": "core",
    "securebedrock._digest": "core",
    # host: finding, verifying and remembering this host's org policy.
    "securebedrock._discovery": "host",
    "securebedrock._signing": "host",
    "securebedrock._trust": "host",
    "securebedrock._rollback": "host",
    # testing: the embedded Bedrock endpoint.
    "securebedrock.testing": "testing",
    # tier 2 siblings.
    "securebedrock._telemetry": "telemetry",
    "securebedrock._wire": "wire",
    "securebedrock._retry": "retry",
    "securebedrock.tools": "tools",
    # transport: hardened sessions and what builds clients on them.
    "securebedrock._transport": "transport",
    "securebedrock._httpx": "transport",
    "securebedrock.aio._transport": "transport",
    "securebedrock._profiles": "transport",
    # adapter
    "securebedrock._adapter": "adapter",
    # tier 5 siblings.
    "securebedrock._client": "facade",
    "securebedrock._install": "facade",
    "securebedrock.aio": "facade",
    "securebedrock._doctor": "doctor",
    "securebedrock._export": "export",
    # cli
    "securebedrock._cli": "cli",
    "securebedrock.__main__": "cli",
    "securebedrock._demo": "cli",
}

#: Wrong-way imports that remain only until the module that makes them is reworked.
#: (importer prefix, imported prefix) -> why it is tolerated for now. Nothing else is.
ALLOWED_WRONG_WAY: dict[tuple[str, str], str] = {
    # TEMPORARY: doctor builds its test client with the facade's private constructor;
    # it goes once doctor uses the transport's own construction.
    ("securebedrock._doctor", "securebedrock._client"): "doctor -> facade",
}


def room_of(module: str) -> str | None:
    """The room of ``module``, or ``None`` when no prefix in :data:`LAYER_MAP` matches."""
    if module == PACKAGE:
        return "facade"
    best = ""
    for prefix in LAYER_MAP:
        if module.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return LAYER_MAP[best] if best else None


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    """``securebedrock/_cli/doctor.py`` -> ``securebedrock._cli.doctor``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


@dataclass(frozen=True)
class Import:
    """One import of a package module: who imports what, and on which line."""

    importer: str
    imported: str
    line: int
    text: str


def imports_of(module: str, source: str, is_package: bool, known: set[str]) -> Iterator[Import]:
    """Every import of a ``securebedrock`` module in ``source``, at any depth of the tree.

    ``from . import _x`` counts as an import of ``securebedrock._x`` when that is a
    module (``known``), else of the package it is taken from.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield Import(module, alias.name, node.lineno, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            if origin != PACKAGE and not origin.startswith(PACKAGE + "."):
                continue
            text = f"from {'.' * node.level}{node.module or ''} import "
            for alias in node.names:
                candidate = f"{origin}.{alias.name}"
                target = candidate if candidate in known else origin
                yield Import(module, target, node.lineno, text + alias.name)


def allowance(found: Import) -> str | None:
    for (importer, imported), why in ALLOWED_WRONG_WAY.items():
        if found.importer.startswith(importer) and found.imported.startswith(imported):
            return why
    return None


def problem(found: Import) -> str | None:
    """Why ``found`` runs the wrong way, or ``None`` when it is allowed by the rooms."""
    source, target = room_of(found.importer), room_of(found.imported)
    if source is None or target is None or source == target:
        return None
    src, dst = ROOMS[source], ROOMS[target]
    if dst.only_for is not None and source not in dst.only_for:
        return (
            f"room {target!r} may only be imported by {sorted(dst.only_for)}, "
            f"not by room {source!r}"
        )
    if dst.tier < src.tier:
        return None
    relation = "a sibling room on the same tier" if dst.tier == src.tier else "a higher tier"
    return (
        f"room {source!r} (tier {src.tier}) may not import room {target!r} "
        f"(tier {dst.tier}): {relation}; imports run down the tiers only"
    )


def all_imports(root: Path = PACKAGE_DIR) -> list[Import]:
    modules = package_modules(root)
    found: list[Import] = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        found.extend(imports_of(name, path.read_text("utf-8"), is_package, set(modules)))
    return found


@functools.cache
def package_imports() -> tuple[Import, ...]:
    """Every import in the package, read once per test session."""
    return tuple(all_imports())


def violations(found: Iterable[Import]) -> list[tuple[Import, str]]:
    return [(imp, why) for imp in found if (why := problem(imp)) is not None]


def _describe(imp: Import, why: str) -> str:
    return f"{imp.importer} line {imp.line}: `{imp.text}` ({imp.imported}): {why}"


# --------------------------------------------------------------------------- the package


def test_every_module_is_in_a_room() -> None:
    unplaced = sorted(name for name in package_modules() if room_of(name) is None)
    assert not unplaced, (
        "modules in no room: "
        + ", ".join(unplaced)
        + ". Add each to LAYER_MAP in tests/test_import_layers.py (and to the diagram in "
        "docs/concepts.md): a room is where a module's imports are checked against the "
        "one direction"
    )


def test_every_layer_map_entry_names_a_room() -> None:
    assert set(LAYER_MAP.values()) <= set(ROOMS)
    assert set(ROOMS) <= {*LAYER_MAP.values(), "facade"}


def test_imports_run_one_way() -> None:
    wrong = [(imp, why) for imp, why in violations(package_imports()) if allowance(imp) is None]
    assert not wrong, "imports that run the wrong way:\n" + "\n".join(
        _describe(imp, why) for imp, why in wrong
    )


def test_every_allow_list_entry_is_still_needed() -> None:
    used = {allowance(imp) for imp, _ in violations(package_imports())}
    stale = [
        f"{importer} -> {imported}"
        for (importer, imported), why in ALLOWED_WRONG_WAY.items()
        if why not in used
    ]
    assert not stale, (
        "ALLOWED_WRONG_WAY entries that no import needs any more (remove them): " + ", ".join(stale)
    )


def test_the_diagram_names_every_room() -> None:
    text = CONCEPTS.read_text("utf-8")
    section = text.partition("## Rooms and the direction of imports")[2]
    assert section, "docs/concepts.md has lost its 'Rooms and the direction of imports' section"
    missing = [name for name in ROOMS if not re.search(rf"\b{re.escape(name)}\b", section)]
    assert not missing, f"rooms missing from the diagram in docs/concepts.md: {missing}"


# --------------------------------------------------------------------------- the checker


def _check(tmp_path: Path, files: dict[str, str]) -> list[str]:
    root = tmp_path / PACKAGE
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, "utf-8")
    return [_describe(imp, why) for imp, why in violations(all_imports(root))]


def test_checker_finds_a_late_import_inside_a_function(tmp_path: Path) -> None:
    found = _check(
        tmp_path,
        {
            "__init__.py": "",
            "_client.py": "",
            "_rules.py": "def evaluate():\n    from ._client import client\n    return client\n",
        },
    )
    assert found == [
        "securebedrock._rules line 2: `from ._client import client` (securebedrock._client): "
        "room 'core' (tier 0) may not import room 'facade' (tier 5): a higher tier; "
        "imports run down the tiers only"
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "from .. import _transport",
        "from .._transport_session import Session",
        "import securebedrock._transport",
        "from securebedrock import _transport",
        "if TYPE_CHECKING:\n    from .._transport import X",
    ],
)
def test_checker_resolves_every_import_form(tmp_path: Path, statement: str) -> None:
    found = _check(
        tmp_path,
        {
            "__init__.py": "",
            "_transport.py": "",
            "_transport_session.py": "",
            "_telemetry/__init__.py": "",
            "_telemetry/spans.py": statement + "\n",
        },
    )
    assert len(found) == 1
    assert found[0].startswith("securebedrock._telemetry.spans line ")
    assert "room 'telemetry' (tier 2) may not import room 'transport' (tier 3)" in found[0]


def test_checker_refuses_siblings_and_the_package_root(tmp_path: Path) -> None:
    found = _check(
        tmp_path,
        {
            "__init__.py": "",
            "_version.py": "",
            "_wire.py": "from ._retry import x\n",
            "_retry.py": "",
            "_telemetry.py": "from . import __version__\nfrom ._version import __version__\n",
        },
    )
    assert len(found) == 2
    assert "`from . import __version__` (securebedrock): room 'telemetry'" in found[0]
    assert "room 'wire' (tier 2) may not import room 'retry' (tier 2): a sibling" in found[1]


def test_checker_keeps_testing_for_the_demo(tmp_path: Path) -> None:
    found = _check(
        tmp_path,
        {
            "__init__.py": "",
            "testing/__init__.py": "",
            "_demo.py": "from .testing import EmbeddedBedrock\n",
            "_client.py": "from .testing import EmbeddedBedrock\n",
        },
    )
    assert found == [
        "securebedrock._client line 1: `from .testing import EmbeddedBedrock` "
        "(securebedrock.testing): room 'testing' may only be imported by ['cli'], "
        "not by room 'facade'"
    ]


def test_new_modules_join_their_room_by_prefix() -> None:
    assert room_of("securebedrock._policy.merge") == "core"
    assert room_of("securebedrock._rules_cache") == "core"
    assert room_of("securebedrock._telemetry.stream") == "telemetry"
    assert room_of("securebedrock._telemetry_semconv") == "core"
    assert room_of("securebedrock._transport_tls") == "transport"
    assert room_of("securebedrock._doctor_checks") == "doctor"
    assert room_of("securebedrock.tools._gate_stream") == "tools"
    assert room_of("securebedrock.aio._transport") == "transport"
    assert room_of("securebedrock.aio._client") == "facade"
    assert room_of("securebedrock._something_new") is None
