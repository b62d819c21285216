# SPDX-License-Identifier: MIT
"""Facts about the running guest (release, uptime, memory, modules), and taint in words.

The taint word (``/proc/sys/kernel/tainted``) is how the kernel admits it is no longer
the kernel its developers would debug: a learner's first out-of-tree, unsigned module
sets two of its bits. The bit meanings follow the kernel's
``Documentation/admin-guide/tainted-kernels.rst``; the explanations are ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernelmagic.guest.kmod import LoadedModule, lsmod
from kernelmagic.guest.protocol import Guest

__all__ = ["TAINT_FLAGS", "GuestFacts", "TaintFlag", "decode_taint", "read_guest_facts"]


@dataclass(frozen=True)
class TaintFlag:
    """One bit of the taint word: its letter in oops reports, and what it means."""

    bit: int
    letter: str
    meaning: str


#: One entry per bit of the taint word, in bit order (kernel 6.1).
TAINT_FLAGS: tuple[TaintFlag, ...] = (
    TaintFlag(0, "P", "a module with a licence that is not GPL-compatible was loaded"),
    TaintFlag(1, "F", "a module was loaded by force (insmod -f), skipping version checks"),
    TaintFlag(2, "S", "the kernel runs on hardware outside its specification"),
    TaintFlag(3, "R", "a module was unloaded by force (rmmod -f)"),
    TaintFlag(4, "M", "the processor reported a machine check (a hardware error)"),
    TaintFlag(5, "B", "the kernel found a bad page or a page in an impossible state"),
    TaintFlag(6, "U", "a user-space program asked for the kernel to be marked tainted"),
    TaintFlag(7, "D", "the kernel died recently: an oops or BUG killed a task"),
    TaintFlag(8, "A", "an ACPI table was replaced by the user"),
    TaintFlag(9, "W", "the kernel printed a WARNING (WARN_ON and friends)"),
    TaintFlag(10, "C", "a driver from the staging area (not yet up to standard) was loaded"),
    TaintFlag(11, "I", "a workaround for a firmware bug was applied"),
    TaintFlag(12, "O", "a module built outside the kernel tree (out-of-tree) was loaded"),
    TaintFlag(13, "E", "an unsigned module was loaded into a kernel that checks signatures"),
    TaintFlag(14, "L", "a soft lockup happened: a CPU was stuck in the kernel"),
    TaintFlag(15, "K", "the running kernel was live-patched"),
    TaintFlag(16, "X", "an auxiliary taint that distributions define for their own use"),
    TaintFlag(17, "T", "the kernel was built with the structure-randomisation plugin"),
    TaintFlag(18, "N", "an in-kernel test (such as KUnit) has run"),
)


def decode_taint(value: int) -> list[TaintFlag]:
    """The flags set in a taint word; bits this table does not know are reported as such."""
    flags = []
    for bit in range(value.bit_length()):
        if value >> bit & 1:
            if bit < len(TAINT_FLAGS):
                flags.append(TAINT_FLAGS[bit])
            else:
                flags.append(TaintFlag(bit, "?", f"bit {bit}, which this lab does not know"))
    return flags


@dataclass(frozen=True)
class GuestFacts:
    """A snapshot of the running guest kernel."""

    kernel_release: str
    uptime_seconds: float
    mem_total_kb: int
    mem_available_kb: int
    taint: int
    modules: list[LoadedModule]

    @property
    def taint_flags(self) -> list[TaintFlag]:
        return decode_taint(self.taint)


def read_guest_facts(vm: Guest, timeout: float = 15.0) -> GuestFacts:
    """Two agent round trips: the one-line /proc files plus meminfo, then /proc/modules."""
    files = ["/proc/sys/kernel/osrelease", "/proc/sys/kernel/tainted", "/proc/uptime"]
    out = vm.exec(["cat", *files, "/proc/meminfo"], timeout=timeout, check=True).stdout
    lines = out.splitlines()
    release, tainted, uptime = [*lines, "", "0", "0"][:3]
    meminfo: dict[str, int] = {}
    for line in lines[3:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            meminfo[key.strip()] = int(parts[0])
    return GuestFacts(
        kernel_release=release.strip(),
        uptime_seconds=float(uptime.split()[0]) if uptime.split() else 0.0,
        mem_total_kb=meminfo.get("MemTotal", 0),
        mem_available_kb=meminfo.get("MemAvailable", meminfo.get("MemFree", 0)),
        taint=int(tainted.strip() or 0),
        modules=lsmod(vm),
    )
