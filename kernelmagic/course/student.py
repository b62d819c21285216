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

What only the instructor should see goes too: a cell tagged ``instructor-only``
(set-up notes, a hint cell that states the answer), and in any cell a region between
``BEGIN INSTRUCTOR ONLY`` and ``END INSTRUCTOR ONLY`` marker lines (``# …``, ``/* … */``
or ``<!-- … -->``), such as the last level of a check's hint, the one that gives the
code away. Outputs, execution counts and the saved widget state are cleared. Student
versions go into a folder outside the lessons' own::

    kernelmagic course student build/student
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kernelmagic.course.tags import INSTRUCTOR_ONLY, has_tag
from kernelmagic.errors import SolutionMarkerError, UsageError

__all__ = [
    "DEFAULT_NOTEBOOKS",
    "has_solution",
    "lesson_files",
    "main",
    "make_student_version",
    "make_student_versions",
    "strip_hidden_checks",
    "strip_instructor_only",
    "strip_solutions",
    "student_notebook",
    "write_student_versions",
]

#: Where ``kernelmagic course student`` looks for lessons unless told (relative to the
#: current folder: the repository's root).
DEFAULT_NOTEBOOKS = Path("notebooks")

_BEGIN = re.compile(r"^(?P<indent>\s*)(?:/\*\s*BEGIN SOLUTION\s*\*/|#\s*BEGIN SOLUTION)\s*$")
_END = re.compile(r"^\s*(?:/\*\s*END SOLUTION\s*\*/|#\s*END SOLUTION)\s*$")
_TODO = re.compile(r"^\s*(?:/\*|//|#)\s*TODO\b")
_ONLY = r"\s*(?:#|//|/\*|<!--)\s*{word} INSTRUCTOR ONLY\s*(?:\*/|-->)?\s*$"
_BEGIN_ONLY = re.compile("^" + _ONLY.format(word="BEGIN"), re.IGNORECASE)
_END_ONLY = re.compile("^" + _ONLY.format(word="END"), re.IGNORECASE)
_BEGIN_HIDDEN = re.compile(r"^\s*###\s*BEGIN HIDDEN TESTS\s*$")
_END_HIDDEN = re.compile(r"^\s*###\s*END HIDDEN TESTS\s*$")


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


def strip_instructor_only(source: str) -> str:
    """``source`` without its ``BEGIN/END INSTRUCTOR ONLY`` regions, markers included."""
    return _strip_regions(source, _BEGIN_ONLY, _END_ONLY, "INSTRUCTOR ONLY")


def strip_hidden_checks(source: str) -> str:
    """``source`` without its ``### BEGIN/END HIDDEN TESTS`` regions (nbgrader's markers).

    Hidden checks are for grading only: a student who saw them could aim at them.
    """
    return _strip_regions(source, _BEGIN_HIDDEN, _END_HIDDEN, "HIDDEN TESTS")


def _strip_regions(source: str, begin: re.Pattern[str], end: re.Pattern[str], what: str) -> str:
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.split("\n"), start=1):
        if begin.match(line):
            if inside:
                raise SolutionMarkerError(f"line {number}: BEGIN {what} inside one")
            inside = True
        elif end.match(line):
            if not inside:
                raise SolutionMarkerError(f"line {number}: END {what} without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"BEGIN {what} without END {what}")
    return "\n".join(out)


def student_notebook(nb: Any) -> Any:
    """The student version of a notebook (an ``nbformat`` node), changed in place.

    Shared by ``kernelmagic course student`` and the nbgrader preprocessors, so that
    both hand out the same thing.
    """
    nb.cells = [cell for cell in nb.cells if not has_tag(cell, INSTRUCTOR_ONLY)]
    for cell in nb.cells:
        cell.source = strip_hidden_checks(strip_instructor_only(cell.source))
        cell.metadata.pop("papermill", None)
        if cell.cell_type != "code":
            continue
        cell.source = strip_solutions(cell.source)
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)  # the state of widgets from the instructor's run
    nb.metadata.pop("papermill", None)
    return nb


def make_student_version(src: Path | str, dest: Path | str) -> Path:
    """Write the student version of one notebook; returns ``dest``."""
    import nbformat  # only course tooling needs it

    src, dest = Path(src), Path(dest)
    nb = student_notebook(nbformat.read(src, as_version=4))
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def lesson_files(source: Path | str) -> list[Path]:
    """The notebooks of ``source``: the file itself, or every ``*.ipynb`` of the folder.

    Any name will do; hidden files and JupyterLab's checkpoints are left out.
    """
    source = Path(source)
    if source.is_file():
        if source.suffix != ".ipynb":
            raise UsageError(f"{source} is not a notebook (.ipynb)")
        return [source]
    if not source.is_dir():
        raise UsageError(f"{source} does not exist")
    return sorted(p for p in source.glob("*.ipynb") if not p.name.startswith("."))


def make_student_versions(source: Path | str, out_dir: Path | str) -> list[Path]:
    """Student versions of the notebooks of ``source`` (a folder or one notebook).

    They are written into ``out_dir``, which must lie outside the lessons' folder (the
    same name there would overwrite a lesson). Finding no notebook is an error: an
    empty result would look like success.
    """
    source, out_dir = Path(source).resolve(), Path(out_dir).resolve()
    src_dir = source.parent if source.is_file() else source
    if out_dir == src_dir or src_dir in out_dir.parents:
        raise UsageError(
            f"{out_dir} is inside the lessons' folder {src_dir}; write the student versions "
            f"outside it, e.g. {src_dir.parent / 'build' / 'student'}"
        )
    notebooks = lesson_files(source)
    if not notebooks:
        raise UsageError(f"{source} holds no notebook (*.ipynb): nothing to write")
    return [make_student_version(nb, out_dir / nb.name) for nb in notebooks]


def write_student_versions(out_dir: Path | str, notebooks: Path | str | None = None) -> list[Path]:
    """What ``kernelmagic course student`` does; says where it looked when it finds nothing."""
    if notebooks is not None:
        return make_student_versions(notebooks, out_dir)
    where = DEFAULT_NOTEBOOKS.resolve()
    if not where.is_dir() or not lesson_files(where):
        raise UsageError(
            f"no lessons found: --notebooks defaults to ./{DEFAULT_NOTEBOOKS} ({where}), "
            "which holds no notebook; run this in the repository's root, or give "
            "--notebooks DIR (or one .ipynb file)"
        )
    return make_student_versions(where, out_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernelmagic.course.student")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--notebooks", type=Path, default=None,
                        help=f"a folder of lessons or one notebook (default ./{DEFAULT_NOTEBOOKS})")
    args = parser.parse_args(argv)
    try:
        written = write_student_versions(args.out_dir, args.notebooks)
    except UsageError as exc:
        parser.exit(2, f"{parser.prog}: {exc}\n")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
