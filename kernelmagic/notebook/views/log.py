# SPDX-License-Identifier: MIT
"""``%dmesg``: kernel log records with their timestamps and levels, coloured by level."""

from __future__ import annotations

from collections.abc import Sequence

from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.notebook.views._html import MUTED, Rendered, box, esc, plural
from kernelmagic.notebook.views.reports import Explain, ReportBlock, split_reports

__all__ = ["LEVEL_STYLES", "LogView", "items_html", "items_text", "log_lines_html"]

LEVEL_STYLES = {
    "emerg": "color:#fff;background:#b71c1c;font-weight:bold",
    "alert": "color:#fff;background:#c62828;font-weight:bold",
    "crit": "color:#c62828;font-weight:bold",
    "err": "color:#d32f2f",
    "warning": "color:#b26a00",
    "notice": "color:#1565c0",
    "info": "",
    "debug": "color:#808080",
}


def log_lines_html(records: Sequence[LogRecord], timestamps: bool) -> str:
    """Records as a ``<pre>`` block, each message in its level's colour."""
    rows = []
    for r in records:
        style = LEVEL_STYLES.get(r.level_name, "")
        stamp = f'<span style="{MUTED}">[{r.timestamp:12.6f}]</span> ' if timestamps else ""
        level = f'<span style="{style}">{esc(f"{r.level_name:<7}")}</span> ' if timestamps else ""
        rows.append(f'{stamp}{level}<span style="{style}">{esc(r.message)}</span>')
    return '<pre style="margin:0.2em 0;white-space:pre-wrap">' + "\n".join(rows) + "</pre>"


def _record_text(r: LogRecord, timestamps: bool) -> list[str]:
    first, *rest = r.message.splitlines() or [""]
    if not timestamps:
        return ["  " + part for part in (first, *rest)]
    return [f"[{r.timestamp:12.6f}] {r.level_name:<7} {first}"] + [" " * 23 + x for x in rest]


def items_text(items: Sequence[LogRecord | ReportBlock], timestamps: bool) -> list[str]:
    """Records as text lines; a kernel report gets its one-line summary above its records."""
    lines: list[str] = []
    for item in items:
        if isinstance(item, ReportBlock):
            lines.append(f"{'' if timestamps else '  '}>> {item.summary}")
            for record in item.records:
                lines += _record_text(record, timestamps)
        else:
            lines += _record_text(item, timestamps)
    return lines


def items_html(items: Sequence[LogRecord | ReportBlock], timestamps: bool) -> str:
    """Records as ``<pre>`` blocks; each kernel report folded under its summary line."""
    out, run = [], []
    for item in items:
        if isinstance(item, ReportBlock):
            if run:
                out.append(log_lines_html(run, timestamps))
                run = []
            colour = "#b26a00" if item.report.kind == "warning" else "#d32f2f"
            summary = item.summary  # no line count: stack leftovers make it vary
            out.append(
                f'<details><summary style="color:{colour}">{esc(summary)}</summary>'
                f"{log_lines_html(item.records, timestamps)}</details>"
            )
        else:
            run.append(item)
    if run:
        out.append(log_lines_html(run, timestamps))
    return "".join(out)


class LogView(Rendered):
    """``%dmesg``: records with timestamp and level; the oldest left out past ``limit``.

    Kernel reports among the records (a WARN, an oops) are folded under one line that
    names them, decoded with ``explain`` when given.
    """

    def __init__(
        self,
        records: Sequence[LogRecord],
        *,
        limit: int | None = 200,
        title: str = "",
        explain: Explain | None = None,
    ) -> None:
        self.all_records = list(records)
        self.omitted = max(0, len(self.all_records) - limit) if limit else 0
        self.records = self.all_records[self.omitted :]
        self.title = title
        self.items = split_reports(self.records, explain)

    @property
    def log(self) -> str:
        return "\n".join(r.message for r in self.all_records)

    @property
    def messages(self) -> list[str]:
        return [r.message for r in self.all_records]

    def _omitted_line(self) -> str:
        return (
            f"... {plural(self.omitted, 'earlier record')} left out (%dmesg -n N shows the last N)"
        )

    def _text(self) -> str:
        lines = [self.title] if self.title else []
        if self.omitted:
            lines.append(self._omitted_line())
        lines += items_text(self.items, timestamps=True)
        if not self.all_records:
            lines.append("(no kernel log records)")
        return "\n".join(lines)

    def _html(self) -> str:
        inner = f"<div><b>{esc(self.title)}</b></div>" if self.title else ""
        if self.omitted:
            inner += f'<div style="{MUTED}">{esc(self._omitted_line())}</div>'
        if self.records:
            inner += items_html(self.items, timestamps=True)
        elif not self.all_records:
            inner += f'<div style="{MUTED}">(no kernel log records)</div>'
        return box(inner)
