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
    """A running guest: run an argv in it, name a shared host file there, let it settle."""

    def exec(
        self, argv: Sequence[str], *, timeout: float = ..., input: bytes | None = ...,
        check: bool = ...,
    ) -> ExecResult: ...  # fmt: skip

    def guest_path(self, host_path: Path) -> str: ...

    def wait_settled(self) -> None:
        """Return once the guest's start-up work is done, so its kernel log is stable."""
        ...
