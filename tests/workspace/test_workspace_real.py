# SPDX-License-Identifier: MIT
"""The workspace against the real lab VM: a kernel that only a restart mends.

A stuck init or exit restarts the VM before the error reaches the caller, and the
next load works; an oops in init that leaves the module [Loading] makes the next
load of that name restart first, with a notice; an interrupted insmod still in the
kernel does the same for the next operation; an oops in exit leaves the module
[Unloading], and unloading it again says it never will in this boot. Two workspaces
with a VM each never see each other's modules. The modules are in tests/data/stuck/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelmagic.errors import ModuleError, OperationStuck, UsageError
from kernelmagic.guest import kmod
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.vm import LabVM
from kernelmagic.workspace import Workspace

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class Lab:
    """A workspace whose VM starts on first need, as ``kernelmagic run`` does."""

    def __init__(self, bundle: Bundle) -> None:
        self.machine = LabVM(bundle)
        self.starts = 0
        self.workspace = Workspace(self._provide)

    def _provide(self) -> LabVM:
        if not self.machine.is_running():
            self.machine.start()
            self.starts += 1
        return self.machine

    def add(self, name: str, text: str | None = None) -> None:
        if text is None:
            text = (ROOT / "tests/data/stuck" / f"{name}.c").read_text()
        self.workspace.set_main(name, text)
        self.workspace.build(name)

    def loaded(self) -> list[str]:
        return [m.name for m in kmod.lsmod(self.machine)]


@pytest.fixture
def lab(bundle: Bundle) -> Iterator[Lab]:
    lab = Lab(bundle)
    try:
        yield lab
    finally:
        lab.machine.stop()


HELLO = (ROOT / "modules" / "hello.c").read_text()


def test_a_stuck_init_restarts_the_vm_and_the_next_load_works(lab: Lab) -> None:
    lab.add("hello", HELLO)
    lab.add("hang")
    lab.workspace.load("hello")
    with pytest.raises(OperationStuck) as info:
        lab.workspace.load("hang", timeout=2)
    error = info.value
    assert error.restarted and any(f.startswith("hang_init+0x") for f in error.stack)
    assert str(error).endswith(
        "the lab VM was restarted: modules loaded before and files in the guest are gone."
    )
    assert lab.machine.is_running() and lab.starts == 2  # killed by the workspace, started anew
    assert "hang" not in lab.loaded() and "hello" not in lab.loaded()
    change = lab.workspace.load("hello", ["name=again"])
    assert change.log_text.endswith("Hello, again!") and change.notices == []


def test_a_stuck_exit_restarts_the_vm(lab: Lab) -> None:
    lab.add("hangexit")
    lab.workspace.load("hangexit")
    with pytest.raises(OperationStuck, match="exit function did not return") as info:
        lab.workspace.unload("hangexit", timeout=2)
    assert info.value.restarted
    assert "hangexit" not in lab.loaded()


def test_after_an_oops_in_init_loading_the_fixed_module_restarts_first(lab: Lab) -> None:
    lab.add("oopsinit")
    with pytest.raises(ModuleError, match="insmod oopsinit failed: exit status 137") as info:
        lab.workspace.load("oopsinit")
    assert any("NULL pointer dereference" in line for line in info.value.log)
    assert lab.workspace.wedged == {"oopsinit": "Loading"}
    with pytest.raises(ModuleError) as info:
        lab.workspace.unload("oopsinit")
    assert "[Loading]" in info.value.hint and "%vm restart" in info.value.hint
    # the learner fixes the bug (here: a parameter) and loads the module again
    change = lab.workspace.load("oopsinit", ["fixed=1"])
    assert change.log_text.endswith("oopsinit: loaded")
    assert len(change.notices) == 1
    assert change.notices[0].startswith(
        "the lab VM was restarted before insmod oopsinit: an oops in oopsinit's init left it "
        "[Loading] for good"
    )
    # the console is back at the lab's level, after the oops raised it to 15 and the restart
    assert lab.machine.exec(["cat", "/proc/sys/kernel/printk"]).stdout.split()[0] == "5"


def test_after_an_oops_in_exit_the_module_can_never_be_unloaded_in_this_boot(lab: Lab) -> None:
    lab.add("oopsexit")
    lab.workspace.load("oopsexit")
    with pytest.raises(ModuleError, match="exit status 137"):
        lab.workspace.unload("oopsexit")
    assert lab.workspace.wedged == {"oopsexit": "Unloading"}
    # an oops raises the console to 15; the helper put it back
    assert lab.machine.exec(["cat", "/proc/sys/kernel/printk"]).stdout.split()[0] == "5"
    with pytest.raises(ModuleError) as info:
        lab.workspace.unload("oopsexit")
    error = info.value
    assert str(error) == "rmmod oopsexit failed: could not remove module oopsexit: " + (
        "Device or resource busy"
    )
    assert "can never be unloaded in this boot" in error.hint and "%vm restart" in error.hint
    assert lab.workspace.load("oopsexit").notices  # a new copy needs a fresh kernel


def test_an_interrupted_insmod_still_in_the_kernel_restarts_the_vm_first(lab: Lab) -> None:
    lab.add("hang")
    lab.add("hello", HELLO)

    def interrupt(line: str) -> None:
        raise KeyboardInterrupt  # Ctrl-C, one second into the wait

    with pytest.raises(KeyboardInterrupt):
        lab.workspace.load("hang", progress=interrupt)
    assert lab.workspace.interrupted == "insmod hang"
    assert kmod.operations_running(lab.machine)  # its init is still in the kernel
    change = lab.workspace.load("hello")
    assert change.notices and "the interrupted insmod hang was still running" in change.notices[0]
    assert lab.loaded()[0] == "hello" and "hang" not in lab.loaded()


def test_a_name_the_kernel_already_has_is_refused_before_building(lab: Lab) -> None:
    for name, where in (("ext4", "shipped in the lab VM"), ("unix", "built into the kernel")):
        lab.workspace.set_main(name, HELLO)
        with pytest.raises(UsageError, match=where):
            lab.workspace.build(name)
    assert lab.starts == 0 and lab.workspace.builds == {}


def test_two_vms_never_see_each_others_modules(bundle: Bundle) -> None:
    first, second = Lab(bundle), Lab(bundle)
    try:
        first.add("hello", HELLO)
        second.add("echoparam")
        first.workspace.load("hello")
        second.workspace.load("echoparam", ["text=second"])
        assert "hello" in first.loaded() and "echoparam" not in first.loaded()
        assert "echoparam" in second.loaded() and "hello" not in second.loaded()
        one, two = first.machine.status(), second.machine.status()
        assert one.pid != two.pid and one.runtime_dir != two.runtime_dir
        # each guest's files are its own
        first.machine.exec(["sh", "-c", "echo first > /tmp/mine"], check=True)
        assert second.machine.exec(["cat", "/tmp/mine"]).exit_code != 0
        second.workspace.unload("echoparam")
        assert "hello" in first.loaded()
    finally:
        first.machine.stop()
        second.machine.stop()
