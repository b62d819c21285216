# SPDX-License-Identifier: MIT
"""Modules in the guest: what a load or unload did, why one was refused, ``%lsmod``."""

from __future__ import annotations

from collections.abc import Sequence

from kernelmagic.errors import ModuleError
from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.guest.kmod import LoadedModule, ModuleOperation
from kernelmagic.notebook.views._html import (
    BAD,
    GOOD,
    MUTED,
    Rendered,
    box,
    esc,
    kv_table,
    plural,
    pre,
)
from kernelmagic.notebook.views.log import items_html, items_text
from kernelmagic.notebook.views.reports import Explain, ReportBlock, split_reports
from kernelmagic.workspace import ModuleChange

__all__ = ["EXCERPT_HEAD", "EXCERPT_TAIL", "LoadResult", "ModuleErrorView", "ModuleTable"]

#: A load that logged more than head + tail records (a printk flood) shows only these.
EXCERPT_HEAD = 10
EXCERPT_TAIL = 20


class LoadResult(Rendered):
    """The outcome of insmod, rmmod or modprobe, and the kernel log lines it produced.

    ``notices`` are lines about what happened first (the VM restarted, say); a kernel
    report among the records is folded under one line; a flood of records shows its
    first and last ones and how many were left out (``omitted`` more were not even
    read from the guest).
    """

    def __init__(
        self,
        operation: ModuleOperation,
        *,
        loaded: Sequence[str] = (),
        removed: Sequence[str] = (),
        outcome: str | None = None,
        notices: Sequence[str] = (),
        omitted: int | None = None,
        explain: Explain | None = None,
    ) -> None:
        self.operation = operation
        self.module = operation.module
        self.action = operation.action
        self.records = list(operation.log)
        self.duration = operation.duration
        self.loaded = list(loaded)
        self.removed = list(removed)
        self.outcome = outcome or self._default_outcome()
        self.notices = list(notices)
        items = split_reports(self.records, explain)
        if omitted is None:  # the guest helper keeps only the last records of a flood
            omitted = operation.omitted
        self.left_out = omitted
        self.cut_at: int | None = None
        # Without the flood's start (the helper kept its end), the cut goes on top;
        # else in the middle, so that both the first lines and the last ones show.
        head = 0 if omitted else EXCERPT_HEAD
        if len(items) > EXCERPT_HEAD + EXCERPT_TAIL:
            tail = EXCERPT_HEAD + EXCERPT_TAIL - head
            self.cut_at = head
            self.left_out += sum(
                len(x.records) if isinstance(x, ReportBlock) else 1 for x in items[head:-tail]
            )
            items = items[:head] + items[-tail:]
        elif omitted:
            self.cut_at = 0
        self.items = items

    @classmethod
    def of(cls, change: ModuleChange, explain: Explain | None = None) -> LoadResult:
        """The view of what a workspace's load, unload or modprobe did."""
        outcome = None
        if change.reloaded:
            outcome = f"{change.operation.module} reloaded (the loaded copy was unloaded first)"
        return cls(change.operation, loaded=change.loaded, removed=change.removed,
                   outcome=outcome, notices=change.notices,
                   omitted=change.omitted or change.operation.omitted, explain=explain)  # fmt: skip

    @property
    def left_out_line(self) -> str:
        return f"... {plural(self.left_out, 'line')} left out (%dmesg shows the kernel log)"

    @property
    def log(self) -> str:
        """The kernel log messages, one per line (what ``assert "Hello" in r.log`` reads)."""
        return "\n".join(r.message for r in self.records)

    def _default_outcome(self) -> str:
        if self.action == "rmmod":
            return f"{self.module} unloaded"
        if self.action == "modprobe -r":
            gone = ", ".join(self.removed) or "nothing"
            return f"modprobe -r {self.module}: unloaded {gone}"
        if self.action == "modprobe":
            new = ", ".join(self.loaded) or "nothing new (already loaded)"
            return f"modprobe {self.module}: loaded {new}"
        return f"{self.module} loaded"

    def _parts(self) -> tuple[list[LogRecord | ReportBlock], list[LogRecord | ReportBlock]]:
        if self.cut_at is None:
            return self.items, []
        return self.items[: self.cut_at], self.items[self.cut_at :]

    def _text(self) -> str:
        lines = [*self.notices, self.outcome]
        head, tail = self._parts()
        lines += items_text(head, timestamps=False)
        if self.cut_at is not None:
            lines.append("  " + self.left_out_line)
            lines += items_text(tail, timestamps=False)
        return "\n".join(lines)

    def _html(self) -> str:
        inner = "".join(f'<div style="{MUTED}">{esc(n)}</div>' for n in self.notices)
        inner += f'<div style="{GOOD}">{esc(self.outcome)}</div>'
        head, tail = self._parts()
        inner += items_html(head, timestamps=False)
        if self.cut_at is not None:
            inner += f'<div style="{MUTED}">{esc(self.left_out_line)}</div>'
            inner += items_html(tail, timestamps=False)
        return box(inner, "var(--jp-success-color1,#2e7d32)")


class ModuleErrorView(Rendered):
    """A refused insmod/rmmod/modprobe: the tool's message, the errno, a hint, the log."""

    def __init__(self, error: ModuleError, *, show_log: bool = True) -> None:
        self.error = error
        self.show_log = show_log

    def _rows(self) -> list[tuple[str, str]]:
        e = self.error
        return [(k, v) for k, v in (("errno", e.errno_name), ("hint", e.hint)) if v]

    def _text(self) -> str:
        e = self.error
        lines = [str(e)] + [f"  {k:<6} {v}" for k, v in self._rows()]
        if e.log and self.show_log:
            lines.append("  kernel log:")
            lines += [f"    {line}" for msg in e.log for line in msg.splitlines()]
        return "\n".join(lines)

    def _html(self) -> str:
        e = self.error
        inner = f'<div style="{BAD};font-weight:bold">{esc(e)}</div>' + kv_table(self._rows())
        if e.log and self.show_log:
            inner += f'<div style="{MUTED}">kernel log:</div>' + pre("\n".join(e.log))
        return box(inner, "var(--jp-error-color1,#d32f2f)")


class ModuleTable(Rendered):
    """``%lsmod``: the loaded modules as lsmod prints them, with their state when not Live."""

    def __init__(self, modules: Sequence[LoadedModule], pattern: str = "") -> None:
        self.modules = list(modules)
        self.pattern = pattern

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.modules]

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __len__(self) -> int:
        return len(self.modules)

    def _text(self) -> str:
        if not self.modules:
            return f"no loaded module matches {self.pattern!r}" if self.pattern else "no modules"
        width = max(19, *(len(m.name) for m in self.modules))
        lines = [f"{'Module':<{width}} {'Size':>7}  Used by"]
        for m in self.modules:
            used = f"{m.use_count} {','.join(m.used_by)}".rstrip()
            state = "" if m.state == "Live" else f"  [{m.state}]"
            lines.append(f"{m.name:<{width}} {m.size:>7}  {used}{state}")
        return "\n".join(lines)

    def _html(self) -> str:
        if not self.modules:
            return box(esc(self._text()))
        th = f'style="text-align:left;padding-right:1.5em;{MUTED}"'
        head = (
            f"<tr><th {th}>module</th><th {th}>size</th><th {th}>use count</th>"
            f"<th {th}>used by</th><th {th}>state</th></tr>"
        )
        rows = "".join(
            f"<tr><td style='text-align:left'><b>{esc(m.name)}</b></td>"
            f"<td style='text-align:right'>{m.size}</td>"
            f"<td style='text-align:right'>{m.use_count}</td>"
            f"<td style='text-align:left'>{esc(', '.join(m.used_by))}</td>"
            f"<td style='text-align:left'>{esc(m.state)}</td></tr>"
            for m in self.modules
        )
        return box(f"<table>{head}{rows}</table>")
