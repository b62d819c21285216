# SPDX-License-Identifier: MIT
"""The guest helper's side of the fake lab VM: watched commands and ``kernelmagic-modop``.

insmod and rmmod reach the guest as the helper's commands (``vm/modop.c``), spawned and
polled while a deadline runs (``kernelmagic.guest.watched``). :class:`HelperGuest` answers
them from the fake kernel of :class:`tests.doubles.fake_lab.FakeLabVM`, which it is mixed
into: it runs the fake's own insmod and rmmod and prints what the helper prints (the log
mark, the errno or refusal, the records). A module named in ``stuck`` never returns from
its init or exit; ``probe`` then shows the kernel stack given for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kernelmagic.errors import VMNotRunning
from kernelmagic.machine.exec_result import ExecResult

__all__ = ["HelperGuest", "logical_argv"]


class HelperGuest:
    """Mixin: spawn/poll, report_stuck_cpu and the helper's commands, over the fake kernel."""

    running: bool
    calls: list[list[str]]
    modules: dict[str, Any]
    log: list[tuple[int, float, str]]
    stuck: dict[str, list[str]]
    _spawned: dict[int, ExecResult | None]
    exec: Callable[..., ExecResult]
    _do_insmod: Callable[[list[str]], ExecResult]
    _do_rmmod: Callable[[list[str]], ExecResult]

    @property
    def tool_calls(self) -> list[list[str]]:
        """``calls``, with the helper's insmod and rmmod as the tools' own argv."""
        return [logical_argv(argv) for argv in self.calls]

    def report_stuck_cpu(self) -> bool:
        return False

    def spawn(self, argv: Sequence[str]) -> int:
        """Start argv; a stuck module's insmod or rmmod never ends."""
        argv = [str(a) for a in argv]
        pid = 1000 + len(self._spawned)
        op = _modop_target(argv)
        if op is not None and op[1] in self.stuck:
            if not self.running:
                raise VMNotRunning("the lab VM is not running")
            self.calls.append(argv)
            self._spawned[pid] = None
            self._stuck_pid, self._stuck_module = pid, op[1]
            return pid
        self._spawned[pid] = self.exec(argv)
        return pid

    def poll(self, pid: int, timeout: float = 1.0) -> ExecResult | None:
        if not self.running:
            raise VMNotRunning("the lab VM is not running")
        return self._spawned.get(pid)

    def _modop(self, args: list[str]) -> ExecResult:
        action = args[0]
        if action == "probe":
            return self._probe()
        if action == "kill":
            self._spawned = {p: r for p, r in self._spawned.items() if r is not None}
            return ExecResult(0)
        if action not in ("insmod", "rmmod"):
            return ExecResult(0)
        before = len(self.log)
        mark = f"mark {before} {int(self.log[-1][1] * 1e6) if self.log else -1} 1"
        if action == "insmod":
            result = self._do_insmod(args[2:])
            outcome = _ERRNO_OF.get(result.stderr.rsplit(": ", 1)[-1].strip(), 1)
            lines = [mark, f"result errno {0 if result.exit_code == 0 else outcome}"]
        else:
            name = next(a for a in args[2:] if a != "-f")
            module = self.modules.get(name)
            result = self._do_rmmod(args[2:])
            if result.exit_code == 0:
                lines = [mark, "state live", "result errno 0"]
            elif module is None:
                lines = [mark, "state none", "result refused notloaded"]
            else:
                lines = [mark, "state live", f"holders {' '.join(module.used_by)}",
                         "result refused holders"]  # fmt: skip
        for seq, (level, ts, message) in enumerate(self.log[before:], start=before):
            lines.append(f"rec {level},{seq},{int(ts * 1e6)},-;{message}")
        return ExecResult(0, "".join(line + "\n" for line in lines))

    def _probe(self) -> ExecResult:
        module = getattr(self, "_stuck_module", "")
        stack = self.stuck.get(module, [])
        pid = getattr(self, "_stuck_pid", 0)
        lines = ["records 0", "idle 9.0", f"task {pid} insmod", "state D (disk sleep)",
                 "wchan msleep", *[f"stack {f}" for f in stack]]  # fmt: skip
        return ExecResult(0, "".join(line + "\n" for line in lines))


#: kmod's words in the fake's insmod refusals, to the errno the helper would print.
_ERRNO_OF = {
    "File exists": 17,
    "Unknown symbol in module": 2,
    "Invalid parameters": 22,
    "Cannot allocate memory": 12,
    "No such device": 19,
    "Error": 5,
}


def logical_argv(argv: list[str]) -> list[str]:
    """The helper's ``insmod KEEP FILE ...`` as ``insmod FILE ...`` (rmmod alike)."""
    return [argv[1], *argv[3:]] if _modop_target(argv) else argv


def _modop_target(argv: list[str]) -> tuple[str, str] | None:
    """``("insmod", module)`` for the helper's insmod or rmmod argv, else None."""
    if Path(argv[0]).name != "kernelmagic-modop" or argv[1] not in ("insmod", "rmmod"):
        return None
    if argv[1] == "rmmod":
        return "rmmod", next(a for a in argv[3:] if a != "-f")
    return "insmod", Path(argv[3]).stem
