# SPDX-License-Identifier: MIT
"""A kernel crash or a stuck operation, shown at the learner's own line.

The views only render: the decoding (``.ko`` DWARF to the learner's cell line) is done
below, in :mod:`kernelmagic.guest.faults`. What a learner reads first is one line
naming the kind, the function and the line of their cell; then that line with two
lines of context, the call trace with their frames decoded, the kernel's full report
folded, and what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kernelmagic.errors import OperationStuck
from kernelmagic.guest.faults import Fault, Frame
from kernelmagic.kbuild.decode import SourcePlace
from kernelmagic.kbuild.sources import SourceLine
from kernelmagic.notebook.views._html import BAD, MUTED, Rendered, box, esc, pre

__all__ = [
    "CrashView",
    "StuckView",
    "code_lines",
    "fault_summary",
    "fold",
    "frame_lines",
    "site_words",
]

TAB = 4  # JupyterLab's tab width in code cells
WARN_BORDER = "var(--jp-warn-color1,#b26a00)"
BAD_BORDER = "var(--jp-error-color1,#d32f2f)"
#: Kernel frames shown in a call trace at most; the report below has them all.
MAX_KERNEL_FRAMES = 12


def site_words(frame: Frame | None) -> str:
    """ "oops_mod_init+0x1c, line 15 of %%kmodule oops", or the frame alone."""
    if frame is None:
        return ""
    place = frame.learner_place
    if place is not None and place.source is not None:
        return f"{frame.function}+{frame.offset:#x}, {place.source.full}"
    if frame.places:
        return f"{frame.text} ({frame.places[-1]})"
    return frame.text


def fault_summary(fault: Fault) -> str:
    """One line: the kind, where (function+offset and the learner's line), what."""
    kind = "warning" if fault.report.kind == "warning" else f"kernel {fault.report.kind}"
    where = site_words(fault.site)
    return f"{kind} in {where}: {fault.what}" if where else f"{kind}: {fault.what}"


def code_lines(line: SourceLine) -> list[str]:
    """The learner's line with a marker, between its context lines, numbered."""
    width = max(len(str(n)) for n, _ in line.context)
    out = []
    for number, text in line.context:
        mark = ">" if number == line.number else " "
        out.append(f"{mark} {number:>{width}} | {text.expandtabs(TAB)}".rstrip())
    return out


def frame_lines(frames: Sequence[Frame]) -> list[str]:
    """A call trace as a learner reads it: module frames decoded, kernel frames by name.

    Unreliable (``?``) frames are left out, as are the kernel's frames of an NMI handler
    (which interrupted the code to report it) and kernel frames past a dozen; a frame
    the trace lists many times (recursion) is shown once with its count.
    """
    out: list[str] = []
    kernel = 0
    for frame in frames:
        if frame.unreliable or (frame.context == "NMI" and frame.module is None):
            continue  # a guess, or the NMI handler's own frames (not what the CPU ran)
        if frame.module is None:
            kernel += 1
            if kernel > MAX_KERNEL_FRAMES:
                continue
        out += _one_frame(frame)
        if frame.count > 1:
            out.append(f"  ... {frame.count} times in the trace (a recursion?)")
    hidden = kernel - MAX_KERNEL_FRAMES
    if hidden > 0:
        out.append(f"... {hidden} more kernel frames (in the report)")
    return out


def _one_frame(frame: Frame) -> list[str]:
    """A frame's line; below it, the functions inlined there, from the outermost in."""
    irq = " (interrupt)" if frame.context == "IRQ" else ""
    if frame.module is None:
        return [f"{frame.function}{irq}"]
    if not frame.places:
        return [f"{frame.text}{irq}"]
    *inlined, outer = frame.places
    lines = [f"{frame.text}, {_where(outer)}{irq}"]
    lines += [f"  inlined {p.function}, {_where(p)}" for p in reversed(inlined)]
    return lines


def _where(place: SourcePlace) -> str:
    """The learner's cell line, or the file's name and line (a kernel header)."""
    return place.source.full if place.source else f"{Path(place.file).name}:{place.line}"


class CrashView(Rendered):
    """A kernel report explained: kind, function and line, code, trace, full report.

    ``next_step`` is the line after the taint note (the VM restarts, say); ``late``
    marks a report that came after its cell had returned (a timer, a work item).
    """

    def __init__(self, fault: Fault, *, next_step: str = "", late: bool = False) -> None:
        self.fault = fault
        self.report = fault.report
        self.next_step = next_step
        self.late = late

    @property
    def line(self) -> SourceLine | None:
        return self.fault.line

    @property
    def summary(self) -> str:
        return fault_summary(self.fault)

    def _lead(self) -> list[str]:
        lines = []
        if self.late:
            lines.append("after an earlier cell had returned, the kernel reported:")
        lines.append(self.summary)
        return lines

    def _rows(self) -> list[tuple[str, str]]:
        f = self.fault
        return [(k, v) for k, v in (("while", f.during), ("hint", f.hint)) if v]

    def _after(self) -> list[str]:
        return [*self.fault.notes, *([self.next_step] if self.next_step else [])]

    def _text(self) -> str:
        lines = self._lead()
        lines += [f"  {k:<6} {v}" for k, v in self._rows()]
        if self.line is not None:
            lines.append(f"  {self.line.full}:")
            lines += [f"    {c}" for c in code_lines(self.line)]
        trace = frame_lines(self.fault.frames)
        if trace:
            lines.append("  call trace (most recent call first):")
            lines += [f"    {t}" for t in trace]
        lines += [f"  {note}" for note in self._after()]
        lines.append(f"  report ({len(self.report.report.splitlines())} lines):")
        lines += [f"    {line}" for line in self.report.report.splitlines()]
        return "\n".join(lines)

    def _html(self) -> str:
        warning = self.report.kind == "warning"
        colour = WARN_BORDER if warning else BAD_BORDER
        lead = self._lead()
        inner = "".join(f'<div style="{MUTED}">{esc(x)}</div>' for x in lead[:-1])
        inner += f'<div style="color:{colour};font-weight:bold">{esc(lead[-1])}</div>'
        inner += "".join(
            f'<div><span style="{MUTED}">{esc(k)}</span> {esc(v)}</div>' for k, v in self._rows()
        )
        if self.line is not None:
            inner += f"<div>{esc(self.line.full)}:</div>{_code_html(self.line)}"
        trace = frame_lines(self.fault.frames)
        if trace:
            inner += f'<div style="{MUTED}">call trace (most recent call first):</div>' + pre(
                "\n".join(trace)
            )
        inner += "".join(f"<div>{esc(note)}</div>" for note in self._after())
        inner += fold(f"report ({len(self.report.report.splitlines())} lines)", self.report.report)
        return box(inner, colour)


def _code_html(line: SourceLine) -> str:
    rows = []
    width = max(len(str(n)) for n, _ in line.context)
    for number, text in line.context:
        here = number == line.number
        style = "background:var(--jp-warn-color3,#fff3cd);font-weight:bold" if here else ""
        mark = "&gt;" if here else " "
        rows.append(
            f'<span style="{style}">{mark} <span style="{MUTED}">{number:>{width}}</span> '
            f"{esc(text.expandtabs(TAB))}</span>"
        )
    return '<pre style="margin:0.2em 0;white-space:pre-wrap">' + "\n".join(rows) + "</pre>"


def fold(summary: str, text: str) -> str:
    """A folded block (``<details>``) holding ``text``; ``summary`` is its visible line."""
    return f"<details><summary>{esc(summary)}</summary>{pre(text)}</details>"


class StuckView(Rendered):
    """An operation past its deadline: what is stuck, where, and what became of the VM.

    ``frames`` is the stuck task's kernel stack, decoded; ``what`` and ``hint`` are
    :func:`kernelmagic.guest.faults.stuck_words`' plain words; ``command`` names what
    is stuck as the learner would ("insmod hello", a shell command).
    """

    def __init__(
        self,
        error: OperationStuck,
        frames: Sequence[Frame],
        *,
        what: str,
        hint: str = "",
        command: str = "",
    ) -> None:
        self.error = error
        self.frames = list(frames)
        self.what = what
        self.hint = hint
        self.command = command or " ".join(error.argv[:2]) or "the command"

    @property
    def site(self) -> Frame | None:
        return next((f for f in self.frames if f.learner_place), None) or next(
            (f for f in self.frames if f.module), None
        )

    @property
    def line(self) -> SourceLine | None:
        site = self.site
        place = site.learner_place if site else None
        return place.source if place else None

    @property
    def summary(self) -> str:
        head = f"{self.command}: {self.what} after {self.error.seconds:.0f} s"
        where = site_words(self.site)
        return f"{head}; stuck in {where}" if where else head

    @property
    def outcome(self) -> str:
        e = self.error
        if e.restarted:
            return (
                "the lab VM was restarted (a module stuck in init or exit can never be "
                "removed from a running kernel): loaded modules and files in the guest are "
                "gone, your builds stay"
            )
        if e.module:
            return "the lab VM keeps running, with the module stuck: %vm restart gives a clean one"
        if not e.killed:
            return (
                "the command could not be killed: it sleeps in the kernel, where no signal "
                "reaches it, and keeps what it holds (an open device, a lock); %vm restart "
                "gives a clean kernel"
            )
        return "the command was killed; the lab VM keeps running"

    def _rows(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in (("state", self.error.state), ("hint", self.hint)) if v]

    def _text(self) -> str:
        lines = [self.summary] + [f"  {k:<6} {v}" for k, v in self._rows()]
        if self.line is not None:
            lines.append(f"  {self.line.full}:")
            lines += [f"    {c}" for c in code_lines(self.line)]
        trace = frame_lines(self.frames)
        if trace:
            lines.append("  kernel stack (most recent call first):")
            lines += [f"    {t}" for t in trace]
        lines.append(f"  {self.outcome}")
        return "\n".join(lines)

    def _html(self) -> str:
        inner = f'<div style="{BAD};font-weight:bold">{esc(self.summary)}</div>'
        inner += "".join(
            f'<div><span style="{MUTED}">{esc(k)}</span> {esc(v)}</div>' for k, v in self._rows()
        )
        if self.line is not None:
            inner += f"<div>{esc(self.line.full)}:</div>{_code_html(self.line)}"
        trace = frame_lines(self.frames)
        if trace:
            inner += f'<div style="{MUTED}">kernel stack (most recent call first):</div>'
            inner += pre("\n".join(trace))
        if self.error.stack:
            inner += fold("/proc/PID/stack as the kernel wrote it", "\n".join(self.error.stack))
        inner += f"<div>{esc(self.outcome)}</div>"
        return box(inner, BAD_BORDER)
