# SPDX-License-Identifier: MIT
"""refusals.py on its own: kmod's one-line messages and the errno names behind them.

The hints, which need a guest's log, are tested through the operations in test_kmod.py.
"""

from __future__ import annotations

import pytest

from kernelmagic.guest.refusals import errno_from_message, tool_message
from kernelmagic.machine.exec_result import ExecResult


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            ExecResult(1, "", "insmod: ERROR: could not insert module /m/a.ko: File exists\n"),
            "could not insert module /m/a.ko: File exists",
        ),
        (
            ExecResult(1, "", "rmmod: ERROR: Module hello is not currently loaded\n"),
            "Module hello is not currently loaded",
        ),
        (
            ExecResult(1, "", "modprobe: FATAL: Module x not found in directory /lib/modules/6\n"),
            "Module x not found in directory /lib/modules/6",
        ),
        (ExecResult(1, "only on stdout\n", ""), "only on stdout"),
        (ExecResult(3, "", ""), "exit status 3"),
        (ExecResult(1, "", "first\n\nlast line counts\n\n"), "last line counts"),
    ],
)
def test_tool_message_is_kmods_last_line_without_its_prefix(
    result: ExecResult, message: str
) -> None:
    assert tool_message(result) == message


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ("could not insert module /m/a.ko: File exists", "EEXIST"),
        ("could not insert module /m/a.ko: Unknown symbol in module", "ENOENT"),
        ("could not insert module /m/a.ko: Invalid parameters", "EINVAL"),
        ("could not insert module /m/a.ko: Invalid module format", "ENOEXEC"),
        ("could not remove module hello: Device or resource busy", "EBUSY"),
        ("Module hello is not currently loaded", ""),
    ],
)
def test_errno_from_message(message: str, name: str) -> None:
    assert errno_from_message(message) == name
