# SPDX-License-Identifier: MIT
"""Running the host tools that build the bundle (apt, dpkg-deb, readelf, depmod, ...).

Every call has a deadline: a tool that hangs (a lock held, a full disk on NFS) must end
``kernelmagic vm build`` with an error that names it, never hang it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from kernelmagic.errors import BundleBuildError, SetupError

__all__ = ["QUICK_TIMEOUT", "host_tool", "run_tool"]

#: For tools that answer in well under a second (readelf, depmod, modinfo, busybox).
QUICK_TIMEOUT = 30.0


def run_tool(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with its output captured as text; the caller judges the exit status.

    Raises BundleBuildError, naming the command, when ``timeout`` seconds pass.
    """
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False,
            env=None if env is None else dict(env), cwd=cwd,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise BundleBuildError(f"{' '.join(argv)} timed out after {timeout:.0f} s") from exc


def host_tool(name: str) -> str:
    """A kmod tool on the host; /sbin is not on a normal user's PATH on Debian."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(name, path=search)
    if found is None:
        raise SetupError(f"{name} is missing on the host; run: sudo apt-get install kmod")
    return found
