# SPDX-License-Identifier: MIT
"""``%dmesg``: kernel log records with their timestamps and levels, coloured by level."""

from __future__ import annotations

from collections.abc import Sequence

from kernelmagic.guest.kernel_log import LogRecord
from kernelmagic.notebook.views._html import MUTED, Rendered, box, esc, plural

__all__ = ["LEVEL_STYLES", "LogView", "log_lines_html"]

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


class LogView(Rendered):
    """``%dmesg``: records with timestamp and level; the oldest left out past ``limit``."""

    def __init__(
        self, records: Sequence[LogRecord], *, limit: int | None = 200, title: str = ""
    ) -> None:
        self.all_records = list(records)
        self.omitted = max(0, len(self.all_records) - limit) if limit else 0
        self.records = self.all_records[self.omitted :]
        self.title = title

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
        for r in self.records:
            first, *rest = r.message.splitlines() or [""]
            lines.append(f"[{r.timestamp:12.6f}] {r.level_name:<7} {first}")
            lines += [" " * 23 + line for line in rest]
        if not self.all_records:
            lines.append("(no kernel log records)")
        return "\n".join(lines)

    def _html(self) -> str:
        inner = f"<div><b>{esc(self.title)}</b></div>" if self.title else ""
        if self.omitted:
            inner += f'<div style="{MUTED}">{esc(self._omitted_line())}</div>'
        if self.records:
            inner += log_lines_html(self.records, timestamps=True)
        elif not self.all_records:
            inner += f'<div style="{MUTED}">(no kernel log records)</div>'
        return box(inner)
