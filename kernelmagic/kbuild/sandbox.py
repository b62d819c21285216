# SPDX-License-Identifier: MIT
"""Builds of submitted C in a sandbox, for grading: the compiler sees only what it needs.

A learner's own machine builds their own code, and there is nothing to hide from them.
A grading machine builds the code of a whole class, and the compiler is a program that
reads files: ``#include "/etc/shadow"`` or ``#include "/home/ta/solutions.c"`` would
put another file's words into the build errors, which go back to the student as
feedback, and ``--cflags -fplugin=...`` would load a shared object into gcc. So, while
grading, make and gcc run under bubblewrap (``bwrap``) in new namespaces (no network, no
other processes) seeing only:

- ``/usr`` read-only (the toolchain: make, gcc, binutils, libc's headers and ``libc.a``),
  with the ``/bin``, ``/lib`` … links of a merged-/usr system, ``/etc/alternatives``
  (Debian's ``awk`` is a link through it) and ``/etc/ld.so.cache``;
- the kbuild tree read-only (and the trees it links to, such as Debian's ``-common``);
- the build folder, the only place it can write, and any ``Module.symvers`` it reads;
- an empty ``/tmp``, a minimal ``/dev`` and its own ``/proc``.

Grading mode is on when ``NBGRADER_EXECUTION=autograde`` (nbgrader sets it for the
kernels ``nbgrader autograde`` starts, and they pass it to everything they run) or when
``KERNELMAGIC_GRADING=1`` (for another grader: a script around nbclient or papermill).
In grading mode ``--cflags`` must also pass :func:`check_grading_cflags`, an allow-list.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from kernelmagic.errors import SetupError, UsageError

__all__ = [
    "GRADING_ENV",
    "check_grading_cflags",
    "grading",
    "sandboxed",
    "tree_roots",
]

#: Set to 1 to build as when grading, outside nbgrader.
GRADING_ENV = "KERNELMAGIC_GRADING"

#: What the sandboxed tools get as their whole environment.
_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "HOME": "/tmp", "TMPDIR": "/tmp"}

#: The top-level links (or folders) of a system whose programs live in /usr.
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")

#: Host files outside /usr the toolchain needs; links and a cache, nothing private.
_ETC = ("/etc/alternatives", "/etc/ld.so.cache")

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SRC_DIR = r"\$\((?:src|obj)\)(?:/[A-Za-z0-9_./-]*)?"
#: The flags a submission may pass to the compiler while grading, one regex per kind.
_ALLOWED = [
    re.compile(rf"-D{_IDENT}(?:=.*)?", re.S),  # a macro, with any value
    re.compile(rf"-U{_IDENT}"),
    re.compile(r"-W(?:no-)?[a-z0-9][a-z0-9+-]*(?:=[a-z0-9+-]+)?"),  # a warning: no "," (-Wl,...)
    re.compile(r"-w|-pedantic|-pedantic-errors"),
    re.compile(r"-O[0-3sgz]?|-Ofast"),
    re.compile(r"-g[0-3]?|-ggdb[0-3]?"),
    re.compile(r"-std=[a-z0-9+]+"),
    # -f options, values without "/" (a path); -fplugin is refused below
    re.compile(r"-f(?:no-)?[a-z0-9][a-z0-9-]*(?:=[A-Za-z0-9_.,+-]+)?"),
    re.compile(rf"-I{_SRC_DIR}|-iquote{_SRC_DIR}"),  # the module's own folder only
    re.compile(r"-l[A-Za-z0-9_+-]+|-pthread"),  # user programs: a library of the toolchain
]
_REFUSED = re.compile(r"-f(?:no-)?plugin")


def grading() -> bool:
    """Whether builds in this process are for grading (see the module docstring)."""
    if os.environ.get(GRADING_ENV, "").strip() not in ("", "0"):
        return True
    return os.environ.get("NBGRADER_EXECUTION") == "autograde"


def check_grading_cflags(words: Iterable[str]) -> None:
    """Refuse, in one line, a compiler flag that is not on the grading allow-list.

    The allow-list is what a lesson needs (macros, warnings, optimisation and debug
    levels, ``-std=``, ``-f`` options, the module's own folder for headers); it leaves
    out everything that loads or runs another program or reads a file the flag names:
    ``-fplugin``, ``-B``, ``-wrapper``, ``-specs``, ``@file``, ``-Wl,``/``-Wa,``/``-Wp,``,
    ``-include``, ``-I`` of a host folder.
    """
    for word in words:
        if _REFUSED.match(word) or not any(p.fullmatch(word) for p in _ALLOWED):
            raise UsageError(
                f"--cflags: {word} is not allowed while grading (allowed: -D, -U, -W warnings, "
                "-O, -g, -std=, -f options, -I$(src))"
            )


def tree_roots(kbuild_dir: Path) -> list[Path]:
    """The folders a kbuild tree needs: itself and what its links and Makefile point to.

    Debian splits a kernel's tree in three: ``linux-headers-V-amd64`` (whose Makefile
    includes ``../linux-headers-V-common/Makefile``), ``linux-headers-V-common``, and
    ``linux-kbuild-6.1`` (where both ``scripts`` links point).
    """
    found: list[Path] = []
    todo = [Path(kbuild_dir).resolve()]
    while todo:
        folder = todo.pop()
        if any(folder == f or f in folder.parents for f in found):
            continue
        found = [f for f in found if folder not in f.parents]
        found.append(folder)
        for entry in folder.iterdir():
            if entry.is_symlink() and entry.exists():
                todo.append(entry.resolve() if entry.is_dir() else entry.resolve().parent)
        makefile = folder / "Makefile"
        if makefile.is_file():
            for line in makefile.read_text(errors="replace").splitlines():
                match = re.match(r"^\s*-?include\s+(\S+)/Makefile\s*$", line)
                if match and "$" not in match[1]:
                    target = (folder / match[1]).resolve()
                    if target.is_dir():
                        todo.append(target)
    return sorted(found)


def sandboxed(
    argv: Sequence[str],
    *,
    writable: Path,
    read_only: Sequence[Path] = (),
) -> tuple[list[str], dict[str, str]]:
    """``argv`` wrapped in bwrap, and the environment to start it with (see the docstring).

    ``writable`` is the build folder, also the working directory; ``read_only`` are the
    kbuild tree's folders (:func:`tree_roots`) and files such as another module's
    ``Module.symvers``, each seen at its own path.
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SetupError(
            "grading builds students' code in a bubblewrap sandbox, and `bwrap` is not "
            "installed: run `sudo apt-get install bubblewrap` (or `make setup`)"
        )
    wrapped = [
        bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for name in _ROOT_LINKS:
        path = Path("/") / name
        if path.is_symlink():
            wrapped += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            wrapped += ["--ro-bind", str(path), str(path)]
    for etc in _ETC:
        if Path(etc).exists():
            wrapped += ["--ro-bind", etc, etc]
    wrapped += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for path in read_only:
        wrapped += ["--ro-bind", str(path), str(path)]
    wrapped += ["--bind", str(writable), str(writable), "--chdir", str(writable)]
    for key, value in _ENV.items():
        wrapped += ["--setenv", key, value]
    return [*wrapped, "--", *argv], dict(_ENV)
