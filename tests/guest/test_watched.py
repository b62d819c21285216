# SPDX-License-Identifier: MIT
"""Deadlines on guest commands (watched.py, modop.py, shell.py) with a fake guest.

The guest here never runs anything: a command "hangs" until the test lets it finish,
and the helper's ``probe`` answers with what the test scripts, so the logic of busy
versus stuck, the silent agent and the progress lines is checked in milliseconds.
The real thing is in test_stuck_real.py and test_modop_real.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from kernelmagic.errors import AgentTimeout, ModuleError, OperationStuck
from kernelmagic.guest import kmod, shell, watched
from kernelmagic.guest.modinfo import ModuleInfo
from kernelmagic.guest.watched import MODOP, Probe, TaskState, parse_probe
from kernelmagic.machine.exec_result import ExecResult
from tests.doubles.fakes import SpawnByExec, modop_output

HANG_PROBE = """\
records 1
idle 9.000
task 101 kernelmagic-mod
state S (sleeping)
wchan do_sys_poll
stack do_sys_poll+0x3f5/0x520
task 102 kernelmagic-mod
state D (disk sleep)
wchan msleep
stack msleep+0x29/0x40
stack hang_init+0x1b/0x1000 [hang]
stack do_one_initcall+0x56/0x220
"""


class Guest(SpawnByExec):
    """A guest whose helper commands hang until finished; probes answer from a script."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.probe = HANG_PROBE
        self.hang = True
        self.silent = self.silence_after_spawn = False
        self.on_probe = lambda count: None
        self.probes = 0

    def hangs(self, argv: list[str]) -> bool:
        return self.hang

    def spawn(self, argv: Sequence[str]) -> int:
        pid = super().spawn(argv)
        self.silent = self.silence_after_spawn
        return pid

    def exec(self, argv: Sequence[str], *, timeout: float = 30.0, input: bytes | None = None,
             check: bool = False) -> ExecResult:  # fmt: skip
        argv = list(argv)
        self.calls.append(argv)
        if self.silent:
            raise AgentTimeout("guest agent did not answer guest-exec")
        if argv[:2] == [MODOP, "probe"]:
            self.probes += 1
            self.on_probe(self.probes)
            return ExecResult(0, self.probe)
        if argv[:2] == [MODOP, "kill"]:
            for pid, spawned in self.spawned.items():
                if spawned[:1] != [MODOP]:
                    self.finish(pid, ExecResult(137, "", "", signal=9))
            return ExecResult(0, "killed 2\n")
        if argv[:2] in ([MODOP, "insmod"], [MODOP, "rmmod"]):
            return ExecResult(0, modop_output(records=[(6, 13.0, "Hello")]))
        return ExecResult(0, "done\n")

    def poll(self, pid: int, timeout: float = 1.0) -> ExecResult | None:
        if self.silent:
            time.sleep(0.01)
            raise AgentTimeout("guest agent did not answer guest-exec-status")
        return super().poll(pid, timeout)

    def guest_path(self, host_path: Path) -> str:
        return "/mnt/host/" + Path(host_path).name

    def wait_settled(self) -> None:
        pass


HELLO = ModuleInfo("hang")


def test_parse_probe_reads_each_task() -> None:
    found = parse_probe(HANG_PROBE)
    assert found.records == 1 and found.idle == 9.0
    assert [t.pid for t in found.tasks] == [101, 102]
    stuck = found.stuck_task()
    assert stuck is not None and stuck.pid == 102
    assert stuck.state == "D (disk sleep)" and stuck.wchan == "msleep"
    assert stuck.module_frame == "hang_init+0x1b/0x1000 [hang]"
    assert stuck.stack[0] == "msleep+0x29/0x40"


def test_the_stuck_task_without_a_module_frame_is_the_deepest_in_the_kernel() -> None:
    tasks = [TaskState(1, "sh", stack=["do_wait+0x1/0x2"]), TaskState(2, "cat", stack=[]),
             TaskState(3, "echo", stack=["kernfs_fop_write_iter+0x1/0x2"])]  # fmt: skip
    assert Probe(None, tasks).stuck_task() == tasks[2]
    assert Probe(None, [TaskState(4, "yes")]).stuck_task() == TaskState(4, "yes")
    assert Probe(None, []).stuck_task() is None


def test_an_init_that_never_returns_is_stuck_at_its_deadline(tmp_path: Path) -> None:
    guest = Guest()
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(OperationStuck) as info:
        kmod.insmod(guest, tmp_path / "hang.ko", info=HELLO, timeout=1.2, progress=lines.append)
    assert 1.2 <= time.monotonic() - started < 3
    error = info.value
    assert not error.restarted and error.module == "hang"
    assert error.state == "D (disk sleep)"
    assert error.stack[:2] == ["msleep+0x29/0x40", "hang_init+0x1b/0x1000 [hang]"]
    assert str(error).startswith(
        "insmod hang: the module's init function did not return within 1 s; it is stuck in "
        "hang_init+0x1b/0x1000 [hang] (state D (disk sleep), waiting in msleep)."
    )
    assert str(error).endswith("the lab VM must be restarted.")
    assert error.argv[:3] == [MODOP, "insmod", "200"]
    assert lines and lines[0] == "insmod hang: init has not returned after 1 s"


def test_an_init_that_keeps_logging_is_busy_not_stuck(tmp_path: Path) -> None:
    guest = Guest()
    guest.probe = "records 5\nidle 0.000\n"
    lines: list[str] = []

    def progress_made(count: int) -> None:
        guest.probe = f"records {count}\nidle 0.000\n"  # a new record just before each probe
        if count == 4:  # busy past its 0.3 s deadline, then it returns
            for pid in guest.spawned:
                guest.finish(pid, guest.exec(guest.spawned[pid]))

    guest.on_probe = progress_made
    op = kmod.insmod(guest, tmp_path / "busy.ko", info=ModuleInfo("busy"), timeout=0.3,
                     progress=lines.append)  # fmt: skip
    assert op.log_text == "Hello" and guest.probes >= 4
    assert lines[0].endswith("(it is still logging)")


def test_a_silent_guest_is_asked_to_report_its_stuck_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watched, "SILENCE_BEFORE_NMI", 0.2)
    guest = Guest()
    guest.silence_after_spawn = True  # a CPU spinning with interrupts off: nothing answers
    with pytest.raises(OperationStuck) as info:
        kmod.insmod(guest, tmp_path / "spin.ko", info=ModuleInfo("spin"), timeout=0.6)
    assert guest.nmis == 1
    assert "the guest did not answer, so where it is stuck is unknown" in str(info.value)
    assert info.value.stack == []


def test_a_guest_slow_to_answer_is_not_a_stuck_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ticks that moved at every probe that answered: a pause in answers is not frozen time."""
    monkeypatch.setattr(watched, "TICKS_FROZEN", 0.3)
    monkeypatch.setattr(watched, "SILENCE_BEFORE_NMI", 5.0)
    guest = Guest()
    guest.hang = True

    def ticking(count: int) -> None:
        guest.probe = f"records 1\nidle 9.000\nticks {100 + count}\n"
        if count == 1:  # the host stops answering for longer than TICKS_FROZEN, then resumes
            guest.silent = True
            threading.Timer(0.6, lambda: setattr(guest, "silent", False)).start()
        if count == 3:
            for pid in guest.spawned:
                guest.finish(pid, guest.exec(guest.spawned[pid]))

    guest.on_probe = ticking
    op = kmod.insmod(guest, tmp_path / "slow.ko", info=ModuleInfo("slow"), timeout=5.0)
    assert op.log_text == "Hello"
    assert guest.nmis == 0


def test_a_refusal_is_not_a_deadline(tmp_path: Path) -> None:
    guest = Guest()
    guest.hang = False
    guest.exec = lambda argv, **kw: ExecResult(  # type: ignore[method-assign]
        1, modop_output("errno 17")
    )
    with pytest.raises(ModuleError, match="File exists"):
        kmod.insmod(guest, tmp_path / "hello.ko", info=ModuleInfo("hello"), timeout=0.2)


def test_the_timeout_is_capped() -> None:
    guest = Guest()
    guest.hang = False
    kmod.rmmod(guest, "x", timeout=10_000)  # no error: capped, and the fake returns at once
    assert guest.spawned[500][:3] == [MODOP, "rmmod", "200"]


# -- a learner's shell command ------------------------------------------------------------


def test_a_shell_command_returns_its_result() -> None:
    guest = Guest()
    guest.hang = False
    result = shell.run_shell(guest, shell.shell_argv("echo done"))
    assert result.stdout == "done\n" and result.exit_code == 0
    assert guest.spawned[500] == shell.shell_argv("echo done")
    assert shell.shell_command(guest.spawned[500]) == "echo done"


def test_a_shell_command_is_killed_at_its_deadline_and_the_vm_kept() -> None:
    guest = Guest()
    guest.probe = """\
task 200 sh
state S (sleeping)
wchan do_wait
stack do_wait+0x160/0x2f0
task 201 sh
state R (running)
wchan 0
stack kernfs_fop_write_iter+0x13a/0x1d0
stack vfs_write+0x23b/0x420
"""
    lines: list[str] = []
    with pytest.raises(OperationStuck) as info:
        shell.run_shell(guest, shell.shell_argv("echo 42 > /sys/kernel/x/y"), timeout=1.2,
                        progress=lines.append)  # fmt: skip
    error = info.value
    assert not error.restarted
    assert error.stack[0] == "kernfs_fop_write_iter+0x13a/0x1d0"
    assert str(error) == (
        "'echo 42 > /sys/kernel/x/y' did not finish within 1.2 s and was killed; sh (pid 201) "
        "was in the kernel at kernfs_fop_write_iter+0x13a/0x1d0 (state R (running)). "
        "The lab VM keeps running."
    )
    assert [MODOP, "kill", "500"] in guest.calls
    assert lines == ["'echo 42 > /sys/kernel/x/y': still running after 1 s (deadline 1.2 s)"]


def test_a_shell_command_asleep_in_the_kernel_cannot_be_killed_and_says_so() -> None:
    class Unkillable(Guest):
        def exec(self, argv: Sequence[str], **kwargs: Any) -> ExecResult:
            if list(argv[:2]) == [MODOP, "kill"]:
                self.calls.append(list(argv))
                return ExecResult(0, "killed 1\n")  # SIGKILL sent; a D-state task never ends
            return super().exec(argv, **kwargs)

    guest = Unkillable()
    guest.probe = "task 201 cat\nstate D (disk sleep)\nwchan msleep\nstack msleep+0x29/0x40\n"
    with pytest.raises(OperationStuck) as info:
        shell.run_shell(guest, shell.shell_argv("cat /dev/slow"), timeout=0.5)
    error = info.value
    assert not error.killed and not error.restarted
    assert "could not be killed (it waits in the kernel)" in str(error)
    assert str(error).endswith("%vm restart gives a clean kernel.")


def test_ctrl_c_kills_the_shell_command_and_goes_on() -> None:
    guest = Guest()
    guest.on_probe = lambda count: (_ for _ in ()).throw(KeyboardInterrupt())
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shell.run_shell(guest, shell.shell_argv("sleep 100"), timeout=0.2)
    assert time.monotonic() - started < 1.0
    assert [MODOP, "kill", "500"] in guest.calls
