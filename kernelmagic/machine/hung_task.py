# SPDX-License-Identifier: MIT
"""A hung-task report, completed from the guest's kernel log.

The kernel prints the first three lines of "INFO: task insmod:118 blocked for more
than 5 seconds." at KERN_ERR and the task's state and stack at KERN_INFO, which the
lab's console loglevel (5, see ``vm/init``) keeps off the console. The agent still
answers when one task hangs, so the rest is read from the kernel log and put into
the console recorder's report, where a view finds the learner's function in it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence

from kernelmagic.errors import KernelMagicError
from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.crash import CrashReport, strip_prefix
from kernelmagic.machine.exec_result import ExecResult

__all__ = ["complete_in_background", "report_lines"]

log = logging.getLogger(__name__)

#: How long the read of the kernel log may take.
READ_TIMEOUT = 10.0
_TASK_END = re.compile(r"^\s*</TASK>\s*$")
_NEXT_REPORT = re.compile(r"^(?:INFO: task |INFO: lockdep|Showing all locks)")

Exec = Callable[..., ExecResult]


def report_lines(dmesg_raw: str, title: str) -> list[str]:
    """The lines of the last report headed ``title`` in ``dmesg -r`` output.

    From the header to the end of its stack (``</TASK>``), or to the next report.
    """
    lines = [strip_prefix(line) for line in dmesg_raw.splitlines()]
    starts = [i for i, line in enumerate(lines) if line.strip() == title.strip()]
    if not starts:
        return []
    out = [lines[starts[-1]]]
    for line in lines[starts[-1] + 1 :]:
        if _NEXT_REPORT.match(line):
            break
        out.append(line)
        if _TASK_END.match(line):
            break
    return out


def complete(exec_: Exec, console: ConsoleRecorder, report: CrashReport) -> None:
    """Read the kernel log and rewrite ``report`` with its full text (best effort)."""
    try:
        result = exec_(["dmesg", "-r"], timeout=READ_TIMEOUT)
    except KernelMagicError as exc:  # the VM stopped meanwhile: the short report stays
        log.info("could not read the hung task's stack: %s", exc)
        return
    lines = report_lines(result.stdout, report.title)
    if len(lines) > len(report.report.splitlines()):
        console.rewrite_crash(report, lines)


def complete_in_background(
    exec_: Exec, console: ConsoleRecorder, report: CrashReport
) -> threading.Thread | None:
    """Start :func:`complete` for a hung-task report that lacks its stack.

    Called on the console's reader thread, which must not wait for the agent.
    """
    if report.kind != "hung task" or _has_stack(report.report.splitlines()):
        return None
    thread = threading.Thread(
        target=complete, args=(exec_, console, report), name="hung-task-stack", daemon=True
    )
    thread.start()
    return thread


def _has_stack(lines: Sequence[str]) -> bool:
    return any(line.strip() == "Call Trace:" for line in lines)
