# SPDX-License-Identifier: MIT
"""A learner's own shell command in the guest, with a deadline (``%vmsh``).

Everything else kernelmagic runs in the guest is an argv; this is the learner's
deliberate shell. A command can wait for ever on the learner's driver (a sysfs
``store()`` that returns 0 makes ``echo 42 > /sys/...`` retry without end): at its
deadline the kernel stacks of the command's processes are read, the processes are
killed, and :class:`~kernelmagic.errors.OperationStuck` says where the command was
stuck. The VM keeps running: a process, unlike a module's init, can be killed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from kernelmagic.errors import KernelMagicError, OperationStuck
from kernelmagic.guest.protocol import Guest
from kernelmagic.guest.watched import Outcome, Watch, clamp_timeout, kill_tree, run_watched
from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.machine.share import GUEST_PATH

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "SHELL", "run_shell", "shell_argv", "shell_command"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
#: A learner may allow a command a long time, but not for ever.
MAX_TIMEOUT = 3600.0
SHELL = "/bin/sh"
ENV = "/usr/bin/env"
#: What an interrupted command may take to be killed (Ctrl-C must end the cell in 1 s).
INTERRUPT_KILL_TIMEOUT = 0.8


def shell_argv(command: str) -> list[str]:
    """The argv that runs ``command`` with the guest's shell (busybox sh).

    The learner's programs (``%%userprog NAME``) come first on its PATH, so ``NAME``
    alone runs the latest build.
    """
    return [ENV, f"PATH={GUEST_PATH}", SHELL, "-c", command]


def shell_command(argv: Sequence[str]) -> str | None:
    """The command of a :func:`shell_argv` (or a plain ``sh -c``), else None."""
    argv = list(argv)
    if argv[:1] == [ENV]:
        argv = argv[2:]
    if len(argv) == 3 and argv[0] in (SHELL, "sh") and argv[1] == "-c":
        return argv[2]
    return None


def run_shell(
    vm: Guest,
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str], None] | None = None,
) -> ExecResult:
    """Run ``argv`` (usually :func:`shell_argv`) and return its result, any exit status.

    At ``timeout`` seconds the command's processes are probed and killed, and
    OperationStuck (``restarted`` False) names where the stuck one waited.
    ``progress`` hears about a long command once a second. On Ctrl-C the command is
    killed before KeyboardInterrupt goes on.
    """
    argv = [str(a) for a in argv]
    timeout = clamp_timeout(timeout, MAX_TIMEOUT)
    what = _short(argv)

    def describe(seconds: float, busy: bool) -> str:
        return f"{what}: still running after {seconds:.0f} s (deadline {timeout:g} s)"

    watch = Watch(timeout, timeout, describe, progress)
    started = time.monotonic()
    spawned: list[int] = []
    try:
        outcome = run_watched(vm, argv, watch, on_start=spawned.append)
    except KeyboardInterrupt:
        if spawned:
            _kill_quietly(vm, spawned[0])
        raise
    if outcome.result is not None:
        result = outcome.result
        return ExecResult(
            result.exit_code, result.stdout, result.stderr, signal=result.signal,
            duration=time.monotonic() - started, truncated=result.truncated,
        )  # fmt: skip
    kill_tree(vm, outcome.pid)
    raise stuck_error(what, argv, outcome, timeout, killed=_collect(vm, outcome.pid))


def _kill_quietly(vm: Guest, pid: int) -> None:
    try:
        kill_tree(vm, pid, timeout=INTERRUPT_KILL_TIMEOUT)
    except BaseException:  # a second Ctrl-C, or anything: the interrupt goes first
        log.info("could not kill interrupted guest command %d", pid)


def _collect(vm: Guest, pid: int) -> bool:
    """Let the agent reap the killed command, so it forgets the pid; whether it ended.

    A task asleep in the kernel in state D never sees the SIGKILL: it is still there.
    """
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        try:
            if vm.poll(pid, timeout=1.0) is not None:
                return True
        except KernelMagicError:
            return False
        time.sleep(0.02)
    return False


def stuck_error(
    what: str, argv: Sequence[str], outcome: Outcome, timeout: float, *, killed: bool = True
) -> OperationStuck:
    """The error for a command stopped at its deadline, naming where it was stuck."""
    task = outcome.last_probe.stuck_task() if outcome.last_probe else None
    ending = "was killed" if killed else "could not be killed (it waits in the kernel)"
    message = f"{what} did not finish within {timeout:g} s and {ending}"
    if task is not None and task.stack:
        where = task.module_frame or task.stack[0]
        message += f"; {task.comm} (pid {task.pid}) was in the kernel at {where}"
        if task.state:
            message += f" (state {task.state})"
    elif task is not None:
        message += f"; {task.comm} (pid {task.pid}) was running in user space"
    message += ". The lab VM keeps running." if killed else ". %vm restart gives a clean kernel."
    return OperationStuck(
        message, argv=argv, seconds=outcome.seconds, state=task.state if task else "",
        stack=task.stack if task else (), restarted=False, killed=killed,
    )  # fmt: skip


def _short(argv: Sequence[str]) -> str:
    text = shell_command(argv)
    text = " ".join(argv) if text is None else text
    first = text.strip().splitlines()[0] if text.strip() else ""
    return repr(first if len(first) <= 60 else first[:57] + "...")
