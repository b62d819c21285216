# SPDX-License-Identifier: MIT
"""The crash parser on real console captures: no sockets, no threads, no clock."""

from __future__ import annotations

import pytest

from kernelmagic.machine import hung_task
from kernelmagic.machine.crash import (
    CRASH_KINDS,
    CrashParser,
    CrashReport,
    classify,
    goes_on,
    looks_like_crash,
    parse_reports,
    strip_prefix,
)
from tests.machine.captured import (
    CASES,
    EARLIER,
    GPF,
    HUNG_TASK,
    HUNG_TASK_DEADLOCK,
    HUNG_TASK_DEADLOCK_DMESG,
    KERNEL_BUG,
    OOPS,
    OOPS_IN_IRQ_THEN_PANIC,
    RCU_STALL_THEN_SOFT_LOCKUP,
    SCHEDULING_WHILE_ATOMIC,
    TIMER_AFTER_RMMOD,
    WARNING,
)


def feed_lines(parser: CrashParser, text: str, now: float = 0.0) -> list[CrashReport]:
    """Feed every complete line of ``text``; the reports the lines completed, in order."""
    done = []
    for line in text.splitlines():
        report = parser.feed_line(line, 0, now)
        if report is not None:
            done.append(report)
    return done


@pytest.mark.parametrize("case", list(CASES))
def test_crash_reports_are_cut_and_decoded(case: str) -> None:
    expected = CASES[case]
    text = EARLIER + expected["text"]
    reports = parse_reports(text)
    crashes = [r for r in reports if r.kind != "warning"]
    assert len(crashes) == 1
    (crash,) = crashes
    assert crash.kind == expected["kind"] and crash.kind in CRASH_KINDS
    assert crash.title == expected["title"]
    assert crash.report.startswith(expected["title"])
    assert crash.report.splitlines()[-1] == expected["last"]
    assert (crash.module, crash.function, crash.offset) == (
        expected["module"],
        expected["function"],
        expected["offset"],
    )
    assert crash.fatal is expected["fatal"]
    assert crash.location == expected.get("location")
    assert "[    2." not in crash.report, "timestamps are stripped"
    assert "out-of-tree" not in crash.report, "lines before the report stay out"
    assert text[crash.position :].split("] ", 1)[1].startswith(expected["title"])
    assert str(crash) == crash.report
    assert looks_like_crash(expected["text"])


def test_crlf_and_a_missing_last_newline_change_nothing() -> None:
    (crash,) = parse_reports(OOPS)
    wire = OOPS.replace("\n", "\r\n").rstrip("\n")
    (same,) = parse_reports(wire)
    assert same == crash


def test_panic_after_oops_makes_it_fatal_and_reports_again() -> None:
    parser = CrashParser()
    end = "[    2.629400] ---[ end Kernel panic ]---\n"
    done = feed_lines(parser, OOPS_IN_IRQ_THEN_PANIC + end)
    assert [r.fatal for r in done] == [False, True]
    assert done[1].title == done[0].title
    assert "Kernel panic - not syncing: Fatal exception in interrupt" in done[1].report
    assert parser.crashes == [done[1]], "the fatal version replaces the first"


def test_a_panic_long_after_a_crash_is_a_crash_of_its_own() -> None:
    filler = "".join(f"[    3.{i:06d}] line {i}\n" for i in range(100))
    reports = parse_reports(OOPS + filler + "[    9.000000] Kernel panic - not syncing: late\n")
    assert [(r.kind, r.fatal) for r in reports] == [("oops", False), ("panic", True)]


def test_rcu_stall_then_soft_lockup() -> None:
    stall, lockup = parse_reports(RCU_STALL_THEN_SOFT_LOCKUP)
    assert stall.kind == "rcu stall"
    assert stall.title == "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
    assert (stall.module, stall.function, stall.offset) == ("spin", "spin_init", 0xE)
    assert "soft lockup" not in stall.report
    assert lockup.kind == "soft lockup"
    assert lockup.title == "watchdog: BUG: soft lockup - CPU#0 stuck for 45s! [insmod:135]"
    assert (lockup.module, lockup.function) == ("spin", "spin_init")
    assert lockup.report.splitlines()[-1] == " </TASK>"
    assert stall.position < lockup.position


def test_soft_lockup_ends_at_its_stack_dump() -> None:
    start = RCU_STALL_THEN_SOFT_LOCKUP.index("[   48.527137]")
    parser = CrashParser()
    done = feed_lines(parser, RCU_STALL_THEN_SOFT_LOCKUP[start:])
    assert [r.kind for r in done] == ["soft lockup"], "complete without waiting for more"
    assert parser.finish() is None


def test_report_without_an_end_completes_after_silence() -> None:
    cut = OOPS.index("[    2.927956] ---[ end trace")
    parser = CrashParser()
    assert feed_lines(parser, OOPS[:cut], now=10.0) == []
    assert parser.settle(now=10.2, quiet=0.5) is None
    crash = parser.settle(now=10.5, quiet=0.5)
    assert crash is not None and crash.kind == "oops" and crash.function == "crash_init"
    assert parser.crashes == [crash]


def test_report_cut_at_the_end_keeps_its_unterminated_last_line() -> None:
    parser = CrashParser()
    feed_lines(parser, "[    2.890296] Kernel panic - not syncing: boom from a module\n")
    crash = parser.finish("[    2.895139] Kernel Offset: disabled")
    assert crash is not None and crash.kind == "panic" and crash.fatal
    assert crash.report.splitlines()[-1] == "Kernel Offset: disabled"


def test_warning_is_collected_but_is_not_a_crash() -> None:
    parser = CrashParser()
    (warning,) = feed_lines(parser, WARNING)
    assert parser.crashes == [] and parser.warnings == [warning]
    assert warning.kind == "warning" and warning.kind not in CRASH_KINDS
    assert warning.title == (
        "WARNING: CPU: 0 PID: 135 at /tmp/km/builds/lesson/warn.c:5 warn_init+0x5/0x1000 [warn]"
    )
    assert warning.location == "/tmp/km/builds/lesson/warn.c:5"
    assert (warning.module, warning.function, warning.offset) == ("warn", "warn_init", 5)
    assert warning.report.splitlines()[-1] == "---[ end trace 0000000000000000 ]---"
    assert "cut here" not in warning.report
    (parsed,) = parse_reports(WARNING)
    assert parsed.report == warning.report
    assert parsed.position == WARNING.index("[    2.852862] WARNING: CPU: 0")


def test_bug_and_the_warning_after_it() -> None:
    bug, warning = parse_reports(SCHEDULING_WHILE_ATOMIC)
    assert bug.kind == "BUG"
    assert warning.kind == "warning"
    assert warning.location == "init/main.c:1284"
    assert (warning.module, warning.function) == (None, "do_one_initcall")


def test_clear_forgets_everything() -> None:
    parser = CrashParser()
    feed_lines(parser, OOPS + WARNING)
    feed_lines(parser, GPF[: GPF.index("Call Trace")])  # one left open
    assert len(parser.crashes) == 1 and len(parser.warnings) == 1
    parser.clear()
    assert parser.crashes == [] and parser.warnings == []
    assert parser.finish() is None


def test_ordinary_boot_lines_are_not_crashes() -> None:
    boot = (
        "[    0.000000] Command line: console=ttyS0 nokaslr quiet panic=-1 loglevel=8\n"
        '[    0.693138] PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" '
        "and report a bug\n"
        "[    1.114694] AMD-Vi: AMD IOMMUv2 functionality not available on this system - "
        "This is not a bug.\n"
        "[    2.913175] crash: loading out-of-tree module taints kernel.\n"
        "[    2.918525] crash: module verification failed: signature and/or required key "
        "missing - tainting kernel\n"
        "[    3.000000] hello: Hello, world!\n"
    )
    assert parse_reports(boot) == []
    assert not looks_like_crash(boot)
    assert parse_reports("") == []


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Kernel panic - not syncing: boom", "panic"),
        ("---[ end Kernel panic - not syncing: boom ]---", None),
        ("watchdog: BUG: soft lockup - CPU#0 stuck for 45s! [insmod:135]", "soft lockup"),
        ("rcu: INFO: rcu_preempt self-detected stall on CPU", "rcu stall"),
        ("INFO: task insmod:137 blocked for more than 3 seconds.", "hung task"),
        ("BUG: unable to handle page fault for address: ffffc90000a3b000", "oops"),
        ("general protection fault: 0000 [#1] SMP NOPTI", "general protection fault"),
        ("BUG: sleeping function called from invalid context at mm/slab.h:1", "BUG"),
        ("kernel BUG at mm/slub.c:10!", "BUG"),
        ("invalid opcode: 0000 [#1] PREEMPT SMP NOPTI", "oops"),
        ("WARNING: CPU: 0 PID: 85 at drivers/x.c:10 f+0x1c/0x30 [m]", "warning"),
        ("hello: Hello, world!", None),
    ],
)
def test_classify(line: str, kind: str | None) -> None:
    assert classify(line) == kind


def test_strip_prefix() -> None:
    assert strip_prefix("[    2.920749] Oops: 0002 [#1]") == "Oops: 0002 [#1]"
    assert strip_prefix("<4>[   12.5] [  T85] RIP: 0010:f+0x1/0x2") == "RIP: 0010:f+0x1/0x2"
    assert strip_prefix("no prefix") == "no prefix"


@pytest.mark.parametrize(
    "fragment",
    [
        "insmod: ERROR: could not insert module crash.ko\nBUG: kernel NULL pointer dereference",
        "Oops: 0002 [#1] PREEMPT SMP NOPTI",
        "RIP: 0010:crash_init+0x13/0x1000 [crash]",
        "Call Trace:",
        "general protection fault, maybe for address 0x0",
        "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
        "[   10.1] INFO: task insmod:137 blocked for more than 3 seconds.",
        "Kernel panic - not syncing: boom",
    ],
)
def test_looks_like_crash_on_fragments(fragment: str) -> None:
    assert looks_like_crash(fragment)


def test_looks_like_crash_not_on_ordinary_errors() -> None:
    assert not looks_like_crash("insmod: ERROR: could not insert module x.ko: Invalid parameters")
    assert not looks_like_crash("hello: unknown parameter 'Enthusiast' ignored")


def crash_of(text: str) -> CrashReport:
    (crash,) = [r for r in parse_reports(text) if r.kind != "warning"]
    return crash


def test_what_the_kernel_goes_on_after() -> None:
    # Sleeping under a spinlock is reported, and nothing else happens.
    assert goes_on(crash_of(SCHEDULING_WHILE_ATOMIC))
    assert goes_on(crash_of(HUNG_TASK))  # one task blocked, the rest answers
    assert goes_on(crash_of(OOPS))  # insmod killed, the kernel tainted D
    assert not goes_on(crash_of(TIMER_AFTER_RMMOD))  # a panic
    assert not goes_on(crash_of(KERNEL_BUG))  # a BUG() is not one that only reports
    (stall, lockup) = parse_reports(RCU_STALL_THEN_SOFT_LOCKUP)
    assert not goes_on(stall) and not goes_on(lockup)


def test_a_deadlock_gives_one_hung_task_report_per_thread() -> None:
    reports = parse_reports(EARLIER + HUNG_TASK_DEADLOCK)
    assert [r.title for r in reports] == [
        "INFO: task abba_ab:129 blocked for more than 2 seconds.",
        "INFO: task abba_ba:130 blocked for more than 2 seconds.",
    ]
    assert all(r.kind == "hung task" and goes_on(r) for r in reports)


def test_a_deadlocked_threads_stack_comes_from_the_kernel_log() -> None:
    parser = CrashParser()
    for position, line in enumerate(HUNG_TASK_DEADLOCK.splitlines()):
        parser.feed_line(line, position)
    parser.finish()
    for report, function in zip(list(parser.crashes), ("abba_ab", "abba_ba"), strict=True):
        assert report.function is None  # the console has the first three lines only
        full = parser.rewrite(
            report.position, hung_task.report_lines(HUNG_TASK_DEADLOCK_DMESG, report.title)
        )
        assert full is not None and (full.module, full.function) == ("abba", function)
        assert "__mutex_lock" in full.report


def test_a_timer_left_armed_after_rmmod_is_a_fatal_oops_in_softirq() -> None:
    crash = crash_of(TIMER_AFTER_RMMOD)
    assert crash.fatal and crash.function is None
    assert "#PF: supervisor instruction fetch in kernel mode" in crash.report
    assert "? call_timer_fn+0x24/0x130" in crash.report
    assert "Kernel panic - not syncing: Fatal exception in interrupt" in crash.report
