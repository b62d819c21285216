# SPDX-License-Identifier: MIT
"""Modules that never come back, against the real lab VM, at the guest layer.

An init or exit stuck in a sleep ends at its deadline with the stuck task's kernel
stack; a CPU spinning in init, with interrupts on or off, with one vCPU or two, is
reported as a crash naming the module's function well before that deadline (10 s):
the kernel's watchdogs, the RCU stall detector, the host's NMI (one vCPU, interrupts
off) or an NMI backtrace asked for through the agent. The workspace's restart after
these is tested in tests/workspace/test_workspace_real.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.errors import KernelCrashed, OperationStuck
from kernelmagic.guest import kmod
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.vm import LabVM

pytestmark = pytest.mark.integration

STUCK = Path(__file__).resolve().parents[2] / "tests" / "data" / "stuck"


def build_stuck(name: str) -> BuildResult:
    return build_module(name, {f"{name}.c": (STUCK / f"{name}.c").read_text()})


@pytest.fixture
def vm(bundle: Bundle) -> Iterator[LabVM]:
    """A VM of its own for each test: what these modules do to a kernel is for good."""
    vm = LabVM(bundle)
    vm.start()
    try:
        yield vm
    finally:
        vm.stop()


def test_an_init_stuck_in_msleep_ends_at_its_deadline_with_its_stack(vm: LabVM) -> None:
    hang = build_stuck("hang")
    lines: list[str] = []
    with pytest.raises(OperationStuck) as info:
        kmod.insmod(vm, hang.ko_path, timeout=3, progress=lines.append)
    error = info.value
    assert error.module == "hang" and not error.restarted
    assert error.state.startswith("D")
    assert error.stack[0].startswith("msleep+0x")
    # the line a decoder turns into the learner's source line (function+offset/size [module])
    assert any(f.startswith("hang_init+0x") and f.endswith("/0x1000 [hang]") for f in error.stack)
    assert "it is stuck in hang_init+0x" in str(error) and "waiting in msleep" in str(error)
    assert lines[0] == "insmod hang: init has not returned after 1 s"
    assert kmod.module_state(vm, "hang") == "Loading"


def test_an_exit_stuck_in_msleep_ends_at_its_deadline_with_its_stack(vm: LabVM) -> None:
    hangexit = build_stuck("hangexit")
    kmod.insmod(vm, hangexit.ko_path)
    with pytest.raises(OperationStuck) as info:
        kmod.rmmod(vm, "hangexit", timeout=2)
    error = info.value
    assert any(f.startswith("hangexit_exit+0x") for f in error.stack)
    assert "the module's exit function did not return within 2 s" in str(error)
    assert kmod.module_state(vm, "hangexit") == "Unloading"


def lockup(bundle: Bundle, cpus: int, name: str) -> CrashReport:
    """Load a spinning module in a VM of ``cpus`` vCPUs; the crash that reported it."""
    module = build_stuck(name)
    vm = LabVM(bundle, cpus=cpus)
    vm.start()
    try:
        with pytest.raises(KernelCrashed) as info:
            kmod.insmod(vm, module.ko_path, timeout=10)
    finally:
        vm.stop()
    crash = info.value.crash
    assert isinstance(crash, CrashReport), info.value
    return crash


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_busy_loop_in_init_is_a_crash_naming_it(bundle: Bundle, cpus: int) -> None:
    crash = lockup(bundle, cpus, "spin")
    assert crash.kind in ("soft lockup", "rcu stall", "panic")
    assert (crash.function, crash.module) == ("spin_init", "spin")


@pytest.mark.parametrize("cpus", [1, 2])
def test_a_busy_loop_with_interrupts_off_is_a_crash_naming_it(bundle: Bundle, cpus: int) -> None:
    crash = lockup(bundle, cpus, "spinirq")
    # one vCPU: only the host's NMI can make it report (a panic); two: the other CPU does
    assert crash.kind == "panic" if cpus == 1 else crash.kind in ("rcu stall", "hard lockup")
    assert (crash.function, crash.module) == ("spinirq_init", "spinirq")
