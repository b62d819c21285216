# SPDX-License-Identifier: MIT
"""Kernel reports inside a list of log records, cut out so that a view can fold them.

A WARN or an oops is 40 to 60 records; a load's result or ``%dmesg`` shows it as one
line that names it (decoded to the learner's line when the caller can), with the
report itself folded in HTML. The records of a report run from its first line (or the
``[ cut here ]`` line before it) to its ``end trace`` line, or to the last record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kernelmagic.guest.faults import Fault
from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.machine.crash import CrashReport, classify, parse_reports, strip_prefix
from kernelmagic.notebook.views.crash import fault_summary

__all__ = ["Explain", "ReportBlock", "split_reports"]

#: Turns a report into a decoded :class:`Fault` (the session's ``explain``).
Explain = Callable[[CrashReport], Fault]

_CUT = "[ cut here ]"
_END = "---[ end trace"
_NO_MARKER = ("soft lockup", "rcu stall", "hung task")


@dataclass(frozen=True)
class ReportBlock:
    """The records of one kernel report, and the report, decoded when possible."""

    records: tuple[LogRecord, ...]
    report: CrashReport
    fault: Fault | None = None

    @property
    def summary(self) -> str:
        if self.fault is not None:
            return fault_summary(self.fault)
        return f"kernel {self.report.kind}: {self.report.title}"

    @property
    def text(self) -> str:
        return "\n".join(r.message for r in self.records)


def _ends(kind: str, message: str) -> bool:
    if _END in message or "---[ end Kernel panic" in message:
        return True
    # Watchdog reports have no end marker: their stack dump closes them.
    return kind in _NO_MARKER and message.strip() == "</TASK>"


def split_reports(
    records: Sequence[LogRecord], explain: Explain | None = None
) -> list[LogRecord | ReportBlock]:
    """``records`` with each kernel report's records replaced by one :class:`ReportBlock`."""
    out: list[LogRecord | ReportBlock] = []
    i = 0
    while i < len(records):
        start = i
        message = strip_prefix(records[i].message.splitlines()[0] if records[i].message else "")
        if _CUT in message and i + 1 < len(records):
            i += 1
            message = strip_prefix(records[i].message.splitlines()[0])
        kind = classify(message)
        if kind is None:
            out.append(records[start])
            i = start + 1
            continue
        end = i
        while end < len(records) - 1 and not _ends(kind, records[end].message):
            end += 1
        chunk = tuple(records[start : end + 1])
        reports = parse_reports("\n".join(r.message for r in chunk) + "\n")
        if not reports:
            out.append(records[start])
            i = start + 1
            continue
        report = reports[0]
        fault = explain(report) if explain is not None else None
        out.append(ReportBlock(chunk, report, fault))
        i = end + 1
    return out
