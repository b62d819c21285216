# SPDX-License-Identifier: MIT
"""Guest commands with a deadline, watched while they run.

A learner's module can keep ``insmod`` in the kernel for ever (an init that never
returns), and a learner's shell command can wait for ever on a driver. The agent runs
a second command while the first is pending, so while waiting this module asks the
guest helper (``kernelmagic-modop probe``, built from ``vm/modop.c``) how far the
command has come: how many kernel log records a module operation has produced, and
at the deadline where each task of the command is stuck (its state, ``wchan`` and
``/proc/PID/stack``). A guest that stops answering altogether while a command is
pending has a CPU that does not come back: the VM is asked to make it report itself
(:meth:`~kernelmagic.guest.protocol.Guest.report_stuck_cpu`), and the console's crash
report then ends the wait as :class:`~kernelmagic.errors.KernelCrashed`.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kernelmagic.errors import AgentTimeout, KernelMagicError
from kernelmagic.guest.protocol import Guest
from kernelmagic.machine.exec_result import ExecResult

__all__ = [
    "MODOP",
    "SILENCE_BEFORE_NMI",
    "Probe",
    "TaskState",
    "Watch",
    "clamp_timeout",
    "kill_tree",
    "parse_probe",
    "probe",
    "run_watched",
]

log = logging.getLogger(__name__)

#: The guest helper (``vm/modop.c`` in the recipe, compiled into the initramfs).
MODOP = "/usr/local/sbin/kernelmagic-modop"
#: Seconds the agent may stay silent while a command is pending before the VM is asked
#: to make a stuck CPU report itself. Healthy work never comes near it: the slowest
#: answer seen under a loaded host was 0.4 s, and a module's ``mdelay(2500)`` in init,
#: which starves the agent on one vCPU, stays below it; a CPU spinning with interrupts
#: off is then reported about 3.5 s after it started.
SILENCE_BEFORE_NMI = 3.0
#: Seconds the guest's clock ticks may stand still while it answers: the CPU that keeps
#: jiffies spins with interrupts off, and the kernel's stall detectors, which count in
#: jiffies, cannot report it (two vCPUs, the other one answering).
TICKS_FROZEN = 2.0
#: How long one status request may wait for the agent.
POLL_CALL_TIMEOUT = 0.5
#: The first and longest pause between status requests (a quick command is seen quickly).
POLL_FIRST = 0.001
POLL_MAX = 0.05
#: How often a pending command is probed and ``progress`` is called.
PROBE_EVERY = 1.0
PROBE_TIMEOUT = 5.0

_STACK_FRAME = re.compile(
    r"^(?P<function>[\w.]+)\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[(?P<module>\w+)\])?$"
)


@dataclass(frozen=True)
class TaskState:
    """One guest task, read while it was stuck: ``stack`` as ``/proc/PID/stack`` has it."""

    pid: int
    comm: str
    state: str = ""
    wchan: str = ""
    stack: list[str] = field(default_factory=list)

    @property
    def module_frame(self) -> str | None:
        """The first stack frame in a module (``hang_init+0x1b/0x1000 [hang]``), if any."""
        for frame in self.stack:
            match = _STACK_FRAME.match(frame)
            if match and match["module"]:
                return frame
        return None


@dataclass(frozen=True)
class Probe:
    """What ``kernelmagic-modop probe PID`` saw: the log records so far, and the tasks."""

    #: How often new kernel log records appeared during the operation (None: no
    #: operation of the helper's), and seconds since the last time (or its start).
    records: int | None
    tasks: list[TaskState]
    idle: float | None = None
    #: The guest's clock ticks (jiffies, at USER_HZ) and monotonic clock, in ms.
    ticks: int | None = None
    clock_ms: int | None = None

    def stuck_task(self, *, deepest: bool = False) -> TaskState | None:
        """The task that shows where it is stuck: one in a module's code first, else the
        deepest one in the kernel (a command's last child), else the deepest one.

        ``deepest``: skip the middle step (a module operation's task is the helper's
        child; one running on a CPU shows no stack, and its parent's wait is no news).
        """
        for task in self.tasks:
            if task.module_frame:
                return task
        in_kernel = [t for t in self.tasks if t.stack]
        if in_kernel and not deepest:
            return in_kernel[-1]
        return self.tasks[-1] if self.tasks else None


def parse_probe(text: str) -> Probe:
    """Parse the helper's ``probe`` output (``records``, then per task ``task``/``state``/
    ``wchan``/``stack`` lines)."""
    records = idle = ticks = clock_ms = None
    tasks: list[TaskState] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            tasks.append(TaskState(**current))  # type: ignore[arg-type]

    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "records" and value.strip().isdigit():
            records = int(value)
        elif key == "idle":
            idle = _float(value)
        elif key in ("ticks", "clock_ms") and value.strip().lstrip("-").isdigit():
            if key == "ticks":
                ticks = int(value)
            else:
                clock_ms = int(value)
        elif key == "task":
            close()
            pid, _, comm = value.partition(" ")
            current = {"pid": int(pid), "comm": comm, "stack": []}
        elif current is not None and key in ("state", "wchan"):
            current[key] = value
        elif current is not None and key == "stack":
            current["stack"].append(value)  # type: ignore[attr-defined]
    close()
    return Probe(records, tasks, idle, ticks, clock_ms)


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def probe(vm: Guest, pid: int) -> Probe | None:
    """Ask the guest about ``pid`` and its descendants; None if the guest does not answer."""
    try:
        result = vm.exec([MODOP, "probe", str(pid)], timeout=PROBE_TIMEOUT)
    except AgentTimeout:
        return None
    return parse_probe(result.stdout)


def kill_tree(vm: Guest, pid: int, timeout: float = 2.0) -> None:
    """SIGKILL ``pid`` and every process it started (best effort)."""
    try:
        vm.exec([MODOP, "kill", str(pid)], timeout=timeout)
    except KernelMagicError as exc:
        log.warning("could not kill guest process %d: %s", pid, exc)


@dataclass
class Watch:
    """The deadline of one watched command and how to report on it.

    ``timeout`` counts from the command's start, or, with ``busy_extends``, from the
    last kernel log record its probes saw appear (a module that keeps logging is busy,
    not hung), up to ``cap`` seconds in all. ``describe(seconds, busy)`` words the
    progress line handed to ``progress`` about once a second.
    """

    timeout: float
    cap: float
    describe: Callable[[float, bool], str]
    progress: Callable[[str], None] | None = None
    busy_extends: bool = False


@dataclass
class Outcome:
    """A watched command's end: its result, or (``result`` None) the deadline passed."""

    pid: int
    seconds: float
    result: ExecResult | None = None
    last_probe: Probe | None = None


def run_watched(
    vm: Guest, argv: Sequence[str], watch: Watch, *, on_start: Callable[[int], None] | None = None
) -> Outcome:
    """Run ``argv`` in the guest until it ends or its deadline passes.

    At the deadline the command still runs: the caller reads ``last_probe`` (taken at
    the deadline), kills the command or restarts the VM. KernelCrashed (the console
    saw the kernel die, or a stuck CPU reported itself) and KeyboardInterrupt pass
    through with the command still running; ``on_start`` got its guest pid.
    """
    pid = vm.spawn(argv)
    if on_start is not None:
        on_start(pid)
    clock = _Clock(time.monotonic())
    delay = POLL_FIRST
    last_probe: Probe | None = None
    while True:
        try:
            result = vm.poll(pid, timeout=POLL_CALL_TIMEOUT)
        except AgentTimeout:
            result = None
        else:
            clock.answered()
        stuck_cpu = clock.silent_for() >= SILENCE_BEFORE_NMI or clock.frozen_for() >= TICKS_FROZEN
        if stuck_cpu and not clock.nudged:
            clock.nudged = True  # once: a VM that cannot has only the deadline left
            vm.report_stuck_cpu()
        if result is not None:
            return Outcome(pid, clock.elapsed(), result, last_probe)
        now = time.monotonic()
        tick = now >= clock.next_probe
        if tick or now >= clock.deadline(watch):
            if clock.silent_for() < POLL_CALL_TIMEOUT * 2:
                last_probe = probe(vm, pid)
                clock.saw(last_probe)
                log.debug("probe of %d: %s; ticks frozen for %.1f s", pid, last_probe,
                          clock.frozen_for())  # fmt: skip
            if tick:
                clock.next_probe = time.monotonic() + PROBE_EVERY
                if watch.progress is not None:
                    watch.progress(watch.describe(clock.elapsed(), clock.busy))
            if time.monotonic() >= clock.deadline(watch):
                return Outcome(pid, clock.elapsed(), None, last_probe)
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX)


def clamp_timeout(timeout: float, cap: float) -> float:
    """A deadline between 0.1 s and ``cap``; a value that is not a finite number is ``cap``."""
    value = float(timeout)
    return min(max(value, 0.1), cap) if math.isfinite(value) else cap


class _Clock:
    """The times a watch goes by: start, the agent's last answer, the last new record."""

    def __init__(self, started: float) -> None:
        self.started = self.last_answer = self.last_activity = started
        self.next_probe = started + PROBE_EVERY
        self.records: int | None = None
        self.ticks: int | None = None
        self.ticks_moved = self.last_probe = self.ticks_probed = started
        self.busy = False
        self.nudged = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def answered(self) -> None:
        self.last_answer = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.last_answer

    def saw(self, found: Probe | None) -> None:
        """A probe: did new kernel log records appear since the last one, and when?

        ``idle`` (the guest's own count) places the last record more exactly, but never
        before the previous probe: a guest whose clock stands still (see
        :meth:`frozen_for`) would otherwise look busy for ever.
        """
        now = time.monotonic()
        if found is not None and found.ticks is not None:
            self.ticks_probed = now
            if found.ticks != self.ticks:
                self.ticks, self.ticks_moved = found.ticks, now
        if found is None or found.records is None:
            return
        previous, self.records = self.records, found.records
        self.busy = previous is not None and found.records > previous
        if found.records > (previous or 0):
            since = self.last_probe if previous is not None else self.started
            self.last_activity = max(since, now - (found.idle or 0.0))
        self.last_probe = now

    def frozen_for(self) -> float:
        """Seconds (host time) for which probes saw the guest's clock ticks stand still.

        Ticks come from jiffies: when the CPU that keeps them spins with interrupts
        off they stop, and with them the kernel's stall detectors and, on a jiffies
        clocksource, even the guest's clock.
        """
        # Only time between probes that answered counts: a guest that is merely slow to
        # answer (no probe ran) is not a guest whose clock stopped.
        return self.ticks_probed - self.ticks_moved if self.ticks is not None else 0.0

    def deadline(self, watch: Watch) -> float:
        idle_from = self.last_activity if watch.busy_extends else self.started
        return min(idle_from + watch.timeout, self.started + watch.cap)
