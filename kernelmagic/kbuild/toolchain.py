# SPDX-License-Identifier: MIT
"""What a kbuild tree builds for and with: the kernel release, the compiler, the environment.

These are the facts about the host and the bundle's tree that change the bytes of a
``.ko`` without being part of the learner's sources, so they go into the cache key; they
are also what is missing when a build cannot start at all, so the errors here say how
to install it.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path

from kernelmagic.errors import SetupError

__all__ = [
    "SETUP_HINT",
    "compiler_command",
    "compiler_identity",
    "make_env",
    "read_kernel_release",
]

SETUP_HINT = "run `sudo apt-get install make gcc-12` (or `make setup`)"

# Variables from the caller's environment that would silently change what kbuild does
# (a Jupyter started by `make lab` inherits MAKEFLAGS and MAKELEVEL, for instance).
_SCRUBBED_ENV = {
    "MAKEFLAGS",
    "MFLAGS",
    "GNUMAKEFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "MAKEFILES",
    "ARCH",
    "SUBARCH",
    "CROSS_COMPILE",
    "KCFLAGS",
    "KCPPFLAGS",
    "KAFLAGS",
    "KRUSTFLAGS",
    "LDFLAGS_MODULE",
}


def make_env() -> dict[str, str]:
    """Our environment without what would steer kbuild, in the C locale.

    The C locale keeps gcc's and make's messages in the English the diagnostics parser
    reads, whatever language the learner's desktop speaks.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SCRUBBED_ENV and not k.startswith("KBUILD_")
    }
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    env.pop("LANGUAGE", None)
    return env


def read_kernel_release(kbuild_dir: Path) -> str:
    """The ``uname -r`` of the kernel a kbuild tree builds for.

    ``include/generated/utsrelease.h`` comes first because its UTS_RELEASE is what goes
    into the module's vermagic. Debian's ``include/config/kernel.release`` is no good
    here: in linux-headers-6.1.0-56-amd64 it says ``6.1.192``, the upstream version.
    """
    kbuild_dir = Path(kbuild_dir)
    uts = kbuild_dir / "include" / "generated" / "utsrelease.h"
    if uts.is_file():
        m = re.search(r'#define\s+UTS_RELEASE\s+"([^"]+)"', uts.read_text(errors="replace"))
        if m:
            return m[1]
    variables = kbuild_dir / ".kernelvariables"
    if variables.is_file():
        m = re.search(
            r"^\s*(?:override\s+)?KERNELRELEASE\s*:?=\s*(\S+)\s*$",
            variables.read_text(errors="replace"),
            re.MULTILINE,
        )
        if m:
            return m[1]
    release = kbuild_dir / "include" / "config" / "kernel.release"
    if release.is_file() and release.read_text().strip():
        return release.read_text().strip()
    raise SetupError(
        f"cannot tell which kernel the build tree {kbuild_dir} is for; "
        "rebuild the bundle with `kernelmagic bundle` (or `make setup`)."
    )


def compiler_command(kbuild_dir: Path) -> str:
    """The compiler kbuild will call: Debian's tree pins it (``gcc-12``) in .kernelvariables."""
    variables = kbuild_dir / ".kernelvariables"
    if variables.is_file():
        m = re.search(r"^\s*CC\s*:?=(.*)$", variables.read_text(errors="replace"), re.MULTILINE)
        if m and m[1].split():
            # "$(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-12" → gcc-12
            cc = re.sub(r"\$\([^()]*\)", "", m[1].split()[-1])
            if cc:
                return cc
    return "gcc"


@functools.cache
def compiler_identity(cc: str) -> str:
    """First line of ``cc --version``, asked once per process (it costs a few ms).

    A failure is not remembered, so installing the compiler fixes the next build.
    """
    try:
        out = subprocess.run(
            [cc, "--version"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=make_env(),
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (FileNotFoundError, subprocess.CalledProcessError) as exc:
        raise SetupError(
            f"the C compiler {cc} that the kernel build tree needs is missing: {SETUP_HINT}."
        ) from exc
    return (out.splitlines() or [cc])[0].strip()
