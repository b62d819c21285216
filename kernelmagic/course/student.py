# SPDX-License-Identifier: MIT
"""The course's own tooling: student versions of the lessons, and cell/module lookups.

Lessons are committed with their solutions in, so nbval and instructors run them whole.
A solution region is marked in a cell with ``/* BEGIN SOLUTION */`` … ``/* END SOLUTION */``
(C) or ``# BEGIN SOLUTION`` … ``# END SOLUTION`` (Python), each marker on a line of
its own. The student version drops each region, markers included, and leaves the TODO
the learner sees:

- if the line just above the region is a TODO comment (``/* TODO: … */`` or
  ``# TODO: …``), that comment stays and is the whole instruction;
- otherwise a ``/* TODO: your code here */`` (or ``# TODO: your code here``) line at
  the region's indentation takes its place.

Outputs and execution counts are cleared. Student versions go into a build folder,
never under ``notebooks/``::

    python -m kernelmagic.course.student student build/student
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kernelmagic.errors import SolutionMarkerError, UsageError

__all__ = [
    "build_user_program",
    "guest_write",
    "kmodule_cells",
    "make_student_version",
    "make_student_versions",
    "require_parameter",
    "strip_solutions",
    "user_program",
]

_BEGIN = re.compile(r"^(?P<indent>\s*)(?:/\*\s*BEGIN SOLUTION\s*\*/|#\s*BEGIN SOLUTION)\s*$")
_END = re.compile(r"^\s*(?:/\*\s*END SOLUTION\s*\*/|#\s*END SOLUTION)\s*$")
_TODO = re.compile(r"^\s*(?:/\*|//|#)\s*TODO\b")


def strip_solutions(source: str) -> str:
    """``source`` with each solution region replaced by its TODO."""
    out: list[str] = []
    inside: str | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        begin = _BEGIN.match(line)
        if begin:
            if inside is not None:
                raise SolutionMarkerError(f"line {number}: BEGIN SOLUTION inside a solution")
            inside = begin["indent"]
            if not _ends_with_todo(out):
                c_style = "/*" in line
                todo = "/* TODO: your code here */" if c_style else "# TODO: your code here"
                out.append(inside + todo)
            continue
        if _END.match(line):
            if inside is None:
                raise SolutionMarkerError(f"line {number}: END SOLUTION without BEGIN")
            inside = None
            continue
        if inside is None:
            out.append(line)
    if inside is not None:
        raise SolutionMarkerError("BEGIN SOLUTION without END SOLUTION")
    return "\n".join(out)


def _ends_with_todo(lines: list[str]) -> bool:
    """Whether the comment just above (one line, or a /* … */ block) is a TODO."""
    if not lines:
        return False
    if lines[-1].rstrip().endswith("*/"):
        for line in reversed(lines):
            if "/*" in line:
                return bool(_TODO.match(line))
        return False
    return bool(_TODO.match(lines[-1]))


def has_solution(source: str) -> bool:
    return any(_BEGIN.match(line) for line in source.split("\n"))


def make_student_version(src: Path, dest: Path) -> Path:
    """Write the student version of one notebook; returns ``dest``."""
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.source = strip_solutions(cell.source)
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def make_student_versions(src_dir: Path | str, out_dir: Path | str) -> list[Path]:
    """Student versions of every ``NN_*.ipynb`` in ``src_dir``, written into ``out_dir``."""
    src_dir, out_dir = Path(src_dir).resolve(), Path(out_dir).resolve()
    if out_dir == src_dir or src_dir in out_dir.parents:
        raise UsageError(f"write student versions outside {src_dir}, e.g. build/student")
    written = []
    for nb in sorted(src_dir.glob("[0-9][0-9]_*.ipynb")):
        written.append(make_student_version(nb, out_dir / nb.name))
    return written


def kmodule_cells(notebook: Path | str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(module name, C source, cell)`` for each ``%%kmodule`` cell of a notebook."""
    import nbformat

    nb = nbformat.read(Path(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        first, _, body = cell.source.partition("\n")
        parts = first.split()
        if parts and parts[0] == "%%kmodule" and len(parts) > 1:
            name = next((p for p in parts[1:] if not p.startswith("-")), "")
            yield name, body, cell


def build_user_program(name: str, source: str, *, builds_root: Path | None = None) -> Path:
    """Compile a small C program for the lab VM's user space; returns the host path.

    The guest has busybox but no compiler and no libc headers, so programs that call
    ioctl() on a learner's device are built on the host, statically (glibc's libc.a),
    into the build folder the VM mounts read-only. Cached by a hash of the source.
    """
    from kernelmagic import paths

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise UsageError(f"{name!r} is not a program name")
    key = hashlib.sha256(source.encode()).hexdigest()[:16]
    folder = Path(builds_root or paths.builds_dir()) / f"user-{name}-{key}"
    exe = folder / name
    if exe.is_file():
        return exe
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.c").write_text(source)
    tmp = folder / f".{name}.tmp"
    proc = subprocess.run(
        ["gcc", "-static", "-O2", "-Wall", "-o", str(tmp), str(folder / f"{name}.c")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        from kernelmagic.errors import BuildError

        raise BuildError(f"gcc could not build {name}: {proc.stderr.strip()}", log=proc.stderr)
    tmp.rename(exe)
    return exe


def user_program(name: str, source: str, *, vm: Any = None) -> str:
    """Build a user-space program (see build_user_program); returns its path in the guest."""
    from kernelmagic.course.check import _vm

    return str(_vm(vm).guest_path(build_user_program(name, source)))


def require_parameter(name: str, value: object, ok: bool, expected: str) -> None:
    """Refuse a lesson parameter that makes no sense, in one clear line.

    Lessons call this right after their ``parameters`` cell, so a papermill run with a
    bad value stops there, saying which parameter and what it should be, instead of
    failing somewhere later for a reason that is hard to trace back::

        course.require_parameter("count", count, isinstance(count, int) and count >= 0,
                                 "a whole number, 0 or more")
    """
    if not ok:
        raise UsageError(f"parameter {name} = {value!r} is not valid: it must be {expected}")


def guest_write(path: str, data: str | bytes, *, vm: Any = None) -> None:
    """Write ``data`` to the guest file ``path`` (a device, a sysfs attribute), no shell.

    Text from a lesson's parameters can hold quotes, ``$`` or backquotes, which a shell
    command line would interpret; here the bytes go to ``dd``'s standard input through
    the guest agent, and ``dd`` hands them to the file in one ``write()`` (data up to
    4 KiB, a pipe's atomic size, arrives in one piece). A refused write (``store()``
    returned an error) raises ``GuestCommandError`` with dd's message.
    """
    from kernelmagic.course.check import _vm

    payload = data.encode() if isinstance(data, str) else bytes(data)
    if len(payload) > 4096:
        raise UsageError(f"guest_write: {len(payload)} bytes is more than the 4096 it handles")
    _vm(vm).exec(["dd", f"of={path}", "bs=4096"], input=payload, timeout=30, check=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kernelmagic course")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write student versions of the lessons")
    student.add_argument("out_dir", type=Path)
    student.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    args = parser.parse_args(argv)
    if args.command == "student":
        for path in make_student_versions(args.notebooks, args.out_dir):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
