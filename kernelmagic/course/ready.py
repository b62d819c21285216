# SPDX-License-Identifier: MIT
"""The check cell: :func:`check_all` runs every check and shows one report.

Before the checks of an exercise, :func:`module_ready` makes sure that what they would
test exists: the module built from the latest version of its cell, did not crash the
kernel, and is loaded (or unloaded, for checks made after ``%rmmod``). Otherwise the
checks would report something true but misleading ("the kernel log has no ...") about
a module that never got the chance.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable

from kernelmagic.course._guest import (
    build_state,
    console_mark,
    crashes_of,
    describe_crash,
    lab_vm,
    last_operation,
    loaded_copy_is_stale,
    workspace,
)
from kernelmagic.course.results import CheckFailed, CheckReport, CheckResult, Outcome
from kernelmagic.errors import KernelMagicError
from kernelmagic.guest import kmod
from kernelmagic.guest.protocol import Guest
from kernelmagic.names import kernel_module_name

__all__ = [
    "CRASH_HINTS",
    "check_all",
    "module_ready",
    "troubled_by_last_operation",
    "unloaded_by_rmmod",
]


# -- the check cell ----------------------------------------------------------------------


def check_all(
    *checks: Callable[[], CheckResult],
    module: str | None = None,
    loaded: bool | None = None,
    vm: Guest | None = None,
) -> CheckReport:
    """Run every check and report them all; raise :class:`CheckFailed` if one failed.

    With ``module``, :func:`module_ready` comes first: a module that did not build, crashed
    or is not loaded (``loaded=True``; ``False``: still loaded) is reported as that, and
    the other checks are not run, since what they would say would mislead. A crash of the
    module while the checks ran is reported too. In IPython a failed report is displayed
    before the error, which then reads as one line; a passed one is the return value.
    """
    report = CheckReport(module or "")
    guest = lab_vm(vm)
    mark = console_mark(guest) if module else None
    ready = True
    if module is not None:
        ready = _record(report, lambda: module_ready(module, loaded=loaded, vm=guest))
    for check in checks:
        if ready:
            _record(report, check)
        else:
            report.outcomes.append(Outcome(False, message="fix the first problem", ran=False))
    if module is not None and mark is not None and ready:
        for crash in crashes_of(guest, module, since=mark):
            report.outcomes.insert(0, Outcome(
                False, message=f"{module} crashed the kernel during the checks: "
                f"{describe_crash(crash)}", hints=CRASH_HINTS))  # fmt: skip
    if report.ok:
        return report
    display = getattr(builtins, "display", None)  # IPython puts display() among the builtins
    if display is not None:
        display(report)
    first = report.failures[0]
    raise CheckFailed(report.summary(), first.hints, report=report, shown=display is not None)


def _record(report: CheckReport, check: Callable[[], CheckResult]) -> bool:
    try:
        result = check()
    except CheckFailed as failed:
        report.outcomes.append(Outcome.of_failure(failed))
        return False
    except KernelMagicError as exc:  # the VM died or a guest command failed under a check
        report.outcomes.append(Outcome(False, message=f"the check could not run: {exc}",
                                       hints=CRASH_HINTS))  # fmt: skip
        return False
    report.outcomes.append(Outcome(True, what=result.what))
    return True


CRASH_HINTS = (
    "the crash report is in the cell where it happened, and in %dmesg (lesson 06 reads one)",
    "a crashed kernel cannot be trusted and the module may be stuck: fix the bug, run "
    "%vm restart, then run the exercise's cells again",
)


# -- modules -----------------------------------------------------------------------------


def module_ready(name: str, *, loaded: bool | None = True, vm: Guest | None = None) -> CheckResult:
    """The module built from its latest cell, did not crash, and is (or is not) loaded.

    ``loaded=None`` leaves the load state alone.
    """
    vm = lab_vm(vm)
    kname = kernel_module_name(name)
    state = build_state(name)
    if state == "failed":
        raise CheckFailed(
            f"{name} did not build: the compiler's errors are under its %%kmodule cell",
            (f"fix the first error shown under the %%kmodule {name} cell and run it again; "
             "until it builds, the VM can only run your previous version",),
        )  # fmt: skip
    if state == "not run":
        raise CheckFailed(f"the %%kmodule {name} cell has not run yet", "run it first")
    crashes = crashes_of(vm, name)
    if crashes:
        raise CheckFailed(
            f"{name} crashed the kernel in this boot: {describe_crash(crashes[0])}", CRASH_HINTS
        )
    troubled_by_last_operation(name)
    entry = next((m for m in kmod.lsmod(vm) if m.name == kname), None)
    if loaded and entry is None:
        raise CheckFailed(
            f"{name} is not loaded",
            "run its %insmod cell; if insmod failed, its message says why (an init that "
            "returns an error leaves nothing loaded)",
        )
    if loaded and entry is not None and entry.state != "Live":
        why = "its init never returned" if entry.state == "Loading" else "its exit never returned"
        raise CheckFailed(
            f"{name} is {entry.state}, not Live: {why}",
            ("a function of the module crashed or never returns, and the module is stuck "
             "for good: fix it, then %vm restart",),
        )  # fmt: skip
    if loaded and loaded_copy_is_stale(vm, name):
        raise CheckFailed(
            f"the {name} loaded in the VM is not your last build",
            f"you rebuilt it after loading it: %rmmod {name}, then %insmod {name}",
        )
    if loaded is False and entry is None:
        unloaded_by_rmmod(name)
    if loaded is False and entry is not None:
        raise CheckFailed(
            f"{name} is still loaded",
            (f"run %rmmod {name}",
             "if rmmod refused with 'Device or resource busy' while nothing uses it, the "
             "module has an init function but no exit function: the kernel can never "
             "unload such a module (module_exit() names one)"),
        )  # fmt: skip
    what = {True: "is loaded", False: "is not loaded", None: "built"}[loaded]
    return CheckResult(f"{name} {what}")


def troubled_by_last_operation(name: str) -> None:
    """Fail when the module's last insmod or rmmod hung, crashed or was interrupted.

    The workspace restarts the VM after a hung rmmod, and a panic takes the VM with it:
    then the module is gone and so is everything it made, and a check that it cleaned up
    would pass although its exit never finished.
    """
    last = last_operation(name)
    if last is None or not last.troubled:
        return
    part = "exit" if last.unload else "init"
    raise CheckFailed(
        f"{name}: {last.describe()}",
        (f"the module's {part} function must finish: the report under the {last.action} "
         "cell shows where it stopped", *CRASH_HINTS[1:]),
    )  # fmt: skip


def unloaded_by_rmmod(name: str) -> None:
    """Fail unless this notebook's last operation on the module was an rmmod that worked.

    A module that is not loaded has not necessarily been unloaded: it may never have
    been loaded, or a restart of the VM may have removed it without its exit function
    running. Without a workspace (a script), nothing is known and nothing is refused.
    """
    if workspace() is None:
        return
    last = last_operation(name)
    if last is None:
        raise CheckFailed(
            f"{name} was never loaded in this notebook, so its unloading cannot be checked",
            f"run the cell with %insmod {name}, then the one with %rmmod {name}",
        )
    if last.unload and last.outcome == "done":
        return
    if last.outcome == "refused":
        why = f"{last.describe()}, so it never ran"
    else:
        why = (f"{last.describe()}, and the lab VM has restarted since: a restart removes "
               "modules without running their exit function")  # fmt: skip
    raise CheckFailed(
        f"{name} is not loaded, but no %rmmod {name} unloaded it: {why}",
        f"run %insmod {name}, then %rmmod {name}",
    )
