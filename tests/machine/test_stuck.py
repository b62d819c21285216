# SPDX-License-Identifier: MIT
"""The machine's part in crashes and hangs, without a VM.

The kernel command line's detectors, the guest helper's compilation into the bundle,
the report of a CPU stuck with interrupts off cut from NMI backtraces, a hung task's
report completed from the kernel log, the APIC timer's boot check, and what counts as
a guest that cannot go on. The real VM's side is in test_vm_faults_real.py.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from kernelmagic.errors import AgentTimeout, KernelCrashed
from kernelmagic.machine import cmdline, health, hung_task, snapshot
from kernelmagic.machine.bundle import RECIPE_DIR, RECIPE_FILES, Bundle, recipe_digest
from kernelmagic.machine.cmdline import PLACEHOLDER_FDS
from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.crash import CrashParser, CrashReport, classify, stuck_cpu_report
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.machine.process import QEMUProcess
from kernelmagic.machine.staging import HELPER_SOURCE, compile_helper
from kernelmagic.machine.vm import LabVM
from kernelmagic.machine.watch import CrashWatch, stops_the_guest

# What `dmesg -r` showed after `echo l > /proc/sysrq-trigger` with CPU 0 spinning with
# interrupts off (two vCPUs, 6.1.0-57), shortened.
SYSRQ_L = """\
<6>[    9.100000] sysrq: Show backtrace of all active CPUs
<4>[    9.100100] NMI backtrace for cpu 1
<4>[    9.100200] CPU: 1 PID: 130 Comm: sh Tainted: G           OE      6.1.0-57-amd64 #1
<4>[    9.100300] Call Trace:
<4>[    9.100400]  <TASK>
<4>[    9.100500]  nmi_cpu_backtrace.cold+0x30/0x70
<4>[    9.100600]  nmi_trigger_cpumask_backtrace+0xe4/0xf0
<4>[    9.100700]  __handle_sysrq.cold+0x50/0x117
<4>[    9.100800]  </TASK>
<6>[    9.100900] Sending NMI from CPU 1 to CPUs 0:
<4>[    9.101000] NMI backtrace for cpu 0
<4>[    9.101100] CPU: 0 PID: 117 Comm: kernelmagic-mod Tainted: G           OE  6.1.0-57-amd64 #1
<4>[    9.101200] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 0.1 11/11/2019
<4>[    9.101300] RIP: 0010:spinirq_init+0x19/0x1000 [spinirq]
<4>[    9.101400] Code: Unable to access opcode bytes at 0xffffffffc02d1fef.
<4>[    9.101500] RSP: 0018:ffffc9000047f9d8 EFLAGS: 00000046
<4>[    9.101600] Call Trace:
<4>[    9.101700]  <TASK>
<4>[    9.101800]  do_one_initcall+0x56/0x220
<4>[    9.101900]  do_init_module+0x4a/0x1f0
<4>[    9.102000]  </TASK>
"""

HUNG_HEADER = "INFO: task kthr:120 blocked for more than 3 seconds."
HUNG_DMESG = f"""\
<6>[    5.000000] kthr: started
<3>[    9.000000] {HUNG_HEADER}
<3>[    9.000100]       Tainted: G           OE      6.1.0-57-amd64 #1 Debian 6.1.192-3
<3>[    9.000200] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.
<6>[    9.000300] task:kthr            state:D stack:0     pid:120   ppid:2      flags:0x00004000
<6>[    9.000400] Call Trace:
<6>[    9.000500]  <TASK>
<6>[    9.000600]  __schedule+0x34d/0xa00
<6>[    9.000700]  schedule+0x5a/0xd0
<6>[    9.000800]  dstate_fn+0x1d/0x30 [dstate]
<6>[    9.000900]  kthread+0xd7/0x100
<6>[    9.001000]  </TASK>
<6>[    9.500000] something else
"""


def test_the_kernel_command_line_reports_a_stuck_cpu_within_seconds() -> None:
    one = cmdline.kernel_cmdline(cpus=1).split()
    two = cmdline.kernel_cmdline(cpus=2).split()
    for words in (one, two):
        assert "watchdog_thresh=1" in words and "rcupdate.rcu_cpu_stall_timeout=3" in words
    # with two vCPUs every CPU needs its own timer, or a stuck CPU 0 silences all
    assert "noapictimer" in one and "noapictimer" not in two


def test_the_helper_is_part_of_the_recipe_and_of_its_hash(tmp_path: Path) -> None:
    assert HELPER_SOURCE in RECIPE_FILES and (RECIPE_DIR / HELPER_SOURCE).is_file()
    recipe = tmp_path / "vm"
    recipe.mkdir()
    (recipe / HELPER_SOURCE).write_text("int main(void) { return 0; }\n")
    first = recipe_digest(recipe)
    (recipe / HELPER_SOURCE).write_text("int main(void) { return 1; }\n")
    assert recipe_digest(recipe) != first  # a changed helper rebuilds the bundle


def test_the_helper_compiles_static_and_the_same_twice(tmp_path: Path) -> None:
    out1, out2 = tmp_path / "a" / "kernelmagic-modop", tmp_path / "b" / "kernelmagic-modop"
    compile_helper(RECIPE_DIR / HELPER_SOURCE, out1)
    compile_helper(RECIPE_DIR / HELPER_SOURCE, out2)
    assert out1.read_bytes() == out2.read_bytes()
    headers = subprocess.run(
        ["readelf", "-lW", str(out1)], capture_output=True, text=True, check=True
    ).stdout
    assert (
        "LOAD" in headers and "INTERP" not in headers
    )  # static: the initramfs has no ld.so for it
    usage = subprocess.run([str(out1)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "kernelmagic-modop insmod KEEP FILE" in usage.stderr


def test_a_cpu_stuck_with_interrupts_off_is_cut_from_the_nmi_backtraces() -> None:
    report = stuck_cpu_report(SYSRQ_L, position=1234)
    assert report is not None
    assert report.kind == "hard lockup" and report.position == 1234
    assert report.title == "watchdog: CPU#0 stuck with interrupts off: its timer tick stopped"
    assert (report.function, report.offset, report.module) == ("spinirq_init", 0x19, "spinirq")
    assert "do_one_initcall+0x56/0x220" in report.report
    assert "nmi_trigger_cpumask_backtrace" not in report.report  # the asking CPU's is left out
    assert stops_the_guest(report)


def test_no_stuck_cpu_in_backtraces_of_idle_cpus() -> None:
    idle = "\n".join(["NMI backtrace for cpu 1", "RIP: 0010:native_safe_halt+0xb/0x10", " </TASK>"])
    assert stuck_cpu_report(idle) is None
    assert stuck_cpu_report("") is None


def test_the_kernels_own_hard_lockup_line_is_a_hard_lockup() -> None:
    assert classify("watchdog: Watchdog detected hard LOCKUP on cpu 1") == "hard lockup"


def test_a_hung_tasks_stack_comes_from_the_kernel_log(tmp_path: Path) -> None:
    lines = hung_task.report_lines(HUNG_DMESG, HUNG_HEADER)
    assert lines[0] == HUNG_HEADER and lines[-1].strip() == "</TASK>"
    assert " dstate_fn+0x1d/0x30 [dstate]" in lines
    # the console's copy (level 5) had the three header lines only
    parser = CrashParser()
    for i, line in enumerate(HUNG_DMESG.splitlines()[1:4]):
        parser.feed_line(line.split("] ", 1)[1], position=100 + i)
    short = parser.finish()
    assert short is not None and short.kind == "hung task" and short.function is None
    full = parser.rewrite(short.position, lines)
    assert full is not None and full.position == short.position
    assert (full.function, full.module) == ("dstate_fn", "dstate")
    assert parser.crashes == [full]
    assert not stops_the_guest(full)  # one task hangs: the rest of the kernel answers


def test_the_console_completes_a_hung_task_report_in_the_background(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair()
    console = ConsoleRecorder(ours, tmp_path / "console.log")
    try:
        for line in HUNG_DMESG.splitlines()[1:4]:
            console._feed((line.split("] ", 1)[1] + "\n").encode())
        console._finish_pending()
        (short,) = console.crashes
        calls: list[list[str]] = []

        def exec_(argv: list[str], timeout: float) -> ExecResult:
            calls.append(argv)
            return ExecResult(0, HUNG_DMESG)

        thread = hung_task.complete_in_background(exec_, console, short)
        assert thread is not None
        thread.join(5)
        assert calls == [["dmesg", "-r"]]
        (full,) = console.crashes
        assert full.function == "dstate_fn" and "Call Trace:" in full.report
        assert hung_task.complete_in_background(exec_, console, full) is None  # has its stack
    finally:
        console.stop()
        theirs.close()


def test_a_hung_task_read_fails_quietly(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair()
    console = ConsoleRecorder(ours, tmp_path / "console.log")
    report = CrashReport("hung task", HUNG_HEADER, HUNG_HEADER)

    def exec_(argv: list[str], timeout: float) -> ExecResult:
        raise AgentTimeout("gone")

    try:
        hung_task.complete(exec_, console, report)  # no error: the short report stays
    finally:
        console.stop()
        theirs.close()


def test_the_apic_timer_check() -> None:
    answers = {"ok": ExecResult(1), "failed": ExecResult(0)}
    asked: list[list[str]] = []

    def exec_for(key: str) -> Callable[[list[str], float], ExecResult]:
        def exec_(argv: list[str], timeout: float) -> ExecResult:
            asked.append(argv)
            return answers[key]

        return exec_

    assert health.lapic_timer_works(exec_for("ok"), 2)
    assert not health.lapic_timer_works(exec_for("failed"), 2)
    assert health.lapic_timer_works(exec_for("failed"), 1)  # noapictimer: off on purpose
    assert asked[0] == ["sh", "-c", "dmesg | grep -q 'APIC timer disabled'"]


def test_a_crash_watch_carries_the_parsed_report(tmp_path: Path) -> None:
    ours, theirs = socket.socketpair()
    console = ConsoleRecorder(ours, tmp_path / "console.log")
    qemu = QEMUProcess(subprocess.Popen(["sleep", "30"]))
    try:
        report = stuck_cpu_report(SYSRQ_L, console.mark())
        assert report is not None
        console.add_crash(report)
        with pytest.raises(KernelCrashed) as info:
            CrashWatch(console, qemu)()
        assert info.value.crash is report
    finally:
        qemu.proc.kill()
        qemu.proc.wait()
        console.stop()
        theirs.close()


def test_a_saved_state_is_keyed_by_the_kernel_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state saved under one command line (one set of detectors) never starts another."""
    monkeypatch.setenv("KERNELMAGIC_HOME", str(tmp_path / "home"))
    bundle = Bundle(tmp_path / "bundle", "6.1.0-0-amd64", {"files": {"vmlinux": "x"}})

    def key(**kwargs: object) -> Path:
        argv = LabVM(bundle, **kwargs).qemu_argv("tcg", PLACEHOLDER_FDS)  # type: ignore[arg-type]
        return snapshot.state_path(argv, {"vmlinux": "x"}, "7.2")

    one, two = key(cpus=1), key(cpus=2)
    assert one != two and key(cpus=1) == one
    monkeypatch.setattr(cmdline, "KERNEL_CMDLINE", cmdline.KERNEL_CMDLINE + " softlockup_panic=1")
    assert key(cpus=1) != one
