# SPDX-License-Identifier: MIT
"""One QEMU process that leaves nothing behind: process group, runtime folder, janitor.

A lab VM must never outlive the Python process that started it, not even one killed
with SIGKILL (as Jupyter kills a kernel), which runs no cleanup at all. Three layers
see to it: QEMU gets a parent-death signal (:func:`with_parent_death_signal`); a tiny
janitor process removes the runtime folder when our end of a pipe closes
(:class:`Janitor`); and the next start removes folders whose owner died
(:func:`clean_stale_runtime_dirs`). :class:`QEMUProcess` puts them together.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kernelmagic.errors import QEMUExited
from kernelmagic.procs import pid_alive, stop_process_group

__all__ = [
    "RUNTIME_PREFIX",
    "Janitor",
    "QEMUProcess",
    "clean_stale_runtime_dirs",
    "new_runtime_dir",
    "with_parent_death_signal",
]

log = logging.getLogger(__name__)

RUNTIME_PREFIX = "kernelmagic-vm-"
#: How long to wait for a process after SIGKILL (it cannot refuse; it may be slow).
KILL_WAIT = 5.0
#: Lines of QEMU's own log that a QEMUExited error carries.
LOG_TAIL_LINES = 20


def new_runtime_dir() -> Path:
    """A private folder for QEMU's log and console log, marked with our pid as its owner."""
    runtime = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX))
    runtime.chmod(0o700)
    (runtime / "owner.pid").write_text(f"{os.getpid()}\n")
    return runtime


def clean_stale_runtime_dirs() -> None:
    """Remove runtime dirs left by a Python process that died without cleaning up."""
    for folder in Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*"):
        try:
            pid = int((folder / "owner.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or its owner is still writing owner.pid
        if not pid_alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


class Janitor:
    """A tiny shell that removes ``folder`` if this process dies without :meth:`stop`.

    QEMU dies with us (parent-death signal), but a SIGKILLed Python process runs no
    cleanup; the janitor waits on a pipe only we hold and removes the folder when that
    pipe closes, which the kernel does for us when we die.
    """

    def __init__(self, folder: Path) -> None:
        read_end, write_end = os.pipe()
        self._pipe: int | None = write_end
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                ["/bin/sh", "-c", 'read -r _; rm -rf -- "$1"', "kernelmagic-janitor",
                 str(folder)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)

    def stop(self) -> None:
        """Let the janitor do its work now (the folder is gone or going); safe twice."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(5)
            self._proc = None


def with_parent_death_signal(argv: list[str]) -> list[str]:
    """Prefix argv so QEMU gets SIGKILL when this process dies (util-linux's setpriv).

    setpriv sets the parent-death signal and then execs QEMU in the same process, so
    nothing runs between fork and exec in our (threaded) interpreter.
    """
    setpriv = shutil.which("setpriv") or (
        "/usr/bin/setpriv" if Path("/usr/bin/setpriv").exists() else None
    )
    if setpriv is None:
        log.warning("setpriv (util-linux) is missing: QEMU may outlive a killed Python process")
        return argv
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


@dataclass(eq=False)
class QEMUProcess:
    """A started QEMU: the leader of its own process group, with its runtime folder.

    :meth:`launch` starts one; the constructor only holds the parts. ``sockets`` are
    our ends of QEMU's channels, for the caller to take over (and close). :meth:`close`
    kills what still runs and removes the folder; it is safe to call twice.
    """

    proc: subprocess.Popen[bytes]
    runtime: Path | None = None
    log_file: IO[bytes] | None = None
    janitor: Janitor | None = None
    started_at: float = 0.0  # time.monotonic() just before QEMU was spawned
    sockets: dict[str, socket.socket] = field(default_factory=dict)

    @classmethod
    def launch(
        cls, channels: Sequence[str], make_argv: Callable[[Mapping[str, int]], list[str]]
    ) -> QEMUProcess:
        """Start QEMU with one socketpair per channel; its output goes to ``qemu.log``.

        ``make_argv`` gets the descriptor QEMU inherits for each channel. Every channel
        is one end of a ``socketpair``, so there are no socket files to race for.
        """
        ours: dict[str, socket.socket] = {}
        theirs: dict[str, socket.socket] = {}
        runtime: Path | None = None
        janitor: Janitor | None = None
        log_file: IO[bytes] | None = None
        try:
            for name in channels:
                ours[name], theirs[name] = socket.socketpair()
            fds = {name: sock.fileno() for name, sock in theirs.items()}
            argv = with_parent_death_signal(make_argv(fds))
            runtime = new_runtime_dir()
            janitor = Janitor(runtime)
            log_file = (runtime / "qemu.log").open("wb")
            started_at = time.monotonic()
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                pass_fds=tuple(fds.values()), start_new_session=True,
            )  # fmt: skip
        except BaseException:
            for sock in ours.values():
                sock.close()
            if log_file is not None:
                log_file.close()
            if runtime is not None:
                shutil.rmtree(runtime, ignore_errors=True)
            if janitor is not None:
                janitor.stop()
            raise
        finally:
            for sock in theirs.values():
                sock.close()  # QEMU holds its own copies now
        return cls(proc, runtime, log_file, janitor, started_at, ours)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        """Everything QEMU itself printed (not the guest console)."""
        if self.runtime is None:
            return ""
        try:
            return (self.runtime / "qemu.log").read_text(errors="replace")
        except OSError:
            return ""

    def failure_detail(self) -> str:
        """QEMU's reason as ": <line>", to end a message about a failure; else empty.

        That is its last log line, unless QEMU said "hardware error" (a device model
        gave up, as edu does on a DMA out of its buffer): the register dump that
        follows such a line says nothing to a learner.
        """
        lines = self.log_text().strip().splitlines()
        if not lines:
            return ""
        reason = next((line for line in lines if "hardware error" in line), lines[-1])
        return ": " + reason.strip()

    def exit_error(self) -> QEMUExited:
        """The error that says QEMU ended on its own, with its argv and log tail."""
        args = self.proc.args
        return QEMUExited(
            f"QEMU exited with status {self.proc.returncode}{self.failure_detail()}",
            argv=args if isinstance(args, list) else [str(args)],
            log_tail="\n".join(self.log_text().splitlines()[-LOG_TAIL_LINES:]),
        )

    def stop(self, timeout: float) -> None:
        """Give QEMU ``timeout`` seconds to end (it was asked to quit), then TERM, then KILL."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_process_group(self.proc, grace=timeout)

    def kill(self) -> None:
        """SIGKILL the process group if QEMU still runs, and reap it."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(KILL_WAIT)

    def close(self) -> None:
        """Kill QEMU if it still runs; close its log; remove the runtime folder."""
        try:
            self.kill()
        finally:
            if self.log_file is not None:
                self.log_file.close()
                self.log_file = None
            if self.runtime is not None:
                shutil.rmtree(self.runtime, ignore_errors=True)
                self.runtime = None
            if self.janitor is not None:
                self.janitor.stop()
                self.janitor = None
