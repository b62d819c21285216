# SPDX-License-Identifier: MIT
"""What a workspace works with and gives back: the lab machine it needs, its
builder, a module's sources, and what an operation changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from kernelmagic.guest.kmod import ModuleOperation
from kernelmagic.guest.protocol import Guest
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.kbuild.sources import CellSource
from kernelmagic.machine.accel import AccelChoice
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.vm import VMStatus

__all__ = ["Builder", "Console", "LabMachine", "LastOperation", "ModuleChange", "ModuleSources"]


class Console(Protocol):
    """The serial console's recorder, as the workspace's users read it."""

    def mark(self) -> int: ...

    def quiet_mark(self) -> int: ...

    def text(self) -> str: ...

    def tail(self, n: int) -> list[str]: ...

    @property
    def crashes(self) -> list[CrashReport]: ...

    def crashes_since(self, mark: int) -> list[CrashReport]: ...


class LabMachine(Guest, Protocol):
    """What a workspace and its users need of a lab VM: ``LabVM``, or a test's fake."""

    accel: AccelChoice | None
    boot_seconds: float | None

    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...

    def kill(self) -> None: ...

    def is_running(self) -> bool: ...

    def status(self) -> VMStatus: ...

    @property
    def console(self) -> Console: ...

    @property
    def crash(self) -> CrashReport | None: ...


class Builder(Protocol):
    """``build_module``'s signature; tests give a fake kbuild."""

    def __call__(
        self, name: str, sources: dict[str, str], *, cflags: str = ...,
        extra_symbols: Sequence[Path] = ...,
    ) -> BuildResult: ...  # fmt: skip


@dataclass
class ModuleSources:
    """The files of one module, by file name, each remembering its cell."""

    files: dict[str, CellSource] = field(default_factory=dict)
    cflags: str = ""

    def texts(self) -> dict[str, str]:
        return {name: f.text for name, f in self.files.items()}

    @property
    def has_main(self) -> bool:
        """Whether its ``%%kmodule`` cell has run (``%%kfile`` cells alone do not build)."""
        return any(f.main for f in self.files.values())


@dataclass(frozen=True)
class ModuleChange:
    """What a load, an unload or a modprobe did in the guest.

    ``operation`` holds the kernel log records it caused (with ``reloaded``, those of
    unloading the copy that was loaded before, too), at most the last 200; ``omitted``
    counts those left out (a flood). ``loaded`` and ``removed`` are the modules a
    modprobe added (in load order) or took away. ``notices`` say what was done first
    and why (the VM restarted because an earlier oops left the module half-loaded).
    """

    operation: ModuleOperation
    loaded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reloaded: bool = False
    notices: list[str] = field(default_factory=list)
    omitted: int = 0

    @property
    def log_text(self) -> str:
        """The kernel log messages it caused, one per line."""
        return self.operation.log_text


@dataclass(frozen=True)
class LastOperation:
    """How the last insmod, rmmod or modprobe of a module in this workspace ended.

    Kept across restarts of the VM, unlike the load marks: a restart that mends a
    kernel after a hung ``rmmod`` also erases everything a check would look at, so
    only this record tells a check that the module's exit never finished.
    ``outcome`` is "done", "refused" (the kernel said no, with an errno), "stuck"
    (past its deadline; the VM was restarted), "crashed" (an oops or panic killed it)
    or "interrupted" (the stop button).
    """

    action: str  # "insmod hello", "rmmod hello", "modprobe -r tcp_lp"
    unload: bool
    outcome: str

    @property
    def troubled(self) -> bool:
        """Whether it left the module in a state no check can trust."""
        return self.outcome in ("stuck", "crashed", "interrupted")

    def describe(self) -> str:
        """The outcome in words, for a check's message."""
        part = "exit" if self.unload else "init"
        return {
            "done": f"{self.action} worked",
            "refused": f"{self.action} was refused",
            "stuck": f"{self.action} never returned (the module's {part} function did not "
            "finish); the lab VM was restarted, which removed everything the module had "
            "made, so nothing of it can be checked",
            "crashed": f"{self.action} crashed the kernel (in the module's {part} function)",
            "interrupted": f"{self.action} was interrupted before it finished",
        }.get(self.outcome, f"{self.action}: {self.outcome}")
