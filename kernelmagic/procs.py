# SPDX-License-Identifier: MIT
"""Child processes on the host: is one alive, and stopping a process group for good.

Shared by the VM (QEMU), the module builder (make and its compilers) and the parts that
clean up after a Python process that died.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

__all__ = ["pid_alive", "stop_process_group"]


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a zombie counts; another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(proc: subprocess.Popen, grace: float = 2.0) -> None:
    """SIGTERM the group ``proc`` leads, then SIGKILL it if ``grace`` seconds pass.

    ``proc`` must have been started with ``start_new_session=True``, so that the group
    holds what it started (make's compilers, QEMU under setpriv) and nothing of ours.
    Returns once ``proc`` has been reaped, or after the SIGKILL's own grace period.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
            return
