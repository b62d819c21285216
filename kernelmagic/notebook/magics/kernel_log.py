# SPDX-License-Identifier: MIT
"""``%dmesg``: the lab VM's kernel log, filtered, followed, or cleared."""

from __future__ import annotations

import argparse
import time

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from kernelmagic.guest import kernel_log
from kernelmagic.guest.kernel_log import LEVEL_NAMES, LogMark, LogRecord, mark_of, parse_level
from kernelmagic.guest.protocol import Guest
from kernelmagic.names import kernel_module_name
from kernelmagic.notebook.magics._common import (
    ArgumentError,
    LabMagics,
    learner_errors,
    parse,
    user_values,
)
from kernelmagic.notebook.progress import LiveDisplay
from kernelmagic.notebook.views import LogView, Notice

__all__ = ["KernelLogMagics", "parse_levels"]

FOLLOW_POLL = 0.25
MAX_FOLLOW = 3600.0


def parse_levels(spec: str) -> set[int]:
    """``err,warning``; ``err+`` adds the more severe levels, ``+info`` the less severe."""
    levels: set[int] = set()
    for item in spec.split(","):
        item = item.strip()
        up, down = item.endswith("+"), item.startswith("+")
        level = parse_level(item.strip("+"))
        if up:
            levels.update(range(0, level + 1))
        if down:
            levels.update(range(level, len(LEVEL_NAMES)))
        levels.add(level)
    return levels


def _advance(mark: LogMark, new: list[LogRecord]) -> LogMark:
    """The mark after ``new``, the records that followed ``mark``."""
    last = mark_of(new)
    if last is None:
        return mark
    if last.timestamp == mark.timestamp:
        return LogMark(mark.timestamp, mark.count_at_timestamp + last.count_at_timestamp)
    return last


@magics_class
class KernelLogMagics(LabMagics):
    @line_magic
    @learner_errors("%dmesg")
    @magic_arguments()
    @argument("-n", type=int, metavar="N", help="only the last N records")
    @argument(
        "--level",
        metavar="LEVEL",
        help="only these levels: emerg alert crit err warning notice info debug, "
        "comma-separated; err+ adds the more severe levels, +info the less severe",
    )
    @argument(
        "--since-load",
        metavar="NAME",
        help="only what was logged since NAME was last loaded from this notebook",
    )
    @argument(
        "--follow",
        type=float,
        metavar="SECONDS",
        help="then keep showing new records for SECONDS (Interrupt stops early)",
    )
    @argument(
        "--clear",
        action="store_true",
        help="clear the kernel's log buffer (after showing what was asked for)",
    )
    def dmesg(self, line: str) -> LogView | Notice:  # fmt: skip
        """The lab VM's kernel log: timestamp, level and message of each record.

        Long logs show their newest records and say how many were left out; a kernel
        report (an oops, a WARN) is folded under one line naming it, at the line of
        your cell when the module was built here. Example::

            %dmesg -n 20
            %dmesg --since-load hello --level warning+
            %dmesg --follow 10
        """
        args = parse(self.dmesg, line)
        with user_values("%dmesg --level"):
            levels = parse_levels(args.level) if args.level else None
        if args.n is not None and args.n < 1:
            raise ArgumentError("%dmesg -n: give a positive number of records")
        vm = self.workspace.vm
        selective = args.n is not None or args.since_load or levels is not None
        if args.clear and not selective and args.follow is None:
            kernel_log.clear_log(vm)
            return Notice("kernel log cleared")
        # A plain --follow shows only what comes next: reading the whole log first would
        # only widen the gap in which a new record falls before the mark.
        following_only = args.follow is not None and not selective
        records = [] if following_only else self._select(vm, args, levels)
        if args.follow is not None:
            start = kernel_log.log_mark(vm)
            records = self._follow(vm, start, records, min(args.follow, MAX_FOLLOW), levels)
        if args.clear:
            kernel_log.clear_log(vm)
        return LogView(records, explain=self.session.explain)

    def _select(
        self, vm: Guest, args: argparse.Namespace, levels: set[int] | None
    ) -> list[LogRecord]:
        if args.since_load:
            with user_values("%dmesg --since-load"):
                name = kernel_module_name(args.since_load)
            mark = self.workspace.load_marks.get(name)
            if mark is None:
                raise ArgumentError(
                    f"%dmesg --since-load {name}: {name} was not loaded from this notebook "
                    "since the lab VM started (%insmod, %modprobe or %%kmodule --load)"
                )
            records = kernel_log.log_since(vm, mark)
        elif args.n is not None and levels is None:
            records = kernel_log.dmesg(vm, last=args.n)
        else:
            records = kernel_log.dmesg(vm)
        if levels is not None:
            records = [r for r in records if r.level in levels]
        if args.n is not None:
            records = records[-args.n :]
        return records

    def _follow(
        self, vm: Guest, mark: LogMark, records: list[LogRecord], seconds: float,
        levels: set[int] | None,
    ) -> list[LogRecord]:  # fmt: skip
        """Poll for new records until the deadline; the Interrupt button ends it early."""
        deadline = time.monotonic() + seconds
        title = f"following the kernel log for {seconds:g} s (Interrupt stops)"
        with LiveDisplay() as live:
            live.update(LogView(records, title=title))
            try:
                while time.monotonic() < deadline:
                    time.sleep(min(FOLLOW_POLL, max(0.0, deadline - time.monotonic())))
                    new = kernel_log.log_since(vm, mark)
                    mark = _advance(mark, new)
                    new = [r for r in new if levels is None or r.level in levels]
                    if new:
                        records = records + new
                        live.update(LogView(records, title=title))
            except KeyboardInterrupt:
                pass  # stopping early is what the learner asked for
        return records
