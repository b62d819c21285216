# SPDX-License-Identifier: MIT
"""The guest's kernel log: reading it through the agent, and parsing what ``dmesg -r`` prints.

The raw form (``dmesg -r``) keeps each record's level, which plain ``dmesg`` drops; it
is turned into :class:`LogRecord` objects. A learner sees only the records their action
caused: :func:`log_mark` before it, :func:`log_since` after it. Both go through the
guest's ``kernelmagic-kernel-log`` helper, so only new records cross the slow agent
channel. Timestamps alone cannot separate records, since several share one microsecond
at boot or in a burst of ``printk``; a mark therefore also counts the records at its
timestamp, and :func:`mark_of` and :func:`records_after` apply the same rule to records
already read on the host.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from kernelmagic.errors import GuestCommandError, UsageError
from kernelmagic.guest.protocol import Guest

__all__ = [
    "KERNEL_LOG",
    "LEVELS",
    "LEVEL_NAMES",
    "LogMark",
    "LogRecord",
    "clear_log",
    "dmesg",
    "log_mark",
    "log_since",
    "mark_of",
    "parse_dmesg",
    "parse_kmsg",
    "parse_level",
    "records_after",
]

#: The guest helper that marks and reads the log (``vm/kernel-log``, put in the initramfs).
KERNEL_LOG = "/usr/local/sbin/kernelmagic-kernel-log"

#: Kernel log level names (``KERN_EMERG`` .. ``KERN_DEBUG``) to numbers.
LEVELS: dict[str, int] = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}
LEVEL_NAMES: tuple[str, ...] = tuple(LEVELS)

# Spellings people use besides the kernel's own (syslog, dmesg --level, Python logging).
_ALIASES: dict[str, int] = {
    "emergency": 0,
    "panic": 0,
    "critical": 2,
    "error": 3,
    "warn": 4,
    "information": 6,
}

# "<6>[    1.234567] hello: Hello, world!"; the timestamp is absent without PRINTK_TIME.
_RECORD = re.compile(r"^<(?P<prio>\d+)>(?:\[\s*(?P<ts>\d+\.\d+)\] ?)?(?P<msg>.*)$")

_KMSG_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")

#: Level given to text that precedes the first record (a log that starts mid-record).
_ORPHAN_LEVEL = 4


@dataclasses.dataclass(frozen=True)
class LogRecord:
    """One kernel log record; ``message`` may span lines (continuations joined by \\n).

    ``sequence`` is the kernel's record number when the record was read from
    ``/dev/kmsg`` (``dmesg -r`` does not show it).
    """

    level: int
    facility: int
    timestamp: float
    message: str
    sequence: int | None = None

    @property
    def level_name(self) -> str:
        """``"err"``, ``"info"``, ... as in ``KERN_ERR``, ``KERN_INFO``."""
        return LEVEL_NAMES[self.level] if 0 <= self.level < len(LEVEL_NAMES) else str(self.level)

    def __str__(self) -> str:
        return f"[{self.timestamp:12.6f}] {self.message}"


@dataclasses.dataclass(frozen=True)
class LogMark:
    """A position in the kernel log: the last record's timestamp and how many share it."""

    timestamp: float
    count_at_timestamp: int


def parse_dmesg(text: str) -> list[LogRecord]:
    """Split ``dmesg -r`` output into records.

    Lines without a ``<N>`` prefix continue the previous record (a message with
    embedded newlines). Text before the first record, which only happens when the
    output was cut, becomes a record of its own at level warning and time 0.
    """
    records: list[LogRecord] = []
    lines = text.replace("\r", "").split("\n")
    while lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        match = _RECORD.match(line)
        if match:
            prio = int(match["prio"])
            ts = match["ts"]
            records.append(
                LogRecord(
                    level=prio & 7,
                    facility=prio >> 3,
                    timestamp=float(ts) if ts is not None else 0.0,
                    message=match["msg"],
                )
            )
        elif records:
            last = records[-1]
            records[-1] = dataclasses.replace(last, message=f"{last.message}\n{line}")
        else:
            records.append(LogRecord(_ORPHAN_LEVEL, 0, 0.0, line))
    return records


def parse_kmsg(line: str) -> LogRecord | None:
    """One ``/dev/kmsg`` record, ``PRI,SEQ,TS_US,FLAGS;TEXT``; None if it is not one.

    The kernel writes every byte below 32, from 127 up, and ``\\`` as ``\\xNN``, so one
    record is one line; the bytes are restored and decoded as UTF-8, a byte that is not
    UTF-8 becoming U+FFFD (a module may print anything).
    """
    head, sep, text = line.partition(";")
    fields = head.split(",")
    if not sep or len(fields) < 3:
        return None
    try:
        prio, seq, usec = int(fields[0]), int(fields[1]), int(fields[2])
    except ValueError:
        return None
    raw = _KMSG_ESCAPE.sub(lambda m: chr(int(m[1], 16)), text).encode("latin-1", "replace")
    message = raw.decode("utf-8", errors="replace")
    return LogRecord(prio & 7, prio >> 3, usec / 1e6, message, sequence=seq)


def mark_of(records: Sequence[LogRecord]) -> LogMark | None:
    """The mark after the last record, or None for an empty log."""
    if not records:
        return None
    last = records[-1].timestamp
    count = 0
    for record in reversed(records):
        if record.timestamp != last:
            break
        count += 1
    return LogMark(last, count)


def records_after(records: Sequence[LogRecord], mark: LogMark | None) -> list[LogRecord]:
    """Records logged after ``mark`` (all of them for None).

    The first record newer than the mark (a later timestamp, or one more record at the
    mark's timestamp than the mark counted) starts the answer, and everything after it
    is kept, so a record whose timestamp is slightly out of order (printk on another
    CPU) is not lost. If the log was cleared since the mark, only records with later
    timestamps (or the extra ones at the mark's timestamp) remain, which is the same rule.
    """
    if mark is None:
        return list(records)
    seen_at_mark = 0
    for index, record in enumerate(records):
        if record.timestamp > mark.timestamp:
            return list(records[index:])
        if record.timestamp == mark.timestamp:
            seen_at_mark += 1
            if seen_at_mark > mark.count_at_timestamp:
                return list(records[index:])
    return []


# -- reading the log in the guest -------------------------------------------------------


def log_mark(vm: Guest) -> LogMark:
    """Where the kernel log ends now; records after it are new.

    The guest settles first, so the records of its own start-up (modules its init
    loads, the clocksource switch) never count as caused by what comes next.
    """
    vm.wait_settled()
    argv = [KERNEL_LOG, "mark"]
    result = vm.exec(argv, timeout=15, check=True)
    fields = result.stdout.split()
    try:
        return LogMark(float(fields[0]), int(fields[1]))
    except (IndexError, ValueError) as exc:
        raise GuestCommandError(argv, result.exit_code, result.stdout, "unexpected output") from exc


def log_since(vm: Guest, mark: LogMark) -> list[LogRecord]:
    """The records logged after ``mark``, read in one agent round trip."""
    out = vm.exec(
        [KERNEL_LOG, "after", f"{mark.timestamp:.6f}", str(mark.count_at_timestamp)],
        timeout=15, check=True,
    ).stdout  # fmt: skip
    return parse_dmesg(out)


def dmesg(vm: Guest, last: int | None = None) -> list[LogRecord]:
    """The kernel log records, or only the last ``last`` of them."""
    if last is not None:
        out = vm.exec([KERNEL_LOG, "tail", str(int(last))], timeout=15, check=True).stdout
    else:
        out = vm.exec(["dmesg", "-r"], timeout=30, check=True).stdout
    return parse_dmesg(out)


def clear_log(vm: Guest) -> None:
    """Empty the kernel log (``dmesg -c``)."""
    vm.exec(["dmesg", "-c"], timeout=15, check=True)


# -- levels ------------------------------------------------------------------------------


def parse_level(value: str | int) -> int:
    """Turn ``"err"``, ``"3"``, ``3``, ``"KERN_ERR"`` or ``"error"`` into a level number."""
    if isinstance(value, bool):
        raise UsageError(_level_error(value))
    if isinstance(value, int):
        number = value
    else:
        name = value.strip().lower()
        if name.startswith("kern_"):
            name = name[len("kern_") :]
        if name in LEVELS:
            return LEVELS[name]
        if name in _ALIASES:
            return _ALIASES[name]
        if not name.isdigit():
            raise UsageError(_level_error(value))
        number = int(name)
    if not 0 <= number <= 7:
        raise UsageError(_level_error(value))
    return number


def _level_error(value: object) -> str:
    names = ", ".join(LEVEL_NAMES)
    return f"invalid log level {value!r}: use one of {names}, or a number 0-7"
