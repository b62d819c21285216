# SPDX-License-Identifier: MIT
"""The console recorder: ring buffer, log file, and the crash reports it hands out.

The crash reports are real captures (tests/data/console); how they are parsed is
tested on the parser itself in test_crash.py, here only that the recorder feeds it,
whatever the chunk boundaries, and reports in time.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kernelmagic.machine.console import ConsoleRecorder
from kernelmagic.machine.crash import CRASH_KINDS, CrashReport, parse_reports
from tests.machine.captured import (
    CASES,
    EARLIER,
    GPF,
    OOPS,
    OOPS_IN_IRQ_THEN_PANIC,
    PANIC,
    RCU_STALL_THEN_SOFT_LOCKUP,
    SCHEDULING_WHILE_ATOMIC,
    WARNING,
    wire,
)


def feed(recorder: ConsoleRecorder, data: bytes, size: int) -> None:
    """Hand ``data`` to the recorder in chunks of ``size`` bytes, as recv() might."""
    for start in range(0, len(data), size):
        recorder._feed(data[start : start + size])


def wait_until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


class Rig:
    """A started recorder on one end of a socketpair; ``guest`` is QEMU's end."""

    def __init__(self, tmp_path: Path, **kwargs: object) -> None:
        host, self.guest = socket.socketpair()
        self.reports: list[CrashReport] = []
        self.log_path = tmp_path / "logs" / "console.log"
        self.recorder = ConsoleRecorder(host, self.log_path, on_crash=self.reports.append, **kwargs)
        self.recorder.start()

    def send(self, text: str) -> None:
        self.guest.sendall(wire(text))

    def close(self) -> None:
        self.guest.close()
        self.recorder.stop()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path, settle=0.2)
    yield rig
    rig.close()


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[ConsoleRecorder]:
    """A recorder fed by hand through ``_feed`` (no thread), for exact chunk boundaries."""
    host, guest = socket.socketpair()
    recorder = ConsoleRecorder(host, tmp_path / "console.log")
    yield recorder
    recorder.stop()
    guest.close()


# ---------------------------------------------------------------------- recording


def test_text_has_no_carriage_returns_and_goes_to_the_log(rig: Rig) -> None:
    rig.send("hello\nworld\n")
    assert rig.recorder.wait_for("world\n", timeout=5)
    assert rig.recorder.text() == "hello\nworld\n"
    assert rig.recorder.tail(1) == ["world"]
    log_text = rig.log_path.read_text()
    assert "kernelmagic console recording started" in log_text
    assert log_text.endswith("hello\nworld\n")
    assert "\r" not in log_text


def test_log_file_is_appended_across_recordings(tmp_path: Path) -> None:
    for word in ("first", "second"):
        rig = Rig(tmp_path)
        rig.send(f"{word} boot\n")
        assert rig.recorder.wait_for(f"{word} boot", timeout=5)
        rig.close()
    text = (tmp_path / "logs" / "console.log").read_text()
    assert text.count("recording started") == 2
    assert text.index("first boot") < text.index("second boot")


def test_utf8_and_crlf_survive_any_chunk_boundary(offline: ConsoleRecorder) -> None:
    feed(offline, "héllo ✓ wörld\r\nnext\r\n".encode(), 1)
    assert offline.text() == "héllo ✓ wörld\nnext\n"


def test_invalid_utf8_is_replaced(offline: ConsoleRecorder) -> None:
    feed(offline, b"bad \xff byte\r\n", 3)
    assert offline.text() == "bad \ufffd byte\n"


def test_ring_keeps_the_newest_text_and_marks_stay_absolute(tmp_path: Path) -> None:
    host, guest = socket.socketpair()
    recorder = ConsoleRecorder(host, tmp_path / "c.log", max_bytes=64)
    data = "".join(f"line {i:03d}\n" for i in range(100))  # 900 characters
    feed(recorder, data.encode(), 37)
    assert recorder.text() == data[-64:]
    assert recorder.mark() == len(data)
    assert recorder.since(0) == data[-64:]
    assert recorder.since(len(data) - 9) == "line 099\n"
    assert recorder.since(len(data)) == ""
    recorder.stop()
    guest.close()


def test_tail_counts_an_unterminated_line(offline: ConsoleRecorder) -> None:
    feed(offline, b"a\r\nb\r\nprompt# ", 4)
    assert offline.tail(2) == ["b", "prompt# "]
    assert offline.tail(0) == []


def test_mark_and_since(offline: ConsoleRecorder) -> None:
    feed(offline, b"before\r\n", 100)
    mark = offline.mark()
    feed(offline, b"after\r\n", 100)
    assert offline.since(mark) == "after\n"


def test_wait_for_sees_text_that_arrives_later(rig: Rig) -> None:
    rig.send("login: old\n")
    assert rig.recorder.wait_for("login: old\n", timeout=5)
    mark = rig.recorder.mark()
    timer = threading.Timer(0.1, rig.send, args=("Run /init as init process\nlogin: new\n",))
    timer.start()
    match = rig.recorder.wait_for(r"login: (\w+)", timeout=5, since=mark)
    timer.join()
    assert match is not None
    assert match.group(1) == "new"


def test_wait_for_times_out(rig: Rig) -> None:
    started = time.monotonic()
    assert rig.recorder.wait_for("never", timeout=0.2) is None
    assert time.monotonic() - started >= 0.2


def test_end_of_file_closes_and_ends_waits(rig: Rig) -> None:
    rig.send("last words\n")
    rig.guest.close()
    assert rig.recorder.wait_closed(5)
    assert rig.recorder.closed
    started = time.monotonic()
    assert rig.recorder.wait_for("never", timeout=30) is None
    assert time.monotonic() - started < 5
    assert rig.recorder.text() == "last words\n"


def test_stop_is_safe_twice_and_before_start(tmp_path: Path) -> None:
    host, guest = socket.socketpair()
    recorder = ConsoleRecorder(host, tmp_path / "c.log")
    recorder.stop()
    recorder.stop()
    assert recorder.closed
    guest.close()
    rig = Rig(tmp_path)
    rig.close()
    rig.recorder.stop()


# ---------------------------------------------------------------------- crash reports


@pytest.mark.parametrize("size", [1, 13, 4096])
@pytest.mark.parametrize("case", list(CASES))
def test_crash_reports_survive_any_chunk_boundary(tmp_path: Path, case: str, size: int) -> None:
    text = CASES[case]["text"]
    host, guest = socket.socketpair()
    reports: list[CrashReport] = []
    recorder = ConsoleRecorder(host, tmp_path / "c.log", on_crash=reports.append)
    feed(recorder, wire(EARLIER), 4096)
    feed(recorder, wire(text), size)
    recorder.stop()  # completes a report that QEMU's exit cut short (the irq panic)
    guest.close()

    crash = recorder.crash
    assert crash is not None and crash.kind in CRASH_KINDS
    # The parser's own tests check what each report decodes to; the recorder gives the same.
    assert [crash] == [r for r in parse_reports(EARLIER + text) if r.kind != "warning"]
    assert recorder.text()[crash.position :].split("] ", 1)[1].startswith(crash.title)
    assert len(recorder.crashes) == 1
    assert reports and reports[-1] == crash


def test_oops_is_complete_at_end_trace_without_waiting(rig: Rig) -> None:
    rig.send(OOPS)
    wait_until(lambda: rig.recorder.crash is not None)
    assert rig.reports == [rig.recorder.crash]
    assert not rig.recorder.closed


def test_panic_after_oops_makes_it_fatal_and_reports_again(offline: ConsoleRecorder) -> None:
    reports: list[CrashReport] = []
    offline.on_crash = reports.append
    feed(offline, wire(OOPS_IN_IRQ_THEN_PANIC + "[    2.629400] ---[ end Kernel panic ]---\n"), 64)
    assert [r.fatal for r in reports] == [False, True]
    assert reports[1].title == reports[0].title
    assert "Kernel panic - not syncing: Fatal exception in interrupt" in reports[1].report
    assert offline.crash == reports[1]


def test_crash_is_the_first_of_several(offline: ConsoleRecorder) -> None:
    feed(offline, wire(RCU_STALL_THEN_SOFT_LOCKUP), 512)
    offline.stop()
    stall, lockup = offline.crashes
    assert (stall.kind, lockup.kind) == ("rcu stall", "soft lockup")
    assert offline.crashes == parse_reports(RCU_STALL_THEN_SOFT_LOCKUP)
    assert offline.crash == stall


def test_soft_lockup_ends_at_its_stack_dump(rig: Rig) -> None:
    start = RCU_STALL_THEN_SOFT_LOCKUP.index("[   48.527137]")
    rig.send(RCU_STALL_THEN_SOFT_LOCKUP[start:])
    wait_until(lambda: rig.recorder.crash is not None)
    assert rig.recorder.crash.kind == "soft lockup"


def test_report_without_an_end_completes_after_silence(rig: Rig) -> None:
    cut = OOPS.index("[    2.927956] ---[ end trace")
    rig.send(OOPS[:cut])
    wait_until(lambda: rig.recorder.crash is not None)
    crash = rig.recorder.crash
    assert crash.kind == "oops" and crash.function == "crash_init"
    assert not rig.recorder.closed


def test_quiet_mark_stays_before_a_report_still_arriving(tmp_path: Path) -> None:
    rig = Rig(tmp_path, settle=60)  # no completion by silence during the test
    start = OOPS.index("[    2.920158] BUG: kernel NULL pointer")
    cut = OOPS.index("[    2.927956] ---[ end trace")
    rig.send(OOPS[:cut])
    wait_until(lambda: rig.recorder.mark() >= len(OOPS[:cut].replace("\r", "")) - 1)
    assert rig.recorder.crash is None  # not complete yet: nothing to show so far
    assert rig.recorder.quiet_mark() == start  # a reader marking "seen" stops before it
    rig.send(OOPS[cut:])
    wait_until(lambda: rig.recorder.crash is not None)
    assert rig.recorder.quiet_mark() == rig.recorder.mark()
    assert rig.recorder.crashes_since(start) == [rig.recorder.crash]
    rig.close()


def test_report_cut_by_end_of_file_is_reported(tmp_path: Path) -> None:
    rig = Rig(tmp_path, settle=60)
    rig.send(PANIC)
    rig.guest.close()
    assert rig.recorder.wait_closed(5)
    crash = rig.recorder.crash
    assert crash is not None and crash.kind == "panic" and crash.fatal
    assert crash.report.splitlines()[-1] == "Kernel Offset: disabled"
    assert rig.reports == [crash]
    rig.close()


def test_warnings_are_collected_but_are_not_crashes(offline: ConsoleRecorder) -> None:
    reports: list[CrashReport] = []
    offline.on_crash = reports.append
    feed(offline, wire(WARNING), 100)
    assert offline.crash is None and reports == []
    assert offline.warnings == parse_reports(WARNING)
    offline.clear_crash()
    feed(offline, wire(SCHEDULING_WHILE_ATOMIC), 100)
    (bug,) = offline.crashes
    (warning,) = offline.warnings
    assert (bug.kind, warning.kind) == ("BUG", "warning")
    assert reports == [bug]
    start = offline.mark() - len(SCHEDULING_WHILE_ATOMIC)  # where the capture began
    assert [(r.kind, start + r.position) for r in parse_reports(SCHEDULING_WHILE_ATOMIC)] == [
        ("BUG", bug.position),
        ("warning", warning.position),
    ]


def test_crashes_since_and_clear_crash(offline: ConsoleRecorder) -> None:
    feed(offline, wire(OOPS), 4096)
    mark = offline.mark()
    assert offline.crashes_since(0) == offline.crashes
    assert offline.crashes_since(mark) == []
    feed(offline, wire(GPF), 4096)
    assert [c.kind for c in offline.crashes_since(mark)] == ["general protection fault"]
    assert offline.crash is not None and offline.crash.kind == "oops"
    feed(offline, wire(WARNING), 4096)
    assert len(offline.warnings) == 1
    offline.clear_crash()
    assert offline.crash is None and offline.crashes == [] and offline.warnings == []


def test_a_failing_callback_is_logged_not_fatal(
    offline: ConsoleRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(report: CrashReport) -> None:
        raise RuntimeError("callback bug")

    offline.on_crash = explode
    with caplog.at_level(logging.ERROR, logger="kernelmagic.machine.console"):
        feed(offline, wire(OOPS), 4096)
    assert "on_crash callback failed" in caplog.text
    assert offline.crash is not None
