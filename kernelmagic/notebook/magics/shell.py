# SPDX-License-Identifier: MIT
"""``%vmsh`` and ``%%vmsh``: the learner's own shell commands in the lab VM.

This is the one place where text goes through a shell in the guest, on purpose: it is
the learner's command line. Everything else kernelmagic runs there is an argv.
"""

from __future__ import annotations

import shlex

from IPython.core.magic import line_cell_magic, magics_class

from kernelmagic.errors import GuestCommandError
from kernelmagic.notebook.magics._common import ArgumentError, LabMagics, learner_errors, quiet
from kernelmagic.notebook.views import ShellResult

__all__ = ["ShellMagics"]

DEFAULT_TIMEOUT = 60.0
SHELL = "/bin/sh"


def _cell_options(line: str) -> float:
    """``%%vmsh [--timeout SECONDS]``: the only option, for the cell form."""
    try:
        argv = shlex.split(line)
    except ValueError as exc:
        raise ArgumentError(f"%%vmsh: {exc}") from None
    timeout = DEFAULT_TIMEOUT
    while argv:
        option = argv.pop(0)
        if option.startswith("--timeout="):
            value = option.partition("=")[2]
        elif option == "--timeout" and argv:
            value = argv.pop(0)
        else:
            raise ArgumentError(f"%%vmsh: unknown option {option!r}; only --timeout SECONDS")
        try:
            timeout = float(value)
        except ValueError:
            raise ArgumentError(f"%%vmsh --timeout: {value!r} is not a number") from None
    return timeout


def _short(command: str) -> str:
    first = command.strip().splitlines()[0] if command.strip() else ""
    return first if len(first) <= 60 else first[:57] + "..."


@magics_class
class ShellMagics(LabMagics):
    @line_cell_magic
    @learner_errors("%vmsh")
    def vmsh(self, line: str, cell: str | None = None) -> ShellResult:
        """Run shell commands in the lab VM (busybox sh) and show their output.

        The line form runs the rest of the line; the cell form runs the cell as a
        script (``%%vmsh --timeout 120`` allows it longer than the default 60 s). A
        non-zero exit status fails the cell. In the line form ``$name`` and ``{name}``
        are Python variables, as with ``!``; write ``$$`` for a shell's ``$``.
        Example::

            %vmsh cat /sys/module/hello/parameters/name

            %%vmsh
            cd /sys/module/hello
            ls -l parameters
        """
        if cell is None:
            command, timeout = line, DEFAULT_TIMEOUT
        else:
            command, timeout = cell, _cell_options(line)
        if not command.strip():
            raise ArgumentError("%vmsh: give a command, e.g. %vmsh uname -a")
        result = self.workspace.vm.exec([SHELL, "-c", command], timeout=timeout)
        view = ShellResult(command, result)
        if not view.ok:
            self.show(view)
            err = GuestCommandError([_short(command)], result.exit_code, result.stdout,
                                    result.stderr)  # fmt: skip
            raise quiet(err)
        return view
