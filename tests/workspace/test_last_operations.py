# SPDX-License-Identifier: MIT
"""What the workspace remembers across restarts, and the cell line in a build's message.

The checks need to know how a module's last insmod or rmmod ended even after the VM
restart that a hung rmmod causes (which removes everything the module made), and the
message of a failed build (which papermill and nbgrader log) must name the same line as
the cell's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.errors import BuildError, ModuleError, OperationStuck
from kernelmagic.kbuild.diagnostics import Diagnostic
from kernelmagic.workspace import LastOperation
from tests.workspace.test_workspace import MODULE, Lab, built


@pytest.fixture
def lab(home: Path) -> Lab:
    return Lab(home)


def test_a_load_and_an_unload_that_worked(lab: Lab) -> None:
    ws = built(lab, "hello")
    ws.load("hello")
    assert ws.last_ops["hello"] == LastOperation("insmod hello", False, "done")
    ws.unload("hello")
    assert ws.last_ops["hello"] == LastOperation("rmmod hello", True, "done")
    assert not ws.last_ops["hello"].troubled


def test_a_hung_rmmod_is_remembered_after_the_restart(lab: Lab) -> None:
    ws = built(lab, "hangexit")
    ws.load("hangexit")
    lab.vm.stuck["hangexit"] = ["msleep+0x29/0x40", "hx_exit+0x16/0x1000 [hangexit]"]
    with pytest.raises(OperationStuck):
        ws.unload("hangexit", timeout=0.2)
    assert lab.vm.starts == 2 and ws.load_marks == {}  # the restart forgot the loads...
    last = ws.last_ops["hangexit"]  # ...but not how the rmmod ended
    assert last == LastOperation("rmmod hangexit", True, "stuck") and last.troubled
    assert "never returned (the module's exit function did not finish)" in last.describe()


def test_a_refused_load_is_not_trouble(lab: Lab) -> None:
    ws = built(lab, "hello")
    lab.vm.behaviour["hello"] = lambda p: (-22, ["hello: bad value"])
    with pytest.raises(ModuleError):
        ws.load("hello")
    assert ws.last_ops["hello"].outcome == "refused" and not ws.last_ops["hello"].troubled


def test_a_build_error_names_the_cell_line_as_the_cell_shows_it(lab: Lab) -> None:
    ws = lab.workspace
    ws.set_main("counter", "int a;\n" * 17 + "int b = x;\n")
    diag = Diagnostic("counter.c", 18, 9, "error", "'x' undeclared", "compiler")
    lab.builder.fail = BuildError(str(diag), [diag], "log")
    with pytest.raises(BuildError) as info:
        ws.build("counter")
    # gcc's line 18 is cell line 19: the %%kmodule line is the cell's first
    assert str(info.value) == "cell line 19: error: 'x' undeclared"
    assert info.value.diagnostics == [diag] and info.value.log == "log"


def test_a_build_error_of_a_file_keeps_gcc_s_place(lab: Lab) -> None:
    from kernelmagic.kbuild.sources import CellSource

    ws = lab.workspace
    ws.add_source("hello", "hello.c", CellSource(MODULE, "hello.c", first_line=1, main=True))
    diag = Diagnostic("hello.c", 1, 3, "error", "oops", "compiler")
    lab.builder.fail = BuildError(str(diag), [diag], "")
    with pytest.raises(BuildError, match=r"^hello\.c:1:3: error: oops$"):
        ws.build("hello")
