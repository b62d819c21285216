# SPDX-License-Identifier: MIT
"""The machine's side of hangs, against the real lab VM.

The console runs at loglevel 5, so a hung task's stack (KERN_INFO) never reaches it:
the VM reads it from the kernel log and completes the report. Cold boots and saved
states keep the command line that makes a stuck CPU report itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kernelmagic.guest import kmod
from kernelmagic.kbuild.builder import build_module
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.vm import LabVM

pytestmark = pytest.mark.integration

STUCK = Path(__file__).resolve().parents[2] / "tests" / "data" / "stuck"


def test_a_hung_tasks_report_gets_its_stack_from_the_kernel_log(bundle: Bundle) -> None:
    dstate = build_module("dstate", {"dstate.c": (STUCK / "dstate.c").read_text()})
    with LabVM(bundle) as vm:
        vm.exec(["sh", "-c", "echo 2 > /proc/sys/kernel/hung_task_timeout_secs"], check=True)
        kmod.insmod(vm, dstate.ko_path)  # its thread waits for ever, in state D
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            crashes = [c for c in vm.console.crashes if c.kind == "hung task"]
            if crashes and "Call Trace:" in crashes[0].report:
                break
            time.sleep(0.2)
        (crash,) = [c for c in vm.console.crashes if c.kind == "hung task"][:1]
        assert crash.title.startswith("INFO: task dstate_wait:")
        assert "Call Trace:" in crash.report  # not on the console: read from the log
        assert (crash.function, crash.module) == ("dstate_wait", "dstate")
        console = vm.console.text()
        assert "INFO: task dstate_wait:" in console and "dstate_wait+0x" not in console
        assert vm.exec(["true"]).exit_code == 0  # one hung task: the guest goes on


def test_the_guest_runs_with_the_lab_console_level_and_nmi_panic(bundle: Bundle) -> None:
    with LabVM(bundle, cpus=2) as vm:
        printk = vm.exec(["cat", "/proc/sys/kernel/printk"]).stdout.split()
        assert printk[0] == "5"
        assert vm.exec(["cat", "/proc/sys/kernel/unknown_nmi_panic"]).stdout.strip() == "1"
        cmdline = vm.exec(["cat", "/proc/cmdline"]).stdout.split()
        assert "watchdog_thresh=1" in cmdline and "noapictimer" not in cmdline
        assert vm.exec(["cat", "/proc/sys/kernel/watchdog_thresh"]).stdout.strip() == "1"
        # interrupts go to CPU 0, so a module spinning on CPU 1 leaves the agent alive
        assert vm.exec(["cat", "/proc/irq/3/smp_affinity"]).stdout.strip() == "1"
