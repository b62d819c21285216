# SPDX-License-Identifier: MIT
"""Crash reports explained: plain words, frames, the learner's line (faults.py).

The reports are real ones, captured from the lab VM (``tests/data/faults``, see its
README). The unit tests read their words and frames; the integration tests build each
module again from its captured source with the bundle's kbuild (the same compiler
gives the same code, so the same offsets) and check the line each report decodes to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernelmagic.guest.faults import (
    HUNG_NOTE,
    REPORTED_NOTE,
    TAINT_NOTE,
    explain,
    explain_stack,
    frames_of,
    stack_frames,
    stuck_words,
)
from kernelmagic.kbuild.sources import CellSource, source_line
from kernelmagic.machine import hung_task
from kernelmagic.machine.crash import CrashParser, CrashReport, parse_reports
from tests.machine.captured import (
    HUNG_TASK,
    HUNG_TASK_DEADLOCK,
    HUNG_TASK_DEADLOCK_DMESG,
    SCHEDULING_WHILE_ATOMIC,
    TIMER_AFTER_RMMOD,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "faults"


def report(name: str) -> CrashReport:
    return parse_reports((DATA / f"{name}.txt").read_text())[0]


def kmodule_cell(name: str) -> dict[str, CellSource]:
    text = (DATA / f"{name}.c").read_text()
    return {f"{name}.c": CellSource(text, f"%%kmodule {name}", main=True)}


#: What a learner must read for each captured fault, and the C it points at.
CASES = {
    "fnull": ("a NULL pointer dereference", "check the pointer", "*p = 42;"),
    "fuptr": ("dereferenced a user-space pointer (0x144718f0)", "copy_from_user()",
              "memcpy(text, buf, count);"),
    "fuaf": ("a use after free", "after kfree()", "*it->value"),
    "flist": ("a list entry used after list_del()", "list_for_each_entry_safe",
              "one.node.next"),
    "fstack": ("the kernel stack overflowed", "no deep recursion", "volatile char buf[256];"),
    "fdiv": ("a division by zero", "check the divisor", "total / parts"),
    "fbug": ("a BUG() or BUG_ON() fired at fbug.c:9", "prefer WARN_ON()", "BUG_ON(level < 0);"),
    "fexit": ("a NULL pointer dereference", "check the pointer", "*data"),
    "ftimer": ("a NULL pointer dereference", "check the pointer", "(*counter)++;"),
    "fwork": ("a NULL pointer dereference", "check the pointer", "(*counter)++;"),
    "fwarn": ("a WARN_ON() or WARN() fired", "was true", "WARN_ON(budget < 0)"),
    "fspin": ("without ever giving the CPU back (a busy loop)", "must sleep", "cpu_relax();"),
}  # fmt: skip

DURING = {
    "fnull": "in the module's init function (during insmod)",
    "fexit": "in the module's exit function (during rmmod)",
    "fuptr": "in a write() file operation",
    "ftimer": "in a timer callback (interrupt context)",
    "fwork": "in a work item (run by a kworker thread)",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_captured_fault_gets_its_plain_words(name: str) -> None:
    what, hint, _ = CASES[name]
    fault = explain(report(name), lambda module: None)
    assert what in fault.what and hint in fault.hint
    assert fault.site is not None and fault.site.module == name
    assert fault.site.places == ()  # no .ko: nothing decoded, nothing invented


@pytest.mark.parametrize("name", sorted(DURING))
def test_the_trace_says_what_the_code_was_doing(name: str) -> None:
    assert explain(report(name), lambda module: None).during == DURING[name]


def test_taint_note_only_when_the_kernel_survived() -> None:
    survived = explain(report("fnull"), lambda module: None)
    assert TAINT_NOTE in survived.notes
    died = explain(report("ftimer"), lambda module: None)
    assert died.report.fatal and TAINT_NOTE not in died.notes
    assert any("Fatal exception in interrupt" in note for note in died.notes)
    assert explain(report("fwarn"), lambda module: None).notes == ()


def test_frames_stop_at_the_end_of_the_first_report() -> None:
    # After "end trace" the kernel reprints the first oops's registers; a timer's
    # oops shows the interrupted idle task's RIP inside its trace.
    frames = frames_of(report("ftimer"))
    rips = [f.function for f in frames if f.is_rip]
    assert rips == ["ftimer_fire", "native_safe_halt"]
    fire = frames[0]
    timer = next(f for f in frames if f.function == "call_timer_fn")
    assert fire.context == "" and timer.context == "IRQ"
    assert next(f for f in frames if f.function == "do_idle").context == "TASK"


def test_recursion_is_counted_not_repeated() -> None:
    frames = frames_of(report("fstack"))
    descend = [f for f in frames if f.function == "descend.isra.0" and not f.is_rip]
    assert len(descend) == 1 and descend[0].count > 50


def test_unreliable_frames_are_marked() -> None:
    frames = frames_of(report("fuptr"))
    assert any(f.unreliable for f in frames)
    assert [f.function for f in frames if not f.unreliable][:3] == [
        "fuptr_write", "vfs_write", "ksys_write",
    ]  # fmt: skip


def test_a_stuck_tasks_stack_is_read_like_a_trace() -> None:
    lines = (DATA / "hang_stack.txt").read_text().splitlines()
    frames = stack_frames(lines)
    assert [(f.function, f.offset, f.module) for f in frames[:2]] == [
        ("msleep", 0x29, None), ("hang_init", 0x1B, "hang"),
    ]  # fmt: skip
    assert len(frames) == 7  # the State, wchan and /proc/modules lines are not frames
    assert explain_stack(lines, lambda module: None) == tuple(frames)
    what, hint = stuck_words("insmod", frames, "D (disk sleep)")
    assert what == "its init function has not returned (it sleeps in msleep, again and again)"
    assert "init must return" in hint


def test_a_shell_command_stuck_writing_to_sysfs_gets_the_store_hint() -> None:
    what, hint = stuck_words("echo 42 > /sys/kernel/kmbox/value", [], "R (running)")
    assert what == "the command has not finished (it keeps running)"
    assert "store() or write() returning 0" in hint
    assert stuck_words("cat /dev/x", [], "S (sleeping)") == ("the command has not finished", "")


def test_source_lines_are_numbered_as_the_learner_sees_them() -> None:
    files = {
        "hello_main.c": CellSource("a;\nb;\nc;\nd;\ne;\n", "%%kmodule hello", main=True),
        "util.c": CellSource("u1;\nu2;\nu3;\n", "%%kfile hello/util.c"),
        "run.c": CellSource("r1;\nr2;\n", "modules/run.c", first_line=1, main=True),
    }
    main = source_line(files, "hello_main.c", 3)
    assert main is not None and main.where == "line 4" and main.text == "c;"
    assert main.full == "line 4 of %%kmodule hello"
    assert main.context == ((2, "a;"), (3, "b;"), (4, "c;"), (5, "d;"), (6, "e;"))
    util = source_line(files, "util.c", 1)
    assert util is not None and util.where == "util.c:1" and util.cell_line == 2
    assert util.full == "util.c:1 (cell line 2 of %%kfile hello/util.c)"
    assert util.context == ((1, "u1;"), (2, "u2;"), (3, "u3;"))
    run = source_line(files, "run.c", 2)
    assert run is not None and run.full == "modules/run.c:2" and run.cell_line is None
    assert source_line(files, "util.c", 9) is None  # the sources changed since the build
    assert source_line(files, "processor.h", 13) is None  # a kernel header


# -- decoding against real builds ---------------------------------------------------


@pytest.fixture(scope="module")
def built(bundle: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from kernelmagic.kbuild.builder import build_module

    root = tmp_path_factory.mktemp("builds")
    return {
        name: build_module(name, {f"{name}.c": (DATA / f"{name}.c").read_text()},
                           kbuild_dir=bundle.kbuild_dir, builds_root=root).ko_path
        for name in CASES
    }  # fmt: skip


@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(CASES))
def test_each_captured_fault_decodes_to_its_line(built: dict[str, Path], name: str) -> None:
    fault = explain(report(name), built.get, lambda module: kmodule_cell(module))
    line = fault.line
    assert line is not None, [f.text for f in fault.frames]
    assert CASES[name][2] in line.text
    assert line.where.startswith("line ") and line.source == f"%%kmodule {name}"
    source = (DATA / f"{name}.c").read_text().splitlines()
    assert source[line.number - 2] == line.text  # the %%kmodule line is line 1


@pytest.mark.integration
def test_inlined_kernel_helpers_stay_above_the_learners_line(built: dict[str, Path]) -> None:
    fault = explain(report("fspin"), built.get, kmodule_cell)
    site = fault.site
    assert site is not None
    names = [(p.function, p.inlined, p.source is not None) for p in site.places]
    assert names == [("rep_nop", True, False), ("cpu_relax", True, False),
                     ("fspin_init", False, True)]  # fmt: skip


@pytest.mark.integration
def test_a_kfile_cell_is_named_by_file_and_line(built: dict[str, Path]) -> None:
    # The same build, told that its file came from a %%kfile cell.
    text = (DATA / "fdiv.c").read_text()
    fault = explain(report("fdiv"), built.get,
                    lambda module: {"fdiv.c": CellSource(text, "%%kfile fdiv/fdiv.c")})  # fmt: skip
    assert fault.line is not None and fault.line.full.startswith("fdiv.c:11 (cell line 12")


def test_a_cpu_the_lab_stopped_with_an_nmi_is_a_busy_loop() -> None:
    # One vCPU spinning: the guest went silent, the lab sent an NMI, the kernel panicked
    # (unknown_nmi_panic) and printed where the CPU was.
    fault = explain(report("fspin_nmi"), lambda module: None)
    assert fault.report.kind == "panic" and fault.report.fatal
    assert fault.what.startswith("a CPU never came back (a busy loop")
    assert "must sleep" in fault.hint
    assert fault.site is not None and fault.site.text == "kmf_spin_init+0x13 [kmf_spin]"
    nmi = [f.function for f in fault.frames if f.context == "NMI" and not f.unreliable]
    assert nmi[:2] == ["dump_stack_lvl", "panic"]  # the handler's frames, which views skip
    assert fault.during == "in the module's init function (during insmod)"


# -- the faults of lessons 10 and 12, from tests/data/console ---------------------------


def no_ko(module: str) -> None:
    return None


def test_sleeping_under_a_spinlock_is_reported_not_fatal() -> None:
    (report, _warning) = parse_reports(SCHEDULING_WHILE_ATOMIC)
    fault = explain(report, no_ko)
    assert "slept" in fault.what and "under a spinlock" in fault.hint
    assert fault.notes == (REPORTED_NOTE,)  # tainted W, not D: nothing died
    assert fault.during == "in the module's init function (during insmod)"


def deadlocked() -> list[CrashReport]:
    """The two hung-task reports of the ABBA deadlock, completed from the kernel log."""
    parser = CrashParser()
    for position, line in enumerate(HUNG_TASK_DEADLOCK.splitlines()):
        parser.feed_line(line, position)
    parser.finish()
    for report in list(parser.crashes):
        parser.rewrite(
            report.position, hung_task.report_lines(HUNG_TASK_DEADLOCK_DMESG, report.title)
        )
    return parser.crashes


def test_a_task_blocked_in_mutex_lock_is_said_to_wait_for_a_mutex() -> None:
    for report, function in zip(deadlocked(), ("abba_ab", "abba_ba"), strict=True):
        fault = explain(report, no_ko)
        assert fault.what == (
            "a task waited for more than 2 s for a mutex that was never unlocked "
            "(it sleeps in mutex_lock)"
        )
        assert "opposite orders" in fault.hint and "one order everywhere" in fault.hint
        assert fault.notes == (HUNG_NOTE,)  # a hung task taints nothing; the task stays
        assert fault.during == "in a kernel thread"
        assert fault.site is not None and fault.site.function == function


def test_a_task_asleep_in_msleep_is_not_said_to_wait_for_a_mutex() -> None:
    (report,) = parse_reports(HUNG_TASK)
    fault = explain(report, no_ko)
    assert fault.what == "a task slept for more than 3 s and nothing woke it"
    assert fault.notes == (HUNG_NOTE,)


def test_a_timer_that_outlived_its_module_calls_code_that_is_gone() -> None:
    (report,) = parse_reports(TIMER_AFTER_RMMOD)
    fault = explain(report, no_ko)
    assert fault.what.startswith("the kernel called code at 0xffffffffc02c7000, in the module area")
    assert "(the last module unloaded was stray_timer)" in fault.what
    assert "timer_shutdown_sync" in fault.hint
    # Every frame is a guess ("?"): the unwinder could not start at a bare address. The
    # interrupt's frames still tell what ran.
    assert all(frame.unreliable for frame in fault.frames)
    assert fault.during == "in a timer callback (interrupt context)"
    assert fault.site is None and fault.line is None
    assert any("Fatal exception in interrupt" in note for note in fault.notes)
    assert TAINT_NOTE not in fault.notes
