# SPDX-License-Identifier: MIT
"""User-space programs for the lab VM, compiled on the host (``%%userprog``).

The guest has busybox but no compiler and no C library headers, so a program that
calls ``ioctl()``, ``poll()`` or ``mmap()`` on a learner's device is compiled here,
statically against glibc's ``libc.a``, into the build folder the VM mounts read-only.
Each build lands in its own folder named by a hash of its source and flags (a cache);
the latest build of NAME is then published as ``bin/NAME`` in the build folder, which
the guest's shell finds on its ``PATH`` (:data:`kernelmagic.machine.share.GUEST_BIN`),
so ``%vmsh NAME args`` runs it, after a VM restart too. While grading, gcc runs in the
sandbox of :mod:`kernelmagic.kbuild.sandbox` and the flags must be on its allow-list.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kernelmagic import paths
from kernelmagic.errors import BuildError, UsageError
from kernelmagic.kbuild import sandbox
from kernelmagic.kbuild.diagnostics import Diagnostic, parse_diagnostics
from kernelmagic.names import check_identifier

__all__ = ["BUILD_TIMEOUT", "UserProgram", "bin_dir", "build_user_program", "check_request"]

BUILD_TIMEOUT = 120.0
#: Flags a lesson may need; anything that runs other programs or reads other files is not.
_REFUSED_FLAG_PREFIXES = ("-fplugin", "-B", "-wrapper", "-specs", "@", "-o", "--sysroot")


@dataclass(frozen=True)
class UserProgram:
    """A built program: its host file, and what gcc said."""

    name: str
    path: Path
    diagnostics: list[Diagnostic]
    log: str
    cached: bool
    duration: float

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    @property
    def source_name(self) -> str:
        return f"{self.name}.c"


def bin_dir(builds_root: Path | None = None) -> Path:
    """The host folder the guest sees on its ``PATH``: one file per program name."""
    return Path(builds_root or paths.builds_dir()) / "bin"


def build_user_program(
    name: str, source: str, *, cflags: str = "", builds_root: Path | None = None
) -> UserProgram:
    """Compile ``source`` as ``NAME.c`` into a static program and publish it as ``bin/NAME``.

    Raises BuildError (with gcc's diagnostics, file ``NAME.c``) when it does not build,
    UsageError for a bad name or flags.
    """
    flags = check_request(name, cflags)
    grading = sandbox.grading()
    root = Path(builds_root or paths.builds_dir())
    # a grading build never reuses one made outside the sandbox (it may hold a host file)
    salt = ["sandbox:bwrap"] if grading else []
    key = hashlib.sha256("\0".join([source, *flags, *salt]).encode()).hexdigest()[:16]
    folder = root / f"user-{name}-{key}"
    exe = folder / name
    started = time.monotonic()
    log_file = folder / "gcc.log"
    if exe.is_file():
        log = log_file.read_text() if log_file.is_file() else ""
        diagnostics = parse_diagnostics(log, folder)
        program = UserProgram(name, exe, diagnostics, log, True, time.monotonic() - started)
    else:
        program = _compile(name, source, flags, folder, started, sandboxed=grading)
    _publish(exe, bin_dir(root) / name)
    return program


def check_request(name: str, cflags: str = "") -> list[str]:
    """Check a program name and its flags (UsageError); returns the flags as words."""
    check_identifier(name, "program name")
    try:
        flags = shlex.split(cflags)
    except ValueError as exc:
        raise UsageError(f"--cflags {cflags!r}: {exc}") from None
    for flag in flags:
        if flag.startswith(_REFUSED_FLAG_PREFIXES):
            raise UsageError(f"--cflags: {flag} is not allowed for a user program")
    if sandbox.grading():
        sandbox.check_grading_cflags(flags)
    return flags


def _compile(
    name: str, source: str, flags: list[str], folder: Path, started: float,
    *, sandboxed: bool = False,
) -> UserProgram:  # fmt: skip
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    source_file = folder / f"{name}.c"
    source_file.write_text(source)
    partial = folder / f".{name}.partial"
    argv = [
        "gcc",
        "-static",
        "-O2",
        "-Wall",
        "-pthread",
        *flags,
        "-o",
        partial.name,
        source_file.name,
    ]
    env = None
    if sandboxed:
        argv, env = sandbox.sandboxed(argv, writable=folder)
    try:
        proc = subprocess.run(
            argv, cwd=folder, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT,
            check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BuildError(f"gcc did not finish building {name} in {BUILD_TIMEOUT:g} s") from None
    except FileNotFoundError:
        raise BuildError("gcc is not installed; run: sudo apt-get install gcc libc6-dev") from None
    log = proc.stdout + proc.stderr
    diagnostics = parse_diagnostics(log, folder)
    if proc.returncode != 0:
        errors = sum(1 for d in diagnostics if d.severity == "error")
        what = f"{errors} error{'' if errors == 1 else 's'}" if errors else "gcc failed"
        raise BuildError(f"{name} did not build: {what}", diagnostics, log)
    if partial.is_symlink() or not partial.is_file():
        raise BuildError(f"{name} did not build: gcc wrote no program", diagnostics, log)
    (folder / "gcc.log").write_text(log)
    partial.rename(folder / name)
    duration = time.monotonic() - started
    return UserProgram(name, folder / name, diagnostics, log, False, duration)


def _publish(exe: Path, target: Path) -> None:
    """Copy ``exe`` to ``target`` atomically: a program running in the guest is untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copy2(exe, partial)
    os.replace(partial, target)
