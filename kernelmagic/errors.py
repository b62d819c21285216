# SPDX-License-Identifier: MIT
"""The exception tree of kernelmagic.

Every error we raise on purpose derives from ``KernelMagicError``, so callers (the
magics, the CLI) can tell a learner's or a machine's problem, which gets one clear
message, from a bug of ours, which keeps its traceback::

    KernelMagicError
    ├── UsageError            a bad name, parameter or path given to us (also a ValueError)
    │   ├── ArgumentError     a magic's or command's arguments are wrong
    │   └── SolutionMarkerError  a lesson cell's BEGIN/END SOLUTION markers do not pair
    ├── SetupError            the host lacks something; the message names the fix
    │   ├── BundleMissing     no VM bundle built yet
    │   ├── BundleIncomplete  a half-built or damaged bundle
    │   ├── BundleBuildError  apt/dpkg could not produce a bundle
    │   └── VMLimitReached    a course server's cap on running VMs is reached
    ├── VMError               the lab VM itself
    │   ├── BootTimeout       QEMU started but the agent never answered
    │   ├── QEMUExited        QEMU ended on its own; carries its argv and log tail
    │   ├── VMNotRunning      a call that needs a running VM
    │   ├── KernelCrashed     oops/panic/lockup seen on the console; carries the report
    │   └── OperationStuck    insmod/rmmod/a guest command passed its deadline; carries
    │                         the stuck task's state and kernel stack
    ├── AgentError            the guest agent protocol failed or timed out
    │   └── AgentTimeout
    ├── GuestCommandError     a guest command exited non-zero (carries argv, status, output)
    ├── BuildError            kbuild failed; carries parsed diagnostics and the log
    └── ModuleError           insmod/rmmod/modprobe refused; carries errno and a hint
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class KernelMagicError(Exception):
    """Root of every error kernelmagic raises on purpose."""


class UsageError(KernelMagicError, ValueError):
    """A value the learner or user gave us is not acceptable; the message says why."""


class ArgumentError(UsageError):
    """A magic's (or command's) arguments are wrong; the message says what to write."""


class SolutionMarkerError(UsageError):
    """A ``BEGIN SOLUTION`` without its ``END SOLUTION`` (or the reverse) in a cell."""


class SetupError(KernelMagicError):
    """Something the lab needs on the host is missing; the message says how to fix it."""


class BundleMissing(SetupError):
    """No VM bundle has been built in the cache yet."""


class BundleIncomplete(SetupError):
    """The bundle folder exists but lacks files, or its manifest does not match."""


class BundleBuildError(SetupError):
    """Building the bundle from Debian packages failed."""


class VMLimitReached(SetupError):
    """Every lab VM slot of the course server, or of this learner, is taken.

    A SetupError, not a VMError: no VM was tried, and the accelerator probe must not
    take a full server for a KVM that does not work.
    """


class VMError(KernelMagicError):
    """The lab VM could not be started, reached, or stopped."""


class BootTimeout(VMError):
    """QEMU started but the guest agent did not answer before the deadline."""


class QEMUExited(VMError):
    """QEMU ended while we were starting or using it (not at our request)."""

    def __init__(self, message: str, *, argv: Sequence[str] = (), log_tail: str = "") -> None:
        super().__init__(message)
        self.argv = list(argv)
        self.log_tail = log_tail


class VMNotRunning(VMError):
    """An operation needs a running VM and there is none."""


class KernelCrashed(VMError):
    """The guest kernel reported an oops, panic, soft lockup or hung task.

    ``report`` is the report's text; ``crash``, when known, the parsed report
    (a ``kernelmagic.machine.crash.CrashReport``), so a view can decode it.
    """

    def __init__(self, message: str, report: str = "", *, crash: Any = None) -> None:
        super().__init__(message)
        self.report = report
        self.crash = crash


class OperationStuck(VMError):
    """A guest operation (insmod, rmmod, a shell command) did not finish by its deadline.

    ``stack`` holds the stuck task's kernel stack (``/proc/PID/stack`` lines, e.g.
    ``hang_init+0x1b/0x1000 [hang]``) and ``state`` its scheduler state, read while it
    was stuck; ``restarted`` says the lab VM was restarted because of it (a module stuck
    in init or exit can never be removed from a running kernel).
    """

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str] = (),
        seconds: float = 0.0,
        module: str = "",
        state: str = "",
        stack: Sequence[str] = (),
        restarted: bool = False,
        killed: bool = True,
    ) -> None:
        super().__init__(message)
        self.killed = killed  # False: a task waiting in the kernel, out of a signal's reach
        self.argv = list(argv)
        self.seconds = seconds
        self.module = module
        self.state = state
        self.stack = list(stack)
        self.restarted = restarted


class AgentError(KernelMagicError):
    """The guest agent answered with an error or broke the protocol."""


class AgentTimeout(AgentError):
    """The guest agent did not answer before the deadline."""


class GuestCommandError(KernelMagicError):
    """A command run in the guest exited with a non-zero status."""

    def __init__(
        self, argv: Sequence[str], exit_code: int, stdout: str = "", stderr: str = ""
    ) -> None:
        self.argv = list(argv)
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr or stdout).strip()
        msg = f"{' '.join(self.argv)} exited with status {exit_code}"
        super().__init__(f"{msg}: {detail}" if detail else msg)


class BuildError(KernelMagicError):
    """kbuild failed; ``diagnostics`` holds what the compiler and modpost said."""

    def __init__(self, message: str, diagnostics: Sequence[Any] = (), log: str = "") -> None:
        super().__init__(message)
        self.diagnostics = list(diagnostics)
        self.log = log


class ModuleError(KernelMagicError):
    """The guest refused to load or unload a module."""

    def __init__(
        self,
        message: str,
        *,
        module: str = "",
        errno_name: str = "",
        hint: str = "",
        output: str = "",
        log: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.module = module
        self.errno_name = errno_name
        self.hint = hint
        self.output = output
        self.log = list(log)
