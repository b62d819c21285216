# SPDX-License-Identifier: MIT
"""Checks fit for grading: they know how the module's last insmod/rmmod ended, and match exactly.

A path that is gone proves nothing when the module never built, never loaded, or hung in
its exit so that the VM was restarted (which removes every path): those fail, saying
which. Against a fake guest and a real ``Workspace`` whose last operations are set as
the workspace records them (``tests/workspace/test_last_operations.py`` shows it does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelmagic.course import check
from kernelmagic.course.results import CheckFailed
from kernelmagic.workspace import LastOperation, Workspace, set_current
from tests.course.test_check_report import _built, lenient_guest
from tests.doubles.fake_guest import FileGuest

NOTHING_LOADED = ""


@pytest.fixture
def guest() -> FileGuest:
    return lenient_guest({"/proc/modules": NOTHING_LOADED, "/proc/kmbox": "42\n"})


@pytest.fixture
def ws(guest: FileGuest, tmp_path: Path):  # type: ignore[no-untyped-def]
    workspace = Workspace(lambda: guest)  # type: ignore[arg-type, return-value]
    old = set_current(workspace)
    _built(workspace, tmp_path, "kmbox", "int x;\n")
    yield workspace
    set_current(old)


def _cleanup_checks(guest: FileGuest) -> None:
    check.check_all(lambda: check.path_absent("/dev/kmbox"), module="kmbox", loaded=False,
                    vm=guest)  # fmt: skip


def test_after_a_hung_rmmod_the_cleanup_checks_fail_and_say_why(guest: FileGuest, ws) -> None:  # type: ignore[no-untyped-def]
    ws.last_ops["kmbox"] = LastOperation("rmmod kmbox", True, "stuck")
    with pytest.raises(CheckFailed) as info:
        _cleanup_checks(guest)
    report = info.value.report
    assert report is not None and report.summary() == "0 of 2 checks of kmbox passed"
    first = report.outcomes[0].message
    assert first.startswith("kmbox: rmmod kmbox never returned")
    assert "restarted" in first and not report.outcomes[1].ran
    with pytest.raises(CheckFailed, match="never returned"):
        check.path_absent("/dev/kmbox", module="kmbox", vm=guest)
    with pytest.raises(CheckFailed, match="never returned"):
        check.module_not_loaded("kmbox", vm=guest)


def test_a_module_that_was_never_loaded_has_no_cleanup_to_check(guest: FileGuest, ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CheckFailed) as info:
        check.path_absent("/dev/kmbox", module="kmbox", vm=guest)
    assert "kmbox was never loaded in this notebook" in info.value.message
    assert "%insmod kmbox" in info.value.hint


def test_a_module_removed_by_a_restart_was_not_unloaded(guest: FileGuest, ws) -> None:  # type: ignore[no-untyped-def]
    ws.last_ops["kmbox"] = LastOperation("insmod kmbox", False, "done")  # then a restart
    with pytest.raises(CheckFailed, match=r"no %rmmod kmbox unloaded it: .*has restarted"):
        check.path_absent("/dev/kmbox", module="kmbox", vm=guest)
    ws.last_ops["kmbox"] = LastOperation("insmod kmbox", False, "refused")
    with pytest.raises(CheckFailed, match="insmod kmbox was refused, so it never ran"):
        check.module_ready("kmbox", loaded=False, vm=guest)


def test_a_crash_in_init_fails_the_loaded_checks_too(guest: FileGuest, ws) -> None:  # type: ignore[no-untyped-def]
    ws.last_ops["kmbox"] = LastOperation("insmod kmbox", False, "crashed")
    with pytest.raises(
        CheckFailed, match=r"insmod kmbox crashed the kernel \(in the module's init"
    ):
        check.module_ready("kmbox", loaded=True, vm=guest)


def test_an_rmmod_that_worked_passes(guest: FileGuest, ws) -> None:  # type: ignore[no-untyped-def]
    ws.last_ops["kmbox"] = LastOperation("rmmod kmbox", True, "done")
    _cleanup_checks(guest)
    assert "is gone" in str(check.path_absent("/dev/kmbox", module="kmbox", vm=guest))


def test_a_module_that_never_built_fails_the_path_check(guest: FileGuest, ws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CheckFailed, match="the %%kmodule kmnew cell has not run yet"):
        check.path_absent("/dev/kmnew", module="kmnew", vm=guest)


def test_without_a_workspace_nothing_is_refused(guest: FileGuest) -> None:
    old = set_current(None)
    try:
        assert "is gone" in str(check.path_absent("/dev/kmbox", vm=guest))
    finally:
        set_current(old)


def test_file_equals_is_exact(guest: FileGuest) -> None:
    assert "holds exactly '42\\n'" in str(check.file_equals("/proc/kmbox", "42\n", vm=guest))
    with pytest.raises(CheckFailed) as info:
        check.file_equals("/proc/kmbox", "42", vm=guest)
    assert "they differ from character 3 on: '\\n' instead of ''" in info.value.message
    with pytest.raises(CheckFailed, match="character 2 on: '2\\\\n' instead of '3'"):
        check.file_equals("/proc/kmbox", "43", vm=guest)
    with pytest.raises(CheckFailed, match="does not exist"):
        check.file_equals("/proc/other", "", vm=guest)
