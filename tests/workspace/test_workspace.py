# SPDX-License-Identifier: MIT
"""The workspace on its own, without IPython: sources, builds, loads and log marks.

It drives a simulated guest (``FakeLabVM``) and a fake kbuild (``FakeBuilder``), the
doubles the magics' tests use, so what the notebook shows rests on what is tested here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic import workspace as workspaces
from kernelmagic.errors import ModuleError, UsageError
from kernelmagic.kbuild.sources import CellSource
from kernelmagic.workspace import ModuleChange, Workspace
from tests.doubles.fake_lab import FakeBuilder, FakeLabVM

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


# -- the current workspace --------------------------------------------------------------


def test_set_current_returns_the_one_it_replaces(lab: Lab) -> None:
    old = workspaces.set_current(lab.workspace)
    try:
        assert workspaces.current() is lab.workspace
        assert workspaces.set_current(None) is lab.workspace
        assert workspaces.current() is None
    finally:
        workspaces.set_current(old)
