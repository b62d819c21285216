# SPDX-License-Identifier: MIT
"""What the guest operations need from a running VM, and nothing more.

``LabVM`` provides it, and so does any fake guest a unit test builds: the modules of
this layer call only these methods, so a test's fake can answer every one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from kernelmagic.machine.exec_result import ExecResult

__all__ = ["Guest"]


class Guest(Protocol):
    """A running guest: run an argv in it, name a shared host file there, let it settle.

    ``spawn`` and ``poll`` run a command that is watched while it runs (the deadlines of
    :mod:`kernelmagic.guest.watched`); ``report_stuck_cpu`` is what that watch does
    when the guest stops answering altogether.
    """

    def exec(
        self, argv: Sequence[str], *, timeout: float = ..., input: bytes | None = ...,
        check: bool = ...,
    ) -> ExecResult: ...  # fmt: skip

    def spawn(self, argv: Sequence[str]) -> int:
        """Start argv without waiting for it; returns its guest pid."""
        ...

    def poll(self, pid: int, timeout: float = ...) -> ExecResult | None:
        """The spawned command's result, or None while it runs (AgentTimeout: silent guest)."""
        ...

    def report_stuck_cpu(self) -> bool:
        """Make a CPU that does not come back report where it is; False when impossible."""
        ...

    def guest_path(self, host_path: Path) -> str: ...

    def wait_settled(self) -> None:
        """Return once the guest's start-up work is done, so its kernel log is stable."""
        ...
