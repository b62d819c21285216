# SPDX-License-Identifier: MIT
"""What every magic shares: shell-like argument splitting and the error boundary.

The boundary decides what a learner sees when a cell fails. A learner's mistake or a
machine's problem (any :class:`~kernelmagic.errors.KernelMagicError`) is shown as its
rich view, then raised with a one-line rendering that IPython uses instead of a
traceback (``_render_traceback_``), so JupyterLab, nbval and papermill all see a
failed cell with one clear line. ``UsageError`` would not do: IPython prints it to
stderr without an error output, which papermill does not count as a failure. Any
other exception is a bug of ours and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class

from kernelmagic.errors import (
    ArgumentError,
    GuestCommandError,
    KernelCrashed,
    KernelMagicError,
    ModuleError,
)
from kernelmagic.machine.crash import CrashReport, looks_like_crash
from kernelmagic.notebook.session import LabSession
from kernelmagic.notebook.views import CrashView, ModuleErrorView
from kernelmagic.workspace import Workspace

__all__ = [
    "RESTARTS",
    "SURVIVED",
    "VALUE_OPTIONS",
    "ArgumentError",
    "LabMagics",
    "is_quiet",
    "learner_errors",
    "parse",
    "quiet",
    "user_values",
]

_F = TypeVar("_F", bound=Callable[..., Any])
#: Options whose value may itself start with "-" (``--cflags "-DDEBUG"``).
VALUE_OPTIONS = ("--cflags",)
SURVIVED = (
    "the kernel survived, but it is tainted (D) and may misbehave: %vm restart gives you "
    "a clean one"
)
RESTARTS = "the lab VM's kernel is dead; the lab VM restarts with your next command"


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
            before, boots = session.console_mark(), session.boots

            def since() -> int | None:
                # A command that booted the VM (lazily, or by restarting it) owns what
                # the new console shows once the VM is up: an oops in its first command.
                return session.boot_mark if session.boots != boots else before

            try:
                result = method(self, *args, **kwargs)
            except KeyboardInterrupt as exc:
                raise quiet(exc, f"{title} cancelled (Ctrl-C)") from None
            except KernelCrashed as exc:
                report = session.note_crash(exc, since())
                if report is not None:
                    ko = _ko(session, report)
                    session.show(CrashView(report, next_step=RESTARTS, ko_path=ko))
                raise quiet(exc, f"{exc}; {RESTARTS}") from None
            except ModuleError as exc:
                wait = 1.0 if looks_like_crash(_text(exc)) else 0
                crashes = self.show_survived(since(), wait=wait)
                if not is_quiet(exc):
                    session.show(ModuleErrorView(exc, show_log=not crashes))
                raise quiet(exc) from None
            except GuestCommandError as exc:
                self.show_survived(since(), wait=1.0 if exc.exit_code >= 128 else 0)
                raise quiet(exc) from None
            except KernelMagicError as exc:
                raise quiet(exc) from None
            self.show_survived(since())
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _text(exc: ModuleError) -> str:
    return "\n".join([exc.output, *exc.log])


def _ko(session: LabSession, report: CrashReport) -> Path | None:
    """The ``.ko`` this notebook built for the crashing module, for the gdb line."""
    built = session.workspace.builds.get(report.module) if report.module else None
    return built.ko_path if built is not None else None


@magics_class
class LabMagics(Magics):
    """Base of the kernelmagic magics: they share one :class:`LabSession`."""

    def __init__(self, shell: Any, session: LabSession) -> None:
        super().__init__(shell)
        self.session = session

    @property
    def workspace(self) -> Workspace:
        return self.session.workspace

    def show(self, obj: object) -> None:
        self.session.show(obj)

    def show_survived(self, mark: int | None, wait: float = 0.0) -> list[CrashReport]:
        """Show oopses the kernel survived during this command (they kill only the task)."""
        crashes = self.session.crashes_since(mark, wait=wait)
        for report in crashes:
            self.show(CrashView(report, next_step=SURVIVED, ko_path=_ko(self.session, report)))
        return crashes
