# SPDX-License-Identifier: MIT
"""The serial console (ttyS0) as the lab's flight recorder.

When a learner's module kills the kernel, the guest agent cannot answer any more; the
console is the only witness. A daemon thread drains the console socket into a bounded
in-memory ring (for display and for :meth:`ConsoleRecorder.wait_for`) and appends it
to a log file (for the post-mortem after the ring has moved on). Each complete line
goes through a small state machine that recognises the kernel's crash reports (oops,
panic, soft lockup, hung task, BUG, general protection fault) and ``WARNING:`` reports.

Positions (:meth:`ConsoleRecorder.mark`, ``since=``, :attr:`CrashReport.position`)
count characters of console text after decoding and removing ``\\r``, from the start
of the recording; they stay valid after the ring dropped old text.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import dataclasses
import datetime
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["CRASH_KINDS", "ConsoleRecorder", "CrashReport"]

log = logging.getLogger(__name__)

#: The values of :attr:`CrashReport.kind` for crashes; warnings use ``"warning"``.
#: "rcu stall" matters under TCG: a busy loop in a module's init on one CPU is reported
#: as an RCU stall after about 21 s, the soft lockup only after about 45 s.
CRASH_KINDS = (
    "oops",
    "panic",
    "soft lockup",
    "rcu stall",
    "hung task",
    "BUG",
    "general protection fault",
)

#: A report with no end marker (soft lockups, hung tasks, RCU stalls) is complete at the
#: end of its stack dump, after this much console silence, or at this many lines.
SETTLE_SECONDS = 0.5
MAX_LOG_BYTES = 16 << 20  # the console log file stops growing here
MAX_REPORT_LINES = 400
#: A panic this many lines after a crash report is the same incident (the oops killed
#: an interrupt handler, or panic_on_oops): it makes that report fatal.
PANIC_MERGE_LINES = 60

_READ_SIZE = 65536
_POLL = 0.1

# "[   12.345678] " from CONFIG_PRINTK_TIME, optionally a caller id "[T85] ".
_PREFIX = re.compile(r"^(?:<\d+>)?(?:\[\s*\d+\.\d+\]\s?)?(?:\[\s*[TC]\d+\]\s?)?")
# x86 die(): "Oops: 0002 [#1] PREEMPT SMP NOPTI", "general protection fault, ...: 0000 [#1]",
# "invalid opcode: 0000 [#1] ...", "divide error: 0000 [#1] ...".
_DIE = re.compile(r": [0-9a-f]{4} \[#\d+\]")
_END_TRACE = re.compile(r"---\[ end trace [0-9a-f]+ \]---")
_END_PANIC = re.compile(r"---\[ end Kernel panic")
_PANIC = re.compile(r"Kernel panic - not syncing")
_SOFT_LOCKUP = re.compile(r"BUG: soft lockup - CPU#\d+ stuck")
_RCU_STALL = re.compile(r"^rcu: INFO: rcu_\w+ (?:self-)?detected stalls?")
_HUNG_TASK = re.compile(r"^INFO: task \S+ blocked for more than \d+ seconds")
_OOPS_BUG = re.compile(r"^BUG: (?:kernel NULL pointer dereference|unable to handle)")
_BUG = re.compile(r"^(?:BUG: |kernel BUG at )")
_GPF = re.compile(r"^general protection fault")
_WARNING = re.compile(r"^WARNING: CPU: \d+ PID: \d+ at ")
# Reports printed by a watchdog rather than by die(): no "end trace" line closes them.
_STALL_KINDS = ("rcu stall", "soft lockup", "hung task")
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


def _classify(line: str) -> str | None:
    """The report kind that ``line`` starts, if any."""
    if _PANIC.search(line) and not _END_PANIC.search(line):
        return "panic"
    if _SOFT_LOCKUP.search(line):
        return "soft lockup"
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
        no_marker = self.kind in ("soft lockup", "hung task", "BUG") and not self.died
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
        module = site["module"] if site else None
        function = site["function"] if site else None
        offset = int(site["offset"], 16) if site else None
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
            module=module,
            function=function,
            offset=offset,
            location=location,
        )
        if self.merge_into is not None:
            first = self.merge_into
            report = dataclasses.replace(
                first, report=first.report + "\n" + text, fatal=first.fatal or self.fatal
            )
        return report


class ConsoleRecorder:
    """Drain the kernel console into a ring buffer and a log file, watching for crashes.

    The recorder owns ``sock`` and closes it in :meth:`stop`. ``on_crash`` runs on the
    reader thread for each completed crash report, and once more with the updated
    report when a panic turns an earlier crash fatal; it must not block.
    """

    def __init__(
        self,
        sock: socket.socket,
        log_path: Path,
        max_bytes: int = 1 << 20,
        *,
        on_crash: Callable[[CrashReport], None] | None = None,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self._sock = sock
        self.log_path = Path(log_path)
        self.max_bytes = max_bytes
        self.on_crash = on_crash
        self._settle = settle
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._cond = threading.Condition()
        self._chunks: collections.deque[str] = collections.deque()
        self._held = 0  # characters in _chunks
        self._total = 0  # characters ever recorded
        self._partial = ""  # text after the last newline, not yet a line
        self._pending_cr = False
        self._crashes: list[CrashReport] = []
        self._warnings: list[CrashReport] = []
        self._open: _Pending | None = None
        self._lines_since_crash = PANIC_MERGE_LINES + 1
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_file: BinaryIO | None = None
        self._stopped = False
        self.max_log_bytes = MAX_LOG_BYTES
        self._logged = 0
        self._log_capped = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Open the log (appending) and start draining the console."""
        if self._thread is not None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        stamp = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        log_file.write(f"\n----- kernelmagic console recording started {stamp} -----\n".encode())
        log_file.flush()
        self._log_file = log_file
        self._thread = threading.Thread(
            target=self._run, name=f"console-recorder:{self.log_path.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Read what is already buffered, stop the thread, close socket and log.

        Safe to call twice, and before :meth:`start`.
        """
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("console recorder thread did not stop within %.1f s", timeout)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._finish_pending()
        log_file = self._log_file
        self._log_file = None
        if log_file is not None:
            log_file.close()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __enter__(self) -> ConsoleRecorder:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ text access

    @property
    def closed(self) -> bool:
        """True once the console hit end of file (QEMU went away) or was stopped."""
        return self._closed

    def text(self) -> str:
        """All console text the ring still holds."""
        with self._cond:
            return "".join(self._chunks)

    def tail(self, n: int) -> list[str]:
        """The last ``n`` lines (the unterminated last line counts as one)."""
        if n <= 0:
            return []
        lines = self.text().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        return lines[-n:]

    def mark(self) -> int:
        """Current position in the console stream, for :meth:`since` and ``wait_for``."""
        with self._cond:
            return self._total

    def write(self, data: bytes) -> None:
        """Send keystrokes to the guest's console (the interactive shell of ``vm boot``)."""
        self._sock.sendall(data)

    def since(self, mark: int) -> str:
        """Text recorded after ``mark``, as far as the ring still holds it."""
        with self._cond:
            return self._since_locked(mark)

    def wait_for(
        self, pattern: str | re.Pattern[str], timeout: float, since: int = 0
    ) -> re.Match[str] | None:
        """Wait until ``pattern`` appears in the text after ``since``.

        The match is against ``self.since(since)``, so its offsets are relative to that
        position. Returns None at the timeout, or as soon as the console closed.
        """
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = regex.search(self._since_locked(since))
                if match:
                    return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                self._cond.wait(remaining)

    def wait_closed(self, timeout: float) -> bool:
        """Wait for end of file, so that a dying kernel's last lines are all parsed.

        Call it when QEMU has exited, before reading :attr:`crash`.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # ------------------------------------------------------------------ crash access

    @property
    def crash(self) -> CrashReport | None:
        """The first crash since start or :meth:`clear_crash`, usually the root cause.

        A panic that follows it closely is merged in (``fatal`` becomes True).
        """
        with self._cond:
            return self._crashes[0] if self._crashes else None

    @property
    def crashes(self) -> list[CrashReport]:
        """Every crash report since start or :meth:`clear_crash`, oldest first."""
        with self._cond:
            return list(self._crashes)

    def crashes_since(self, mark: int) -> list[CrashReport]:
        """Crash reports that began after ``mark`` (to tell this call's crash from older ones)."""
        with self._cond:
            return [c for c in self._crashes if c.position >= mark]

    @property
    def warnings(self) -> list[CrashReport]:
        """``WARNING:`` reports (kind ``"warning"``), oldest first."""
        with self._cond:
            return list(self._warnings)

    def clear_crash(self) -> None:
        """Forget crashes and warnings, e.g. after the VM restarted."""
        with self._cond:
            self._crashes.clear()
            self._warnings.clear()
            self._open = None
            self._lines_since_crash = PANIC_MERGE_LINES + 1

    # ------------------------------------------------------------------ internals

    def _since_locked(self, mark: int) -> str:
        start = self._total - self._held
        text = "".join(self._chunks)
        return text[max(mark - start, 0) :]

    def _run(self) -> None:
        stopping_since: float | None = None
        try:
            while True:
                if self._stop.is_set() and stopping_since is None:
                    stopping_since = time.monotonic()
                try:
                    readable, _, _ = select.select([self._sock], [], [], _POLL)
                except (OSError, ValueError):
                    break
                if not readable:
                    if stopping_since is not None:
                        break
                    self._check_settled()
                    continue
                try:
                    data = self._sock.recv(_READ_SIZE)
                except OSError:
                    data = b""
                if not data:
                    log.debug("console closed (QEMU exited)")
                    break
                self._feed(data)
                if stopping_since is not None and time.monotonic() - stopping_since > 1.0:
                    break  # do not let a chatty guest hold stop() forever
        except Exception:  # a bug here must not go unnoticed, nor kill the VM
            log.exception("console recorder failed")
        finally:
            self._finish_pending()
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _feed(self, data: bytes) -> None:
        """Record one chunk from the socket (also the entry point for tests)."""
        text = self._decoder.decode(data)
        if self._pending_cr:
            text = "\r" + text
            self._pending_cr = False
        if text.endswith("\r"):
            # Maybe the first half of "\r\n"; decide with the next chunk.
            text = text[:-1]
            self._pending_cr = True
        text = text.replace("\r\n", "\n").replace("\r", "")
        if not text:
            return
        self._write_log(text)
        completed: list[CrashReport] = []
        with self._cond:
            position = self._total
            self._chunks.append(text)
            self._held += len(text)
            self._total += len(text)
            self._trim_locked()
            buffered = self._partial + text
            line_start = position - len(self._partial)
            *lines, self._partial = buffered.split("\n")
            now = time.monotonic()
            for line in lines:
                report = self._on_line_locked(line, line_start, now)
                if report is not None:
                    completed.append(report)
                line_start += len(line) + 1
            self._cond.notify_all()
        for report in completed:
            self._announce(report)

    def _trim_locked(self) -> None:
        excess = self._held - self.max_bytes
        while excess > 0 and self._chunks:
            first = self._chunks[0]
            if len(first) <= excess:
                self._chunks.popleft()
                self._held -= len(first)
                excess -= len(first)
            else:
                self._chunks[0] = first[excess:]
                self._held -= excess
                excess = 0

    def _write_log(self, text: str) -> None:
        log_file = self._log_file
        if log_file is None:
            return
        try:
            data = text.encode("utf-8", errors="replace")
            if self._logged + len(data) > self.max_log_bytes:
                # A module that printks in a loop must not fill the disk: keep the
                # start (the boot, the first report) and say that the rest was cut.
                if not self._log_capped:
                    log_file.write(
                        b"\n----- console log capped; the ring buffer keeps the newest -----\n"
                    )
                    log_file.flush()
                    self._log_capped = True
                return
            self._logged += len(data)
            log_file.write(data)
            log_file.flush()
        except (OSError, ValueError) as exc:
            log.warning("cannot write console log %s: %s", self.log_path, exc)

    def _on_line_locked(self, raw: str, position: int, now: float) -> CrashReport | None:
        line = _PREFIX.sub("", raw, count=1)
        self._lines_since_crash += 1
        pending = self._open
        kind = _classify(line)
        completed = None
        if pending is not None:
            if pending.kind in _STALL_KINDS and kind not in (None, "panic"):
                # A stall or hang report has no end marker; the next report ends it
                # (an RCU stall 20 s before the soft lockup that follows it).
                completed = self._complete_locked()
            else:
                if pending.add(line, now):
                    return self._complete_locked()
                return None
        if "[ cut here ]" in line or kind is None:
            return completed
        pending = _Pending(kind, line.strip(), position, now)
        if (
            kind == "panic"
            and self._crashes
            and self._lines_since_crash <= PANIC_MERGE_LINES
            and not self._crashes[-1].fatal
        ):
            pending.merge_into = self._crashes[-1]
        self._open = pending
        return completed

    def _complete_locked(self) -> CrashReport | None:
        pending = self._open
        self._open = None
        if pending is None:
            return None
        report = pending.build()
        if pending.kind == "warning":
            self._warnings.append(report)
            log.info("kernel warning: %s", report.title)
            return None
        if pending.merge_into is not None:
            index = self._crashes.index(pending.merge_into)
            self._crashes[index] = report
        else:
            self._crashes.append(report)
        self._lines_since_crash = 0
        log.warning("kernel %s: %s", report.kind, report.title)
        return report

    def _check_settled(self) -> None:
        completed = None
        with self._cond:
            pending = self._open
            if pending is not None and time.monotonic() - pending.last_line >= self._settle:
                completed = self._complete_locked()
                self._cond.notify_all()
        if completed is not None:
            self._announce(completed)

    def _finish_pending(self) -> None:
        """Complete an unterminated report, e.g. when QEMU died in the middle of it."""
        with self._cond:
            if self._partial and self._open is not None:
                self._open.add(_PREFIX.sub("", self._partial, count=1), time.monotonic())
            completed = self._complete_locked() if self._open is not None else None
            self._cond.notify_all()
        if completed is not None:
            self._announce(completed)

    def _announce(self, report: CrashReport) -> None:
        callback = self.on_crash
        if callback is None:
            return
        try:
            callback(report)
        except Exception:
            log.exception("on_crash callback failed")
