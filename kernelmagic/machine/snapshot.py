# SPDX-License-Identifier: MIT
"""Saved VM states: a booted lab VM restored in a tenth of a second instead of booting.

After the first cold boot the VM is paused and its state written with QMP ``migrate``
to ``$KERNELMAGIC_HOME/snapshots/<key>.state``; later starts give QEMU the identical
command line plus ``-incoming`` and continue it. The key covers everything that must
match: the bundle's files, QEMU's version, the accelerator and the command line. The
9p share must not be mounted when saving (QEMU refuses), which is why the share is
mounted through the agent after each start.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import KernelMagicError, VMError
from kernelmagic.machine.agent import GuestAgent
from kernelmagic.machine.qmp import QMPClient

__all__ = [
    "KEEP",
    "enabled",
    "incoming_argv",
    "prune",
    "save",
    "set_guest_clock",
    "state_path",
    "touch",
    "wait_restored",
]

log = logging.getLogger(__name__)

SNAPSHOT_FORMAT = 1
KEEP = 4  # saved states kept; each is about 100 MB


def enabled() -> bool:
    """Snapshots are on unless ``KERNELMAGIC_SNAPSHOT=0``."""
    return os.environ.get("KERNELMAGIC_SNAPSHOT", "1").strip() not in ("0", "no", "off")


def state_path(argv: Sequence[str], bundle_files: dict[str, str], qemu_version: str) -> Path:
    """Where the state for this exact configuration lives (it may not exist yet)."""
    # Socket fd numbers differ from run to run and do not affect the saved state.
    stable = [re.sub(r"fd=\d+", "fd=N", arg) for arg in argv]
    digest = hashlib.sha256(
        json.dumps([SNAPSHOT_FORMAT, stable, bundle_files, qemu_version]).encode()
    ).hexdigest()
    return paths.home() / "snapshots" / f"{digest[:24]}.state"


def incoming_argv(state: Path) -> list[str]:
    """What to add to the identical command line so that QEMU loads ``state``."""
    return ["-incoming", f"exec:cat {shlex.quote(str(state))}"]


def save(qmp: QMPClient, state: Path, timeout: float = 30.0) -> float:
    """Pause the VM, write its state to ``state`` atomically, resume it; returns seconds."""
    started = time.monotonic()
    state.parent.mkdir(parents=True, exist_ok=True)
    partial = state.with_name(f".{state.name}.{os.getpid()}.partial")
    qmp.execute("stop")
    try:
        qmp.execute("migrate", {"uri": f"exec:cat > {shlex.quote(str(partial))}"})
        deadline = time.monotonic() + timeout
        while True:
            status = (qmp.execute("query-migrate") or {}).get("status")
            if status == "completed":
                break
            if status in ("failed", "cancelled") or time.monotonic() > deadline:
                raise VMError(f"saving the VM state failed (migration {status})")
            time.sleep(0.01)
        os.replace(partial, state)
        prune(state.parent, keep=KEEP)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
        qmp.execute("cont")
    return time.monotonic() - started


def prune(folder: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` most recently used states (new bundles leave old ones)."""
    states = sorted(folder.glob("*.state"), key=_last_used, reverse=True)
    for old in states[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _last_used(path: Path) -> float:
    try:
        info = path.stat()
    except OSError:
        return 0.0
    return max(info.st_mtime, info.st_atime)


def touch(state: Path) -> None:
    """Mark a state as used now, so pruning keeps the states that are in use."""
    with contextlib.suppress(OSError):
        os.utime(state)


def wait_restored(qmp: QMPClient, timeout: float = 30.0) -> None:
    """Wait for the incoming state to load, then let the VM run."""
    deadline = time.monotonic() + timeout
    while True:
        status = (qmp.execute("query-status") or {}).get("status")
        if status in ("paused", "postmigrate"):
            qmp.execute("cont")
            return
        if status == "running":
            return
        if status not in ("inmigrate", "prelaunch") or time.monotonic() > deadline:
            raise VMError(f"restoring the VM state failed (status {status})")
        time.sleep(0.005)


def set_guest_clock(agent: GuestAgent | None) -> None:
    """A restored guest wakes up with the clock of the moment it was saved; fix it."""
    if agent is None:
        return
    try:
        agent.call("guest-set-time", {"time": time.time_ns()}, timeout=5.0)
    except KernelMagicError as exc:
        log.info("could not set the guest clock: %s", exc)
