# SPDX-License-Identifier: MIT
"""The workspace on its own, without IPython: sources, builds, loads and log marks.

It drives a simulated guest (``FakeLabVM``) and a fake kbuild (``FakeBuilder``), the
doubles the magics' tests use, so what the notebook shows rests on what is tested here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic import workspace as workspaces
from kernelmagic.errors import AgentTimeout, KernelCrashed, ModuleError, OperationStuck, UsageError
from kernelmagic.kbuild.sources import CellSource
from kernelmagic.machine.bundle import Bundle
from kernelmagic.machine.crash import CrashReport
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.workspace import ModuleChange, Workspace
from tests.doubles.fake_lab import FakeBuilder, FakeLabVM, Module

MODULE = 'MODULE_LICENSE("GPL");\n'
PARAMS = MODULE + "module_param(name, charp, 0444);\nmodule_param(loud, bool, 0444);\n"


class Lab:
    """A workspace over a running fake VM; ``provided`` counts the provider's calls."""

    def __init__(self, home: Path) -> None:
        builds = home / "builds"
        builds.mkdir(parents=True, exist_ok=True)
        self.vm = FakeLabVM(builds.resolve())
        self.vm.start()
        self.builder = FakeBuilder(builds)
        self.provided = 0
        self.workspace = Workspace(self._provide, builder=self.builder)

    def _provide(self) -> FakeLabVM:
        self.provided += 1
        return self.vm


@pytest.fixture
def lab(home: Path) -> Lab:
    return Lab(home)


# -- sources ----------------------------------------------------------------------------


def test_the_kmodule_cell_is_name_c_alone_and_name_main_c_beside_other_c_files(lab: Lab) -> None:
    ws = lab.workspace
    assert ws.set_main("hello", MODULE) == "hello.c"
    assert ws.sources("hello").has_main
    ws.add_file("multi", "util.h", "#define X 1\n")
    assert ws.set_main("multi", MODULE) == "multi.c"  # a header does not change the name
    ws.add_file("multi", "util.c", "int x;\n")
    assert ws.set_main("multi", MODULE) == "multi_main.c"
    assert set(ws.sources("multi").texts()) == {"util.h", "util.c", "multi_main.c"}
    main = ws.sources("multi").files["multi_main.c"]
    assert main == CellSource(MODULE, "%%kmodule multi", main=True)
    assert ws.sources("multi").files["util.c"].label == "%%kfile multi/util.c"


def test_a_kfile_that_clashes_with_the_kmodule_cell_is_a_usage_error(lab: Lab) -> None:
    ws = lab.workspace
    ws.add_file("clash", "util.c", "int x;\n")
    ws.add_file("clash", "clash_main.c", "int y;\n")  # the name the cell needs
    with pytest.raises(UsageError, match="rename that file") as info:
        ws.set_main("clash", MODULE)
    assert isinstance(info.value, ValueError)  # what the magics turn into one line
    assert not ws.sources("clash").has_main


def test_remove_file_and_files_without_a_kmodule_cell(lab: Lab) -> None:
    ws = lab.workspace
    ws.add_file("hello", "util.h", "x\n")
    assert not ws.sources("hello").has_main
    assert ws.remove_file("hello", "util.h") is True
    assert ws.remove_file("hello", "util.h") is False
    assert ws.sources("hello").texts() == {}


# -- builds -----------------------------------------------------------------------------


def test_build_passes_sources_and_flags_and_needs_no_vm(lab: Lab) -> None:
    ws = lab.workspace
    ws.set_main("hello", MODULE)
    result = ws.build("hello", cflags="-DDEBUG")
    assert lab.builder.calls[-1]["sources"] == {"hello.c": MODULE}
    assert lab.builder.calls[-1]["cflags"] == "-DDEBUG"
    assert ws.sources("hello").cflags == "-DDEBUG"
    assert ws.last_build("hello") is result and ws.builds == {"hello": result}
    assert lab.provided == 0  # building never asks for the VM


def test_build_gets_the_symbols_of_other_modules_that_export_some(lab: Lab) -> None:
    ws = lab.workspace
    lab.builder.exports["provider"] = "provider_fn"
    for name in ("provider", "other", "consumer"):
        ws.set_main(name, MODULE)
        ws.build(name)
    assert lab.builder.calls[-1]["extra_symbols"] == [ws.builds["provider"].build_dir]


def test_last_build_of_an_unknown_module_says_what_to_run(lab: Lab) -> None:
    with pytest.raises(ModuleError, match="no build of hello") as info:
        lab.workspace.last_build("hello")
    assert "run the %%kmodule hello cell first" in info.value.hint
    assert info.value.module == "hello"


# -- loading ----------------------------------------------------------------------------


def test_load_and_unload_carry_the_records_they_caused(lab: Lab) -> None:
    ws = lab.workspace
    lab.vm.behaviour["hello"] = lambda p: (0, [f"Hello, {p.get('name', 'world')}!"])
    ws.set_main("hello", PARAMS)
    ws.build("hello")
    change = ws.load("hello", ["name=Linux Enthusiast"])
    assert isinstance(change, ModuleChange) and not change.reloaded
    assert change.operation.action == "insmod" and change.operation.module == "hello"
    assert change.operation.argv[-1] == 'name="Linux Enthusiast"'
    assert change.operation.log_text.splitlines()[-1] == "Hello, Linux Enthusiast!"
    assert change.log_text == change.operation.log_text
    assert "hello" in lab.vm.modules and "hello" in ws.load_marks
    gone = ws.unload("hello")
    assert gone.operation.action == "rmmod" and gone.operation.log_text == "hello: exit"
    assert "hello" not in lab.vm.modules


def test_load_with_a_mapping_of_parameters(lab: Lab) -> None:
    ws = lab.workspace
    ws.set_main("hello", PARAMS)
    ws.build("hello")
    ws.load("hello", {"name": "Ada", "loud": True})
    assert lab.vm.modules["hello"].params == {"name": "Ada", "loud": "Y"}


def test_reload_unloads_the_loaded_copy_first_and_keeps_both_logs(lab: Lab) -> None:
    ws = lab.workspace
    lab.vm.behaviour["hello"] = lambda p: (0, ["Hello!"])
    ws.set_main("hello", MODULE)
    ws.build("hello")
    ws.load("hello")
    change = ws.load("hello", reload=True)
    assert change.reloaded
    assert change.operation.log_text == "hello: exit\nHello!"
    plain = ws.load("hello", reload=True)  # reload of a loaded module, again
    assert plain.reloaded
    ws.unload("hello")
    assert not ws.load("hello", reload=True).reloaded  # nothing was loaded: a plain load


def test_a_refused_load_does_not_move_the_mark(lab: Lab) -> None:
    ws = lab.workspace
    ws.set_main("hello", MODULE)
    ws.build("hello")
    ws.load("hello")
    mark = ws.load_marks["hello"]
    with pytest.raises(ModuleError, match="File exists"):
        ws.load("hello")
    assert ws.load_marks["hello"] == mark


def test_modprobe_names_what_came_and_went_in_load_order(lab: Lab) -> None:
    ws = lab.workspace
    lab.vm.installed["bridge"] = "/lib/modules/x/bridge.ko"
    lab.vm.exports["stp_fn"] = "stp"
    lab.vm.needs["bridge"] = "stp_fn"
    change = ws.modprobe("bridge")
    assert change.operation.action == "modprobe"
    assert change.loaded == ["stp", "bridge"]
    assert set(ws.load_marks) == {"stp", "bridge"}
    removed = ws.modprobe("bridge", remove=True)
    assert removed.operation.action == "modprobe -r"
    assert removed.removed == ["bridge", "stp"]


def test_forget_loads_drops_the_marks(lab: Lab) -> None:
    ws = lab.workspace
    ws.set_main("hello", MODULE)
    ws.build("hello")
    ws.load("hello")
    ws.forget_loads()
    assert ws.load_marks == {}


def test_each_operation_asks_the_provider_for_the_vm(lab: Lab) -> None:
    ws = lab.workspace
    ws.set_main("hello", MODULE)
    ws.build("hello")
    ws.load("hello")
    ws.unload("hello")
    assert lab.provided == 2
    assert ws.vm is lab.vm


# -- a kernel that only a restart mends -------------------------------------------------


class OopsLabVM(FakeLabVM):
    """The fake kernel, where an oops in init kills insmod and leaves the module Loading,
    and where ``running`` names an insmod still in the kernel."""

    def __init__(self, share: Path) -> None:
        super().__init__(share)
        self.oops_in_init: set[str] = set()
        self.still_running: list[str] = []

    def _boot(self) -> None:
        super()._boot()
        self.loading: set[str] = set()

    def _modop(self, args: list[str]) -> ExecResult:
        name = Path(args[2]).stem if args[0] == "insmod" else ""
        if args[0] == "running":
            return ExecResult(0, "".join(f"running {op}\n" for op in self.still_running))
        if name in self.oops_in_init:
            self.printk(1, "BUG: kernel NULL pointer dereference, address: 0000000000000000")
            self.modules = {name: Module(name), **self.modules}
            self.loading.add(name)
            return ExecResult(0, "mark 1 1000000 1\nresult signal 9\n")
        return super()._modop(args)

    def _do_cat(self, args: list[str]) -> ExecResult:
        result = super()._do_cat(args)
        if args == ["/proc/modules"]:
            lines = [
                line.replace(" Live ", " Loading ") if line.split()[0] in self.loading else line
                for line in result.stdout.splitlines(keepends=True)
            ]
            return ExecResult(0, "".join(lines))
        return result


@pytest.fixture
def oops_lab(home: Path) -> Lab:
    lab = Lab(home)
    vm = OopsLabVM(lab.vm.share)
    vm.start()
    lab.vm = vm
    return lab


def built(lab: Lab, *names: str) -> Workspace:
    for name in names:
        lab.workspace.set_main(name, MODULE)
        lab.workspace.build(name)
    return lab.workspace


def test_a_crash_of_the_loaded_copy_is_decoded_against_its_own_build(lab: Lab) -> None:
    ws = built(lab, "hello")
    ws.load("hello")
    loaded_ko, loaded_text = ws.ko_of("hello"), ws.files_of("hello")["hello.c"].text
    ws.set_main("hello", MODULE + "/* edited after the load */\n")
    ws.build("hello")  # built again, not loaded: the kernel still runs the first copy
    assert ws.builds["hello"].ko_path != loaded_ko
    assert ws.ko_of("hello") == loaded_ko
    assert ws.files_of("hello")["hello.c"].text == loaded_text
    ws.unload("hello")
    assert ws.ko_of("hello") == ws.builds["hello"].ko_path
    assert "edited after the load" in ws.files_of("hello")["hello.c"].text


def test_an_init_stuck_for_good_restarts_the_vm_and_the_error_says_so(lab: Lab) -> None:
    ws = built(lab, "hang", "hello")
    ws.load("hello")
    lab.vm.stuck["hang"] = ["msleep+0x29/0x40", "hang_init+0x1b/0x1000 [hang]"]
    lines: list[str] = []
    with pytest.raises(OperationStuck) as info:
        ws.load("hang", timeout=0.3, progress=lines.append)
    error = info.value
    assert error.restarted and error.module == "hang"
    assert error.stack[1] == "hang_init+0x1b/0x1000 [hang]" and error.state == "D (disk sleep)"
    assert "it is stuck in hang_init+0x1b/0x1000 [hang]" in str(error)
    assert str(error).endswith(
        "can never be removed from a running kernel: the lab VM was restarted: modules "
        "loaded before and files in the guest are gone."
    )
    assert lab.vm.starts == 2 and lab.vm.running
    assert ws.load_marks == {}  # the old kernel's marks went with it
    del lab.vm.stuck["hang"]
    assert "hello" not in lab.vm.modules
    assert ws.load("hello").notices == []  # the fresh VM loads at once


def test_an_exit_stuck_for_good_restarts_too(lab: Lab) -> None:
    ws = built(lab, "hangexit")
    ws.load("hangexit")
    lab.vm.stuck["hangexit"] = ["msleep+0x29/0x40", "hx_exit+0x16/0x1000 [hangexit]"]
    with pytest.raises(OperationStuck, match="the module's exit function did not return") as info:
        ws.unload("hangexit", timeout=0.2)
    assert info.value.restarted and lab.vm.starts == 2


def test_after_an_oops_in_init_the_next_load_restarts_first_and_says_why(
    oops_lab: Lab,
) -> None:
    ws = built(oops_lab, "crash", "hello")
    vm = oops_lab.vm
    ws.load("hello")
    vm.oops_in_init.add("crash")
    with pytest.raises(ModuleError, match="insmod crash failed: exit status 137"):
        ws.load("crash")
    assert ws.wedged == {"crash": "Loading"}
    assert vm.starts == 1  # nothing restarts until it must
    assert ws.load("hello", reload=True).notices == []  # another module: no restart
    vm.oops_in_init.clear()  # the learner fixed the bug
    change = ws.load("crash")
    assert vm.starts == 2 and "crash" in vm.modules
    assert change.notices == [
        "the lab VM was restarted before insmod crash: an oops in crash's init left it "
        "[Loading] for good, and a module of that name cannot be loaded again in this boot; "
        "modules loaded before and files in the guest are gone"
    ]
    assert ws.wedged == {}


def test_an_interrupted_insmod_still_in_the_kernel_restarts_the_vm_before_the_next(
    oops_lab: Lab,
) -> None:
    ws = built(oops_lab, "slow", "hello")
    vm = oops_lab.vm

    def interrupt(argv: list[str]) -> None:
        if argv[0] == "insmod" and "slow" in argv[1]:
            raise KeyboardInterrupt

    vm.on_exec = interrupt
    with pytest.raises(KeyboardInterrupt):
        ws.load("slow")
    assert ws.interrupted == "insmod slow"
    vm.on_exec = None
    vm.still_running = ["812 insmod"]
    change = ws.load("hello")
    assert vm.starts == 2 and ws.interrupted is None
    assert "the interrupted insmod slow was still running in the guest" in change.notices[0]


def test_an_interrupted_insmod_that_finished_needs_no_restart(oops_lab: Lab) -> None:
    ws = built(oops_lab, "hello")
    ws.interrupted = "insmod hello"
    assert ws.load("hello").notices == [] and oops_lab.vm.starts == 1
    assert ws.interrupted is None


def test_an_interrupted_insmod_in_a_guest_that_no_longer_answers_restarts_it(
    oops_lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = built(oops_lab, "hello")
    ws.interrupted = "insmod spin"

    def silent(vm: object) -> list[str]:
        raise AgentTimeout("guest agent did not answer guest-exec")

    monkeypatch.setattr(workspaces.core.kmod, "operations_running", silent)
    change = ws.load("hello")
    assert oops_lab.vm.starts == 2 and ws.interrupted is None
    assert "the interrupted insmod spin was still running in the guest" in change.notices[0]


def test_a_cpu_that_never_comes_back_kills_the_vm(lab: Lab) -> None:
    ws = built(lab, "spin")
    lockup = CrashReport("soft lockup", "watchdog: BUG: soft lockup - CPU#0 stuck for 3s!", "")

    def spin(argv: list[str]) -> None:
        if argv[0] == "insmod":
            raise KernelCrashed("the lab VM's kernel reported a soft lockup", crash=lockup)

    lab.vm.on_exec = spin
    with pytest.raises(KernelCrashed) as info:
        ws.load("spin")
    assert info.value.crash is lockup
    assert not lab.vm.running and ws.load_marks == {}


def test_a_module_named_like_one_of_the_kernels_is_refused_before_building(home: Path) -> None:
    lab = Lab(home)
    taken = {"ext4": "shipped in the lab VM; %modprobe ext4 loads it"}
    ws = Workspace(lambda: lab.vm, builder=lab.builder, taken_names=lambda: taken)
    ws.set_main("ext4", MODULE)
    with pytest.raises(UsageError) as info:
        ws.build("ext4")
    assert str(info.value) == (
        "ext4 is the name of a module the lab's kernel already has (shipped in the lab VM; "
        "%modprobe ext4 loads it); yours would clash with it: give it another name, e.g. "
        "my_ext4"
    )
    assert lab.builder.calls == []
    ws.set_main("my_ext4", MODULE)
    ws.build("my_ext4")


def test_the_names_come_from_the_bundle(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "modules.builtin").write_text("kernel/net/unix/unix.ko\nkernel/fs/nls/nls-base.ko\n")
    bundle = Bundle(root, "6.1.0-0-amd64", {"modules": ["kernel/net/bridge/bridge.ko.xz"]})
    taken = bundle.taken_module_names()
    assert taken == {
        "bridge": "shipped in the lab VM; %modprobe bridge loads it",
        "unix": "built into the kernel",
        "nls_base": "built into the kernel",
    }


def test_change_carries_how_many_records_were_left_out(lab: Lab) -> None:
    ws = built(lab, "hello")
    change = ws.load("hello")
    assert change.omitted == 0 and change.notices == []


# -- the current workspace --------------------------------------------------------------


def test_set_current_returns_the_one_it_replaces(lab: Lab) -> None:
    old = workspaces.set_current(lab.workspace)
    try:
        assert workspaces.current() is lab.workspace
        assert workspaces.set_current(None) is lab.workspace
        assert workspaces.current() is None
    finally:
        workspaces.set_current(old)
