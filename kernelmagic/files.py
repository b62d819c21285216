# SPDX-License-Identifier: MIT
"""Writing files so that a reader never sees half of one (caches, verdicts, kernelspecs)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: str | bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it, then rename it over.

    A concurrent reader (another kernel, a Jupyter server listing kernels) sees either
    the old file or the new one; a crash half-way leaves no partial file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp's 0600 would hide caches from other readers
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
