# SPDX-License-Identifier: MIT
"""The processes of one notebook's run: its Jupyter kernel and what the kernel started.

A notebook of a batch runs in a Jupyter kernel, which starts its own lab VM (QEMU, under
a parent-death signal) and a janitor. A notebook that hangs is stopped by killing its
kernel; QEMU should die with it, and whatever is still alive a few seconds later is
killed by its id. The same tree gives the memory a worker uses, read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kernelmagic.machine.process import RUNTIME_PREFIX
from kernelmagic.procs import pid_alive

__all__ = ["Memory", "console_tail", "descendants", "memory_of", "stop_tree", "wait_gone"]


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields follow the last ")".
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[1]) if len(fields) > 1 else None


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _is_qemu(pid: int) -> bool:
    try:
        program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return b"qemu-system" in program.rsplit(b"/", 1)[-1]


@dataclass(frozen=True)
class Memory:
    """Resident memory of a notebook's kernel and of its VM (QEMU), in MiB."""

    kernel_mib: float = 0.0
    vm_mib: float = 0.0

    @property
    def total_mib(self) -> float:
        return self.kernel_mib + self.vm_mib

    def peak(self, other: Memory) -> Memory:
        """The larger of each part (a VM restarted mid-run counts by its largest)."""
        return Memory(max(self.kernel_mib, other.kernel_mib), max(self.vm_mib, other.vm_mib))


def memory_of(kernel_pid: int) -> Memory:
    """What the kernel and its QEMU use now; the kernel's other children count as kernel."""
    kernel = _rss_kib(kernel_pid)
    vm = 0
    for pid in descendants(kernel_pid):
        if _is_qemu(pid):
            vm += _rss_kib(pid)
        else:
            kernel += _rss_kib(pid)
    return Memory(kernel / 1024, vm / 1024)


def console_tail(kernel_pid: int, lines: int = 40) -> list[str]:
    """The last lines of the serial console of the VM the kernel runs, if one runs.

    A VM keeps its console log in a runtime folder marked with the pid of the process
    that started it; this reads it from the outside, which works while the kernel is
    busy in a cell that never ends (the lines come from the guest kernel's console:
    oopses, hung-task and lockup reports).
    """
    newest: tuple[float, Path] | None = None
    for folder in Path(tempfile.gettempdir()).glob(f"{RUNTIME_PREFIX}*"):
        try:
            if int((folder / "owner.pid").read_text()) != kernel_pid:
                continue
            log = folder / "console.log"
            stamp = log.stat().st_mtime
        except (OSError, ValueError):
            continue
        if newest is None or stamp > newest[0]:
            newest = (stamp, log)
    if newest is None:
        return []
    try:
        with newest[1].open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    text = data.decode("utf-8", "replace").replace("\r", "")
    kept = [line for line in text.splitlines() if line.strip()]
    return kept[-lines:]


def stop_tree(kernel_pid: int) -> list[int]:
    """SIGKILL the kernel, then whatever it had started that is still alive; returns those.

    The kernel's children are listed before it dies: once it is gone they are orphans
    that no longer show as its descendants.
    """
    below = descendants(kernel_pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(kernel_pid, signal.SIGKILL)
    wait_gone([kernel_pid], 5.0)
    left = wait_gone(below, 3.0)  # QEMU's parent-death signal should have ended it
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    wait_gone(left, 5.0)
    return left


def wait_gone(pids: list[int], seconds: float) -> list[int]:
    """Wait until the processes are gone (or zombies of another parent); returns the rest."""
    deadline = time.monotonic() + seconds
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if _alive(p)]
    return left


def _alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie holds no memory and no VM; its parent reaps it)."""
    if not pid_alive(pid):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[-1].split()
    return bool(fields) and fields[0] != "Z"
