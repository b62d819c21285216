# SPDX-License-Identifier: MIT
"""Where kernelmagic keeps its files on the host.

Everything lives under one folder, ``$KERNELMAGIC_HOME`` (default
``~/.cache/kernelmagic``), so that ``kernelmagic cache clean`` can remove it whole and
nothing touches the host's ``/boot`` or ``/lib/modules``. A course server shares one
read-only bundle between its learners: ``$KERNELMAGIC_BUNDLE_DIR`` points there, while
each learner's builds and saved states stay in their own home.
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The root of every cache: bundle, builds, accelerator verdict."""
    env = os.environ.get("KERNELMAGIC_HOME")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "kernelmagic").resolve()


#: Set by a course server for its learners: the bundle folder every learner reads.
BUNDLE_DIR_ENV = "KERNELMAGIC_BUNDLE_DIR"


def bundle_root() -> Path:
    """Folder holding built VM bundles, one sub-folder per kernel version."""
    shared = os.environ.get(BUNDLE_DIR_ENV)
    if shared:
        return Path(shared).expanduser().resolve()
    return home() / "bundle"


def builds_dir() -> Path:
    """Build outputs keyed by content hash; shared read-only with the guest."""
    return home() / "builds"


def accel_file() -> Path:
    """The recorded verdict of the accelerator probe."""
    return home() / "accel.json"


def downloads_dir() -> Path:
    """Debian packages fetched for the bundle, kept so a rebuild works offline."""
    return home() / "debs"
