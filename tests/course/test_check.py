# SPDX-License-Identifier: MIT
"""kernelmagic.course.check against a fake guest: passes, failures and their hints."""

from __future__ import annotations

import re

import pytest

from kernelmagic.course import check
from kernelmagic.course.check import CheckFailed, CheckResult
from tests.doubles.fake_guest import FileGuest

PROC_MODULES = "hello 16384 0 - Live 0xffffffffc0200000 (OE)\n"
LOG = (
    "<4>[    2.000000] hello: loading out-of-tree module taints kernel.\n"
    "<6>[    2.100000] Hello, world!\n"
)


@pytest.fixture
def guest() -> FileGuest:
    return FileGuest(
        log=LOG,
        files={
            "/proc/modules": PROC_MODULES,
            "/sys/module/hello/parameters/name": "world\n",
            "/proc/kmproc": "hello from /proc\nopened 1 times\n",
            "/sys/kernel/kmsysfs/value": "42\n",
            "/dev/kmchar": "",
            "/proc/slabinfo": "slabinfo - version: 2.1\nleak_obj  120 120 136 30 1 : x\n",
        },
    )


def test_passing_checks(guest: FileGuest) -> None:
    assert isinstance(check.module_loaded("hello", vm=guest), CheckResult)
    check.module_not_loaded("params", vm=guest)
    check.param_value("hello", "name", "world", vm=guest)
    check.log_contains("Hello, world!", vm=guest)
    check.log_contains(re.compile(r"Hello, \w+!"), vm=guest)
    check.log_contains("Hello, world!", since_load="hello", vm=guest)
    check.proc_contains("/proc/kmproc", "hello from /proc", vm=guest)
    check.sysfs_value("/sys/kernel/kmsysfs/value", 42, vm=guest)
    check.device_exists("/dev/kmchar", vm=guest)
    check.path_absent("/proc/nothing", vm=guest)
    check.path_exists("/sys/kernel/kmsysfs", vm=guest)
    assert check.slab_objects("leak_obj", vm=guest) == 120
    assert check.slab_objects("nothing", vm=guest) is None


def test_result_renders() -> None:
    result = CheckResult("module <x> is loaded")
    assert repr(result) == "check passed: module <x> is loaded"
    assert "&lt;x&gt;" in result._repr_html_()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda g: check.module_loaded("params", vm=g), "%insmod params"),
        (lambda g: check.module_not_loaded("hello", vm=g), "%rmmod hello"),
        (lambda g: check.param_value("hello", "name", "Linux", vm=g), "reads 'world'"),
        (lambda g: check.param_value("hello", "count", 1, vm=g), "does not exist"),
        (lambda g: check.log_contains("Goodbye", vm=g), "Hello, world!"),
        (lambda g: check.proc_contains("/proc/kmproc", "bye", vm=g), "seq_printf"),
        (lambda g: check.proc_contains("/proc/other", "x", vm=g), "does not exist"),
        (lambda g: check.sysfs_value("/sys/kernel/kmsysfs/value", 7, vm=g), "expected '7'"),
        (lambda g: check.device_exists("/dev/other", vm=g), "missing"),
        (lambda g: check.path_absent("/dev/kmchar", vm=g), "still exists"),
        (lambda g: check.path_exists("/sys/module/crc16", vm=g), "does not exist"),
    ],
)
def test_failing_checks_explain(guest: FileGuest, call, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CheckFailed) as info:
        call(guest)
    assert isinstance(info.value, AssertionError)
    assert words in str(info.value)
    assert "Hint:" in str(info.value)


def test_custom_hint(guest: FileGuest) -> None:
    with pytest.raises(CheckFailed, match="Hint: look at greet_init"):
        check.log_contains("good morning", hint="look at greet_init", vm=guest)


def test_use_vm_sets_the_default(guest: FileGuest) -> None:
    check.use_vm(guest)
    try:
        result = check.module_loaded("hello")
    finally:
        check.use_vm(None)
    assert "hello is loaded" in str(result)


def test_without_vm_the_checks_use_the_current_workspace(guest: FileGuest) -> None:
    from kernelmagic.guest.kernel_log import LogMark
    from kernelmagic.workspace import Workspace, set_current

    workspace = Workspace(lambda: guest)  # type: ignore[arg-type, return-value]
    old = set_current(workspace)
    try:
        assert check.lab_vm() is guest
        assert "hello is loaded" in str(check.module_loaded("hello"))
        # A load mark of this workspace selects what the log held since that load.
        workspace.load_marks["hello"] = LogMark(2.0, 1)
        check.log_contains("Hello, world!", since_load="hello")
        workspace.load_marks["hello"] = LogMark(2.1, 1)
        with pytest.raises(CheckFailed, match="since hello was loaded"):
            check.log_contains("Hello, world!", since_load="hello")
    finally:
        set_current(old)


def test_without_vm_or_workspace_a_check_says_what_to_pass(guest: FileGuest) -> None:
    from kernelmagic.workspace import set_current

    old = set_current(None)
    try:
        with pytest.raises(CheckFailed, match="no lab VM to check against") as info:
            check.module_loaded("hello")
        assert "use_vm" in info.value.hint
        assert check.lab_vm(guest) is guest  # an explicit vm is always used as it is
    finally:
        set_current(old)
