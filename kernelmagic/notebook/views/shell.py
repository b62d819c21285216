# SPDX-License-Identifier: MIT
"""``%vmsh``: what a learner's shell command printed in the guest."""

from __future__ import annotations

import signal

from kernelmagic.machine.exec_result import ExecResult
from kernelmagic.notebook.views._html import BAD, MUTED, Rendered, box, esc, pre

__all__ = ["ShellResult"]


def _signal_name(number: int) -> str:
    """ ", SIGKILL" for 9 (an oops kills the task that caused it with it); "" if unknown."""
    try:
        return f", {signal.Signals(number).name}"
    except ValueError:
        return ""


class ShellResult(Rendered):
    """What a command printed in the guest, and its exit status when not 0."""

    def __init__(self, command: str, result: ExecResult) -> None:
        self.command = command
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.signal = result.signal

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def _status(self) -> str:
        if self.signal is not None:
            return f"[killed by signal {self.signal}{_signal_name(self.signal)}]"
        if self.exit_code > 128:  # a shell's way of saying its child was killed
            number = self.exit_code - 128
            return (
                f"[exit status {self.exit_code}: killed by signal {number}{_signal_name(number)}]"
            )
        return f"[exit status {self.exit_code}]"

    def _text(self) -> str:
        text = self.output.rstrip("\n")
        if not self.ok:
            text = f"{text}\n{self._status()}" if text else self._status()
        return text

    def _html(self) -> str:
        inner = ""
        if self.stdout:
            inner += pre(self.stdout.rstrip("\n"))
        if self.stderr:
            inner += pre(self.stderr.rstrip("\n"), BAD)
        if not self.ok:
            inner += f'<div style="{BAD}">{esc(self._status())}</div>'
        if not inner:
            inner = f'<div style="{MUTED}">(no output)</div>'
        border = "var(--jp-border-color2,#ccc)" if self.ok else "var(--jp-error-color1,#d32f2f)"
        return box(inner, border)
