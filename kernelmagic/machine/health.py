# SPDX-License-Identifier: MIT
"""Is a freshly booted guest fit to be used, and saved, as the lab's VM?

With more than one vCPU the lab relies on each CPU's local APIC timer: the watchdogs
and the RCU stall detector of one CPU then report another that spins with interrupts
off. The kernel checks that timer against the PIT at boot, and under TCG on a busy host
the check can fail ("APIC timer disabled due to verification failure"); every CPU's
tick then comes from the PIT through CPU 0, and a CPU 0 stuck with interrupts off goes
unreported. Such a boot is tried again rather than used, and never saved: a saved
state would carry the fault into every later start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kernelmagic.errors import KernelMagicError
from kernelmagic.machine.exec_result import ExecResult

__all__ = ["BOOT_ATTEMPTS", "lapic_timer_works"]

log = logging.getLogger(__name__)

#: Cold boots tried before settling for one whose APIC timer failed its check.
BOOT_ATTEMPTS = 3
_FAILED = "APIC timer disabled"


def lapic_timer_works(exec_: Callable[..., ExecResult], cpus: int) -> bool:
    """False when the guest's kernel disabled its local APIC timer at boot (cpus > 1).

    With one vCPU the lab turns that timer off on purpose (``noapictimer``): True.
    """
    if cpus <= 1:
        return True
    try:
        result = exec_(["sh", "-c", f"dmesg | grep -q '{_FAILED}'"], timeout=15)
    except KernelMagicError as exc:  # the boot's own checks report a dead guest
        log.info("could not read the guest's boot log: %s", exc)
        return True
    return result.exit_code != 0
