# SPDX-License-Identifier: MIT
"""A CPU that never comes back, made to say where it is.

The kernel's own detectors (soft lockup, RCU stall, with ``watchdog_thresh=1`` and
``rcupdate.rcu_cpu_stall_timeout=3``) report a CPU that spins in a module within about
three seconds, but not in every case: with one vCPU spinning with interrupts off
nothing ticks at all (and TCG has no PMU for the hard-lockup detector), and with two,
a CPU that keeps the kernel's jiffies stops every detector that counts in them. The
guest layer notices (a silent agent, ticks that stand still) and calls :func:`report`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kernelmagic.errors import KernelMagicError
from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.crash import stuck_cpu_report
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.machine.qmp import QMPClient

__all__ = ["report"]

log = logging.getLogger(__name__)


def report(
    qmp: QMPClient, console: ConsoleRecorder, exec_: Callable[..., ExecResult], cpus: int
) -> bool:
    """Have the stuck CPU reported on the console's list; False when that cannot be done.

    One vCPU: an NMI from QEMU makes the kernel panic (the init set
    ``unknown_nmi_panic``), printing the stuck instruction and its call trace; the VM
    then exits (``panic=-1``, ``-no-reboot``) and the console's report ends the wait.
    More vCPUs: QEMU would send the NMI to all, and an idle CPU may win the panic (seen
    in one run of two). Instead the guest, whose other CPU still answers, is asked for
    every CPU's NMI backtrace (sysrq ``l``); they land in its log (the stuck CPU cannot
    flush them to the console), and the stuck one's becomes a "hard lockup" report.
    """
    if cpus == 1:
        log.warning("the guest agent stopped answering: sending an NMI to the lab VM")
        qmp.execute("inject-nmi", timeout=2.0)
        return True
    try:
        exec_(["sh", "-c", "echo l > /proc/sysrq-trigger"], timeout=15)
        text = exec_(["dmesg", "-r"], timeout=10).stdout
    except KernelMagicError as exc:
        log.info("could not ask the guest for its CPUs' backtraces: %s", exc)
        return False
    found = stuck_cpu_report(text, console.mark())
    if found is None:
        return False
    log.warning("kernel hard lockup: %s", found.title)
    console.add_crash(found)
    return True
