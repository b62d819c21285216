# SPDX-License-Identifier: MIT
"""Fake guests for the guest and course layers' unit tests (the ``Guest`` protocol).

``ModuleGuest`` plays the kernel-log and module helpers for the module operations;
``FileGuest`` answers ``cat`` and ``test`` from a dict of guest files, for the checks.
The fake lab VM the notebook and workspace tests drive is in ``fake_lab``.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

from kernelmagic.errors import GuestCommandError
from kernelmagic.guest.kernel_log import KERNEL_LOG, parse_dmesg
from kernelmagic.guest.modop import KEEP_RECORDS
from kernelmagic.guest.refusals import errno_from_message
from kernelmagic.guest.watched import MODOP
from kernelmagic.machine.exec_result import ExecResult
from tests.doubles.fakes import SpawnByExec, modop_output

__all__ = ["FileGuest", "ModuleGuest"]


class ModuleGuest(SpawnByExec):
    """Answers ``exec`` from a table keyed by argv[0]; plays the kernel-log and module helpers.

    :meth:`refuse` takes what kmod's tool would print and makes the module helper report
    the errno (or the refusal) behind it, so the tests below also check that the
    operations word their errors exactly as kmod did.
    """

    def __init__(self, share: Path) -> None:
        self.share = share
        self.calls: list[list[str]] = []
        self.results: dict[str, ExecResult] = {}
        self.mark = "12.000000 1\n"
        self.new_log = ""  # the records an operation causes, in `dmesg -r` form
        self.helper: dict[str, object] = {"result": "errno 0"}  # modop_output's arguments
        self.probe_output = ""
        self.settled = 0  # how often wait_settled() was called

    def guest_path(self, host_path: Path) -> str:
        return "/mnt/host/" + Path(host_path).relative_to(self.share).as_posix()

    def wait_settled(self) -> None:
        self.settled += 1

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        input: bytes | None = None,
        check: bool = False,
    ) -> ExecResult:
        argv = list(argv)
        self.calls.append(argv)
        if argv[0] == KERNEL_LOG:
            assert argv[1] in ("mark", "after", "tail"), argv
            result = ExecResult(0, self.mark if argv[1] == "mark" else self.new_log)
        elif argv[0] == MODOP and argv[1] in ("insmod", "rmmod"):
            assert argv[2] == str(KEEP_RECORDS)
            records = [(r.level, r.timestamp, r.message) for r in parse_dmesg(self.new_log)]
            out = modop_output(records=records, **self.helper)  # type: ignore[arg-type]
            result = ExecResult(0 if self.helper["result"] == "errno 0" else 1, out)
        elif argv[0] == MODOP:
            result = ExecResult(0, self.probe_output if argv[1] == "probe" else "")
        else:
            result = self.results.get(argv[0], ExecResult(0))
        if check and result.exit_code != 0:
            raise GuestCommandError(argv, result.exit_code, result.stdout, result.stderr)
        return result

    def refuse(self, tool: str, message: str, log: str = "") -> None:
        self.new_log = log
        if tool not in ("insmod", "rmmod"):
            self.results[tool] = ExecResult(1, "", message + "\n")
            return
        text = message.split("ERROR: ", 1)[-1]
        if text.endswith("is not currently loaded"):
            self.helper = {"result": "refused notloaded", "state": "none"}
        elif " is in use by: " in text:
            holders = text.split(" is in use by: ")[1].split()
            self.helper = {"result": "refused holders", "state": "live", "holders": holders}
        elif text.endswith(" is in use"):
            self.helper = {"result": "refused inuse", "state": "live", "refcnt": 1}
        else:
            how = "open" if text.startswith("could not load module") else "errno"
            number = getattr(errno, errno_from_message(text))
            self.helper = {"result": f"{how} {number}", "state": "live"}

    def command(self, tool: str) -> list[str]:
        return next(c for c in self.calls if c[0] == tool)

    def helper_call(self) -> list[str]:
        return next(c for c in self.calls if c[0] == MODOP)


class FileGuest:
    """Answers ``cat``, ``test``, ``stat``, ``md5sum`` and the kernel-log helper from files.

    ``answers`` gives whole results by program (``argv[0]``); ``ran`` records every call.
    A command it does not know fails the test (``strict``) or fails like a missing file.
    """

    def __init__(
        self,
        files: dict[str, str],
        *,
        log: str = "",
        answers: dict[str, ExecResult] | None = None,
        console: object = None,
        strict: bool = True,
    ) -> None:
        self.files = files
        self.log = log
        self.answers = answers or {}
        self.console = console
        self.strict = strict
        self.ran: list[list[str]] = []

    def exec(self, argv: Sequence[str], *, timeout: float = 30, **_: object) -> ExecResult:
        argv = list(argv)
        self.ran.append(argv)
        if argv[0] in self.answers:
            return self.answers[argv[0]]
        path = argv[-1]
        if argv[0] == "cat":
            if path in self.files:
                return ExecResult(0, self.files[path], "")
            return ExecResult(1, "", f"cat: can't open '{path}'")
        if argv[0] == "test":
            exists = path in self.files or any(f.startswith(path + "/") for f in self.files)
            is_char = path.startswith("/dev/") and path in self.files
            ok = is_char if argv[1] == "-c" else exists
            return ExecResult(0 if ok else 1, "", "")
        if argv[0] == "stat" and path in self.files:
            return ExecResult(0, "644 -rw-r--r--\n", "")
        if argv[0] == "md5sum" and path in self.files:
            return ExecResult(0, f"{self.files[path]}  {path}\n", "")
        if argv[0].endswith("kernel-log") and argv[1] == "tail":
            return ExecResult(0, self.log, "")
        if argv[0].endswith("kernel-log") and argv[1] == "after":  # records after a mark
            after = [line for line in self.log.splitlines(keepends=True)
                     if float(line.split("[")[1].split("]")[0]) > float(argv[2])]  # fmt: skip
            return ExecResult(0, "".join(after), "")
        if self.strict:
            raise AssertionError(f"unexpected command {argv}")
        return ExecResult(1, "", "no such file")
