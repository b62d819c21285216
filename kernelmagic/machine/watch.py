# SPDX-License-Identifier: MIT
"""When to stop waiting for the guest agent: QEMU is gone, or the kernel cannot go on.

The agent calls :class:`CrashWatch` every few tens of milliseconds while it waits (its
``abort_check``), so a dead kernel costs a fraction of a second instead of a full
deadline. The console is the witness: the agent cannot say that the kernel died.
"""

from __future__ import annotations

from kernelmagic.errors import KernelCrashed
from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.crash import CrashReport, goes_on
from kernelmagic.machine.process import QEMUProcess

__all__ = ["CrashWatch", "stops_the_guest"]

#: After QEMU exited, how long the console gets to deliver the kernel's last lines.
LAST_WORDS_SECONDS = 1.0


def stops_the_guest(report: CrashReport) -> bool:
    """Whether a crash leaves the agent unable to answer, or the guest unable to go on.

    An oops in a module's init kills only ``insmod``: the kernel, tainted, goes on and
    the agent answers. A hung task is one task blocked for long: the rest of the kernel
    answers (the operation that waits for it has its own deadline). "BUG: scheduling
    while atomic" only reports. A panic stops the guest, and so does a lockup or a
    stall: a CPU that does not come back (see :func:`~kernelmagic.machine.crash.goes_on`).
    """
    return not goes_on(report)


class CrashWatch:
    """The ``abort_check`` of one QEMU run: raises when waiting longer is pointless."""

    def __init__(self, console: ConsoleRecorder, qemu: QEMUProcess) -> None:
        self._console = console
        self._qemu = qemu
        self._handled = 0  # crashes already raised, so each is raised once

    def __call__(self) -> None:
        """Raise KernelCrashed or QEMUExited if the guest is gone; else return at once."""
        if not self._qemu.running():
            self._console.wait_closed(LAST_WORDS_SECONDS)
            report = self._console.crash
            if report is not None:
                raise KernelCrashed(
                    f"the lab VM's kernel crashed: {report.title}", report.report, crash=report
                )
            raise self._qemu.exit_error()
        crashes = self._console.crashes
        if len(crashes) > self._handled:
            report = crashes[-1]
            if stops_the_guest(report):
                self._handled = len(crashes)
                raise KernelCrashed(
                    f"the lab VM's kernel reported a {report.kind}: {report.title}",
                    report.report,
                    crash=report,
                )
