# SPDX-License-Identifier: MIT
"""Did a module free what it allocated? Watched with the kernel's own allocation events.

Log lines prove nothing about memory: an unwind label that logs "undo step 2" and never
calls ``kfree()`` passes a log check. This check loads the module itself, once per set
of parameters, with the ``kmem:kmalloc`` and ``kmem:kfree`` trace events on, and pairs
each allocation of the module's buffer size made from module code with a ``kfree()`` of
the same pointer. (The trace prints pointers hashed, the same way within one boot, so
they still pair up.)

Why not a slab cache of the module's own, counted in ``/proc/slabinfo``? On 6.1 a named
cache keeps its name, and with a constructor a pointer into the unloaded module, when a
wrong answer forgets to destroy it: the next load of the same module then fails on the
duplicate name. The two events are switched on once per VM and stay on behind their
filters (allocations of the buffer's size from module code, frees from module code);
each check clears the trace first. Switching an event rewrites every kmalloc() call site
in the kernel, which under TCG with two vCPUs keeps the guest busy for seconds each time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from kernelmagic.course._guest import lab_vm, last_build
from kernelmagic.course.results import CheckFailed, CheckResult, HintText
from kernelmagic.errors import ModuleError
from kernelmagic.guest import kmod
from kernelmagic.guest.protocol import Guest
from kernelmagic.names import kernel_module_name

__all__ = ["TRACING", "allocations_freed", "pair_events"]

TRACING = "/sys/kernel/tracing"
#: x86-64 puts modules at and above this address (MODULES_VADDR when, as in Debian's
#: kernel, the image may be relocated), so call sites there are in module code.
MODULE_SPACE = 0xFFFFFFFFC0000000

_EVENT = re.compile(r"\b(kmalloc|kfree): call_site=(\S+) ptr=(\S+)")


#: Switching the trace events on or off rewrites every kmalloc() call site in the kernel
#: (static keys, with IPIs to the other vCPU); under TCG that keeps a CPU busy for seconds,
#: which the lab's 1 s watchdog threshold reports as a soft lockup. The check's own scripts
#: run with a patient threshold, restored at their end; the learner's module never does.
WATCHDOG = "/proc/sys/kernel/watchdog_thresh"
PATIENT_THRESHOLD = 10


def _patiently(script: str, threshold_was: str) -> str:
    return f"echo {PATIENT_THRESHOLD} > {WATCHDOG}; {script}; echo {threshold_was} > {WATCHDOG}"


def _start_script(size: int) -> str:
    events = f"{TRACING}/events/kmem"
    return "; ".join([
        f"echo 0 > {TRACING}/tracing_on",
        f"echo > {TRACING}/trace",
        f"echo 'bytes_req == {size} && call_site >= {MODULE_SPACE:#x}' > {events}/kmalloc/filter",
        f"echo 'call_site >= {MODULE_SPACE:#x}' > {events}/kfree/filter",
        f"echo 1 > {events}/kmalloc/enable",
        f"echo 1 > {events}/kfree/enable",
        f"echo 1 > {TRACING}/tracing_on",
    ])  # fmt: skip


def _stop_script(tracing_was_on: str) -> str:
    """Stop recording and print the trace; the events stay on (see the module docstring)."""
    return "; ".join([
        f"echo 0 > {TRACING}/tracing_on",
        f"cat {TRACING}/trace",
        f"echo > {TRACING}/trace",
        f"echo {tracing_was_on} > {TRACING}/tracing_on",
    ])  # fmt: skip


def pair_events(trace: str) -> tuple[int, int]:
    """(allocations seen, allocations of those that were freed) in a trace's text."""
    allocated: dict[str, int] = {}
    freed = 0
    for m in _EVENT.finditer(trace):
        kind, ptr = m[1], m[3]
        if kind == "kmalloc":
            allocated[ptr] = allocated.get(ptr, 0) + 1
        elif allocated.get(ptr):
            allocated[ptr] -= 1
            freed += 1
    total = freed + sum(allocated.values())
    return total, freed


def allocations_freed(
    module: str,
    *,
    size: int,
    runs: Sequence[Mapping[str, object]] = ({},),
    expected: Sequence[int] | None = None,
    hint: HintText = "",
    vm: Guest | None = None,
) -> CheckResult:
    """Each load of ``module`` (one per parameter set in ``runs``) frees what it allocated.

    Counts the ``kmalloc()`` calls of ``size`` bytes from module code while the module
    is loaded with those parameters (and, if the load works, unloaded again), and the
    ``kfree()`` calls of the same pointers. ``expected`` gives the number of allocations
    each run should make, when the check should also insist on them.
    """
    vm = lab_vm(vm)
    name = kernel_module_name(module)
    build = last_build(module)
    if build is None:
        raise CheckFailed(f"{module} has no build in this notebook", "run its %%kmodule cell")
    if kmod.is_loaded(vm, name):
        raise CheckFailed(f"{name} is loaded; this check loads it itself",
                          f"run %rmmod {name} first")  # fmt: skip
    was_on = vm.exec(["cat", f"{TRACING}/tracing_on"], timeout=15).stdout.strip() or "1"
    threshold = vm.exec(["cat", WATCHDOG], timeout=15).stdout.strip() or "1"
    seen: list[str] = []
    problems: list[str] = []
    for i, params in enumerate(runs):
        label = " ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"
        vm.exec(["sh", "-c", _patiently(_start_script(size), threshold)], timeout=90, check=True)
        trace = ""
        try:
            try:
                kmod.insmod(vm, build.ko_path, dict(params))
            except ModuleError:
                pass  # init failed on purpose: what it allocated must be freed all the same
            else:
                kmod.rmmod(vm, name)
        finally:
            trace = vm.exec(["sh", "-c", _patiently(_stop_script(was_on), threshold)],
                            timeout=30).stdout  # fmt: skip
        total, freed = pair_events(trace)
        seen.append(f"{label}: {freed} of {total} freed")
        if freed < total:
            problems.append(f"with {label}, {total - freed} of the {total} buffers of "
                            f"{size} bytes it allocated {'was' if total - freed == 1 else 'were'} "
                            "never freed")  # fmt: skip
        if expected is not None and i < len(expected) and total != expected[i]:
            problems.append(f"with {label} it allocated {total} buffers of {size} bytes, "
                            f"expected {expected[i]}")  # fmt: skip
    if problems:
        raise CheckFailed(f"{name} leaks: " + "; ".join(problems), hint)
    return CheckResult(f"{name} freed every buffer it allocated ({'; '.join(seen)})")
