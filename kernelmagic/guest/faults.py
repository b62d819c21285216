# SPDX-License-Identifier: MIT
"""A kernel crash report, explained for a learner: what kind of fault, where in their C.

The console recorder cuts a report (oops, BUG, WARN, panic, lockup, hung task) out of
the serial console. Here it is read the way a kernel engineer would read it: the first
lines say what went wrong and at which address; the ``RIP:`` line and the call trace
say where. Frames in the learner's module are decoded to file and line from the
``.ko``'s DWARF (:mod:`kernelmagic.kbuild.decode`) and then to the learner's own cell
or file (:func:`kernelmagic.kbuild.sources.source_line`); kernel frames keep their
names. A stuck task's ``/proc/PID/stack`` is decoded the same way (:func:`explain_stack`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kernelmagic.guest.fault_words import describe, during, stuck_words
from kernelmagic.kbuild.decode import SourcePlace, decode_address
from kernelmagic.kbuild.sources import CellSource, SourceLine, source_line
from kernelmagic.machine.crash import CrashReport, goes_on

__all__ = [
    "HUNG_NOTE",
    "REPORTED_NOTE",
    "TAINT_NOTE",
    "Fault",
    "FilesOf",
    "Frame",
    "KoOf",
    "describe",
    "during",
    "explain",
    "explain_stack",
    "frames_of",
    "stack_frames",
    "stuck_words",
]

#: Finds the ``.ko`` this notebook (or run) built for a module name, if any.
KoOf = Callable[[str], Path | None]
#: Finds the learner's files of a module (by file name), if any.
FilesOf = Callable[[str], Mapping[str, CellSource] | None]

TAINT_NOTE = (
    "The kernel keeps running, but it is tainted (D: it died once): its state may be "
    "damaged and later results cannot be trusted. %vm restart gives you a clean one."
)
#: After a BUG that only reports (sleeping under a spinlock): the kernel went on.
REPORTED_NOTE = (
    "The kernel reported it and went on, tainted W: the task slept with the lock held "
    "(any CPU that wanted the lock spun all that time), and the unlock after it may leave "
    "the preemption count out of balance, which the kernel may warn about next."
)
#: After a hung task: the kernel is fine, the task is not.
HUNG_NOTE = (
    "The kernel keeps running, but the task stays blocked: a task in uninterruptible sleep "
    "(state D) ignores every signal, kill -9 too, and a module whose threads or exit wait "
    "like this can never be unloaded. %vm restart gives you a clean kernel."
)

# " ? do_one_initcall+0x59/0x220" or "crash_init+0x13/0x1000 [crash]" in a call trace;
# "[<0>] msleep+0x29/0x40" in /proc/PID/stack.
_TRACE_LINE = re.compile(
    r"^\s*(?:\[<[0-9a-f]+>\]\s*)?(?P<unreliable>\? )?(?P<function>[\w.]+)\+0x(?P<offset>[0-9a-f]+)"
    r"/0x[0-9a-f]+(?: \[(?P<module>\w+)\])?\s*$"
)
_RIP_LINE = re.compile(
    r"^RIP: [0-9a-f]{4}:(?P<function>[\w.]+)\+0x(?P<offset>[0-9a-f]+)/0x[0-9a-f]+"
    r"(?: \[(?P<module>\w+)\])?"
)
# "<IRQ>", "</IRQ>", "<TASK>", "<NMI>", "<SOFTIRQ>": which stack the frames below are on.
_CONTEXT = re.compile(r"^\s*<(?P<end>/)?(?P<name>IRQ|TASK|NMI|SOFTIRQ)>\s*$")
_END_TRACE = re.compile(r"---\[ end trace [0-9a-f]+ \]---")


@dataclass(frozen=True)
class Frame:
    """One place of a report: the faulting ``RIP`` or a call-trace frame.

    ``context`` is the stack it was found on ("IRQ" for an interrupt, "TASK" for a
    process, "" when the report does not say). ``places`` is where it is in the C,
    innermost (inlined) first; a place with ``source`` is in the learner's own code.
    """

    function: str
    offset: int
    module: str | None = None
    unreliable: bool = False  # "?": a stale return address found on the stack
    is_rip: bool = False
    places: tuple[SourcePlace, ...] = ()
    context: str = ""
    count: int = 1  # how many times the trace lists it (recursion)

    @property
    def text(self) -> str:
        module = f" [{self.module}]" if self.module else ""
        return f"{self.function}+{self.offset:#x}{module}"

    @property
    def learner_place(self) -> SourcePlace | None:
        """The innermost place in the learner's own code (inlined kernel helpers skipped)."""
        return next((p for p in self.places if p.source is not None), None)


@dataclass(frozen=True)
class Fault:
    """A report and what it means: ``what`` in plain words, ``hint`` for the learner.

    ``during`` says what the code was doing ("in the module's init", "in a timer
    callback"); ``notes`` are extra lines (the taint, a panic in an interrupt).
    """

    report: CrashReport
    what: str
    hint: str = ""
    frames: tuple[Frame, ...] = ()
    notes: tuple[str, ...] = field(default=())
    during: str = ""

    @property
    def site(self) -> Frame | None:
        """The first frame in the learner's source: where to look first.

        Reliable frames first; then any decoded frame, then the first frame in a module.
        """
        frames = self.frames
        return (
            next((f for f in frames if f.learner_place and not f.unreliable), None)
            or next((f for f in frames if f.places and not f.unreliable), None)
            or next((f for f in frames if f.places), None)
            or next((f for f in frames if f.module and not f.unreliable), None)
        )

    @property
    def line(self) -> SourceLine | None:
        """The learner's line at the site, when it could be decoded."""
        site = self.site
        place = site.learner_place if site else None
        return place.source if place else None


def frames_of(report: CrashReport) -> list[Frame]:
    """The ``RIP:`` lines and call-trace frames of a report, in order, once each.

    Reading stops at the first ``end trace``: after it the kernel reprints the
    registers of the first oops of the boot, which may be another one.
    """
    frames: list[Frame] = []
    seen: dict[tuple[str, int, bool], int] = {}
    context = ""
    for line in report.report.splitlines():
        if _END_TRACE.search(line):
            break
        ctx = _CONTEXT.match(line)
        if ctx:
            context = "TASK" if ctx["end"] and ctx["name"] != "TASK" else ctx["name"]
            continue
        rip = _RIP_LINE.match(line)
        trace = None if rip else _TRACE_LINE.match(line)
        match = rip or trace
        if match is None:
            continue
        frame = Frame(
            function=match["function"],
            offset=int(match["offset"], 16),
            module=match["module"],
            unreliable=bool(trace and trace["unreliable"]),
            is_rip=rip is not None,
            context=context,
        )
        key = (frame.function, frame.offset, frame.is_rip)
        if key in seen:
            index = seen[key]
            frames[index] = dataclasses.replace(frames[index], count=frames[index].count + 1)
        else:
            seen[key] = len(frames)
            frames.append(frame)
    return frames


def stack_frames(stack: Sequence[str]) -> list[Frame]:
    """Frames of a task's kernel stack (``/proc/PID/stack`` or a hung-task trace).

    Every one is a return address, so the caller decodes each at the call before it.
    """
    frames = []
    for line in stack:
        match = _TRACE_LINE.match(line)
        if match is not None:
            frames.append(Frame(match["function"], int(match["offset"], 16), match["module"],
                                unreliable=bool(match["unreliable"])))  # fmt: skip
    return frames


def _decode(frame: Frame, ko_of: KoOf, files_of: FilesOf | None) -> Frame:
    ko = ko_of(frame.module) if frame.module else None
    if ko is None:
        return frame
    places = decode_address(ko, frame.function, frame.offset, return_address=not frame.is_rip)
    files = files_of(frame.module) if files_of is not None and frame.module else None
    if files:
        places = [_in_learner_source(p, ko, files) for p in places]
    return dataclasses.replace(frame, places=tuple(places))


def _in_learner_source(
    place: SourcePlace, ko: Path, files: Mapping[str, CellSource]
) -> SourcePlace:
    """``place`` with its line in the learner's cell, if its file is one of the module's.

    kbuild compiles in the build folder, next to the ``.ko``; a header of the kernel
    that happens to share a file name with a learner's file lies elsewhere.
    """
    path = Path(place.file)
    if path.is_absolute() and path.parent.resolve() != ko.parent.resolve():
        return place
    line = source_line(files, path.name, place.line)
    return dataclasses.replace(place, source=line) if line is not None else place


def explain(report: CrashReport, ko_of: KoOf, files_of: FilesOf | None = None) -> Fault:
    """The report with its module frames decoded; ``ko_of(module)`` finds a ``.ko``.

    With ``files_of``, decoded places that are in the learner's files also carry
    that line of the learner's cell (or file), as the learner numbers it.
    """
    what, hint = describe(report)
    found = frames_of(report)
    if not found and report.function is not None and report.offset is not None:
        # A report cut short before its RIP line: where the parser saw it happen.
        found = [Frame(report.function, report.offset, report.module, is_rip=True)]
    frames = tuple(_decode(frame, ko_of, files_of) for frame in found)
    notes: list[str] = []
    if "Fatal exception in interrupt" in report.report:
        notes.append(
            "the kernel stopped (panic): it cannot survive a fault in interrupt or exception "
            'context ("Fatal exception in interrupt"), such as one in a timer callback'
        )
    if report.kind == "hung task":
        notes.append(HUNG_NOTE)
    elif not report.fatal and goes_on(report) and report.kind == "BUG":
        notes.append(REPORTED_NOTE)
    elif not report.fatal and report.kind != "warning":
        notes.append(TAINT_NOTE)
    return Fault(report, what, hint, frames, tuple(notes), during(frames))


def explain_stack(
    stack: Sequence[str], ko_of: KoOf, files_of: FilesOf | None = None
) -> tuple[Frame, ...]:
    """A stuck task's kernel stack, its module frames decoded to the learner's lines."""
    return tuple(_decode(frame, ko_of, files_of) for frame in stack_frames(stack))
