# SPDX-License-Identifier: MIT
"""Real console captures (tests/data/console, see its README) and what each must decode to.

Shared by the parser's tests (test_crash.py) and the recorder's (test_console.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "console"


def console(name: str) -> str:
    """The captured console text ``tests/data/console/<name>.txt``, byte for byte."""
    return (DATA / f"{name}.txt").read_bytes().decode()


def wire(text: str) -> bytes:
    """Console text as the serial port sends it: CRLF line ends."""
    return text.replace("\n", "\r\n").encode()


OOPS = console("oops")
OOPS_IN_IRQ_THEN_PANIC = console("oops_in_irq_then_panic")
PANIC = console("panic")
RCU_STALL_THEN_SOFT_LOCKUP = console("rcu_stall_then_soft_lockup")
HUNG_TASK = console("hung_task")
WARNING = console("warning")
SCHEDULING_WHILE_ATOMIC = console("scheduling_while_atomic")
KERNEL_BUG = console("kernel_bug")
GPF = console("gpf")
HUNG_TASK_DEADLOCK = console("hung_task_deadlock")
HUNG_TASK_DEADLOCK_DMESG = console("hung_task_deadlock_dmesg")
TIMER_AFTER_RMMOD = console("timer_after_rmmod")

# Synthetic: what the kernel prints last when panic= does not reboot (the capture above ran
# with panic=-1, so QEMU exited before this line).
PANIC_END = "[    2.895300] ---[ end Kernel panic - not syncing: boom from a module ]---\n"

#: A line before each capture, so that reports never start at position 0.
EARLIER = "[    2.000000] some earlier line\n"

CASES: dict[str, dict[str, Any]] = {
    "oops": dict(
        text=OOPS,
        kind="oops",
        title="BUG: kernel NULL pointer dereference, address: 0000000000000000",
        module="crash",
        function="crash_init",
        offset=0x13,
        fatal=False,
        last="---[ end trace 0000000000000000 ]---",
    ),
    "oops in irq, then panic": dict(
        text=OOPS_IN_IRQ_THEN_PANIC,
        kind="oops",
        title="BUG: kernel NULL pointer dereference, address: 0000000000000008",
        module="boom",
        function="tick_fn",
        offset=0x5,
        fatal=True,
        last="Kernel Offset: disabled",
    ),
    "panic": dict(
        text=PANIC + PANIC_END,
        kind="panic",
        title="Kernel panic - not syncing: boom from a module",
        module="panic",
        function="pan_init",
        offset=0x11,
        fatal=True,
        last="---[ end Kernel panic - not syncing: boom from a module ]---",
    ),
    "hung task": dict(
        text=HUNG_TASK,
        kind="hung task",
        title="INFO: task insmod:137 blocked for more than 3 seconds.",
        module="hang",
        function="hang_init",
        offset=0xF,
        fatal=False,
        last=" </TASK>",
    ),
    "scheduling while atomic": dict(
        text=SCHEDULING_WHILE_ATOMIC,
        kind="BUG",
        title="BUG: scheduling while atomic: insmod/135/0x00000002",
        module="atomic",
        function="atomic_init",
        offset=0x1B,
        fatal=False,
        last=" </TASK>",
    ),
    "kernel BUG": dict(
        text=KERNEL_BUG,
        kind="BUG",
        title="kernel BUG at /tmp/km/builds/lesson/bug.c:5!",
        module="bug",
        function="bug_init",
        offset=0x5,
        fatal=False,
        last="---[ end trace 0000000000000000 ]---",
        location="/tmp/km/builds/lesson/bug.c:5",
    ),
    "timer after rmmod": dict(
        text=TIMER_AFTER_RMMOD,
        kind="oops",
        title="BUG: unable to handle page fault for address: ffffffffc02c7000",
        module=None,  # RIP is a bare address: the module's code is gone
        function=None,
        offset=None,
        fatal=True,
        last="Kernel Offset: disabled",
    ),
    "general protection fault": dict(
        text=GPF,
        kind="general protection fault",
        title="general protection fault, maybe for address 0x0: 0000 [#1] PREEMPT SMP NOPTI",
        module="gpf",
        function="gpf_init",
        offset=0x5,
        fatal=False,
        last="---[ end trace 0000000000000000 ]---",
    ),
}
