# SPDX-License-Identifier: MIT
"""The serial console (ttyS0) as the lab's flight recorder.

When a learner's module kills the kernel, the guest agent cannot answer any more; the
console is the only witness. A daemon thread drains the console socket into a bounded
in-memory ring (for display and for :meth:`ConsoleRecorder.wait_for`) and appends it
to a log file (for the post-mortem after the ring has moved on). Each complete line
goes to a :class:`~kernelmagic.machine.crash.CrashParser`, which recognises the
kernel's crash reports (oops, panic, soft lockup, hung task, BUG, general protection
fault) and ``WARNING:`` reports.

Positions (:meth:`ConsoleRecorder.mark`, ``since=``, :attr:`CrashReport.position`)
count characters of console text after decoding and removing ``\\r``, from the start
of the recording; they stay valid after the ring dropped old text.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import datetime
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeGuard

from kernelmagic.machine.crash import CrashParser, CrashReport

__all__ = ["MAX_LOG_BYTES", "SETTLE_SECONDS", "ConsoleRecorder"]

log = logging.getLogger(__name__)

#: A report with no end marker (soft lockups, hung tasks, RCU stalls) is complete at the
#: end of its stack dump, or after this much console silence.
SETTLE_SECONDS = 0.5
MAX_LOG_BYTES = 16 << 20  # the console log file stops growing here

_READ_SIZE = 65536
_POLL = 0.1


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
        self._parser = CrashParser()  # guarded by _cond, like the ring
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

    def quiet_mark(self) -> int:
        """:meth:`mark`, or the start of a report still arriving: what a reader may call seen.

        A module's timer can oops a moment after the command that loaded it returned; its
        report then streams in for a fraction of a second, and is complete only at its end.
        """
        with self._cond:
            start = self._parser.open_position
            return self._total if start is None else min(self._total, start)

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
            crashes = self._parser.crashes
            return crashes[0] if crashes else None

    @property
    def crashes(self) -> list[CrashReport]:
        """Every crash report since start or :meth:`clear_crash`, oldest first."""
        with self._cond:
            return list(self._parser.crashes)

    def crashes_since(self, mark: int) -> list[CrashReport]:
        """Crash reports that began after ``mark`` (to tell this call's crash from older ones)."""
        with self._cond:
            return [c for c in self._parser.crashes if c.position >= mark]

    @property
    def warnings(self) -> list[CrashReport]:
        """``WARNING:`` reports (kind ``"warning"``), oldest first."""
        with self._cond:
            return list(self._parser.warnings)

    def add_crash(self, report: CrashReport) -> None:
        """Record a crash report found outside the console (read from the kernel log)."""
        with self._cond:
            self._parser.crashes.append(report)
            self._cond.notify_all()

    def rewrite_crash(self, report: CrashReport, lines: list[str]) -> CrashReport | None:
        """Give a finished crash report the full text read from the kernel log.

        The console runs at a loglevel that keeps floods off the emulated UART, so a
        report whose lines are KERN_INFO (a hung task's stack) arrives there cut short;
        the guest's log has it all. Returns the new report (None if it is gone).
        """
        with self._cond:
            new = self._parser.rewrite(report.position, lines)
            self._cond.notify_all()
        return new

    def clear_crash(self) -> None:
        """Forget crashes and warnings, e.g. after the VM restarted."""
        with self._cond:
            self._parser.clear()

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
                report = self._parser.feed_line(line, line_start, now)
                if self._is_news(report):
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

    def _check_settled(self) -> None:
        with self._cond:
            report = self._parser.settle(time.monotonic(), self._settle)
            if report is not None:
                self._cond.notify_all()
        if self._is_news(report):
            self._announce(report)

    def _finish_pending(self) -> None:
        """Complete an unterminated report, e.g. when QEMU died in the middle of it."""
        with self._cond:
            report = self._parser.finish(self._partial, time.monotonic())
            self._cond.notify_all()
        if self._is_news(report):
            self._announce(report)

    @staticmethod
    def _is_news(report: CrashReport | None) -> TypeGuard[CrashReport]:
        """Log a completed report; True for a crash, which ``on_crash`` must hear of."""
        if report is None:
            return False
        if report.kind == "warning":
            log.info("kernel warning: %s", report.title)
            return False
        log.warning("kernel %s: %s", report.kind, report.title)
        return True

    def _announce(self, report: CrashReport) -> None:
        callback = self.on_crash
        if callback is None:
            return
        try:
            callback(report)
        except Exception:  # runs on the reader thread: a caller's bug must not stop it
            log.exception("on_crash callback failed")
