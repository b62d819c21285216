# SPDX-License-Identifier: MIT
"""Student versions of the lessons: the same notebooks with the solutions taken out.

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
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from kernelmagic.errors import SolutionMarkerError, UsageError

__all__ = [
    "has_solution",
    "main",
    "make_student_version",
    "make_student_versions",
    "strip_solutions",
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
    """Whether ``source`` has a solution region (a student would see a TODO there)."""
    return any(_BEGIN.match(line) for line in source.split("\n"))


def make_student_version(src: Path, dest: Path) -> Path:
    """Write the student version of one notebook; returns ``dest``."""
    import nbformat  # only course tooling needs it

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
