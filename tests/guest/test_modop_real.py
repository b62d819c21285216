# SPDX-License-Identifier: MIT
"""insmod and rmmod through the guest helper, against the real lab VM.

One agent exchange per operation: parameters reach the module byte for byte, the
errors read as kmod's did, the records are exactly those the operation caused (with
levels and sequence numbers), an init that keeps logging is busy and not stuck, a
flood comes back bounded, and a learner's shell command that never ends is killed at
its deadline with the VM kept. The modules are in tests/data/stuck/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.errors import ModuleError, OperationStuck
from kernelmagic.guest import kmod, shell
from kernelmagic.kbuild.builder import build_module
from kernelmagic.kbuild.result import BuildResult
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.vm import LabVM

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
HELLO_C = (ROOT / "modules" / "hello.c").read_text()


def build_stuck(name: str) -> BuildResult:
    """A module of tests/data/stuck/, built against the bundle's kernel."""
    return build_module(name, {f"{name}.c": (ROOT / "tests/data/stuck" / f"{name}.c").read_text()})


@pytest.fixture(scope="module")
def vm(lab_vm: LabVM) -> LabVM:
    """The shared module-scoped VM of tests/conftest.py."""
    return lab_vm


@pytest.fixture(scope="module")
def hello(bundle: Bundle) -> BuildResult:
    return build_module("hello", {"hello.c": HELLO_C})


def test_insmod_and_rmmod_return_exactly_their_records(vm: LabVM, hello: BuildResult) -> None:
    loaded = kmod.insmod(vm, hello.ko_path, ["name=Ada"])
    assert loaded.log[-1].message == "Hello, Ada!" and loaded.log[-1].level == 6
    sequences = [r.sequence for r in loaded.log]
    assert all(s is not None for s in sequences)
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))  # type: ignore[operator]
    assert loaded.mark is not None and loaded.omitted == 0
    gone = kmod.rmmod(vm, "hello")
    assert [r.message for r in gone.log] == ["Goodbye, Ada!"]
    assert gone.log[0].sequence == sequences[-1] + 1  # type: ignore[operator]


def test_parameters_with_shell_metacharacters_reach_the_module_literally(vm: LabVM) -> None:
    echo = build_stuck("echoparam")
    text = "a b; $HOME 'q' `id` | > & \\ \n second line"
    loaded = kmod.insmod(vm, echo.ko_path, [f"text={text}"])
    assert loaded.log[-1].message == f"echoparam: [{text}]"
    value = vm.exec(["cat", "/sys/module/echoparam/parameters/text"]).stdout
    assert value == text + "\n"
    kmod.rmmod(vm, "echoparam")


def test_non_utf8_bytes_in_the_log_are_replaced_not_fatal(vm: LabVM) -> None:
    raw = build_stuck("rawbytes")
    loaded = kmod.insmod(vm, raw.ko_path)
    assert [r.message for r in loaded.log[-2:]] == ["rawbytes: \ufffd\ufffd end", "rawbytes: Grüße"]
    kmod.rmmod(vm, "rawbytes")


def test_refusals_read_as_kmods_messages(vm: LabVM, hello: BuildResult) -> None:
    ko = vm.guest_path(hello.ko_path)
    kmod.insmod(vm, hello.ko_path)
    with pytest.raises(ModuleError) as info:
        kmod.insmod(vm, hello.ko_path)
    assert str(info.value) == f"insmod hello failed: could not insert module {ko}: File exists"
    assert info.value.output == f"insmod: ERROR: could not insert module {ko}: File exists\n"
    assert info.value.errno_name == "EEXIST"
    with pytest.raises(ModuleError) as info:
        kmod.insmod(vm, hello.ko_path.parent / "missing.ko", info=kmod.read_modinfo(hello.ko_path))
    assert str(info.value).endswith(": No such file or directory")
    assert "could not load module" in str(info.value)
    kmod.rmmod(vm, "hello")
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(vm, "hello")
    assert str(info.value) == "rmmod hello failed: Module hello is not currently loaded"
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(vm, "9p")  # the mounted share uses it
    assert str(info.value) == "rmmod 9p failed: Module 9p is in use"


def test_rmmod_of_a_module_in_use_names_its_holders(vm: LabVM) -> None:
    kmod.modprobe(vm, "bridge")  # stp and llc come along; bridge uses stp
    with pytest.raises(ModuleError) as info:
        kmod.rmmod(vm, "stp")
    assert str(info.value) == "rmmod stp failed: Module stp is in use by: bridge"
    kmod.modprobe(vm, "bridge", remove=True)


def test_an_init_that_keeps_logging_is_busy_not_stuck(vm: LabVM) -> None:
    busy = build_stuck("busy")
    lines: list[str] = []
    loaded = kmod.insmod(vm, busy.ko_path, ["seconds=4"], timeout=2, progress=lines.append)
    assert loaded.log[-1].message == "busy: done"
    assert loaded.duration > 2  # it ran past its 2 s deadline, logging all the while
    assert any(line.endswith("(it is still logging)") for line in lines)
    kmod.rmmod(vm, "busy")


def test_a_flood_comes_back_bounded_with_its_count(vm: LabVM) -> None:
    flood = build_stuck("flood")
    loaded = kmod.insmod(vm, flood.ko_path, ["lines=100000"])
    assert len(loaded.log) == 200
    assert loaded.log[-1].message == "flood: done after 100000 lines"
    assert loaded.log[-2].message == "flood: line 99999"
    assert len(loaded.log) + loaded.omitted == 100_001  # every line accounted for
    assert 0 <= loaded.lost <= loaded.omitted
    kmod.rmmod(vm, "flood")
    # the console stayed at the lab's level: the flood did not go over the UART
    assert vm.exec(["cat", "/proc/sys/kernel/printk"]).stdout.split()[0] == "5"


def test_a_shell_command_that_never_ends_is_killed_and_the_vm_kept(vm: LabVM) -> None:
    lines: list[str] = []
    with pytest.raises(OperationStuck) as info:
        shell.run_shell(vm, shell.shell_argv("sleep 1000 | cat"), timeout=2,
                        progress=lines.append)  # fmt: skip
    error = info.value
    assert not error.restarted and error.seconds >= 2
    assert "'sleep 1000 | cat' did not finish within 2 s and was killed" in str(error)
    assert error.stack  # the kernel stack of one of its processes
    assert lines and lines[0].startswith("'sleep 1000 | cat': still running after 1 s")
    assert "sleep 1000" not in vm.exec(["ps", "-o", "pid,args"]).stdout
    assert shell.run_shell(vm, shell.shell_argv("echo still here")).stdout == "still here\n"
