# SPDX-License-Identifier: MIT
"""Kernel crash reports cut out of console text: oops, panic, BUG, soft lockup, ...

Pure text processing, no sockets and no threads, so that the console recorder, the
magics and the tests all read a report the same way. :class:`CrashParser` takes one
console line at a time (that is how the recorder feeds it); :func:`parse_reports` and
:func:`looks_like_crash` work on any text, e.g. a module error's log lines.

A report is recognised by its first line, collected until its end marker (``end
trace``, ``end Kernel panic``), the end of its stack dump (watchdog reports have no
marker), the next report, or the end of the text, and then decoded: where it happened
(the ``RIP:`` line or the first call-trace frame in a module) and whether the kernel
died of it (a panic closely after it).
"""

from __future__ import annotations

import dataclasses
import re

__all__ = [
    "CRASH_KINDS",
    "MAX_REPORT_LINES",
    "PANIC_MERGE_LINES",
    "CrashParser",
    "CrashReport",
    "classify",
    "goes_on",
    "looks_like_crash",
    "parse_reports",
    "strip_prefix",
    "stuck_cpu_report",
]

#: The values of :attr:`CrashReport.kind` for crashes; warnings use ``"warning"``.
#: "rcu stall" matters under TCG: a busy loop in a module's init on one CPU is reported
#: as an RCU stall after about 21 s, the soft lockup only after about 45 s.
CRASH_KINDS = (
    "oops",
    "panic",
    "soft lockup",
    "hard lockup",
    "rcu stall",
    "hung task",
    "BUG",
    "general protection fault",
)

#: A report with no end marker is complete at this many lines at the latest.
MAX_REPORT_LINES = 400
#: A panic this many lines after a crash report is the same incident (the oops killed
#: an interrupt handler, or panic_on_oops): it makes that report fatal.
PANIC_MERGE_LINES = 60

# "[   12.345678] " from CONFIG_PRINTK_TIME, optionally a caller id "[T85] ".
_PREFIX = re.compile(r"^(?:<\d+>)?(?:\[\s*\d+\.\d+\]\s?)?(?:\[\s*[TC]\d+\]\s?)?")
# x86 die(): "Oops: 0002 [#1] PREEMPT SMP NOPTI", "general protection fault, ...: 0000 [#1]",
# "invalid opcode: 0000 [#1] ...", "divide error: 0000 [#1] ...".
_DIE = re.compile(r": [0-9a-f]{4} \[#\d+\]")
_END_TRACE = re.compile(r"---\[ end trace [0-9a-f]+ \]---")
_END_PANIC = re.compile(r"---\[ end Kernel panic")
_PANIC = re.compile(r"Kernel panic - not syncing")
_SOFT_LOCKUP = re.compile(r"BUG: soft lockup - CPU#\d+ stuck")
_HARD_LOCKUP = re.compile(r"Watchdog detected hard LOCKUP on cpu \d+")
_NMI_BACKTRACE = re.compile(r"^NMI backtrace for cpu (?P<cpu>\d+)")
# Where an idle CPU or the CPU that asked for the backtraces is: not the stuck one.
_NOT_STUCK = re.compile(r"safe_halt|default_idle|cpu_idle|mwait|nmi_cpu_backtrace|sysrq")
_RCU_STALL = re.compile(r"^rcu: INFO: rcu_\w+ (?:self-)?detected stalls?")
_HUNG_TASK = re.compile(r"^INFO: task \S+ blocked for more than \d+ seconds")
_OOPS_BUG = re.compile(r"^BUG: (?:kernel NULL pointer dereference|unable to handle)")
_BUG = re.compile(r"^(?:BUG: |kernel BUG at )")
_GPF = re.compile(r"^general protection fault")
# BUG reports that only report: the kernel prints them, taints itself W and goes on.
# Sleeping where it must not: "scheduling while atomic" (any kernel with a preemption
# count, Debian's too); "sleeping function called from invalid context" (only with
# CONFIG_DEBUG_ATOMIC_SLEEP, and before anything sleeps).
_REPORT_ONLY_BUG = re.compile(
    r"^BUG: (?:scheduling while atomic|sleeping function called from invalid context)"
)
_WARNING = re.compile(r"^WARNING: CPU: \d+ PID: \d+ at ")
# Reports printed by a watchdog rather than by die(): no "end trace" line closes them.
_STALL_KINDS = ("rcu stall", "soft lockup", "hard lockup", "hung task")
_TASK_END = re.compile(r"^\s*</TASK>\s*$")
# "RIP: 0010:crash_init+0x13/0x1000 [crash]"
_RIP = re.compile(
    r"^RIP: [0-9a-f]{4}:(?P<function>[\w.]+)\+(?P<offset>0x[0-9a-f]+)/0x[0-9a-f]+"
    r"(?: \[(?P<module>\w+)\])?"
)
# A call-trace frame or a WARNING's site: "hang_init+0x15/0x1000 [hang]".
_FRAME = re.compile(r"(?P<function>[\w.]+)\+(?P<offset>0x[0-9a-f]+)/0x[0-9a-f]+ \[(?P<module>\w+)")
# A line of a call trace: " ? crash_init+0x13/0x1000 [crash]" (the "?" marks a guess).
_TRACE_FRAME = re.compile(
    r"^\s+(?P<unreliable>\? )?(?P<function>[\w.]+)\+(?P<offset>0x[0-9a-f]+)/0x[0-9a-f]+"
    r"(?: \[(?P<module>\w+)\])?\s*$"
)
# "WARNING: CPU: 0 PID: 85 at drivers/x.c:10 func+0x1c/0x30 [mod]", "kernel BUG at mm/x.c:10!"
_AT = re.compile(r" at (?P<location>[^\s!]+:\d+)")
# Signs of a crash that show even in a fragment of a report (a module error's last log
# lines, where the first line of the report may be missing).
_CRASH_SIGN = re.compile(r"BUG:|Oops|general protection fault|RIP: |Call Trace")


@dataclasses.dataclass(frozen=True)
class CrashReport:
    """One kernel report cut from the console (a crash, or a ``WARNING:`` with kind "warning").

    ``report`` holds the lines from the first to the end marker with the printk
    timestamps removed, so two runs of a lesson read alike; a panic that followed the
    report is appended to it and makes it ``fatal``. ``module``, ``function`` and
    ``offset`` say where, preferring the learner's code: the ``RIP:`` line when it is in
    a module (``crash_init+0x13/0x1000 [crash]``), else the first call-trace frame in a
    module, else the kernel ``RIP:``. They are what
    ``gdb -batch -ex 'list *(crash_init+0x13)' crash.ko`` needs. ``location`` is the
    ``file:line`` that ``WARNING: ... at`` and ``kernel BUG at`` name. ``position`` is
    where the report's first line starts in the console stream (see ``mark()``).
    """

    kind: str
    title: str
    report: str
    fatal: bool = False
    position: int = 0
    module: str | None = None
    function: str | None = None
    offset: int | None = None
    location: str | None = None

    def __str__(self) -> str:
        return self.report


def strip_prefix(line: str) -> str:
    """``line`` without its printk timestamp and caller id, as reports are stored."""
    return _PREFIX.sub("", line, count=1)


def classify(line: str) -> str | None:
    """The report kind that ``line`` (without its printk prefix) starts, if any."""
    if _PANIC.search(line) and not _END_PANIC.search(line):
        return "panic"
    if _SOFT_LOCKUP.search(line):
        return "soft lockup"
    if _HARD_LOCKUP.search(line):
        return "hard lockup"
    if _RCU_STALL.match(line):
        return "rcu stall"
    if _HUNG_TASK.match(line):
        return "hung task"
    if _OOPS_BUG.match(line):
        return "oops"
    if _GPF.match(line):
        return "general protection fault"
    if _BUG.match(line):
        return "BUG"
    if _DIE.search(line):
        return "oops"
    if _WARNING.match(line):
        return "warning"
    return None


def goes_on(report: CrashReport) -> bool:
    """Whether the kernel carries on after ``report``, its other tasks unharmed.

    An oops kills the task that hit it, a hung task is one task blocked, and a BUG that
    only reports (sleeping under a spinlock) changes nothing at all; a panic, a lockup
    or a stall stops the guest.
    """
    if report.fatal:
        return False
    if report.kind == "BUG":
        return bool(_REPORT_ONLY_BUG.match(report.title))
    return report.kind in ("oops", "hung task", "warning")


def looks_like_crash(text: str) -> bool:
    """Whether ``text`` holds any part of a kernel crash report.

    Generous on purpose, for deciding whether to wait for the console to deliver the
    whole report: a fragment counts (a ``Call Trace``, a ``RIP:`` line), and so does a
    ``WARNING:``'s register dump, which looks the same.
    """
    if _CRASH_SIGN.search(text):
        return True
    return any(classify(strip_prefix(line)) in CRASH_KINDS for line in text.splitlines())


def parse_reports(text: str) -> list[CrashReport]:
    """Every report in ``text`` (crashes and warnings), in the order they start.

    ``text`` is console or ``dmesg`` output, with or without printk timestamps. A
    report that the text cuts short is returned as far as it goes. Positions count
    characters of ``text`` after removing ``\\r``.
    """
    parser = CrashParser()
    text = text.replace("\r\n", "\n").replace("\r", "")
    position = 0
    lines = text.split("\n")
    partial = lines.pop()  # after the last newline: not yet a line
    for line in lines:
        parser.feed_line(line, position)
        position += len(line) + 1
    parser.finish(partial)
    return sorted([*parser.crashes, *parser.warnings], key=lambda report: report.position)


def stuck_cpu_report(log_text: str, position: int = 0) -> CrashReport | None:
    """A "hard lockup" report cut from NMI backtraces (``echo l > /proc/sysrq-trigger``).

    When the CPU that keeps the kernel's jiffies spins with interrupts off, no detector
    of the kernel reports it; an NMI backtrace of every CPU shows where it is. From the
    last backtraces in ``log_text`` (``dmesg`` output), the one of a CPU in a module,
    else of one neither idle nor printing the backtraces, becomes the report. None
    when there is none.
    """
    lines = [strip_prefix(line) for line in log_text.replace("\r", "").split("\n")]
    blocks: list[list[str]] = []
    for line in lines:
        if _NMI_BACKTRACE.match(line):
            blocks.append([line])
        elif blocks and not _TASK_END.match(blocks[-1][-1]) and len(blocks[-1]) < MAX_REPORT_LINES:
            blocks[-1].append(line)
    rips = [(block, next((m for x in block if (m := _RIP.match(x))), None)) for block in blocks]
    chosen = next((b for b, rip in reversed(rips) if rip and rip["module"]), None)
    if chosen is None:
        chosen = next(
            (b for b, rip in reversed(rips) if rip and not _NOT_STUCK.search(rip["function"])),
            None,
        )
    if chosen is None:
        return None
    cpu = _NMI_BACKTRACE.match(chosen[0])["cpu"]  # type: ignore[index]
    title = f"watchdog: CPU#{cpu} stuck with interrupts off: its timer tick stopped"
    pending = _Pending("hard lockup", title, position, 0.0)
    for line in chosen:
        pending.add(line, 0.0)
    return pending.build()


class _Pending:
    """A report being collected, line by line."""

    def __init__(self, kind: str, title: str, position: int, now: float) -> None:
        self.kind = kind
        self.title = title
        self.position = position
        self.lines = [title]
        self.fatal = kind == "panic"
        self.died = bool(_DIE.search(title))  # an x86 die(): ends at "end trace"
        self.last_line = now
        self.merge_into: CrashReport | None = None

    def add(self, line: str, now: float) -> bool:
        """Append a line; True when it completes the report."""
        self.lines.append(line)
        self.last_line = now
        if _PANIC.search(line) and not _END_PANIC.search(line):
            self.fatal = True
        if _DIE.search(line):
            self.died = True
        if _END_TRACE.search(line) and not self.fatal:
            return True
        if _END_PANIC.search(line):
            return True
        # Reports that are not an x86 die() have no end marker: the stack dump closes them.
        no_marker = self.kind in ("soft lockup", "hard lockup", "hung task", "BUG")
        no_marker = no_marker and not self.died
        if no_marker and _TASK_END.match(line):
            return True
        return len(self.lines) >= MAX_REPORT_LINES

    def _site(self) -> re.Match[str] | None:
        """Where it happened, preferring code in a module: that is the learner's code.

        In order: a kernel ``RIP:`` inside a module; a WARNING's own site; the first
        reliable call-trace frame inside a module, then an unreliable (``?``) one; the
        kernel ``RIP:`` even outside modules.
        """
        rip = None
        for line in self.lines:
            rip = _RIP.match(line)
            if rip:
                break
        if rip and rip["module"]:
            return rip
        if self.kind == "warning":
            match = _FRAME.search(self.title)
            if match:
                return match
        frames = [m for line in self.lines[1:] if (m := _TRACE_FRAME.match(line))]
        for reliable in (True, False):
            for frame in frames:
                if frame["module"] and (frame["unreliable"] is None) == reliable:
                    return frame
        return rip

    def build(self) -> CrashReport:
        text = "\n".join(self.lines)
        site = self._site()
        location = None
        match = _AT.search(self.title)
        if match and self.kind in ("warning", "BUG"):
            location = match["location"]
        report = CrashReport(
            kind=self.kind,
            title=self.title,
            report=text,
            fatal=self.fatal,
            position=self.position,
            module=site["module"] if site else None,
            function=site["function"] if site else None,
            offset=int(site["offset"], 16) if site else None,
            location=location,
        )
        if self.merge_into is not None:
            first = self.merge_into
            report = dataclasses.replace(
                first, report=first.report + "\n" + text, fatal=first.fatal or self.fatal
            )
        return report


class CrashParser:
    """Cut reports out of console lines fed one at a time; keeps what it found.

    Each method returns the report that the call completed, if any: a crash, a warning
    (kind ``"warning"``), or, when a panic followed a crash closely, that earlier crash
    again, now ``fatal`` and with the panic appended (it replaces the earlier one in
    :attr:`crashes`). ``now`` is a monotonic time, used only by :meth:`settle`. Not
    thread-safe: the console recorder calls it under its own lock.
    """

    def __init__(self) -> None:
        self.crashes: list[CrashReport] = []
        self.warnings: list[CrashReport] = []
        self._open: _Pending | None = None
        self._lines_since_crash = PANIC_MERGE_LINES + 1

    @property
    def open_position(self) -> int | None:
        """Where a report still being collected starts (None when none is)."""
        return self._open.position if self._open is not None else None

    def feed_line(self, raw: str, position: int = 0, now: float = 0.0) -> CrashReport | None:
        """Take one complete console line (without its newline) starting at ``position``."""
        line = strip_prefix(raw)
        self._lines_since_crash += 1
        pending = self._open
        kind = classify(line)
        completed = None
        if pending is not None:
            if pending.kind in _STALL_KINDS and kind not in (None, "panic"):
                # A stall or hang report has no end marker; the next report ends it
                # (an RCU stall 20 s before the soft lockup that follows it).
                completed = self._complete()
            else:
                if pending.add(line, now):
                    return self._complete()
                return None
        if "[ cut here ]" in line or kind is None:
            return completed
        pending = _Pending(kind, line.strip(), position, now)
        if (
            kind == "panic"
            and self.crashes
            and self._lines_since_crash <= PANIC_MERGE_LINES
            and not self.crashes[-1].fatal
        ):
            pending.merge_into = self.crashes[-1]
        self._open = pending
        return completed

    def settle(self, now: float, quiet: float) -> CrashReport | None:
        """Complete the open report if no line came for ``quiet`` seconds before ``now``.

        Soft lockups, hung tasks and RCU stalls have no end marker; silence ends them.
        """
        pending = self._open
        if pending is not None and now - pending.last_line >= quiet:
            return self._complete()
        return None

    def finish(self, partial: str = "", now: float = 0.0) -> CrashReport | None:
        """Complete the open report at the end of the stream (QEMU died in the middle).

        ``partial`` is the unterminated last line, which belongs to the report.
        """
        if self._open is None:
            return None
        if partial:
            self._open.add(strip_prefix(partial), now)
        return self._complete()

    def rewrite(self, position: int, lines: list[str]) -> CrashReport | None:
        """Replace the text of the finished crash that began at ``position``.

        For a report whose console copy lacks lines that the kernel logged below the
        console's level (a hung task's stack is KERN_INFO): ``lines``, read from the
        kernel log, become its text, and where it happened is read again from them.
        Returns the new report, or None when no crash began there.
        """
        for index, old in enumerate(self.crashes):
            if old.position == position and lines:
                pending = _Pending(old.kind, strip_prefix(lines[0]).strip(), position, 0.0)
                for line in lines[1:]:
                    pending.add(strip_prefix(line), 0.0)
                pending.fatal = pending.fatal or old.fatal
                self.crashes[index] = pending.build()
                return self.crashes[index]
        return None

    def clear(self) -> None:
        """Forget every report and the one being collected (the VM restarted)."""
        self.crashes.clear()
        self.warnings.clear()
        self._open = None
        self._lines_since_crash = PANIC_MERGE_LINES + 1

    def _complete(self) -> CrashReport | None:
        pending = self._open
        self._open = None
        if pending is None:
            return None
        report = pending.build()
        if pending.kind == "warning":
            self.warnings.append(report)
            return report
        if pending.merge_into is not None:
            index = self.crashes.index(pending.merge_into)
            self.crashes[index] = report
        else:
            self.crashes.append(report)
        self._lines_since_crash = 0
        return report
