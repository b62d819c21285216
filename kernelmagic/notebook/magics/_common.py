# SPDX-License-Identifier: MIT
"""What every magic shares: shell-like argument splitting and the error boundary.

The boundary decides what a learner sees when a cell fails. A learner's mistake or a
machine's problem (any :class:`~kernelmagic.errors.KernelMagicError`) is shown as its
rich view, then raised with a one-line rendering that IPython uses instead of a
traceback (``_render_traceback_``), so JupyterLab, nbval and papermill all see a
failed cell with one clear line. ``UsageError`` would not do: IPython prints it to
stderr without an error output, which papermill does not count as a failure. Any
other exception is a bug of ours and keeps its traceback.

Around every command the boundary also shows kernel reports: those that came while no
cell ran (a timer's oops) at the top, those the command caused with its result, each
decoded to the learner's line; and an interrupted command says what it left running.
The timeouts of module operations and shell commands are traits of :class:`LabMagics`,
so ``%config LabMagics.module_timeout = 20`` sets them for the whole notebook.
"""

from __future__ import annotations

import argparse
import functools
import math
import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class
from traitlets import Float

from kernelmagic.errors import (
    ArgumentError,
    GuestCommandError,
    KernelCrashed,
    KernelMagicError,
    ModuleError,
    OperationStuck,
    VMNotRunning,
)
from kernelmagic.guest.faults import stuck_words
from kernelmagic.guest.shell import shell_command
from kernelmagic.machine.crash import CrashReport, looks_like_crash
from kernelmagic.notebook.progress import LiveDisplay
from kernelmagic.notebook.session import LabSession
from kernelmagic.notebook.views import (
    CrashView,
    KModuleResult,
    LoadResult,
    LogView,
    ModuleErrorView,
    Notice,
    StuckView,
)
from kernelmagic.workspace import Workspace

__all__ = [
    "DIED",
    "GUEST_LEFT",
    "RESTARTS",
    "SURVIVED",
    "VALUE_OPTIONS",
    "ArgumentError",
    "LabMagics",
    "is_quiet",
    "learner_errors",
    "parse",
    "quiet",
    "short",
    "user_values",
]

_F = TypeVar("_F", bound=Callable[..., Any])
#: Options whose value may itself start with "-" (``--cflags "-DDEBUG"``).
VALUE_OPTIONS = ("--cflags",)
#: Seconds an operation runs before its live line shows (healthy ones end long before).
LIVE_AFTER = 3.0
SURVIVED = (
    "the kernel survived, but it is tainted (D) and may misbehave: %vm restart gives you "
    "a clean one"
)
RESTARTS = "the lab VM's kernel is dead; the lab VM restarts with your next command"
DIED = "the lab VM's kernel died of it; the lab VM restarts when a command needs it"
#: What an interrupted guest command leaves: the core restarts the VM if it is stuck.
GUEST_LEFT = (
    "it may still be running in the lab VM; if it is stuck there, the next command restarts "
    "the lab VM first"
)


def quiet(exc: BaseException, line: str | None = None) -> BaseException:
    """Make IPython show ``exc`` as one line, without a traceback; returns ``exc``."""
    lines = str(line or exc).strip().splitlines() or [""]
    more = " [...]" if len(lines) > 1 else ""  # the rich view above shows all of it
    text = f"\x1b[0;31m{type(exc).__name__}\x1b[0m: {lines[0]}{more}"
    exc._render_traceback_ = lambda: [text]  # type: ignore[attr-defined]
    return exc


def is_quiet(exc: BaseException) -> bool:
    return hasattr(exc, "_render_traceback_")


def parse(magic: Callable[..., Any], line: str) -> argparse.Namespace:
    """Split ``line`` as a POSIX shell would, then parse it with the magic's parser.

    IPython's own ``parse_argstring`` splits in non-POSIX mode, which keeps quotes in
    the values: ``name="Linux Enthusiast"`` would reach the module with its quotes.
    """
    name = getattr(magic, "argcmd_name", None) or getattr(magic, "__name__", "magic")
    try:
        argv = shlex.split(line, posix=True)
    except ValueError as exc:
        raise ArgumentError(
            f"%{name}: cannot split the arguments as a shell would: {exc}"
        ) from None
    argv = _join_values(argv)
    try:
        return magic.parser.parse_args(argv)  # type: ignore[attr-defined]
    except UsageError as exc:
        raise ArgumentError(f"%{name}: {exc} (see %{name}?)") from None


def _join_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in VALUE_OPTIONS and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


@contextmanager
def user_values(what: str) -> Iterator[None]:
    """Turn the core's ValueError about a learner's value into a one-line ArgumentError."""
    try:
        yield
    except ArgumentError:
        raise
    except ValueError as exc:
        raise ArgumentError(f"{what}: {exc}") from None


def learner_errors(title: str) -> Callable[[_F], _F]:
    """The error boundary of one magic (see the module docstring)."""

    def decorate(method: _F) -> _F:
        @functools.wraps(method)
        def wrapper(self: LabMagics, *args: Any, **kwargs: Any) -> Any:
            session = self.session
            session.stopped = None
            self.show_late()
            before, boots = session.console_mark(), session.boots

            def since() -> int | None:
                # A command that booted the VM (lazily, or by restarting it) owns what
                # the new console shows once the VM is up: an oops in its first command.
                return session.boot_mark if session.boots != boots else before

            try:
                result = method(self, *args, **kwargs)
            except KeyboardInterrupt as exc:
                raise quiet(exc, f"{title} {session.interrupted()}") from None
            except KernelCrashed as exc:
                report = session.note_crash(exc, since())
                if report is not None:
                    session.show(CrashView(session.explain(report), next_step=RESTARTS))
                raise quiet(exc, f"{exc}; {RESTARTS}") from None
            except VMNotRunning as exc:
                # QEMU ended under the command: a panic, seen by the console if not by
                # the agent. Shown as the crash it was; a VM merely stopped stays one line.
                crashes = session.crashes_since(since(), wait=0.5)
                if not crashes:
                    raise quiet(exc) from None
                died = KernelCrashed(f"the lab VM's kernel crashed: {crashes[0].title}",
                                     crashes[0].report, crash=crashes[0])  # fmt: skip
                session.note_crash(died, since())
                session.show(CrashView(session.explain(crashes[0]), next_step=RESTARTS))
                raise quiet(died, f"{died}; {RESTARTS}") from None
            except OperationStuck as exc:
                session.show(self.stuck_view(exc))
                if exc.restarted:
                    session.workspace.forget_loads()
                raise quiet(exc) from None
            except ModuleError as exc:
                wait = 1.0 if looks_like_crash(_text(exc)) else 0
                crashes = self.show_survived(since(), wait=wait)
                if not is_quiet(exc):
                    if crashes:  # the report says it all; the failure is one line below it
                        raise quiet(exc, _killed_words(exc)) from None
                    session.show(ModuleErrorView(exc))
                raise quiet(exc) from None
            except GuestCommandError as exc:
                self.show_survived(since(), wait=1.0 if exc.exit_code >= 128 else 0)
                raise quiet(exc) from None
            except KernelMagicError as exc:
                raise quiet(exc) from None
            finally:
                session.mark_seen()
            self.show_survived(since(), warnings=not _shows_log(result))
            session.mark_seen()
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _shows_log(result: object) -> bool:
    """Whether a result shows the kernel log it caused (a WARN in it is folded there)."""
    return isinstance(result, LoadResult | KModuleResult | LogView)


def _killed_words(exc: ModuleError) -> str:
    """The failure line under a crash report; exit status 137 said in words."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "137" in text or "signal 9" in text or "SIGKILL" in text:
        return f"{text} (the oops killed it: 137 = 128 + signal 9, SIGKILL)"
    return text


def _text(exc: ModuleError) -> str:
    return "\n".join([exc.output, *exc.log])


@magics_class
class LabMagics(Magics):
    """Base of the kernelmagic magics: they share one :class:`LabSession`.

    The timeouts are IPython configurables: ``%config LabMagics.module_timeout = 20``
    sets them for the notebook, ``--timeout S`` for one call.
    """

    module_timeout = Float(
        10.0,
        config=True,
        help="Seconds that %insmod, %rmmod, %modprobe and %%kmodule --load wait for a "
        "module's init or exit to return (a module still printing gets longer, up to a "
        "hard cap); then its kernel stack is shown and the lab VM restarted.",
    )
    shell_timeout = Float(
        60.0,
        config=True,
        help="Seconds a %vmsh command may run; then its kernel stack is shown and it is "
        "killed, the lab VM kept.",
    )

    def __init__(self, shell: Any, session: LabSession) -> None:
        super().__init__(shell)
        self.session = session

    @property
    def workspace(self) -> Workspace:
        return self.session.workspace

    def show(self, obj: object) -> None:
        self.session.show(obj)

    def show_survived(
        self, mark: int | None, wait: float = 0.0, *, warnings: bool = False
    ) -> list[CrashReport]:
        """Show oopses the kernel survived during this command (they kill only the task).

        With ``warnings``, WARN reports too: a ``%vmsh`` write that made the learner's
        store() warn shows no kernel log of its own.
        """
        crashes = self.session.crashes_since(mark, wait=wait)
        found = crashes + (self.session.warnings_since(mark) if warnings else [])
        for report in sorted(found, key=lambda r: r.position):
            self.show(CrashView(self.session.explain(report)))
        return crashes

    def show_late(self) -> None:
        """Show the reports that came while no cell ran (a timer's or work item's oops)."""
        session = self.session
        for report in session.late_reports():
            dead = report.fatal or session.running_vm is None
            if dead and report.kind != "warning":
                session.note_dead(report)
            self.show(CrashView(session.explain(report), late=True,
                                next_step=DIED if dead else ""))  # fmt: skip

    def stuck_view(self, exc: OperationStuck) -> StuckView:
        """An operation past its deadline, its stuck task's stack decoded."""
        frames = self.session.explain_stack(exc.stack)
        tool = Path(exc.argv[0]).name if exc.argv else ""
        if tool == "kernelmagic-modop" and len(exc.argv) > 1:  # the guest helper's insmod
            tool = exc.argv[1]
        command_text = shell_command(exc.argv)
        shell = command_text is not None
        action = command_text if command_text is not None else tool
        if tool == "modprobe":  # stuck in the init (or, with -r, the exit) it called
            action = "rmmod" if "-r" in exc.argv else "insmod"
        what, hint = stuck_words(action, frames, exc.state)
        command = f"{tool} {exc.module}" if exc.module and not shell else short(action)
        return StuckView(exc, frames, what=what, hint=hint, command=command)

    def timeout(self, value: float | None, *, shell: bool = False) -> float:
        """A call's ``--timeout``, else the notebook's setting."""
        if value is not None:
            if not math.isfinite(value) or value <= 0:
                raise ArgumentError("--timeout: give a positive number of seconds")
            return value
        return self.shell_timeout if shell else self.module_timeout

    @contextmanager
    def progress(self, after: float = LIVE_AFTER) -> Iterator[Callable[[str], None]]:
        """A live line the core updates while it waits ("init has not returned after 3 s").

        It appears only after ``after`` seconds: an operation that ends sooner adds
        no output, so a lesson's stored outputs do not depend on how busy the host was.
        """
        started = time.monotonic()
        with LiveDisplay(lazy=True) as live:

            def show(text: str) -> None:
                if time.monotonic() - started >= after:
                    live.update(Notice(text))

            yield show


def short(command: str) -> str:
    """A shell command's first line, at most 60 characters: how a message names it."""
    first = command.strip().splitlines()[0] if command.strip() else ""
    return first if len(first) <= 60 else first[:57] + "..."
