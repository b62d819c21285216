# SPDX-License-Identifier: MIT
"""What each cell of a lesson is to nbgrader: an exercise, a check, or read-only.

- An **exercise** (nbgrader: a solution cell) is a ``%%kmodule``, ``%%kfile`` or
  ``%%userprog`` cell with a solution region: the one place a student writes, in C,
  which is built in a sandbox and runs in the VM. A solution region anywhere else would
  have the grading machine run a student's Python, so a lesson with one is refused.
- A **check** (nbgrader: an autograded test cell, one point, locked) is a cell that calls
  ``check.check_all(`` after an exercise; it belongs to the exercise above it. A check
  cell with a ``### BEGIN HIDDEN TESTS`` region is a hidden check: the region is taken
  out of the student version and put back when grading. A check of a demonstration
  (before any exercise) tests the lesson, not the student: it stays read-only, with no
  points.
- **Everything else** is read-only: nbgrader puts back the lesson's version of each of
  these cells in a submission before it runs.

The grade ids carry the exercise (``exercise-greet``, ``check-greet``,
``check-greet-2``, ``hidden-greet``; ``cell-7`` for read-only cells), so that a
refused exercise can take its own checks down with it, and only those.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kernelmagic.course.student import has_solution
from kernelmagic.errors import UsageError
from kernelmagic.names import is_identifier

__all__ = [
    "C_MAGICS",
    "CellRole",
    "exercise_of",
    "magic_words",
    "nbgrader_metadata",
    "roles",
]

#: The cell magics whose body is C for the lab VM: the only cells a student may write in.
C_MAGICS = ("%%kmodule", "%%kfile", "%%userprog")
HIDDEN = "BEGIN HIDDEN TESTS"
_CHECK_CALL = re.compile(r"(?<![\w.])check\.check_all\(")
#: nbgrader's metadata schema that these cells follow.
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class CellRole:
    """One cell's part in grading: ``kind`` is exercise, check, hidden or locked."""

    kind: str
    grade_id: str
    exercise: str | None = None
    points: int = 0


def magic_words(source: str) -> list[str]:
    """The words of a cell's first line: ``["%%kmodule", "greet", "--load"]``."""
    return source.split("\n", 1)[0].split()


def _exercise_name(words: Sequence[str]) -> str:
    """The module (or program) a C cell is about: ``hello`` of ``%%kfile hello/util.h``."""
    name = next((w for w in words[1:] if not w.startswith("-")), "")
    return name.partition("/")[0]


def roles(cells: Sequence[Any], *, where: str = "the lesson") -> list[CellRole]:
    """The role of every cell, in order; ``UsageError`` for a solution region outside C."""
    found: list[CellRole] = []
    used: dict[str, int] = {}
    exercise: str | None = None

    def unique(base: str) -> str:
        used[base] = used.get(base, 0) + 1
        return base if used[base] == 1 else f"{base}-{used[base]}"

    for index, cell in enumerate(cells):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        code = cell.get("cell_type") == "code"
        words = magic_words(source) if code else []
        if code and has_solution(source):
            name = _exercise_name(words)
            if not words or words[0] not in C_MAGICS or not is_identifier(name):
                raise UsageError(
                    f"{where}, cell {index + 1}: a solution region outside a %%kmodule, "
                    "%%kfile or %%userprog cell; a student's answer there would run on the "
                    "grading machine instead of the VM"
                )
            exercise = name
            found.append(CellRole("exercise", unique(f"exercise-{name}"), name))
        elif code and exercise is not None and _CHECK_CALL.search(source):
            kind = "hidden" if HIDDEN in source else "check"
            found.append(CellRole(kind, unique(f"{kind}-{exercise}"), exercise, points=1))
        else:
            found.append(CellRole("locked", f"cell-{index + 1}"))
    return found


def exercise_of(grade_id: str) -> str | None:
    """The exercise a grade id names (see the module docstring), or None."""
    kind, _, rest = grade_id.partition("-")
    name = rest.split("-", 1)[0]
    if kind in ("exercise", "check", "hidden") and is_identifier(name):
        return name
    return None


def nbgrader_metadata(role: CellRole) -> dict[str, Any]:
    """nbgrader's cell metadata for a role."""
    meta: dict[str, Any] = {
        "grade": role.kind in ("check", "hidden"),
        "grade_id": role.grade_id,
        "locked": role.kind != "exercise",
        "schema_version": SCHEMA_VERSION,
        "solution": role.kind == "exercise",
    }
    if meta["grade"]:
        meta["points"] = role.points
    return meta
