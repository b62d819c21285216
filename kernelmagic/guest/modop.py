# SPDX-License-Identifier: MIT
"""insmod and rmmod as one agent exchange each, through the guest helper.

``kernelmagic-modop`` (``vm/modop.c``) marks the kernel log, makes the system call
itself (``finit_module``, ``delete_module``) and prints the errno and exactly the
records the call caused, with their levels and sequence numbers: 40-80 ms under TCG
for insmod and rmmod together, where kmod's tools and two log reads took 480 ms. What
the learner reads stays kmod's wording (lessons store it): :func:`kmod_message`
rebuilds it from the errno, and rmmod's checks before the call are kmod's own.

The call runs watched (:mod:`kernelmagic.guest.watched`): an init or exit that never
returns ends at a deadline with :class:`~kernelmagic.errors.OperationStuck`, which
names where the task is stuck.
"""

from __future__ import annotations

import errno as errno_module
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kernelmagic.errors import GuestCommandError, OperationStuck
from kernelmagic.guest.kernel_log import LogMark, LogRecord, parse_kmsg
from kernelmagic.guest.protocol import Guest
from kernelmagic.guest.watched import MODOP, Outcome, Watch, clamp_timeout, run_watched

__all__ = [
    "DEFAULT_TIMEOUT",
    "KEEP_RECORDS",
    "MAX_TIMEOUT",
    "MUST_RESTART",
    "WAS_RESTARTED",
    "HelperReport",
    "kmod_message",
    "parse_report",
    "run_module_op",
    "stuck_error",
]

#: Seconds an init or exit may go without a new kernel log line before it counts as stuck.
DEFAULT_TIMEOUT = 10.0
#: However busy it is, an operation ends at this many seconds.
MAX_TIMEOUT = 60.0
#: The records one operation returns at most: the last ones (a flood's end usually holds
#: the error); the rest are counted in ``omitted``. Bounds the host's memory.
KEEP_RECORDS = 200

#: How a stuck operation's message ends; the workspace, which restarts, says the second.
MUST_RESTART = "the lab VM must be restarted."
WAS_RESTARTED = "the lab VM was restarted: modules loaded before and files in the guest are gone."

# kmod's insmod words these errno values its own way (tools/insmod.c, mod_strerror).
_INSMOD_WORDS = {
    errno_module.ENOEXEC: "Invalid module format",
    errno_module.ENOENT: "Unknown symbol in module",
    errno_module.ESRCH: "Unknown symbol in module",
    errno_module.EINVAL: "Invalid parameters",
}


@dataclass
class HelperReport:
    """What the helper printed for one insmod or rmmod.

    ``outcome`` is ``errno`` (``value`` 0: done), ``signal`` (the task was killed, by
    an oops), ``open`` (the file could not be opened) or ``refused`` (rmmod's checks:
    ``notloaded``, ``builtin``, ``holders``, ``inuse``); empty when the helper printed
    none (it failed itself).
    """

    mark: LogMark | None = None
    outcome: str = ""
    value: str = ""
    state: str = ""
    holders: list[str] = field(default_factory=list)
    refcnt: int | None = None
    lost: int = 0
    omitted: int = 0
    records: list[LogRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "errno" and self.value == "0"

    @property
    def errno(self) -> int:
        """The errno of a failed call (0 for a signal or a refusal)."""
        return int(self.value) if self.outcome in ("errno", "open") and self.value.isdigit() else 0


def parse_report(text: str) -> HelperReport:
    """Parse the helper's output (see ``vm/modop.c`` for its lines)."""
    report = HelperReport()
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key == "rec":
            record = parse_kmsg(rest)
            if record is not None:
                report.records.append(record)
        elif key == "mark":
            parts = rest.split()
            if len(parts) == 3 and parts[2].isdigit():
                ts = int(parts[1])
                report.mark = LogMark(ts / 1e6 if ts >= 0 else -1.0, int(parts[2]))
        elif key == "result":
            report.outcome, _, report.value = rest.partition(" ")
        elif key == "state":
            report.state = rest.strip()
        elif key == "holders":
            report.holders = rest.split()
        elif key == "refcnt":
            report.refcnt = _int(rest)
        elif key in ("lost", "omitted"):
            setattr(report, key, _int(rest) or 0)
    return report


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def kmod_message(action: str, target: str, report: HelperReport) -> str:
    """What kmod's insmod or rmmod would print for this outcome, without its prefix.

    ``target`` is the file for insmod, the module name for rmmod. A task killed by an
    oops reads as the exit status a shell would show (``exit status 137``).
    """
    if report.outcome == "signal":
        return f"exit status {128 + int(report.value or 0)}"
    if report.outcome == "refused":
        return {
            "notloaded": f"Module {target} is not currently loaded",
            "builtin": f"Module {target} is builtin.",
            "holders": f"Module {target} is in use by: {' '.join(report.holders)}",
            "inuse": f"Module {target} is in use",
        }.get(report.value, f"Module {target} cannot be removed ({report.value})")
    code = report.errno
    if report.outcome == "open":
        return f"could not load module {target}: {os.strerror(code)}"
    if action == "insmod":
        return f"could not insert module {target}: {_INSMOD_WORDS.get(code, os.strerror(code))}"
    return f"could not remove module {target}: {os.strerror(code)}"


def errno_name(report: HelperReport) -> str:
    """``"EEXIST"`` and so on for a failed call; for rmmod's refusals, kmod's (ENOENT/EBUSY)."""
    if report.outcome == "refused":
        return "ENOENT" if report.value in ("notloaded", "builtin") else "EBUSY"
    return errno_module.errorcode.get(report.errno, "") if report.errno else ""


def run_module_op(
    vm: Guest,
    action: str,
    module: str,
    args: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> tuple[HelperReport, float]:
    """Run ``kernelmagic-modop ACTION KEEP ARGS...``; its report and how long it took.

    Raises OperationStuck (``restarted`` False: the caller restarts the VM) when the
    init or exit function did not return by its deadline.
    """
    timeout = clamp_timeout(timeout, MAX_TIMEOUT)
    phase = "init" if action == "insmod" else "exit"

    def describe(seconds: float, busy: bool) -> str:
        still = " (it is still logging)" if busy else ""
        return f"{action} {module}: {phase} has not returned after {seconds:.0f} s{still}"

    argv = [MODOP, action, str(KEEP_RECORDS), *args]
    watch = Watch(timeout, MAX_TIMEOUT, describe, progress, busy_extends=True)
    outcome = run_watched(vm, argv, watch)
    if outcome.result is None:
        raise stuck_error(action, module, argv, outcome, timeout)
    report = parse_report(outcome.result.stdout)
    if not report.outcome and outcome.result.signal is None:
        # The helper itself failed (not the operation): a bug of ours or a broken bundle.
        raise GuestCommandError(
            argv, outcome.result.exit_code, outcome.result.stdout, outcome.result.stderr
        )
    if not report.outcome:  # the helper was killed: as if its child was
        report.outcome, report.value = "signal", str(outcome.result.signal)
    return report, outcome.seconds


def stuck_error(
    action: str, module: str, argv: Sequence[str], outcome: Outcome, timeout: float,
    *, phase: str = "",
) -> OperationStuck:  # fmt: skip
    """The error for an init (``phase``, by default insmod's) or exit that did not return."""
    phase = phase or ("init" if action == "insmod" else "exit")
    task = outcome.last_probe.stuck_task(deepest=True) if outcome.last_probe else None
    waited = (
        f"within {outcome.seconds:.0f} s"
        if outcome.seconds < timeout + 1.5
        else f"in {outcome.seconds:.0f} s (the last {timeout:g} s without a new log line)"
    )
    message = f"{action} {module}: the module's {phase} function did not return {waited}"
    if task is None:
        message += "; the guest did not answer, so where it is stuck is unknown"
    else:
        where = task.module_frame or (task.stack[0] if task.stack else "")
        if where:
            message += f"; it is stuck in {where}"
        elif task.state.startswith("R"):
            message += "; it is running on a CPU (a running task's stack cannot be read)"
        detail = ", ".join(
            part for part in (task.state and f"state {task.state}",
                              task.wchan not in ("", "0") and f"waiting in {task.wchan}")
            if part
        )  # fmt: skip
        if detail:
            message += f" ({detail})"
    message += (
        f". A module stuck in its {phase} can never be removed from a running kernel: "
        + MUST_RESTART
    )
    return OperationStuck(
        message, argv=argv, seconds=outcome.seconds, module=module,
        state=task.state if task else "", stack=task.stack if task else (),
    )  # fmt: skip
