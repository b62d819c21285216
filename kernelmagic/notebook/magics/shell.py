# SPDX-License-Identifier: MIT
"""``%vmsh`` and ``%%vmsh``: the learner's own shell commands in the lab VM.

This is the one place where text goes through a shell in the guest, on purpose: it is
the learner's command line. Everything else kernelmagic runs there is an argv.
"""

from __future__ import annotations

import re

from IPython.core.magic import line_cell_magic, magics_class

from kernelmagic.errors import GuestCommandError
from kernelmagic.guest.shell import run_shell, shell_argv
from kernelmagic.kbuild.userprog import bin_dir
from kernelmagic.notebook.magics._common import (
    ArgumentError,
    LabMagics,
    learner_errors,
    quiet,
    short,
)
from kernelmagic.notebook.views import ShellResult

__all__ = ["ShellMagics"]

#: An interrupted command is killed by the guest layer before the interrupt goes on.
LEFT = "the command was killed in the lab VM"


def _options(line: str, *, cell: bool) -> tuple[float | None, str]:
    """``--timeout S`` at the start of the line; returns it and the rest (the command).

    The cell form takes nothing else on its line; the line form runs the rest.
    """
    rest = line.lstrip()
    if not rest.startswith("--timeout"):
        if cell and rest.strip():
            raise ArgumentError(f"%%vmsh: unknown option {rest.split()[0]!r}; only --timeout S")
        return None, line
    match = re.match(r"--timeout(?:=|\s+)(\S+)\s*", rest)
    if match is None:
        raise ArgumentError("%vmsh --timeout: give a number of seconds, e.g. --timeout 5")
    try:
        timeout = float(match[1])
    except ValueError:
        raise ArgumentError(f"%vmsh --timeout: {match[1]!r} is not a number") from None
    rest = rest[match.end() :]
    if cell and rest.strip():
        raise ArgumentError(f"%%vmsh: unknown option {rest.split()[0]!r}; only --timeout S")
    return timeout, rest


@magics_class
class ShellMagics(LabMagics):
    @line_cell_magic
    @learner_errors("%vmsh")
    def vmsh(self, line: str, cell: str | None = None) -> ShellResult:
        """Run shell commands in the lab VM (busybox sh) and show their output.

        The line form runs the rest of the line; the cell form runs the cell as a
        script. A non-zero exit status fails the cell. A command still running after
        60 s (``--timeout S`` first on the line, or for the notebook ``%config
        LabMagics.shell_timeout = 120``) is shown where it is stuck in the kernel and
        killed; the lab VM keeps running. In the line form ``$name`` and ``{name}``
        are Python variables, as with ``!``; write ``$$`` for a shell's ``$``.
        Example::

            %vmsh cat /sys/module/hello/parameters/name
            %vmsh --timeout 5 cat /dev/mydevice

            %%vmsh --timeout 120
            cd /sys/module/hello
            ls -l parameters
        """
        given, rest = _options(line, cell=cell is not None)
        command = rest if cell is None else cell
        if not command.strip():
            raise ArgumentError("%vmsh: give a command, e.g. %vmsh uname -a")
        timeout = self.timeout(given, shell=True)
        # Learners' commands may legitimately run for seconds: a later live line.
        doing = self.session.doing(f"{short(command)!r} ran", LEFT)
        with self.progress(after=10.0) as progress, doing:
            vm = self.workspace.vm
            vm.guest_path(bin_dir())  # the share, where %%userprog's programs are, mounted
            result = run_shell(vm, shell_argv(command), timeout=timeout,
                               progress=progress)  # fmt: skip
        view = ShellResult(command, result)
        if not view.ok:
            self.show(view)
            err = GuestCommandError([short(command)], result.exit_code, result.stdout,
                                    result.stderr)  # fmt: skip
            raise quiet(err)
        return view
