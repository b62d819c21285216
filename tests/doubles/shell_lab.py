# SPDX-License-Identifier: MIT
"""An IPython shell with the magics registered: how the tests drive a notebook.

One harness for all of them: over the fake VM and kbuild (``fake_lab.make_lab``) or over
the real lab VM (``real_lab``), a test runs cells and reads what the learner was shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the fake lab's users (workspace tests) need no IPython
    from kernelmagic.notebook.session import LabSession

__all__ = ["ShellLab", "real_lab", "shell_with"]


@dataclass
class ShellLab:
    shell: Any
    session: LabSession
    shown: list[Any] = field(default_factory=list)

    def run(self, code: str) -> Any:
        return self.shell.run_cell(code, store_history=False)

    def ok(self, code: str) -> Any:
        """Run a cell that must succeed; its result."""
        result = self.run(code)
        assert result.success, f"{code[:60]!r} failed: {result.error_in_exec!r}\n{self.text()}"
        return result.result

    def fails(self, code: str, kind: type[BaseException]) -> BaseException:
        """Run a cell that must fail with ``kind``, shown as one line (no traceback)."""
        result = self.run(code)
        assert isinstance(result.error_in_exec, kind), (code[:60], result.error_in_exec)
        assert hasattr(result.error_in_exec, "_render_traceback_")
        return result.error_in_exec

    def views(self, kind: type) -> list[Any]:
        return [x for x in self.shown if isinstance(x, kind)]

    def text(self) -> str:
        """Everything shown so far, as plain text."""
        return "\n".join(repr(x) for x in self.shown)

    shown_text = text

    def last_text(self) -> str:
        return repr(self.shown[-1]) if self.shown else ""


def shell_with(session: LabSession) -> Any:
    """The shared InteractiveShell with the magics over ``session``, its %config reset."""
    from IPython.core.interactiveshell import InteractiveShell

    from kernelmagic.notebook.magics import register

    shell = InteractiveShell.instance()
    # %config in an earlier test reached the shared shell's config; each lab starts clean.
    shell.config.pop("LabMagics", None)
    register(shell, session)
    return shell


@contextmanager
def real_lab(make: Callable[[list[Any]], LabSession] | None = None) -> Iterator[ShellLab]:
    """A harness over the real lab VM; the VM is stopped at the end, whatever happened."""
    from kernelmagic.notebook.session import LabSession

    shown: list[Any] = []
    session = (make or (lambda shown: LabSession(show=shown.append, progress=False)))(shown)
    try:
        yield ShellLab(shell_with(session), session, shown)
    finally:
        session.shutdown()
        vm = session.last_vm
        assert vm is None or not vm.is_running()
