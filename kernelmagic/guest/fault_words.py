# SPDX-License-Identifier: MIT
"""Plain words for a kernel report or a stuck task: what happened, and what to check.

A report's first lines name the fault the way the kernel sees it ("unable to handle
page fault for address: 00000000144718f0"); a learner needs it the way a teacher would
say it ("the kernel dereferenced a user-space pointer: use copy_from_user"). The
addresses carry most of the meaning on x86-64: the first page is NULL, the lower half
is user space, ``6b6b…`` is the slab's poison for freed memory, ``dead0000000001…`` is
list poison, ``ffffffffc…`` is the module area. :func:`during` reads the call trace
for what the code was doing when it happened.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kernelmagic.machine.crash import CrashReport

if TYPE_CHECKING:
    from kernelmagic.guest.faults import Frame

__all__ = ["LIST_POISON_BASE", "MODULE_AREA", "SLAB_POISON", "USER_SPACE_END", "describe",
           "during", "stuck_words"]  # fmt: skip

USER_SPACE_END = 0x0000_8000_0000_0000  # x86-64: user space is the lower half
MODULE_AREA = 0xFFFF_FFFF_C000_0000  # x86-64: where modules are loaded (nokaslr)
SLAB_POISON = "6b6b6b6b"  # POISON_FREE, written into freed objects with slab poisoning
#: LIST_POISON1/2 (0x100, 0x122) plus POISON_POINTER_DELTA; a field's offset moves the
#: faulting address a little around them (``list_entry`` subtracts the member's offset).
LIST_POISON_BASE = 0xDEAD_0000_0000_0000

_ADDRESS = re.compile(r"address:? (?:0x)?(?P<address>[0-9a-f]{8,16})\b")
_NON_CANONICAL = re.compile(r"non-canonical address (?:0x)?(?P<address>[0-9a-f]+)")
_BUG_AT = re.compile(r"kernel BUG at (?P<location>[^\s!]+:\d+)")
_STUCK = re.compile(r"stuck for (?P<seconds>\d+)s")
_BLOCKED = re.compile(r"blocked for more than (?P<seconds>\d+) seconds")
# A hung task's stack in mutex_lock(): "__mutex_lock.constprop.0+0x39d/0x720".
_WAITS_FOR_MUTEX = re.compile(r"^\s*(?:\? )?_*mutex_lock\w*(?:\.[\w.]+)?\+", re.M)
# "Modules linked in: ... [last unloaded: stray_timer(OE)]"
_LAST_UNLOADED = re.compile(r"\[last unloaded: (?P<module>\w+)")

# What a kernel function in the trace says the code was doing, most telling first.
_DOING = (
    ("call_timer_fn", "in a timer callback (interrupt context)"),
    ("process_one_work", "in a work item (run by a kworker thread)"),
    ("do_one_initcall", "in the module's init function (during insmod)"),
    ("__do_sys_delete_module", "in the module's exit function (during rmmod)"),
    ("kernfs_fop_write_iter", "in a sysfs store() (a write to a /sys file)"),
    ("kernfs_fop_read_iter", "in a sysfs show() (a read of a /sys file)"),
    ("seq_read_iter", "in a /proc or seq_file read"),
    ("proc_reg_write", "in a /proc write"),
    ("proc_reg_read", "in a /proc read"),
    ("vfs_write", "in a write() file operation"),
    ("vfs_read", "in a read() file operation"),
    ("__x64_sys_ioctl", "in an ioctl() file operation"),
    ("do_sys_openat2", "in an open() file operation"),
    ("__fput", "in a release() file operation (the file was closed)"),
    ("kthread", "in a kernel thread"),
)


def describe(report: CrashReport) -> tuple[str, str]:
    """``(what happened, a hint)`` in plain words, from the report's own first lines."""
    text = report.report
    head = "\n".join(text.splitlines()[:8])
    kind = report.kind
    if kind == "hard lockup":
        return (
            "a CPU stopped with interrupts off: its timer tick stood still, so the lab asked "
            "every CPU where it was",
            "a loop with interrupts off (local_irq_disable, spin_lock_irqsave) must be short "
            "and must end; nothing else runs on that CPU meanwhile",
        )
    if kind in ("soft lockup", "rcu stall"):
        seconds = _STUCK.search(head)
        held = f" for {seconds['seconds']} s" if seconds else ""
        return (
            f"a CPU ran kernel code{held} without ever giving the CPU back (a busy loop)",
            "a loop that waits for something must sleep (msleep, wait_event) or end; "
            "a loop with interrupts off stops the whole CPU",
        )
    if kind == "panic" and "NMI: Not continuing" in head:
        # The lab's answer to a guest that stopped answering: an NMI made the kernel
        # panic, so that it prints where the CPU was (see kernelmagic.guest.watched).
        return (
            "a CPU never came back (a busy loop, perhaps with interrupts off): the guest "
            "stopped answering, so the lab stopped its kernel with an NMI to see where the "
            "CPU was",
            "a loop that waits for something must sleep (msleep, wait_event) or end; "
            "a loop with interrupts off stops the whole CPU",
        )
    if kind == "hung task":
        return _hung_words(text)
    if kind == "warning":
        return (
            "a WARN_ON() or WARN() fired: the kernel found something wrong and went on",
            "the condition in the WARN_ON() at that line was true",
        )
    if "scheduling while atomic" in head:
        return (
            "the code slept (or called something that sleeps) where sleeping is not allowed",
            "no msleep, mutex_lock, kmalloc(GFP_KERNEL) or copy_*_user under a spinlock "
            "or in an interrupt or timer",
        )
    if "stack guard page" in head or "stack overflow" in head or "stack-protector" in head:
        return (
            "the kernel stack overflowed (or a buffer on it was overrun)",
            "kernel stacks are 16 KiB: no deep recursion, no large local arrays (kmalloc them)",
        )
    if "divide error" in head:
        return ("a division by zero", "check the divisor before dividing")
    bug_at = _BUG_AT.search(head)
    if bug_at or "invalid opcode" in head:
        where = f" at {bug_at['location'].rsplit('/', 1)[-1]}" if bug_at else ""
        return (
            f"a BUG() or BUG_ON() fired{where}: the code declared this state impossible",
            "the condition in the BUG_ON() at that line was true; prefer WARN_ON() and an "
            "error return, which leave the kernel usable",
        )
    non_canonical = _NON_CANONICAL.search(head)
    if non_canonical:
        return _pointer_words(non_canonical["address"], gpf=True)
    if "NULL pointer dereference" in head:
        address = _ADDRESS.search(head)
        value = int(address["address"], 16) if address else 0
        what = "a NULL pointer dereference"
        if value:
            what += f" (address {value:#x}: a field at that offset of a NULL struct pointer)"
        return (what, "check the pointer (and kmalloc's result) before using it")
    address = _ADDRESS.search(head)
    if address and "instruction fetch" in head and int(address["address"], 16) >= MODULE_AREA:
        return _unloaded_code_words(int(address["address"], 16), text)
    if address:
        return _pointer_words(address["address"], gpf=False)
    if kind == "panic":
        return ("the kernel panicked: it stopped, as it could not go on safely", "")
    if kind == "general protection fault":
        return ("a general protection fault: an access the CPU refused", "")
    return (f"a kernel {kind}", "")


def _hung_words(text: str) -> tuple[str, str]:
    """A hung task, said by what its stack waits in (the stack comes from the kernel log)."""
    seconds = _BLOCKED.search(text)
    held = f" for more than {seconds['seconds']} s" if seconds else ""
    if _WAITS_FOR_MUTEX.search(text):
        return (
            f"a task waited{held} for a mutex that was never unlocked (it sleeps in mutex_lock)",
            "a deadlock? two tasks that take the same two locks in opposite orders each "
            "hold what the other waits for: take locks in one order everywhere (and never "
            "a mutex you already hold)",
        )
    if "wait_for_completion" in text:
        return (
            f"a task waited{held} for a completion that nobody completed",
            "every wait_for_completion() needs a complete() that is sure to come",
        )
    return (
        f"a task slept{held} and nothing woke it",
        "look for a lock taken twice or in opposite orders, or a wait whose "
        "condition never becomes true",
    )


def _unloaded_code_words(value: int, text: str) -> tuple[str, str]:
    """A jump into the module area where no code is: an unloaded module's, most often."""
    last = _LAST_UNLOADED.search(text)
    whose = f" (the last module unloaded was {last['module']})" if last else ""
    return (
        f"the kernel called code at {value:#x}, in the module area, where there is none: "
        f"the code of a module that was already unloaded{whose}",
        "a timer, work item or callback that outlives the module's exit runs freed code: "
        "stop them all in the exit function (timer_shutdown_sync or del_timer_sync, "
        "cancel_work_sync)",
    )


def _pointer_words(address_hex: str, *, gpf: bool) -> tuple[str, str]:
    value = int(address_hex, 16)
    if SLAB_POISON in address_hex:
        return (
            f"a use after free: the address {value:#x} is the poison written into freed memory",
            "do not use an object after kfree(); set the pointer to NULL when you free it",
        )
    if value & ~0xFFFF == LIST_POISON_BASE:
        return (
            f"a list entry used after list_del() (address {value:#x} is list poison)",
            "do not walk or delete an entry twice; use list_for_each_entry_safe to delete "
            "while walking",
        )
    if value < USER_SPACE_END and not gpf:
        return (
            f"the kernel dereferenced a user-space pointer ({value:#x})",
            "a __user pointer must never be dereferenced in the kernel: copy the data with "
            "copy_from_user() / copy_to_user()",
        )
    if value >= MODULE_AREA:
        return (
            f"an access to {value:#x}, in the module area: often code or data of a module "
            "that was already unloaded",
            "a timer, work item or callback that outlives the module's exit runs freed code: "
            "stop them all in the exit function (del_timer_sync, cancel_work_sync)",
        )
    if gpf:
        return (f"an access through a corrupt pointer ({value:#x})", "")
    return (f"an access to an unmapped kernel address ({value:#x})", "")


def during(frames: Sequence[Frame]) -> str:
    """What the code was doing, read from the kernel functions of the trace: "" if unsure.

    Reliable frames only, unless there are none: a jump to an address where no code is
    leaves the unwinder without a start, and every frame is a guess ("?"). Then the
    guesses of the innermost stack (an interrupt's, say) still tell what ran.
    """
    names = {f.function for f in frames if not f.unreliable}
    if not names and frames:
        names = {f.function for f in frames if f.context == frames[0].context}
    return next((words for function, words in _DOING if function in names), "")


def stuck_words(action: str, frames: Sequence[Frame], state: str) -> tuple[str, str]:
    """``(what is stuck, a hint)`` for an operation past its deadline.

    ``action`` is the tool ("insmod", "rmmod", a shell command); ``frames`` its task's
    decoded kernel stack, ``state`` its scheduler state (``D (disk sleep)``).
    """
    names = [f.function for f in frames]
    waits = next((n for n in names if n in ("msleep", "schedule_timeout", "ssleep",
                                              "usleep_range_state")), "")  # fmt: skip
    if action == "insmod":
        what = "its init function has not returned"
        hint = "init must return: a loop in it needs an end (a condition, a count, a timeout)"
    elif action == "rmmod":
        what = "its exit function has not returned"
        hint = "exit must return: stop what the module started, without waiting forever"
    else:
        what = "the command has not finished"
        hint = ""
    if waits:
        what += f" (it sleeps in {waits}, again and again)"
    elif state.startswith("R"):
        what += " (it keeps running)"
    writes = any(n in ("kernfs_fop_write_iter", "vfs_write") for n in names)
    if action not in ("insmod", "rmmod") and (writes or re.search(r">\s*/sys/", action)):
        hint = (
            "a write that never ends: a store() or write() returning 0 makes the writer retry "
            "for ever; return the number of bytes taken (count) or an error"
        )
    return what, hint
