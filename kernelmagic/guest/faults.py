# SPDX-License-Identifier: MIT
"""A kernel crash report, explained for a learner: what kind of fault, where in their C.

The console recorder cuts a report (oops, BUG, WARN, panic, lockup, hung task) out of
the serial console. Here it is read the way a kernel engineer would read it: the first
lines say what went wrong and at which address; the ``RIP:`` line and the call trace
say where. Frames in the learner's module are decoded to file and line from the
``.ko``'s DWARF (:mod:`kernelmagic.kbuild.decode`); kernel frames keep their names.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kernelmagic.kbuild.decode import SourcePlace, decode_address
from kernelmagic.machine.crash import CrashReport

__all__ = ["TAINT_NOTE", "Fault", "Frame", "describe", "explain", "frames_of"]

TAINT_NOTE = (
    "The kernel keeps running, but it is tainted (D: it died once): its state may be "
    "damaged and later results cannot be trusted. %vm restart gives you a clean one."
)

# " ? do_one_initcall+0x59/0x220" or "crash_init+0x13/0x1000 [crash]" in a call trace.
_TRACE_LINE = re.compile(
    r"^\s+(?P<unreliable>\? )?(?P<function>[\w.]+)\+0x(?P<offset>[0-9a-f]+)/0x[0-9a-f]+"
    r"(?: \[(?P<module>\w+)\])?\s*$"
)
_RIP_LINE = re.compile(
    r"^RIP: [0-9a-f]{4}:(?P<function>[\w.]+)\+0x(?P<offset>[0-9a-f]+)/0x[0-9a-f]+"
    r"(?: \[(?P<module>\w+)\])?"
)
_ADDRESS = re.compile(r"address:? (?:0x)?(?P<address>[0-9a-f]{8,16})\b")
_NON_CANONICAL = re.compile(r"non-canonical address (?:0x)?(?P<address>[0-9a-f]+)")
_BUG_AT = re.compile(r"kernel BUG at (?P<location>[^\s!]+:\d+)")
_STUCK = re.compile(r"stuck for (?P<seconds>\d+)s")
_BLOCKED = re.compile(r"blocked for more than (?P<seconds>\d+) seconds")

USER_SPACE_END = 0x0000_8000_0000_0000  # x86-64: user space is the lower half
MODULE_AREA = 0xFFFF_FFFF_C000_0000  # x86-64: where modules are loaded (nokaslr)
SLAB_POISON = "6b6b6b6b"  # POISON_FREE, written into freed objects with slab poisoning
LIST_POISON = ("dead000000000100", "dead000000000122")  # LIST_POISON1/2 after list_del()


@dataclass(frozen=True)
class Frame:
    """One place of a report: the faulting ``RIP`` or a call-trace frame."""

    function: str
    offset: int
    module: str | None = None
    unreliable: bool = False  # "?": a stale return address found on the stack
    is_rip: bool = False
    places: tuple[SourcePlace, ...] = ()

    @property
    def text(self) -> str:
        module = f" [{self.module}]" if self.module else ""
        return f"{self.function}+{self.offset:#x}{module}"


@dataclass(frozen=True)
class Fault:
    """A report and what it means: ``what`` in plain words, ``hint`` for the learner."""

    report: CrashReport
    what: str
    hint: str = ""
    frames: tuple[Frame, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def site(self) -> Frame | None:
        """The first frame decoded to the learner's source: where to look first."""
        return next((f for f in self.frames if f.places and not f.unreliable), None) or next(
            (f for f in self.frames if f.places), None
        )


def frames_of(report: CrashReport) -> list[Frame]:
    """The ``RIP:`` lines and call-trace frames of a report, in order, once each."""
    frames: list[Frame] = []
    seen: set[tuple[str, int, bool]] = set()
    for line in report.report.splitlines():
        rip = _RIP_LINE.match(line)
        trace = None if rip else _TRACE_LINE.match(line)
        match = rip or trace
        if match is None:
            continue
        frame = Frame(
            function=match["function"],
            offset=int(match["offset"], 16),
            module=match["module"],
            unreliable=bool(trace and trace["unreliable"]),
            is_rip=rip is not None,
        )
        key = (frame.function, frame.offset, frame.is_rip)
        if key not in seen:
            seen.add(key)
            frames.append(frame)
    return frames


def describe(report: CrashReport) -> tuple[str, str]:
    """``(what happened, a hint)`` in plain words, from the report's own first lines."""
    text = report.report
    head = "\n".join(text.splitlines()[:8])
    kind = report.kind
    if kind == "soft lockup" or kind == "rcu stall":
        seconds = _STUCK.search(head)
        held = f" for {seconds['seconds']} s" if seconds else ""
        return (
            f"a CPU ran kernel code{held} without ever giving the CPU back (a busy loop)",
            "a loop that waits for something must sleep (msleep, wait_event) or end; "
            "a loop with interrupts off stops the whole CPU",
        )
    if kind == "hung task":
        seconds = _BLOCKED.search(head)
        held = f" for more than {seconds['seconds']} s" if seconds else ""
        return (
            f"a task slept{held} and nothing woke it",
            "look for a lock taken twice or in opposite orders, or a wait whose "
            "condition never becomes true",
        )
    if kind == "warning":
        return ("a WARN_ON() or WARN() fired: the kernel found something wrong and went on", "")
    if "scheduling while atomic" in head:
        return (
            "the code slept (or called something that sleeps) where sleeping is not allowed",
            "no msleep, mutex_lock, kmalloc(GFP_KERNEL) or copy_*_user under a spinlock "
            "or in an interrupt or timer",
        )
    if "stack guard page" in head or "stack overflow" in head or "stack-protector" in head:
        return (
            "the kernel stack overflowed (or a buffer on it was overrun)",
            "kernel stacks are 16 KiB: no deep recursion, no large local arrays "
            "(kmalloc them)",
        )
    if "divide error" in head:
        return ("a division by zero", "check the divisor before dividing")
    bug_at = _BUG_AT.search(head)
    if bug_at or "invalid opcode" in head:
        where = f" at {bug_at['location'].rsplit('/', 1)[-1]}" if bug_at else ""
        return (f"a BUG() or BUG_ON() fired{where}: the code declared this state impossible", "")
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
    if address:
        return _pointer_words(address["address"], gpf=False)
    if kind == "panic":
        return ("the kernel panicked: it stopped, as it could not go on safely", "")
    if kind == "general protection fault":
        return ("a general protection fault: an access the CPU refused", "")
    return (f"a kernel {kind}", "")


def _pointer_words(address_hex: str, *, gpf: bool) -> tuple[str, str]:
    value = int(address_hex, 16)
    if SLAB_POISON in address_hex:
        return (
            f"a use after free: the address {value:#x} is the poison written into freed memory",
            "do not use an object after kfree(); set the pointer to NULL when you free it",
        )
    if any(p in address_hex for p in LIST_POISON):
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


def explain(report: CrashReport, ko_of: Callable[[str], Path | None]) -> Fault:
    """The report with its module frames decoded; ``ko_of(module)`` finds a ``.ko``."""
    what, hint = describe(report)
    decoded: list[Frame] = []
    for frame in frames_of(report):
        ko = ko_of(frame.module) if frame.module else None
        places: tuple[SourcePlace, ...] = ()
        if ko is not None:
            places = tuple(
                decode_address(ko, frame.function, frame.offset, return_address=not frame.is_rip)
            )
        decoded.append(
            Frame(frame.function, frame.offset, frame.module, frame.unreliable, frame.is_rip,
                  places)
        )  # fmt: skip
    notes = () if report.fatal or report.kind == "warning" else (TAINT_NOTE,)
    return Fault(report, what, hint, tuple(decoded), notes)
