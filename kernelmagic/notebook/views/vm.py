# SPDX-License-Identifier: MIT
"""The lab VM itself: ``%vm status`` and ``%vm log`` (crash reports are in ``crash``)."""

from __future__ import annotations

from collections.abc import Sequence

from kernelmagic.guest.facts import GuestFacts
from kernelmagic.machine.vm import VMStatus
from kernelmagic.notebook.views._html import (
    MUTED,
    Rendered,
    box,
    esc,
    html_row,
    kv_table,
    pre,
    seconds,
)

__all__ = ["ConsoleView", "VMStatusCard"]


def _duration_words(value: float) -> str:
    whole = int(value)
    if whole < 60:
        return f"{whole} s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {whole} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class VMStatusCard(Rendered):
    """``%vm status``: accelerator and why, kernel, uptime, memory, modules, taint in words."""

    def __init__(self, status: VMStatus, facts: GuestFacts | None = None) -> None:
        self.status = status
        self.facts = facts

    @property
    def taint(self) -> int:
        return self.facts.taint if self.facts else 0

    def _rows(self) -> list[tuple[str, str]]:
        s, f = self.status, self.facts
        rows = [("state", "running" if s.running else "stopped")]
        if s.accel:
            rows.append(("accelerator", f"{s.accel}: {s.accel_reason}"))
        rows.append(("kernel", f.kernel_release if f else s.kernel_release))
        if s.machine:
            rows.append(("machine", s.machine))
        if s.boot_seconds is not None:
            rows.append(("boot", seconds(s.boot_seconds)))
        if f is not None:
            rows.append(("uptime", _duration_words(f.uptime_seconds)))
            rows.append((
                "memory",
                f"{f.mem_available_kb / 1024:.1f} MiB available of {f.mem_total_kb / 1024:.1f} MiB",
            ))  # fmt: skip
            names = ", ".join(m.name for m in f.modules) or "none"
            rows.append(("modules", f"{len(f.modules)} loaded: {names}"))
        if not s.running:
            rows.append(("start", "%vm start, or any command that needs the VM"))
        return rows

    def _taint_lines(self) -> list[str]:
        if self.facts is None:
            return []
        flags = self.facts.taint_flags
        if not flags:
            return ["not tainted (0)"]
        letters = "".join(flag.letter for flag in flags)
        return [f"{self.facts.taint} ({letters})"] + [f"{t.letter}  {t.meaning}" for t in flags]

    def _text(self) -> str:
        out = ["lab VM"] + [f"  {k:<12} {v}" for k, v in self._rows()]
        for i, line in enumerate(self._taint_lines()):
            out.append(f"  {'taint' if i == 0 else '':<12} {line}")
        return "\n".join(out)

    def _html(self) -> str:
        taint = self._taint_lines()
        extra = ""
        if taint:
            detail = "".join(f"<li>{esc(line)}</li>" for line in taint[1:])
            detail = f"<ul style='margin:0;padding-left:1.2em'>{detail}</ul>" if detail else ""
            extra = html_row("taint", esc(taint[0]) + detail)
        table = kv_table(self._rows(), extra, style="")
        return box(f"<div><b>lab VM</b></div>{table}")


class ConsoleView(Rendered):
    """``%vm log``: the last lines of the serial console (the flight recorder)."""

    def __init__(self, lines: Sequence[str], note: str = "") -> None:
        self.lines = list(lines)
        self.note = note

    def _text(self) -> str:
        head = [self.note] if self.note else []
        return "\n".join(head + (self.lines or ["(the console is empty)"]))

    def _html(self) -> str:
        inner = f'<div style="{MUTED}">{esc(self.note)}</div>' if self.note else ""
        return box(inner + pre("\n".join(self.lines) or "(the console is empty)"))
