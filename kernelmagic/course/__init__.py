# SPDX-License-Identifier: MIT
"""The course: lesson checks (``check``), lesson helpers (``lesson``), student versions,
the cell tags the tools read (``tags``) and the template of a new lesson (``template``).

Lessons use ``from kernelmagic.course import check`` (a check cell runs its checks with
``check.check_all``, which reports them all with hints in levels) and the helpers named
here (``course.require_parameter``, ``course.guest_write``, ``course.user_program``).
"""

from kernelmagic.course import check
from kernelmagic.course.lesson import (
    build_user_program,
    guest_write,
    kmodule_cells,
    require_parameter,
    user_program,
)
from kernelmagic.course.student import (
    has_solution,
    make_student_version,
    make_student_versions,
    strip_instructor_only,
    strip_solutions,
    student_notebook,
)
from kernelmagic.course.template import new_lesson

__all__ = [
    "build_user_program",
    "check",
    "guest_write",
    "has_solution",
    "kmodule_cells",
    "make_student_version",
    "make_student_versions",
    "new_lesson",
    "require_parameter",
    "strip_instructor_only",
    "strip_solutions",
    "student_notebook",
    "user_program",
]
