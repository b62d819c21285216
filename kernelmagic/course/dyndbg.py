# SPDX-License-Identifier: MIT
"""Is a message a ``pr_debug()``? Told apart by loading the module with and without it on.

``pr_info()`` and ``printk(KERN_DEBUG ...)`` always reach the kernel log; a
``pr_debug()`` in a kernel with dynamic debug is a site that is off until switched on.
A message printed in init can only be switched on at load time (``dyndbg=+p``), so the
check loads the module itself twice: without it, the line must be absent; with it, the
line must be there and the control file must list the module's sites as on. The
second load is left loaded, as the learner's ``%insmod`` had it.
"""

from __future__ import annotations

from collections.abc import Mapping

from kernelmagic.course._guest import lab_vm, last_build
from kernelmagic.course.results import CheckFailed, CheckResult, HintText
from kernelmagic.guest import kmod
from kernelmagic.guest.protocol import Guest
from kernelmagic.names import kernel_module_name

__all__ = ["DYNAMIC_DEBUG", "debug_message"]

DYNAMIC_DEBUG = "/sys/kernel/debug/dynamic_debug/control"


def debug_message(
    module: str,
    line: str,
    params: Mapping[str, object] | None = None,
    *,
    hint: HintText = "",
    vm: Guest | None = None,
) -> CheckResult:
    """``line`` is logged by a load with ``dyndbg=+p``, and not by a load without it."""
    vm = lab_vm(vm)
    name = kernel_module_name(module)
    build = last_build(module)
    if build is None:
        raise CheckFailed(f"{module} has no build in this notebook", "run its %%kmodule cell")
    if kmod.is_loaded(vm, name):
        kmod.rmmod(vm, name)
    params = dict(params or {})
    quiet = kmod.insmod(vm, build.ko_path, params)
    kmod.rmmod(vm, name)
    loud = kmod.insmod(vm, build.ko_path, {**params, "dyndbg": "+p"})
    control = vm.exec(["cat", DYNAMIC_DEBUG], timeout=15).stdout.splitlines()
    sites = [s for s in control if f"[{name}]" in s]
    if line in quiet.log_text:
        raise CheckFailed(
            f"{line!r} is logged with dynamic debug off: it is not a pr_debug() message", hint
        )
    if not sites:
        raise CheckFailed(f"{DYNAMIC_DEBUG} lists no pr_debug() of {name}", hint)
    if line not in loud.log_text:
        raise CheckFailed(
            f"{line!r} is not logged with dynamic debug on for {name} (dyndbg=+p); that "
            f"load logged:\n{loud.log_text[-600:]}",
            hint,
        )
    on = sum(" =p " in s for s in sites)
    return CheckResult(
        f"{line!r} is logged only with dynamic debug on "
        f"({on} of {len(sites)} pr_debug() sites of {name} on)"
    )
