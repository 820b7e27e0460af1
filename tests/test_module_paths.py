"""The transport, doctor and tool-gate modules stay small, and their old import paths work.

They were split along their seams; code (and other branches) that imports a name from
the module it used to live in keeps working, and gets the very same object.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import securebedrock

PACKAGE = Path(securebedrock.__file__).parent

#: name -> the module that defines it, for every name still imported from an old path.
MOVED = {
    "securebedrock._transport": {
        "pinned_endpoint": "securebedrock._transport_checks",
        "dns_precheck": "securebedrock._transport_checks",
        "refuse": "securebedrock._transport_refusals",
        "forwarding_refused": "securebedrock._transport_refusals",
        "forwards_https": "securebedrock._transport_refusals",
        "ConnectionInfo": "securebedrock._transport_guard",
        "Guard": "securebedrock._transport_guard",
        "last_connection": "securebedrock._transport_guard",
        "reset_last_connection": "securebedrock._transport_guard",
        "tls_context": "securebedrock._transport_guard",
        "HardenedSession": "securebedrock._transport_session",
    },
    "securebedrock._transport_session": {
        "ConnectionInfo": "securebedrock._transport_guard",
        "Guard": "securebedrock._transport_guard",
        "harden_tls_context": "securebedrock._transport_guard",
        "last_connection": "securebedrock._transport_guard",
        "reset_last_connection": "securebedrock._transport_guard",
        "tls_context": "securebedrock._transport_guard",
        "tls_version": "securebedrock._transport_guard",
        "_last": "securebedrock._transport_guard",
        "refuse": "securebedrock._transport_refusals",
        "forwarding_refused": "securebedrock._transport_refusals",
        "forwards_https": "securebedrock._transport_refusals",
    },
    "securebedrock._doctor": {
        "CheckResult": "securebedrock._doctor_base",
        "DoctorOptions": "securebedrock._doctor_base",
        "Status": "securebedrock._doctor_base",
        "_Context": "securebedrock._doctor_base",
    },
    "securebedrock.tools._gate": {
        "Principal": "securebedrock.tools._decision",
        "ToolDecision": "securebedrock.tools._decision",
        "denied_tool_result": "securebedrock.tools._decision",
        "DECISION_EVENT": "securebedrock.tools._decision",
        "Mode": "securebedrock.tools._decision",
        "_audit_log": "securebedrock.tools._record",
    },
}


@pytest.mark.parametrize(
    ("old", "name", "home"),
    [(old, name, home) for old, names in MOVED.items() for name, home in names.items()],
)
def test_a_moved_name_is_still_importable_from_its_old_module(
    old: str, name: str, home: str
) -> None:
    old_module = importlib.import_module(old)
    new_module = importlib.import_module(home)
    new_name = "Context" if name == "_Context" else name
    assert getattr(old_module, name) is getattr(new_module, new_name)


@pytest.mark.parametrize(
    "module",
    [
        "_transport.py",
        "_transport_session.py",
        "_transport_guard.py",
        "_transport_checks.py",
        "_transport_refusals.py",
        "_doctor.py",
        "_doctor_base.py",
        "_doctor_local.py",
        "_doctor_network.py",
        "_doctor_control_plane.py",
        "tools/_gate.py",
        "tools/_decision.py",
        "tools/_record.py",
    ],
)
def test_split_modules_stay_under_450_lines(module: str) -> None:
    lines = (PACKAGE / module).read_text(encoding="utf-8").count("\n")
    assert lines <= 450, f"{module} has {lines} lines: split it along its seams"
